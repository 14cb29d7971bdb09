"""
A compact, memory-mappable cache of a split's state arrays, rebuilt whenever the split changes.

Reading hundreds of thousands of per-frame npz files takes minutes, so the states are extracted
once into ``<cache_dir>/<split_name>-<fingerprint>/``:

- obs.npy (F, 39) float32: robot_obs then scene_obs, frames in episode-range order;
- rel_actions.npy (F, 7) float32 and actions.npy (F, 7) float32;
- episode_bounds.npy (E, 2) int64: inclusive first / last row of every episode;
- meta.json: fingerprint, sizes, source directory and build speed.

The fingerprint hashes ep_start_end_ids, the number of frame files and the size and mtime of every
frame file in the ranges, so an edited, extended or regenerated split gets a new cache (fixing the
seed's stale normalization cache).  A cache is built in a temporary directory and renamed into
place, so an interrupted build is never mistaken for a finished one.
"""

import hashlib
import json
import logging
import os
from pathlib import Path
import shutil
import time
from typing import Dict, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset import files
from tqdm import tqdm

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
ARRAY_FILES = {
    'obs': ((layout.OBS_DIM,), 'obs.npy'),
    'rel_actions': ((layout.ACTION_DIM,), 'rel_actions.npy'),
    'actions': ((layout.ACTION_DIM,), 'actions.npy'),
}
EPISODE_BOUNDS_FILE = 'episode_bounds.npy'
META_FILE = 'meta.json'


def episode_frame_ids(ep_start_end_ids: np.ndarray) -> np.ndarray:
    """
    Return every frame id of the episode ranges, in range order.

    :param ep_start_end_ids: (E, 2) int inclusive ranges.
    :return: (F,) int64.
    """
    return np.concatenate([np.arange(start, end + 1, dtype=np.int64)
                           for start, end in ep_start_end_ids])


def split_fingerprint(split_dir: Path, ep_start_end_ids: np.ndarray) -> str:
    """
    Hash the split's ranges and frame file sizes / mtimes; raise if a frame file is missing.

    :param split_dir: the split directory.
    :param ep_start_end_ids: (E, 2) int64 validated inclusive ranges.
    :return: 16 hex digits.
    :raises FileNotFoundError: naming the first missing frame files and their episodes.
    """
    ids, sizes, mtimes = [], [], []
    with os.scandir(split_dir) as entries:
        for entry in entries:
            match = files.FRAME_FILE_PATTERN.match(entry.name)
            if match:
                status = entry.stat()
                ids.append(int(match.group(1)))
                sizes.append(status.st_size)
                mtimes.append(status.st_mtime_ns)
    order = np.argsort(np.array(ids, dtype=np.int64), kind='stable')
    present_ids = np.array(ids, dtype=np.int64)[order]
    needed_ids = episode_frame_ids(ep_start_end_ids)
    positions = np.minimum(np.searchsorted(present_ids, needed_ids), max(len(present_ids) - 1, 0))
    found = (present_ids[positions] == needed_ids) if len(present_ids) else np.zeros(
        len(needed_ids), dtype=bool)
    if not found.all():
        missing = needed_ids[~found]
        described = []
        for frame_id in missing[:5]:
            episode = ep_start_end_ids[(ep_start_end_ids[:, 0] <= frame_id)
                                       & (frame_id <= ep_start_end_ids[:, 1])][0]
            described.append(f'{files.frame_file_name(frame_id)} (id {frame_id}, episode '
                             f'[{episode[0]}, {episode[1]}])')
        raise FileNotFoundError(
            f'{split_dir}: {len(missing)} frame files inside the episode ranges of '
            f'{files.EP_START_END_IDS} are missing; first: {", ".join(described)}')
    digest = hashlib.sha256()
    digest.update(f'calvin-cache-{CACHE_FORMAT};files={len(ids)};'.encode())
    digest.update(np.ascontiguousarray(ep_start_end_ids, dtype=np.int64).tobytes())
    digest.update(np.array(sizes, dtype=np.int64)[order][positions].tobytes())
    digest.update(np.array(mtimes, dtype=np.int64)[order][positions].tobytes())
    return digest.hexdigest()[:16]


def load_or_build(split_dir: Path, ep_start_end_ids: np.ndarray, cache_dir: Path,
                  fingerprint: str, progress: bool = True) -> Tuple[Path, Dict[str, np.ndarray]]:
    """
    Return the cached arrays of a split, building the cache first if it is absent.

    :param split_dir: the split directory.
    :param ep_start_end_ids: (E, 2) int64 validated inclusive ranges.
    :param cache_dir: parent directory of the caches.
    :param fingerprint: split_fingerprint of the split.
    :param progress: show a tqdm bar while scanning frames.
    :return: the cache directory and obs, rel_actions, actions, episode_bounds, memory-mapped.
    :raises DatasetError: naming the frame file if one is corrupt or malformed.
    :raises OSError: if the cache directory cannot be created (e.g. a read-only dataset; pass a
        writable cache_dir then).
    """
    cache_path = cache_dir / f'{split_dir.name}-{fingerprint}'
    if cache_path.is_dir():
        arrays = _load(cache_path, fingerprint, len(ep_start_end_ids))
        if arrays is not None:
            logger.debug('using cache %s', cache_path)
            return cache_path, arrays
        logger.warning('cache %s is incomplete or inconsistent; rebuilding it', cache_path)
        shutil.rmtree(cache_path)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OSError(f'cannot create the cache directory {cache_dir} ({error}); pass a '
                      'writable cache_dir') from None
    _build(split_dir, ep_start_end_ids, cache_dir, cache_path, fingerprint, progress)
    _remove_stale_caches(split_dir, cache_dir, cache_path)
    arrays = _load(cache_path, fingerprint, len(ep_start_end_ids))
    if arrays is None:
        raise RuntimeError(f'cache {cache_path} failed its check right after being built')
    return cache_path, arrays


