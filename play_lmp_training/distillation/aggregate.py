"""
The aggregate of DAgger: every state the rollouts visited, with the expert's label beside it.

On disk, ``<output_dir>/aggregate/iter_NNN/rollout_MMMMM.npz``: one uncompressed npz per
rollout (a single-goal episode or a chain), written atomically by the process that ran it, so a
killed run leaves whole shards and nothing else, and a resumed one skips the shards it finds.
Arrays, T the rollout's steps (one row per visited state, in order):

- ``obs`` (T, 39) float32: the state, in core.layout's order.
- ``goal`` (T, 39) float32: the goal the policy was given at that step.
- ``student_action`` (T, 7) float32: the student's own action in that state.
- ``expert_action`` (T, 7) float32: the expert's label (NaN where there is none).
- ``labelled`` (T,) bool: the expert gave a finite action (False: it raised, or the goal's task
  has no expert); unlabelled states still run through the actor's recurrence, unscored.
- ``expert_executed`` (T,) bool: the expert's action (with DART noise) was executed, not the
  student's.
- ``segment_step`` (T,) int32: steps since the policy was reset for this goal (chains reset at
  every subtask); training windows start where the student replans, as it runs.
- ``task`` (T,) int16: index of the goal's task in core.tasks.TASK_NAMES.
- ``info``: a JSON string (the job, per-goal successes, counts of dropped labels).
"""

import json
from pathlib import Path
from typing import Dict, List, Sequence, Tuple
import zipfile

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.files import atomic_save_npz
from play_lmp_training.calvin_dataset.windows import ACTIONS_KEY, GOAL_KEY, MASK_KEY, OBS_KEY

AGGREGATE_DIR = 'aggregate'
# Every shard array's per-row shape and stored dtype.
SHARD_KEYS = {
    'obs': ((layout.OBS_DIM,), np.float32), 'goal': ((layout.OBS_DIM,), np.float32),
    'student_action': ((layout.ACTION_DIM,), np.float32),
    'expert_action': ((layout.ACTION_DIM,), np.float32),
    'labelled': ((), bool), 'expert_executed': ((), bool), 'segment_step': ((), np.int32),
    'task': ((), np.int16),
}


class AggregateError(ValueError):
    """A shard of the aggregate that is unreadable, incomplete or inconsistent."""


def iteration_dir(output_dir: Path, iteration: int) -> Path:
    """
    Return the folder of one iteration's shards.

    :param output_dir: the run's output directory.
    :param iteration: 0-based iteration.
    :return: <output_dir>/aggregate/iter_NNN.
    """
    return Path(output_dir) / AGGREGATE_DIR / f'iter_{iteration:03d}'


def shard_path(output_dir: Path, iteration: int, job: int) -> Path:
    """
    Return the path of one rollout's shard.

    :param output_dir: the run's output directory.
    :param iteration: 0-based iteration.
    :param job: the rollout's index within the iteration.
    :return: <output_dir>/aggregate/iter_NNN/rollout_MMMMM.npz.
    """
    return iteration_dir(output_dir, iteration) / f'rollout_{job:05d}.npz'


def write_shard(path: Path, arrays: Dict[str, np.ndarray], info: dict) -> None:
    """
    Write one rollout's shard atomically.

    :param path: the shard's path (its folder is created).
    :param arrays: the SHARD_KEYS arrays, equally long.
    :param info: JSON-serializable facts about the rollout.
    :raises ValueError: when an array is missing or of the wrong shape.
    """
    rows = len(arrays['obs'])
    for key, (shape, _) in SHARD_KEYS.items():
        if key not in arrays or np.shape(arrays[key]) != (rows, *shape):
            raise ValueError(f'shard array {key} must have shape {(rows, *shape)}, got '
                             f'{np.shape(arrays.get(key))}')
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npz(path, dict(arrays, info=np.array(json.dumps(info))), compress=False)


