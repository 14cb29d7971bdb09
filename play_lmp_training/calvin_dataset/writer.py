"""
Write play data in CALVIN's exact dataset layout, resumably.

One split directory ``<root>/<split>/`` receives, as in mees/calvin:dataset/README.md:

- ``episode_{id:07d}.npz`` per frame: actions (7,) float32 (absolute TCP pose commanded for the
  step + gripper +-1), rel_actions (7,) float32 (CALVIN's clipped, scaled, wrap-aware difference
  between actions[t] and robot_obs[t]), robot_obs (15,) float64, scene_obs (24,) float32 and, when
  images are on, rgb_static (200, 200, 3) uint8 and rgb_gripper (84, 84, 3) uint8;
- ``ep_start_end_ids.npy`` (N, 2) int64 inclusive frame id pairs and ``ep_lens.npy`` (N,) int64;
- ``scene_info.npy``: a pickled dict {scene name: [first frame id, last frame id]};
- ``statistics.yaml``: NormalizeVector mean / std (population) of robot_obs and scene_obs and
  act_max_bound / act_min_bound of the absolute actions;
- ``lang_annotations/auto_lang_ann.npy``: a pickled dict with language.ann, language.task,
  language.emb and info.indx, info.episodes.  We have no sentence encoder, so language.emb is
  zeros (N, 1, 384) float32: anything that needs CALVIN's MiniLM embeddings must recompute them.

Frame ids are global and contiguous across episodes.  Every file is written under a temporary name
and renamed, so a killed run never leaves a truncated file under a real name.  Episodes are the
unit of commit: a hidden manifest ``.progress.json`` records the committed episodes, running
statistics, annotations and an opaque random-state blob of the caller, and
``CalvinWriter.open_existing`` continues after the last committed episode.
"""

import base64
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset import files
import yaml

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
DEFAULT_SCENE = 'calvin_scene_D'
NORMALIZE_TARGET = 'calvin_models.calvin_agent.utils.transforms.NormalizeVector'
LANG_EMBEDDING_DIM = 384
MAX_FRAME_ID = 10 ** 7 - 1


class DatasetExistsError(FileExistsError):
    """The output directory already holds a dataset that this writer must not touch."""


def settings_hash(settings: Optional[Mapping[str, object]]) -> str:
    """
    Return a stable hash of the generator settings, stored in the manifest to detect mismatches.

    :param settings: JSON-serialisable settings, or None.
    :return: 16 hex digits.
    :raises TypeError: if the settings are not JSON-serialisable.
    """
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


class _RunningMoments:
    """Per-dimension mean / M2 of observations and min / max of actions, merged per episode."""

    def __init__(self, state: Optional[Dict[str, object]] = None):
        """Start empty, or restore from a manifest's 'moments' entry."""
        if state is None:
            self.count = 0
            self.mean = np.zeros(layout.OBS_DIM)
            self.m2 = np.zeros(layout.OBS_DIM)
            self.act_min = np.full(layout.ACTION_DIM, np.inf)
            self.act_max = np.full(layout.ACTION_DIM, -np.inf)
        else:
            self.count = int(state['count'])
            self.mean = np.array(state['mean'], dtype=np.float64)
            self.m2 = np.array(state['m2'], dtype=np.float64)
            self.act_min = np.array(state['act_min'], dtype=np.float64)
            self.act_max = np.array(state['act_max'], dtype=np.float64)

    def merge(self, obs: np.ndarray, actions: np.ndarray) -> None:
        """Merge one episode, obs (T, 39) and absolute actions (T, 7), with Chan's formula."""
        episode_count = obs.shape[0]
        episode_mean = obs.mean(axis=0)
        episode_m2 = ((obs - episode_mean) ** 2).sum(axis=0)
        total = self.count + episode_count
        delta = episode_mean - self.mean
        self.mean = self.mean + delta * (episode_count / total)
        self.m2 = self.m2 + episode_m2 + delta ** 2 * (self.count * episode_count / total)
        self.count = total
        self.act_min = np.minimum(self.act_min, actions.min(axis=0))
        self.act_max = np.maximum(self.act_max, actions.max(axis=0))

    def to_state(self) -> Dict[str, object]:
        """Return a JSON-serialisable state; floats round-trip exactly through json."""
        return {
            'count': self.count, 'mean': self.mean.tolist(), 'm2': self.m2.tolist(),
            'act_min': self.act_min.tolist(), 'act_max': self.act_max.tolist(),
        }

    def statistics(self) -> Dict[str, object]:
        """Return statistics.yaml's content in CALVIN's structure."""
        std = np.sqrt(self.m2 / self.count)
        robot, scene = slice(0, layout.ROBOT_OBS_DIM), slice(layout.ROBOT_OBS_DIM, None)
        return {
            'robot_obs': [{'_target_': NORMALIZE_TARGET, 'mean': self.mean[robot].tolist(),
                           'std': std[robot].tolist()}],
            'scene_obs': [{'_target_': NORMALIZE_TARGET, 'mean': self.mean[scene].tolist(),
                           'std': std[scene].tolist()}],
            'act_max_bound': self.act_max.tolist(),
            'act_min_bound': self.act_min.tolist(),
        }


