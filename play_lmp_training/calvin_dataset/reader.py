"""
Read any CALVIN split (real task_D_D or generated play) into compact, validated state arrays.

Nothing is skipped silently: a missing index file, a missing frame inside an episode range, a
corrupt or truncated npz, a wrong shape or a non-finite value raises an error naming the file.
Gaps between episode ranges are fine (real CALVIN splits have them); gaps inside are not.
"""

from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from play_lmp_training.calvin_dataset import cache
from play_lmp_training.calvin_dataset import files
from play_lmp_training.calvin_dataset.files import DatasetError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageAnnotations:
    """
    The task labels of a split (lang_annotations/auto_lang_ann.npy).

    :param tasks: K task names (language.task).
    :param instructions: K instructions (language.ann).
    :param frame_ranges: (K, 2) int64 inclusive frame ids (info.indx).
    """

    tasks: List[str]
    instructions: List[str]
    frame_ranges: np.ndarray

    def task_counts(self) -> Dict[str, int]:
        """
        Count the annotated windows per task.

        :return: task -> count, most frequent first (ties by name).
        """
        counts: Dict[str, int] = {}
        for task in self.tasks:
            counts[task] = counts.get(task, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class PlaySplit:
    """
    The states of one split, frames in episode-range order.

    :param name: split directory name, e.g. 'training'.
    :param split_dir: the split directory.
    :param from_split: '<dataset dir name>/<split name>@<fingerprint>', recorded by trainers.
    :param fingerprint: hash of the split's index and frame files (see cache.split_fingerprint).
    :param cache_path: the cache directory the arrays are mapped from.
    :param obs: (F, 39) float32, robot_obs then scene_obs (memory-mapped, read-only).
    :param rel_actions: (F, 7) float32 (memory-mapped, read-only).
    :param actions: (F, 7) float32 absolute actions (memory-mapped, read-only).
    :param episode_bounds: (E, 2) int64 inclusive first / last row of each episode.
    :param ep_start_end_ids: (E, 2) int64 inclusive first / last frame id of each episode.
    :param frame_ids: (F,) int64 frame id of each row.
    :param lang: the language annotations, or None if the split has none.
    """

    name: str
    split_dir: Path
    from_split: str
    fingerprint: str
    cache_path: Path
    obs: np.ndarray
    rel_actions: np.ndarray
    actions: np.ndarray
    episode_bounds: np.ndarray
    ep_start_end_ids: np.ndarray
    frame_ids: np.ndarray
    lang: Optional[LanguageAnnotations]

    @property
    def num_frames(self) -> int:
        """Return the number of frames (rows)."""
        return int(self.obs.shape[0])

    @property
    def num_episodes(self) -> int:
        """Return the number of episodes."""
        return int(self.episode_bounds.shape[0])

    @property
    def episode_lengths(self) -> np.ndarray:
        """Return the number of frames per episode, (E,) int64."""
        return self.episode_bounds[:, 1] - self.episode_bounds[:, 0] + 1

    def rows_of_frames(self, frame_ids: np.ndarray) -> np.ndarray:
        """
        Map frame ids to rows of the arrays.

        :param frame_ids: any shape, int frame ids of this split.
        :return: same shape, int64 rows.
        :raises KeyError: if a frame id is not in the split.
        """
        frame_ids = np.asarray(frame_ids, dtype=np.int64)
        order = np.argsort(self.frame_ids, kind='stable')
        sorted_ids = self.frame_ids[order]
        positions = np.minimum(np.searchsorted(sorted_ids, frame_ids), len(sorted_ids) - 1)
        unknown = sorted_ids[positions] != frame_ids
        if unknown.any():
            raise KeyError(f'frame ids not in {self.split_dir}: {frame_ids[unknown][:5].tolist()}')
        return order[positions]


def read_episode_ranges(split_dir: files.PathLike) -> np.ndarray:
    """
    Read and validate a split's ep_start_end_ids.npy.

    :param split_dir: the split directory.
    :return: (E, 2) int64 inclusive [start, end] frame ids, in file order.
    :raises FileNotFoundError: if the split directory or the file is missing.
    :raises DatasetError: naming the file if it is unreadable, not (E, 2) integers with
        0 <= start <= end, empty or has overlapping ranges.
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise FileNotFoundError(f'split directory {split_dir} does not exist')
    path = split_dir / files.EP_START_END_IDS
    if not path.is_file():
        raise FileNotFoundError(f'{path} is missing: {split_dir} is not a CALVIN split')
    try:
        ranges = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f'{path}: unreadable ({type(error).__name__}: {error})') from None
    if ranges.ndim != 2 or ranges.shape[1] != 2 or ranges.shape[0] == 0:
        raise DatasetError(f'{path}: expected a non-empty (N, 2) array, got shape {ranges.shape}')
    if ranges.dtype.kind not in 'iu':
        raise DatasetError(f'{path}: expected integer frame ids, got dtype {ranges.dtype}')
    ranges = ranges.astype(np.int64)
    reversed_rows = np.flatnonzero((ranges[:, 0] > ranges[:, 1]) | (ranges[:, 0] < 0))
    if reversed_rows.size:
        row = int(reversed_rows[0])
        raise DatasetError(f'{path}: row {row} {ranges[row].tolist()} needs 0 <= start <= end')
    if ranges[:, 1].max() >= 10 ** 7:
        raise DatasetError(f'{path}: frame ids must fit 7 digits, max is {ranges[:, 1].max()}')
    by_start = ranges[np.argsort(ranges[:, 0], kind='stable')]
    overlaps = np.flatnonzero(by_start[1:, 0] <= by_start[:-1, 1])
    if overlaps.size:
        first = int(overlaps[0])
        raise DatasetError(f'{path}: ranges {by_start[first].tolist()} and '
                           f'{by_start[first + 1].tolist()} overlap')
    return ranges


def read_language(split_dir: files.PathLike) -> Optional[LanguageAnnotations]:
    """
    Read a split's lang_annotations/auto_lang_ann.npy if it exists.

    The file is a pickle (as in CALVIN); it is read by files.load_object_npy, which builds
    arrays and plain containers only, so a crafted file is refused instead of run.

    :param split_dir: the split directory.
    :return: the annotations, or None without the file.
    :raises DatasetError: naming the file if it is unreadable or not CALVIN's structure.
    """
    path = files.lang_annotation_path(split_dir)
    if not path.exists():
        return None
    try:
        content = files.load_object_npy(path)
        tasks = [str(task) for task in content['language']['task']]
        instructions = [str(text) for text in content['language']['ann']]
        indices = content['info']['indx']
        frame_ranges = np.array([[int(start), int(end)] for start, end in indices],
                                dtype=np.int64).reshape(-1, 2)
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as error:
        raise DatasetError(
            f'{path}: not a CALVIN annotation dict ({type(error).__name__}: {error})') from None
    if not len(tasks) == len(instructions) == len(frame_ranges):
        raise DatasetError(f'{path}: {len(tasks)} tasks, {len(instructions)} instructions and '
                           f'{len(frame_ranges)} ranges; expected equal counts')
    if (frame_ranges[:, 0] > frame_ranges[:, 1]).any():
        raise DatasetError(f'{path}: an info.indx range has start > end')
    return LanguageAnnotations(tasks, instructions, frame_ranges)


def load_split(split_dir: files.PathLike, cache_dir: Optional[files.PathLike] = None,
               progress: bool = True) -> PlaySplit:
    """
    Validate a CALVIN split and return its states, building the compact cache on first use.

    The first call reads every frame file in the episode ranges (with a progress bar) into
    <cache_dir>/<split name>-<fingerprint>/; later calls memory-map that cache, and a changed
    split (ranges, file count, sizes or mtimes) gets a fresh one.

    :param split_dir: e.g. <calvin>/task_D_D/training.
    :param cache_dir: where caches live; default <split_dir>/.cache.
    :param progress: show a progress bar while building the cache.
    :return: the split.
    :raises FileNotFoundError: if ep_start_end_ids.npy or a frame file inside a range is missing.
    :raises DatasetError: (a ValueError) naming the file on any corrupt or malformed content.
    """
    split_dir = Path(split_dir)
    ranges = read_episode_ranges(split_dir)
    fingerprint = cache.split_fingerprint(split_dir, ranges)
    cache_root = Path(cache_dir) if cache_dir is not None else split_dir / '.cache'
    cache_path, arrays = cache.load_or_build(split_dir, ranges, cache_root, fingerprint, progress)
    lang = read_language(split_dir)
    frame_ids = cache.episode_frame_ids(ranges)
    if lang is not None:
        inside = np.isin(lang.frame_ranges, frame_ids).all(axis=1)
        if not inside.all():
            logger.warning('%s: %d of %d annotation ranges reach frames outside the episode '
                           'ranges', split_dir, int((~inside).sum()), len(inside))
    dataset_name = split_dir.resolve().parent.name
    split = PlaySplit(
        name=split_dir.name, split_dir=split_dir,
        from_split=f'{dataset_name}/{split_dir.name}@{fingerprint}', fingerprint=fingerprint,
        cache_path=cache_path, obs=arrays['obs'], rel_actions=arrays['rel_actions'],
        actions=arrays['actions'], episode_bounds=arrays['episode_bounds'],
        ep_start_end_ids=ranges, frame_ids=frame_ids, lang=lang)
    logger.info('%s: %d frames in %d episodes (%s)', split_dir, split.num_frames,
                split.num_episodes, split.from_split)
    return split
