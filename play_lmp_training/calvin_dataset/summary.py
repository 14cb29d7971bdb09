"""
Summarise a CALVIN dataset from its index files: frames, episodes, task window counts.

Usage: ``python -m play_lmp_training.calvin_dataset.summary <dataset_root> [--out tasks.png]``.
The root holds split directories (training/, validation/) or is itself a split.  Only
ep_start_end_ids.npy and the language annotations are read, so this is instant even on real CALVIN
splits.  The JSON summary goes to stdout; a horizontal bar chart of task frequencies goes to --out.
"""

import argparse
import json
import logging
from pathlib import Path
import sys
from typing import Dict, List, Optional

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_training.calvin_dataset import files
from play_lmp_training.calvin_dataset.reader import read_episode_ranges, read_language

logger = logging.getLogger(__name__)


def find_splits(dataset_root: files.PathLike) -> Dict[str, Path]:
    """
    Find the split directories of a dataset root.

    :param dataset_root: a directory of splits, or a split directory itself.
    :return: split name -> directory, sorted by name.
    :raises FileNotFoundError: if no directory with ep_start_end_ids.npy is found.
    """
    root = Path(dataset_root)
    if (root / files.EP_START_END_IDS).is_file():
        return {root.name: root}
    splits = {path.parent.name: path.parent
              for path in sorted(root.glob(f'*/{files.EP_START_END_IDS}'))}
    if not splits:
        raise FileNotFoundError(f'{root} holds no CALVIN split (no */{files.EP_START_END_IDS})')
    return splits


def summarize(dataset_root: files.PathLike) -> Dict[str, object]:
    """
    Summarise every split of a dataset.

    :param dataset_root: see find_splits.
    :return: {'dataset': path, 'splits': {name: {frames, episodes, mean/min/max episode length,
        annotated_windows, task_windows: {task: count}}}}.
    """
    summary: Dict[str, object] = {'dataset': str(Path(dataset_root)), 'splits': {}}
    for name, split_dir in find_splits(dataset_root).items():
        ranges = read_episode_ranges(split_dir)
        lengths = ranges[:, 1] - ranges[:, 0] + 1
        lang = read_language(split_dir)
        summary['splits'][name] = {
            'frames': int(lengths.sum()),
            'episodes': int(len(lengths)),
            'mean_episode_length': round(float(lengths.mean()), 2),
            'min_episode_length': int(lengths.min()),
            'max_episode_length': int(lengths.max()),
            'annotated_windows': None if lang is None else len(lang.tasks),
            'task_windows': None if lang is None else lang.task_counts(),
        }
    return summary


def plot_task_frequencies(summary: Dict[str, object], out: files.PathLike) -> bool:
    """
    Save a horizontal bar chart of annotated windows per task, one bar colour per split.

    :param summary: the result of summarize.
    :param out: PNG path.
    :return: False (and no file) if no split has annotations.
    """
    per_split = {name: split['task_windows'] for name, split in summary['splits'].items()
                 if split['task_windows']}
    if not per_split:
        return False
    totals: Dict[str, int] = {}
    for counts in per_split.values():
        for task, count in counts.items():
            totals[task] = totals.get(task, 0) + count
    tasks: List[str] = sorted(totals, key=lambda task: (totals[task], task))
    bar_height = 0.8 / len(per_split)
    # An explicit Agg canvas instead of pyplot: no global backend state, works headless.
    figure = Figure(figsize=(8, 1.5 + 0.28 * len(tasks) * len(per_split) ** 0.5))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    for index, (name, counts) in enumerate(per_split.items()):
        positions = [row + index * bar_height for row in range(len(tasks))]
        axes.barh(positions, [counts.get(task, 0) for task in tasks], height=bar_height,
                  label=name)
    axes.set_yticks([row + 0.4 - bar_height / 2 for row in range(len(tasks))])
    axes.set_yticklabels(tasks, fontsize=8)
    axes.set_xlabel('annotated windows')
    axes.set_title(f'Task frequencies: {summary["dataset"]}', fontsize=9)
    axes.legend()
    figure.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    return True


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the command line: print the JSON summary and save the task chart.

    :param argv: arguments without the program name; default sys.argv[1:].
    :return: process exit status.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('dataset_root', help='directory of splits, or one split directory')
    parser.add_argument('--out', default='tasks.png', help='bar chart PNG (default tasks.png)')
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    summary = summarize(arguments.dataset_root)
    print(json.dumps(summary, indent=2))
    if plot_task_frequencies(summary, arguments.out):
        print(f'task chart: {arguments.out}', file=sys.stderr)
    else:
        print('no language annotations: no task chart written', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