def _holds_calvin_files(split_dir: Path) -> bool:
    """Return True if the directory holds CALVIN index or frame files."""
    if not split_dir.is_dir():
        return False
    if (split_dir / files.EP_START_END_IDS).exists():
        return True
    return files.first_frame_file(split_dir) is not None


class CalvinWriter:
    """
    Write one CALVIN split frame by frame, committing whole episodes.

    Typical use::

        writer = CalvinWriter.open_existing(root, 'training', dataset_id='play-v1', settings=cfg)
        while writer.num_frames < wanted:
            writer.begin_episode()
            for ...:
                writer.add_frame(robot_obs, scene_obs, action_abs)
            writer.add_annotation('open_drawer', start_id, end_id, 'open the drawer')
            writer.end_episode(rng_state=pickle.dumps(rng.bit_generator.state))
        writer.finalize()
    """

    def __init__(self, root: files.PathLike, split: str = 'training', images: bool = False,
                 dataset_id: str = 'play', settings: Optional[Mapping[str, object]] = None,
                 scene: str = DEFAULT_SCENE):
        """
        Start a new dataset in <root>/<split>, which must be absent or hold no CALVIN data.

        :param root: dataset root; the split directory is created below it.
        :param split: 'training', 'validation' or any directory name.
        :param images: store rgb_static / rgb_gripper with every frame.
        :param dataset_id: name of the dataset, checked when resuming.
        :param settings: JSON-serialisable generator settings, hashed and checked when resuming.
        :param scene: key of scene_info.npy.
        :raises DatasetExistsError: if the split directory already holds a dataset.
        """
        self._init_fields(root, split, images, dataset_id, settings, scene)
        if self.manifest_path.exists() or _holds_calvin_files(self.split_dir):
            raise DatasetExistsError(
                f'{self.split_dir} already holds a dataset; it was left untouched. Use '
                'CalvinWriter.open_existing to resume a dataset of the same id and settings, '
                'or choose another directory.')
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self._write_manifest()

    def _init_fields(self, root: files.PathLike, split: str, images: bool, dataset_id: str,
                     settings: Optional[Mapping[str, object]], scene: str) -> None:
        """Set every attribute to the state of an empty dataset."""
        self.split_dir = Path(root) / split
        self.manifest_path = self.split_dir / files.PROGRESS_MANIFEST
        self.split = split
        self.images = bool(images)
        self.dataset_id = str(dataset_id)
        self.settings_hash = settings_hash(settings)
        self.scene = scene
        self.finalized = False
        self._episodes: List[Tuple[int, int]] = []
        self._annotations: List[Dict[str, object]] = []
        self._moments = _RunningMoments()
        self._rng_state: Optional[bytes] = None
        self._committed_next_id = 0
        self._open_episode_start: Optional[int] = None
        self._open_episode_frames: List[Tuple[np.ndarray, np.ndarray]] = []
        self._open_episode_annotations: List[Dict[str, object]] = []

    @classmethod
    def open_existing(cls, root: files.PathLike, split: str = 'training', images: bool = False,
                      dataset_id: str = 'play', settings: Optional[Mapping[str, object]] = None,
                      scene: str = DEFAULT_SCENE) -> 'CalvinWriter':
        """
        Resume the dataset in <root>/<split> after its last committed episode, or start it.

        Frame files written after the last committed episode (an episode interrupted before
        end_episode) are deleted.  An absent or CALVIN-free directory starts a new dataset, so a
        generator can always call this.

        :param root: dataset root.
        :param split: split directory name.
        :param images: must match the stored dataset.
        :param dataset_id: must match the stored dataset.
        :param settings: must hash to the stored settings hash.
        :param scene: must match the stored dataset.
        :return: a writer positioned after the last committed episode; see rng_state.
        :raises DatasetExistsError: if the directory holds a different dataset, or CALVIN files
            without a manifest; nothing in it is deleted or overwritten then.
        """
        split_dir = Path(root) / split
        manifest_path = split_dir / files.PROGRESS_MANIFEST
        if not manifest_path.exists():
            if _holds_calvin_files(split_dir):
                raise DatasetExistsError(
                    f'{split_dir} holds CALVIN files but no {files.PROGRESS_MANIFEST}: it was not '
                    'written by CalvinWriter (or by an older run); it was left untouched.')
            return cls(root, split, images, dataset_id, settings, scene)
        writer = cls.__new__(cls)
        writer._init_fields(root, split, images, dataset_id, settings, scene)
        writer._restore(manifest_path)
        return writer

    def _restore(self, manifest_path: Path) -> None:
        """Load the manifest, refuse mismatches and delete uncommitted frame files."""
        try:
            manifest = json.loads(manifest_path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as error:
            raise DatasetExistsError(
                f'{self.split_dir}: unreadable {files.PROGRESS_MANIFEST} ({error}); the directory '
                'was left untouched.') from None
        expected = {
            'format': MANIFEST_FORMAT, 'dataset_id': self.dataset_id,
            'settings_hash': self.settings_hash, 'split': self.split, 'images': self.images,
            'scene': self.scene, 'layout_hash': layout.layout_hash(),
        }
        mismatches = [f'{key}: stored {manifest.get(key)!r}, requested {value!r}'
                      for key, value in expected.items() if manifest.get(key) != value]
        if mismatches:
            raise DatasetExistsError(
                f'{self.split_dir} holds a different dataset ({"; ".join(mismatches)}); it was '
                'left untouched. Choose another directory or matching settings.')
        self._episodes = [(int(start), int(end)) for start, end in manifest['episodes']]
        self._annotations = list(manifest['annotations'])
        self._moments = _RunningMoments(manifest['moments'])
        blob = manifest['rng_state']
        self._rng_state = None if blob is None else base64.b64decode(blob)
        self._committed_next_id = int(manifest['next_frame_id'])
        self.finalized = bool(manifest['finalized'])
        self._discard_uncommitted_files()
        logger.info('resuming %s at frame %d after %d episodes', self.split_dir,
                    self._committed_next_id, len(self._episodes))

    def _discard_uncommitted_files(self) -> None:
        """
        Delete frame files at or past the next uncommitted id and leftover temporary files.

        :raises files.DatasetError: if frame files of committed episodes are missing.
        """
        discarded = committed = 0
        with os.scandir(self.split_dir) as entries:
            for entry in entries:
                match = files.FRAME_FILE_PATTERN.match(entry.name)
                if match and int(match.group(1)) >= self._committed_next_id:
                    os.unlink(entry.path)
                    discarded += 1
                elif match:
                    committed += 1
                elif entry.name.startswith('.') and entry.name.endswith('.tmp'):
                    os.unlink(entry.path)
        if committed < self.num_frames:
            raise files.DatasetError(
                f'{self.split_dir}: {files.PROGRESS_MANIFEST} records {self.num_frames} committed '
                f'frames but only {committed} frame files are there; cannot resume')
        if discarded:
            logger.info('discarded %d frame files of an interrupted episode', discarded)

    def _write_manifest(self) -> None:
        """Commit the current state to .progress.json (atomically, durably)."""
        manifest = {
            'format': MANIFEST_FORMAT, 'dataset_id': self.dataset_id,
            'settings_hash': self.settings_hash, 'split': self.split, 'images': self.images,
            'scene': self.scene, 'layout_hash': layout.layout_hash(),
            'episodes': [list(pair) for pair in self._episodes],
            'frames_done': self.num_frames, 'next_frame_id': self._committed_next_id,
            'annotations': self._annotations, 'moments': self._moments.to_state(),
            'rng_state': (None if self._rng_state is None
                          else base64.b64encode(self._rng_state).decode('ascii')),
            'finalized': self.finalized,
        }
        files.atomic_write_text(self.manifest_path, json.dumps(manifest, indent=1), durable=True)

    @property
    def num_frames(self) -> int:
        """Return the number of frames in committed episodes."""
        return sum(end - start + 1 for start, end in self._episodes)

    @property
    def num_episodes(self) -> int:
        """Return the number of committed episodes."""
        return len(self._episodes)

    @property
    def episodes(self) -> List[Tuple[int, int]]:
        """Return the inclusive (start, end) frame ids of the committed episodes."""
        return list(self._episodes)

    @property
    def next_frame_id(self) -> int:
        """Return the id the next added frame will get."""
        return self._committed_next_id + len(self._open_episode_frames)

    @property
    def rng_state(self) -> Optional[bytes]:
        """Return the blob passed to the last committed end_episode (None before any)."""
        return self._rng_state

    def begin_episode(self) -> None:
        """
        Open a new episode; its frames get the next contiguous ids.

        :raises RuntimeError: if an episode is already open.
        """
        if self._open_episode_start is not None:
            raise RuntimeError('begin_episode called while an episode is open; call end_episode')
        self._open_episode_start = self._committed_next_id
        self._open_episode_frames = []
        self._open_episode_annotations = []

    def add_frame(self, robot_obs: np.ndarray, scene_obs: np.ndarray, action_abs: np.ndarray,
                  images: Optional[Mapping[str, np.ndarray]] = None) -> int:
        """
        Write one frame; rel_actions are computed from action_abs and robot_obs the CALVIN way.

        :param robot_obs: (15,) observation at this frame.
        :param scene_obs: (24,) observation at this frame.
        :param action_abs: (7,) commanded absolute TCP pose for this step (m, rad) + gripper +-1.
        :param images: with images on, {'rgb_static': (200, 200, 3) uint8,
            'rgb_gripper': (84, 84, 3) uint8}; None otherwise.
        :return: the frame id written.
        :raises RuntimeError: if no episode is open.
        :raises ValueError: on wrong sizes, non-finite values, a gripper not +-1 or bad images.
        """
        if self._open_episode_start is None:
            raise RuntimeError('add_frame called outside an episode; call begin_episode first')
        frame_id = self.next_frame_id
        if frame_id > MAX_FRAME_ID:
            raise ValueError(f'frame id {frame_id} does not fit the 7-digit file names')
        robot_obs = layout.check_vector(robot_obs, layout.ROBOT_OBS_DIM, 'robot_obs')
        scene_obs = layout.check_vector(scene_obs, layout.SCENE_OBS_DIM, 'scene_obs')
        action_abs = layout.check_absolute_action(action_abs)
        arrays = {
            'actions': action_abs,
            'rel_actions': layout.absolute_to_relative(action_abs, robot_obs),
            'robot_obs': robot_obs,
            'scene_obs': scene_obs,
        }
        arrays = {key: arrays[key].astype(dtype) for key, (_, dtype) in files.STATE_KEYS.items()}
        arrays.update(self._checked_images(images))
        files.atomic_save_npz(self.split_dir / files.frame_file_name(frame_id), arrays,
                              compress=self.images)
        # Statistics are taken over the stored (rounded) values, which are what readers see.
        stored_obs = np.concatenate([arrays['robot_obs'], arrays['scene_obs']]).astype(np.float64)
        self._open_episode_frames.append((stored_obs, arrays['actions'].astype(np.float64)))
        return frame_id

    def _checked_images(self, images: Optional[Mapping[str, np.ndarray]]
                        ) -> Dict[str, np.ndarray]:
        """Return the validated image arrays of a frame (empty when images are off)."""
        if not self.images:
            if images is not None:
                raise ValueError('images given to a writer created with images=False')
            return {}
        if images is None or set(images) != set(files.IMAGE_KEYS):
            raise ValueError(f'images must be a dict with exactly {sorted(files.IMAGE_KEYS)}')
        checked = {}
        for key, shape in files.IMAGE_KEYS.items():
            image = np.asarray(images[key])
            if image.shape != shape or image.dtype != np.uint8:
                raise ValueError(f'{key} must be {shape} uint8, got {image.shape} {image.dtype}')
            checked[key] = image
        return checked

    def end_episode(self, rng_state: Optional[bytes] = None) -> Tuple[int, int]:
        """
        Commit the open episode: after this, a resumed run continues after it.

        :param rng_state: opaque bytes (e.g. a pickled generator state) returned by rng_state
            after open_existing, so that a resumed generator continues its random stream.
        :return: the episode's inclusive (start, end) frame ids.
        :raises RuntimeError: if no episode is open.
        :raises ValueError: if the episode has no frames.
        """
        if self._open_episode_start is None:
            raise RuntimeError('end_episode called without begin_episode')
        if not self._open_episode_frames:
            raise ValueError('an episode needs at least one frame')
        obs = np.stack([obs for obs, _ in self._open_episode_frames])
        actions = np.stack([action for _, action in self._open_episode_frames])
        episode = (self._open_episode_start, self._open_episode_start + len(obs) - 1)
        self._moments.merge(obs, actions)
        self._episodes.append(episode)
        self._annotations.extend(self._open_episode_annotations)
        self._committed_next_id = episode[1] + 1
        if rng_state is not None:
            self._rng_state = bytes(rng_state)
        self.finalized = False
        self._open_episode_start = None
        self._open_episode_frames = []
        self._open_episode_annotations = []
        self._write_manifest()
        return episode

    def add_annotation(self, task: str, start_id: int, end_id: int, instruction: str) -> None:
        """
        Label frames start_id..end_id (inclusive, inside one episode) with a task.

        An annotation inside committed episodes is committed at once; one inside the open
        episode is committed with it by end_episode (and lost if that episode is interrupted).

        :param task: CALVIN task name, e.g. 'open_drawer'.
        :param start_id: first frame id.
        :param end_id: last frame id.
        :param instruction: the language instruction (language.ann).
        :raises ValueError: if the range is empty or not inside one written episode.
        """
        start_id, end_id = int(start_id), int(end_id)
        annotation = {'task': str(task), 'start': start_id, 'end': end_id,
                      'instruction': str(instruction)}
        if start_id > end_id:
            raise ValueError(f'annotation {task!r}: start id {start_id} > end id {end_id}')
        open_start = self._open_episode_start
        if open_start is not None and open_start <= start_id and end_id < self.next_frame_id:
            self._open_episode_annotations.append(annotation)
            return
        if not any(start <= start_id and end_id <= end for start, end in self._episodes):
            raise ValueError(
                f'annotation {task!r} [{start_id}, {end_id}] does not lie inside one written '
                'episode')
        self._annotations.append(annotation)
        self._write_manifest()

    def finalize(self) -> None:
        """
        Write ep_start_end_ids.npy, ep_lens.npy, scene_info.npy, statistics.yaml and annotations.

        :raises RuntimeError: if an episode is still open.
        :raises ValueError: if no episode was committed.
        """
        if self._open_episode_start is not None:
            raise RuntimeError('finalize called while an episode is open; call end_episode')
        if not self._episodes:
            raise ValueError(f'{self.split_dir}: no episode to finalize')
        ids = np.array(self._episodes, dtype=np.int64).reshape(-1, 2)
        files.atomic_save_npy(self.split_dir / files.EP_START_END_IDS, ids)
        files.atomic_save_npy(self.split_dir / files.EP_LENS, ids[:, 1] - ids[:, 0] + 1)
        scene_info = {self.scene: [int(ids[:, 0].min()), int(ids[:, 1].max())]}
        files.atomic_save_npy(self.split_dir / files.SCENE_INFO, np.array(scene_info),
                              allow_pickle=True)
        files.atomic_write_text(
            self.split_dir / files.STATISTICS,
            yaml.safe_dump(self._moments.statistics(), sort_keys=False, default_flow_style=None))
        lang_path = files.lang_annotation_path(self.split_dir)
        lang_path.parent.mkdir(exist_ok=True)
        files.atomic_save_npy(lang_path, np.array(self._language_dict()), allow_pickle=True)
        self.finalized = True
        self._write_manifest()
        logger.info('finalized %s: %d frames, %d episodes, %d annotations', self.split_dir,
                    self.num_frames, self.num_episodes, len(self._annotations))

    def _language_dict(self) -> Dict[str, Dict[str, object]]:
        """Return auto_lang_ann's dict; embeddings are zeros (no sentence encoder here)."""
        return {
            'language': {
                'ann': [item['instruction'] for item in self._annotations],
                'task': [item['task'] for item in self._annotations],
                'emb': np.zeros((len(self._annotations), 1, LANG_EMBEDDING_DIM), np.float32),
            },
            'info': {
                'episodes': [],
                'indx': [(item['start'], item['end']) for item in self._annotations],
            },
        }
