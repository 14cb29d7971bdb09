"""
Plot a distillation run's rollouts per iteration from its metrics.jsonl.

    python -m play_lmp_training.distillation.report runs/distill \
        --out docs/images/distill_iterations.png

Left: single-goal success (mean over tasks) and the chains' average length per iteration, with
beta, the share of steps the expert drove.  Right: success per task and iteration.  These are
the rollouts' own figures on each iteration's fresh training scenes, not the held-out
evaluation.  A Markdown table of the same iterations (with the visited states, the dropped
labels and each stage's seconds) is printed.
"""

import argparse
from pathlib import Path
import sys
from typing import List, Optional

import numpy as np
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training.evaluation.reports import pyplot
from play_lmp_training.plot_runs import read_metrics


def plot_iterations(run: Path, out: Path) -> None:
    """
    Draw the run's per-iteration figures and save a PNG.

    :param run: the run's output directory.
    :param out: the PNG path.
    :raises ValueError: when the run has logged no rollouts yet.
    """
    rollouts = read_metrics(run).get('rollouts', [])
    if not rollouts:
        raise ValueError(f'{run} has logged no rollouts yet')
    plt = pyplot()
    figure, (curve_axes, task_axes) = plt.subplots(
        1, 2, figsize=(13, 5.5), gridspec_kw={'width_ratios': [1, 1.3]})
    iterations = [record['iteration'] for record in rollouts]
    curve_axes.plot(iterations, [record.get('single_success', np.nan) for record in rollouts],
                    marker='o', label='single goals: success (mean over tasks)')
    curve_axes.plot(iterations, [record['beta'] for record in rollouts], linestyle=':',
                    color='grey', label='beta (chance the expert drives a step)')
    curve_axes.set_xlabel('iteration')
    curve_axes.set_xticks(iterations)
    curve_axes.set_ylim(0, 1.02)
    chain_axes = curve_axes.twinx()
    chain_axes.plot(iterations, [record.get('chain_length', np.nan) for record in rollouts],
                    marker='s', color='C1', label='chains: average length')
    chain_axes.set_ylim(0, 5.1)
    chain_axes.set_ylabel('chain length (of 5)')
    lines = curve_axes.get_legend_handles_labels()
    more = chain_axes.get_legend_handles_labels()
    curve_axes.legend(lines[0] + more[0], lines[1] + more[1], loc='lower left', fontsize=8)
    curve_axes.set_title(f'{run.name}: rollouts of each iteration (training scenes)')
    tasks = [task for task in TASK_NAMES if any(f'success/{task}' in r for r in rollouts)]
    grid = np.array([[record.get(f'success/{task}', np.nan) for record in rollouts]
                     for task in tasks])
    image = task_axes.imshow(grid, aspect='auto', vmin=0, vmax=1, cmap='viridis')
    task_axes.set_yticks(range(len(tasks)), tasks, fontsize=7)
    task_axes.set_xticks(range(len(iterations)), iterations)
    task_axes.set_xlabel('iteration')
    task_axes.set_title('success per task')
    figure.colorbar(image, ax=task_axes, fraction=0.04)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def iteration_table(run: Path) -> str:
    """
    Tabulate a run's iterations: beta, rollout success, chain length, states, stage seconds.

    :param run: the run's output directory.
    :return: Markdown.
    :raises ValueError: when the run has logged no rollouts yet.
    """
    groups = read_metrics(run)
    rollouts = groups.get('rollouts', [])
    if not rollouts:
        raise ValueError(f'{run} has logged no rollouts yet')
    training = {record['iteration']: record for record in groups.get('training', [])}
    lines = ['| iteration | beta | single goals: success | chains: length | states visited | '
             'labels dropped | rollouts (s, wall) | labelling (s, workers) | training (s) | '
             'loss after |',
             '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for record in rollouts:
        trained = training.get(record['iteration'], {})
        lines.append(
            f'| {record["iteration"]} | {record["beta"]:.3f} | '
            f'{record.get("single_success", float("nan")):.1%} | '
            f'{record.get("chain_length", float("nan")):.2f} | {record["steps"]:,.0f} | '
            f'{record["dropped_labels"]:,.0f} | {record["rollout_wall_s"]:.0f} | '
            f'{record["expert_s"]:.0f} | {trained.get("train_s", float("nan")):.0f} | '
            f'{trained.get("loss", float("nan")):.2f} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the plotting CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 when the run has no metrics.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('run', type=Path, help='the distillation run directory')
    parser.add_argument('--out', type=Path, required=True, help='PNG to write')
    args = parser.parse_args(argv)
    try:
        plot_iterations(args.run, args.out)
        table = iteration_table(args.run)
    except (FileNotFoundError, ValueError) as error:
        print(f'report: {error}', file=sys.stderr)
        return 2
    print(table)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
