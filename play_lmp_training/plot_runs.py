"""
Plot training curves of one or more runs from their metrics.jsonl.

    python -m play_lmp_training.plot_runs runs/lmp runs/gcbc --out docs/images/training_curves.png

Three panels: training action NLL, validation NLL (for Play-LMP with prior plans, what a rollout
has, and with posterior plans), and the in-simulator success check.
"""

import argparse
import json
from pathlib import Path
import sys
from typing import Dict, List, Optional

from play_lmp_ros.core.cli_help import HelpFormatter


def read_metrics(run: Path) -> Dict[str, List[dict]]:
    """
    Read a run's metrics, grouped by split.

    :param run: the run's output directory.
    :return: split name ('train', 'validation', 'sim_check') -> records in step order.
    :raises FileNotFoundError: when the run has no metrics.jsonl.
    """
    groups: Dict[str, List[dict]] = {}
    with open(run / 'metrics.jsonl', encoding='utf-8') as stream:
        for line in stream:
            record = json.loads(line)
            groups.setdefault(record['split'], []).append(record)
    return groups


def plot_runs(runs: List[Path], out: Path) -> None:
    """
    Draw the three panels for every run and save a PNG.

    :param runs: run directories.
    :param out: the PNG path.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, (train_axes, val_axes, sim_axes) = plt.subplots(1, 3, figsize=(13, 3.6))
    for index, run in enumerate(runs):
        groups = read_metrics(run)
        name, colour = run.name, f'C{index}'
        train = groups.get('train', [])
        train_axes.plot([r['step'] for r in train], [r['nll'] for r in train], color=colour,
                        label=name)
        validation = groups.get('validation', [])
        key = 'nll_prior' if validation and 'nll_prior' in validation[0] else 'nll'
        steps = [r['step'] for r in validation]
        label = f'{name} (prior plans)' if key == 'nll_prior' else name
        val_axes.plot(steps, [r[key] for r in validation], marker='o', color=colour, label=label)
        if key == 'nll_prior':
            val_axes.plot(steps, [r['nll_posterior'] for r in validation], linestyle='--',
                          color=colour, label=f'{name} (posterior plans)')
        checks = groups.get('sim_check', [])
        sim_axes.plot([r['step'] for r in checks], [100 * r['success_rate'] for r in checks],
                      marker='o', color=colour, label=name)
    train_axes.set_title('training action NLL per step')
    val_axes.set_title('validation action NLL per step')
    sim_axes.set_title('in-simulator success check (%)')
    sim_axes.set_ylim(0, 100)
    for axes in (train_axes, val_axes, sim_axes):
        axes.set_xlabel('optimizer step')
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 when a run has no metrics.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('runs', nargs='+', help='run output directories')
    parser.add_argument('--out', required=True, help='PNG to write')
    args = parser.parse_args(argv)
    try:
        plot_runs([Path(run) for run in args.runs], Path(args.out))
    except FileNotFoundError as error:
        print(f'plot_runs: {error}', file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
