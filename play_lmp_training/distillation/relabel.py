"""
Label a run's aggregate again with today's experts, into a new run folder.

    python -m play_lmp_training.distillation.relabel runs/distill runs/distill_relabelled

The visited states are kept; every state's expert label (and `labelled`) is recomputed by the
expert of its goal's task, judged against its goal segment's first state, as the rollout did.
So when an expert improves, the states a student reached before keep teaching it, with the
better labels.  The new folder holds only the aggregate, for `replay_from`; each shard is
written atomically, and shards already there are skipped, so an interrupted run continues.
"""

import argparse
from pathlib import Path
import sys
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.skills.experts import Expert, ExpertError
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training.distillation.aggregate import (
    AGGREGATE_DIR, AggregateError, read_shard, write_shard)
from tqdm import tqdm

# A label counts as changed when it moves more than this (the states are stored as float32, so
# today's expert on a stored state differs from the rollout's by about 1e-6).
CHANGED_TOLERANCE = 1e-4


def relabel_arrays(arrays: Dict[str, np.ndarray], expert_seed: int) -> Dict[str, float]:
    """
    Recompute the expert labels of one shard's states in place.

    :param arrays: a shard's arrays (expert_action and labelled are replaced).
    :param expert_seed: the seed the rollout gave its experts (its job index).
    :return: counts: labelled, dropped_labels, no_expert, changed (labels that differ).
    """
    counts = dict.fromkeys(('labelled', 'dropped_labels', 'no_expert', 'changed'), 0.0)
    old = arrays['expert_action'].copy()
    labels = np.full_like(old, np.nan)
    steps = arrays['segment_step']
    starts = np.flatnonzero(steps == 0)
    for first, end in zip(starts, [*starts[1:], len(steps)]):
        task = TASK_NAMES[int(arrays['task'][first])]
        try:
            expert = Expert(task, np.asarray(arrays['obs'][first], dtype=np.float64),
                            seed=expert_seed)
        except ExpertError:
            counts['no_expert'] += 1
            continue
        for row in range(first, end):
            try:
                labels[row] = expert.act(np.asarray(arrays['obs'][row], dtype=np.float64))
            except ExpertError:
                counts['dropped_labels'] += 1
    labelled = np.all(np.isfinite(labels), axis=1)
    counts['labelled'] = float(labelled.sum())
    both = labelled & arrays['labelled']
    moved = np.any(np.abs(labels[both] - old[both]) > CHANGED_TOLERANCE, axis=1)
    counts['changed'] = float(moved.sum() + (labelled != arrays['labelled']).sum())
    arrays['expert_action'] = labels.astype(np.float32)
    arrays['labelled'] = labelled
    return counts


def relabel_run(source: Path, target: Path, progress: bool = True) -> Dict[str, float]:
    """
    Relabel every shard of a run into another folder.

    :param source: the run whose aggregate is read.
    :param target: the new folder (its aggregate/ mirrors the source's).
    :param progress: show a progress bar.
    :return: counts summed over the shards written now (plus 'shards' and 'skipped').
    :raises AggregateError: on an unreadable source shard (named); nothing is written for it.
    :raises ValueError: when source and target are the same folder.
    """
    if Path(source).resolve() == Path(target).resolve():
        raise ValueError('relabel writes a new folder: source and target are the same')
    paths = sorted((Path(source) / AGGREGATE_DIR).glob('iter_*/rollout_*.npz'))
    if not paths:
        raise AggregateError(f'{source} holds no aggregate shards')
    totals: Dict[str, float] = {'shards': 0.0, 'skipped': 0.0}
    for path in tqdm(paths, desc='relabel', disable=not progress):
        out = Path(target) / path.relative_to(source)
        if out.exists():
            totals['skipped'] += 1
            continue
        arrays, info = read_shard(path)
        counts = relabel_arrays(arrays, int(info.get('index', 0)))
        write_shard(out, arrays, dict(info, relabelled_from=str(path), relabel=counts))
        for key, value in counts.items():
            totals[key] = totals.get(key, 0.0) + value
        totals['shards'] += 1
    return totals


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the relabelling CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 on a bad shard or folder.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('source', type=Path, help='the distillation run to relabel')
    parser.add_argument('target', type=Path, help='the new folder (for replay_from)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    try:
        totals = relabel_run(args.source, args.target, not args.no_progress)
    except (AggregateError, ValueError) as error:
        print(f'relabel: {error}', file=sys.stderr)
        return 2
    print(', '.join(f'{key} {value:,.0f}' for key, value in totals.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