def _load(path: Path, keys: Sequence[str]) -> Tuple[Dict[str, np.ndarray], dict]:
    """
    Read some arrays of a shard and its info, lazily (npz members not asked for stay on disk).

    :param path: the shard.
    :param keys: the arrays to read.
    :return: the arrays and the info dict.
    :raises AggregateError: naming the file when it is corrupt or lacks a member.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in (*keys, 'info') if key not in archive.files]
            if missing:
                raise AggregateError(f'{path}: lacks {missing}: not a distillation shard')
            return ({key: archive[key] for key in keys}, json.loads(str(archive['info'])))
    except AggregateError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise AggregateError(f'{path}: corrupt or truncated shard ({type(error).__name__}: '
                             f'{error}); delete it and resume to roll it out again') from None


def read_shard(path: Path) -> Tuple[Dict[str, np.ndarray], dict]:
    """
    Read and check one shard.

    :param path: the shard.
    :return: the arrays and the info dict.
    :raises AggregateError: naming the file when it is corrupt, lacks a key or is inconsistent.
    """
    arrays, info = _load(path, tuple(SHARD_KEYS))
    rows = len(arrays['obs'])
    for key, (shape, _) in SHARD_KEYS.items():
        if arrays[key].shape != (rows, *shape):
            raise AggregateError(f'{path}: {key} has shape {arrays[key].shape}, expected '
                                 f'{(rows, *shape)}')
    labelled = arrays['labelled'].astype(bool)
    if not (np.all(np.isfinite(arrays['obs'])) and np.all(np.isfinite(arrays['goal']))
            and np.all(np.isfinite(arrays['expert_action'][labelled]))):
        raise AggregateError(f'{path}: non-finite states, goals or labels')
    return arrays, info


def read_infos(paths: Sequence[Path]) -> List[dict]:
    """
    Read the info of shards, without their arrays.

    :param paths: shard files.
    :return: their info dicts, in order.
    :raises AggregateError: naming a file that is not a readable shard.
    """
    return [_load(path, ())[1] for path in paths]


def shard_paths(output_dirs: Sequence[Path], last_iteration: int = -1) -> List[Path]:
    """
    List the shards of runs, in a fixed order.

    :param output_dirs: run directories.
    :param last_iteration: this run's newest iteration to include for the first directory
        (-1: all); the others (replayed runs) contribute everything they hold.
    :return: the shard paths, sorted per run.
    """
    paths: List[Path] = []
    for index, output_dir in enumerate(output_dirs):
        for folder in sorted((Path(output_dir) / AGGREGATE_DIR).glob('iter_*')):
            iteration = int(folder.name.split('_')[1])
            if index == 0 and last_iteration >= 0 and iteration > last_iteration:
                continue
            paths += sorted(folder.glob('rollout_*.npz'))
    return paths


class Aggregate:
    """All labelled rollouts in memory, cut into the windows that the student runs."""

    def __init__(self, paths: Sequence[Path], window: int):
        """
        Load shards and index their windows.

        A window starts at a replan step of its goal segment (segment_step a multiple of
        window) and holds at most `window` steps of that segment, at least one labelled.

        :param paths: shard files.
        :param window: the student's replan period (model.replan_every).
        :raises AggregateError: on a bad shard (named), or when no labelled state exists.
        """
        self.window = int(window)
        parts: Dict[str, List[np.ndarray]] = {key: [] for key in SHARD_KEYS}
        self.infos: List[dict] = []
        for path in paths:
            arrays, info = read_shard(path)
            for key in SHARD_KEYS:
                parts[key].append(arrays[key])
            self.infos.append(info)
        if not self.infos:
            raise AggregateError('the aggregate holds no shards')
        self.arrays = {key: np.concatenate(value) for key, value in parts.items()}
        self.arrays['labelled'] = self.arrays['labelled'].astype(bool)
        starts, lengths = self._windows()
        if not len(starts):
            raise AggregateError(f'the aggregate ({len(paths)} shards) holds no labelled state')
        self.starts, self.lengths = starts, lengths

    def _windows(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return the (W,) first rows and lengths of every window with a labelled state."""
        step = self.arrays['segment_step'].astype(np.int64)
        first = np.flatnonzero(step % self.window == 0)
        # A window ends at the next window's start or where its goal segment ends (the next
        # row with segment_step 0), whichever comes first.
        segment_starts = np.append(np.flatnonzero(step == 0), len(step))
        segment_end = segment_starts[np.searchsorted(segment_starts, first, side='right')]
        lengths = np.minimum(first + self.window, segment_end) - first
        labelled = np.concatenate([[0], np.cumsum(self.arrays['labelled'])])
        keep = labelled[first + lengths] - labelled[first] > 0
        return first[keep], lengths[keep]

    @property
    def states(self) -> int:
        """Count the visited states."""
        return len(self.arrays['obs'])

    @property
    def labelled_states(self) -> int:
        """Count the states with an expert label."""
        return int(self.arrays['labelled'].sum())

    def sample(self, rng: np.random.Generator, batch_size: int) -> Dict[str, np.ndarray]:
        """
        Draw windows uniformly.

        :param rng: random source.
        :param batch_size: B.
        :return: obs (B, T, 39), actions (B, T, 7) the expert labels, mask (B, T) the labelled
            valid steps, goal (B, 39) the goal in force at each window's first step; T is the
            window.
        """
        chosen = rng.integers(len(self.starts), size=batch_size)
        return self.gather(self.starts[chosen], self.lengths[chosen])

    def gather(self, starts: np.ndarray, lengths: np.ndarray) -> Dict[str, np.ndarray]:
        """
        Cut windows out of the aggregate.

        :param starts: (B,) first rows.
        :param lengths: (B,) valid steps, 1..window.
        :return: as sample.
        """
        valid = np.arange(self.window)[None, :] < lengths[:, None]
        rows = np.where(valid, starts[:, None] + np.arange(self.window)[None, :],
                        starts[:, None])
        obs = self.arrays['obs'][rows]
        actions = np.nan_to_num(self.arrays['expert_action'][rows])
        mask = valid & self.arrays['labelled'][rows]
        obs[~valid] = 0.0
        actions[~mask] = 0.0
        return {OBS_KEY: obs.astype(np.float32), ACTIONS_KEY: actions.astype(np.float32),
                MASK_KEY: mask, GOAL_KEY: self.arrays['goal'][starts].astype(np.float32)}
