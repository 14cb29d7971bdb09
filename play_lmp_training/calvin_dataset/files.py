"""
File names, per-frame key specifications and atomic file writes shared by the writer and reader.

CALVIN's per-frame file ``episode_{id:07d}.npz`` holds (mees/calvin:dataset/README.md):
actions (7,) float32, rel_actions (7,) float32, robot_obs (15,) float64, scene_obs (24,) float32
and, in real splits, rgb_static (200, 200, 3) uint8, rgb_gripper (84, 84, 3) uint8 plus tactile
and depth images.  Only the four state keys are read for training.
"""

import io
import os
from pathlib import Path
import pickle
import re
from typing import Callable, Dict, Optional, Tuple, Union
import zipfile
import zlib

import numpy as np
from play_lmp_ros.core import layout

EP_START_END_IDS = 'ep_start_end_ids.npy'
EP_LENS = 'ep_lens.npy'
SCENE_INFO = 'scene_info.npy'
STATISTICS = 'statistics.yaml'
LANG_DIR = 'lang_annotations'
LANG_FILE = 'auto_lang_ann.npy'
PROGRESS_MANIFEST = '.progress.json'

FRAME_FILE_PATTERN = re.compile(r'^episode_(\d{7})\.npz$')

# The only globals a CALVIN pickled .npy (scene_info, auto_lang_ann) needs: numpy's array,
# dtype and scalar reconstruction, under numpy 1's and numpy 2's module names.  Dicts, lists,
# tuples, strings and numbers need none.  Any other global (os.system, builtins.eval, ...) is
# how a crafted pickle runs code, and is refused.
SAFE_PICKLE_GLOBALS = frozenset(
    (module, name)
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray')
    for name in ('_reconstruct', 'scalar')
) | {('numpy', 'ndarray'), ('numpy', 'dtype')}

# Shape and stored dtype of every state key of a frame file.
STATE_KEYS: Dict[str, Tuple[Tuple[int, ...], type]] = {
    'actions': ((layout.ACTION_DIM,), np.float32),
    'rel_actions': ((layout.ACTION_DIM,), np.float32),
    'robot_obs': ((layout.ROBOT_OBS_DIM,), np.float64),
    'scene_obs': ((layout.SCENE_OBS_DIM,), np.float32),
}

# Shape of the camera images the writer stores when images are on (always uint8).
IMAGE_KEYS: Dict[str, Tuple[int, ...]] = {
    'rgb_static': (200, 200, 3),
    'rgb_gripper': (84, 84, 3),
}

PathLike = Union[str, os.PathLike]


class DatasetError(ValueError):
    """A dataset file is malformed: corrupt, truncated, wrong keys, shapes or values."""


def frame_file_name(frame_id: int) -> str:
    """
    Return CALVIN's file name of one frame.

    :param frame_id: global frame id, 0 <= id < 10**7.
    :return: e.g. 'episode_0000042.npz'.
    """
    return f'episode_{int(frame_id):07d}.npz'


def lang_annotation_path(split_dir: PathLike) -> Path:
    """
    Return the path of a split's language annotation file.

    :param split_dir: the split directory (e.g. <dataset>/training).
    :return: <split_dir>/lang_annotations/auto_lang_ann.npy.
    """
    return Path(split_dir) / LANG_DIR / LANG_FILE


def atomic_write(path: PathLike, write: Callable[[io.BufferedWriter], None],
                 durable: bool = False) -> None:
    """
    Write a file under a temporary name in the same directory, then rename it into place.

    An interrupted write leaves at most a hidden '.<name>.<pid>.tmp' file, never a truncated file
    under the real name.

    :param path: final path.
    :param write: called with the open binary file object.
    :param durable: fsync the file before the rename (for small bookkeeping files; frames skip it
        because a killed process, not a power cut, is the failure this guards against).
    """
    path = Path(path)
    temp_path = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    try:
        with open(temp_path, 'wb') as stream:
            write(stream)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temp_path, path)
    finally:
        if temp_path.exists():
            temp_path.unlink()