def _load(cache_path: Path, fingerprint: str, num_episodes: int
          ) -> Optional[Dict[str, np.ndarray]]:
    """Return the memory-mapped arrays of a finished cache, or None if it does not check out."""
    try:
        meta = json.loads((cache_path / META_FILE).read_text(encoding='utf-8'))
        arrays = {key: np.load(cache_path / name, mmap_mode='r')
                  for key, (_, name) in ARRAY_FILES.items()}
        arrays['episode_bounds'] = np.load(cache_path / EPISODE_BOUNDS_FILE)
    except (OSError, ValueError):
        return None
    num_frames = meta.get('num_frames')
    consistent = (
        meta.get('format') == CACHE_FORMAT and meta.get('fingerprint') == fingerprint
        and arrays['episode_bounds'].shape == (num_episodes, 2)
        and all(arrays[key].shape == (num_frames,) + shape
                for key, (shape, _) in ARRAY_FILES.items()))
    return arrays if consistent else None


def _build(split_dir: Path, ep_start_end_ids: np.ndarray, cache_dir: Path, cache_path: Path,
           fingerprint: str, progress: bool) -> None:
    """Scan every frame into a temporary directory, then rename it to cache_path."""
    frame_ids = episode_frame_ids(ep_start_end_ids)
    num_frames = len(frame_ids)
    temp_path = cache_dir / f'.building-{cache_path.name}-{os.getpid()}'
    if temp_path.exists():
        shutil.rmtree(temp_path)
    temp_path.mkdir()
    started = time.monotonic()
    try:
        outputs = {key: np.lib.format.open_memmap(temp_path / name, mode='w+', dtype=np.float32,
                                                  shape=(num_frames,) + shape)
                   for key, (shape, name) in ARRAY_FILES.items()}
        robot_dims = slice(0, layout.ROBOT_OBS_DIM)
        scene_dims = slice(layout.ROBOT_OBS_DIM, layout.OBS_DIM)
        for row, frame_id in enumerate(tqdm(
                frame_ids, desc=f'caching {split_dir.name}', unit='frame', disable=not progress)):
            states = files.read_frame_states(split_dir / files.frame_file_name(frame_id))
            outputs['obs'][row, robot_dims] = states['robot_obs']
            outputs['obs'][row, scene_dims] = states['scene_obs']
            outputs['rel_actions'][row] = states['rel_actions']
            outputs['actions'][row] = states['actions']
        for array in outputs.values():
            array.flush()
        del outputs
        lengths = ep_start_end_ids[:, 1] - ep_start_end_ids[:, 0] + 1
        ends = np.cumsum(lengths) - 1
        np.save(temp_path / EPISODE_BOUNDS_FILE, np.stack([ends - lengths + 1, ends], axis=1))
        seconds = time.monotonic() - started
        meta = {
            'format': CACHE_FORMAT, 'fingerprint': fingerprint,
            'split_dir': str(split_dir.resolve()), 'num_frames': num_frames,
            'num_episodes': len(ep_start_end_ids), 'layout_hash': layout.layout_hash(),
            'build_seconds': round(seconds, 3),
            'frames_per_second': round(num_frames / max(seconds, 1e-9), 1),
        }
        (temp_path / META_FILE).write_text(json.dumps(meta, indent=1), encoding='utf-8')
        try:
            os.rename(temp_path, cache_path)
        except OSError:
            # Another process finished the same cache first; its copy is identical.
            if not cache_path.is_dir():
                raise
            shutil.rmtree(temp_path)
    except BaseException:
        shutil.rmtree(temp_path, ignore_errors=True)
        raise
    logger.info('cached %d frames of %s in %.1f s (%.0f frames/s) at %s', num_frames, split_dir,
                seconds, num_frames / max(seconds, 1e-9), cache_path)


def _remove_stale_caches(split_dir: Path, cache_dir: Path, current: Path) -> None:
    """Delete older caches of the same split directory (identified by their meta.json)."""
    source = str(split_dir.resolve())
    for candidate in cache_dir.glob(f'{split_dir.name}-*'):
        if candidate == current or not candidate.is_dir():
            continue
        try:
            meta = json.loads((candidate / META_FILE).read_text(encoding='utf-8'))
        except (OSError, ValueError):
            continue
        if meta.get('split_dir') == source:
            logger.info('removing stale cache %s', candidate)
            shutil.rmtree(candidate)