def atomic_save_npy(path: PathLike, array: np.ndarray, allow_pickle: bool = False) -> None:
    """
    Save one array as .npy atomically.

    :param path: final path, ending in .npy.
    :param array: the array (or, with allow_pickle, an object such as a dict).
    :param allow_pickle: needed for CALVIN's pickled dicts (scene_info, auto_lang_ann).
    """
    atomic_write(path, lambda stream: np.save(stream, array, allow_pickle=allow_pickle))


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that builds plain containers and numpy arrays, and nothing else."""

    def find_class(self, module: str, name: str):
        """Resolve only SAFE_PICKLE_GLOBALS."""
        if (module, name) in SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f'refused to load the global {module}.{name} (only arrays, '
                                     f'dicts, lists, numbers and strings are accepted)')


def load_object_npy(path: PathLike) -> object:
    """
    Read a .npy that holds a pickled object (CALVIN's dicts) without running code from it.

    :param path: the file.
    :return: the stored object (a 0-d object array's item), or the array for a plain .npy.
    :raises DatasetError: naming the file if it is truncated, not a .npy, or names any
        global beyond SAFE_PICKLE_GLOBALS (a crafted file: nothing in it was run).
    """
    try:
        with open(path, 'rb') as stream:
            version = np.lib.format.read_magic(stream)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, _, dtype = header(stream)
            if not dtype.hasobject:
                stream.seek(0)
                return np.load(stream, allow_pickle=False)
            array = _ArraysOnlyUnpickler(stream).load()
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError,
            TypeError, IndexError) as error:
        raise DatasetError(f'{path}: not a loadable .npy ({type(error).__name__}: {error})'
                           ) from None
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise DatasetError(f'{path}: its pickle holds {type(array).__name__}, not the '
                           f'{shape} array its header announces')
    return array.item() if array.shape == () else array


def atomic_save_npz(path: PathLike, arrays: Dict[str, np.ndarray], compress: bool) -> None:
    """
    Save several arrays as one .npz atomically.

    :param path: final path, ending in .npz.
    :param arrays: key -> array.
    :param compress: zip-deflate the members (worth it for images, slower for state only).
    """
    save = np.savez_compressed if compress else np.savez
    atomic_write(path, lambda stream: save(stream, **arrays))


def atomic_write_text(path: PathLike, text: str, durable: bool = False) -> None:
    """
    Write a UTF-8 text file atomically.

    :param path: final path.
    :param text: the content.
    :param durable: fsync before the rename.
    """
    atomic_write(path, lambda stream: stream.write(text.encode('utf-8')), durable=durable)


def first_frame_file(directory: PathLike) -> Optional[str]:
    """
    Return the name of any CALVIN frame file in a directory, stopping at the first one found.

    :param directory: a directory that exists.
    :return: a file name such as 'episode_0000000.npz', or None.
    """
    with os.scandir(directory) as entries:
        for entry in entries:
            if FRAME_FILE_PATTERN.match(entry.name):
                return entry.name
    return None


def read_frame_states(path: PathLike) -> Dict[str, np.ndarray]:
    """
    Read and validate the four state arrays of one frame file; image members are not read.

    :param path: an episode_XXXXXXX.npz file.
    :return: actions (7,), rel_actions (7,), robot_obs (15,), scene_obs (24,), as stored.
    :raises DatasetError: naming the file if it is corrupt or truncated, lacks a key, or has a
        wrong shape, a non-numeric dtype or non-finite values.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not hasattr(archive, 'files'):
                raise DatasetError(f'{path}: holds a single array, not an npz archive')
            missing = [key for key in STATE_KEYS if key not in archive.files]
            if missing:
                raise DatasetError(f'{path}: lacks the keys {missing} (has {archive.files})')
            arrays = {key: archive[key] for key in STATE_KEYS}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        if isinstance(error, DatasetError):
            raise
        raise DatasetError(
            f'{path}: corrupt or truncated npz ({type(error).__name__}: {error})') from None
    for key, (shape, _) in STATE_KEYS.items():
        array = arrays[key]
        if array.shape != shape:
            raise DatasetError(f'{path}: {key} has shape {array.shape}, expected {shape}')
        if array.dtype.kind not in 'fiu':
            raise DatasetError(f'{path}: {key} has non-numeric dtype {array.dtype}')
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise DatasetError(
                f'{path}: {key} has non-finite values (NaN or inf) at indices {bad.tolist()}')
    try:
        layout.check_relative_action(arrays['rel_actions'])
    except ValueError as error:
        raise DatasetError(f'{path}: bad rel_actions: {error}') from None
    return arrays
