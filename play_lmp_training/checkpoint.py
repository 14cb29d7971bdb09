"""
Training checkpoints: written atomically, carrying everything needed to resume or export.

A checkpoint is one torch file with the model weights, the optimizer state, the step, the full
experiment configuration, the observation normalization, the random generator states (torch and
the window sampler's numpy generator) and the layout hash: tensors and plain Python values only,
so that it loads with torch's weights_only and a crafted file cannot run code.  It is written
to a temporary file in the same directory and renamed over the old one, so a kill at any moment
leaves either the old or the new checkpoint, never a torn one.
"""

import json
from pathlib import Path
from typing import Any, Callable, Dict, Sequence, Union

from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.files import atomic_write, atomic_write_text
from play_lmp_training.play_lmp.configuration import ExperimentConfig, from_dict, to_dict
from play_lmp_training.play_lmp.modeling import PlayLMP
import torch

CHECKPOINT_FORMAT = 1
LAST_CHECKPOINT = 'last.pt'
BEST_CHECKPOINT = 'best.pt'
REQUIRED_KEYS = ('format', 'step', 'config', 'model', 'obs_mean', 'obs_std', 'layout_hash')


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or made for another layout or configuration."""


def save_checkpoint(path: Union[str, Path], state: Dict[str, Any]) -> None:
    """
    Write a checkpoint atomically.

    :param path: destination file.
    :param state: the checkpoint dict (see module docstring); 'format' and 'layout_hash' are
        added here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(state, format=CHECKPOINT_FORMAT, layout_hash=layout.layout_hash())
    atomic_write(path, lambda stream: torch.save(state, stream), durable=True)


def load_checkpoint(path: Union[str, Path],
                    parse_config: Callable[[Dict[str, Any]], Any] = from_dict) -> Dict[str, Any]:
    """
    Read and check a checkpoint.

    :param path: the checkpoint file.
    :param parse_config: builds the configuration from its stored values (default: a Play-LMP
        run's ExperimentConfig).
    :return: the checkpoint dict, with 'config' parsed by parse_config.
    :raises CheckpointError: when the file is missing or unreadable, lacks a key, or was made
        for another observation layout.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint {path} does not exist')
    try:
        # weights_only: tensors and plain containers, never code (a .pt is a pickle).
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt file
        raise CheckpointError(f'checkpoint {path} is corrupt or not a torch file: {error}'
                              ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f'checkpoint {path} does not hold a dict')
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f'checkpoint {path} lacks {", ".join(missing)}: not a '
                              f'play_lmp_ros training checkpoint')
    if state['format'] != CHECKPOINT_FORMAT:
        raise CheckpointError(f'checkpoint {path} has format {state["format"]!r}, this code '
                              f'reads {CHECKPOINT_FORMAT}')
    if state['layout_hash'] != layout.layout_hash():
        raise CheckpointError(
            f'checkpoint {path} was trained for observation layout {state["layout_hash"]}, this '
            f'package uses {layout.layout_hash()}: retrain on data in the current layout')
    try:
        state['config'] = parse_config(state['config'])
    except ValueError as error:
        raise CheckpointError(f'checkpoint {path} has an invalid config: {error}') from None
    return state


def model_from_checkpoint(state: Dict[str, Any]) -> PlayLMP:
    """
    Rebuild the model of a loaded checkpoint, weights and normalization included.

    :param state: from load_checkpoint.
    :return: the model in eval mode.
    :raises CheckpointError: when the weights do not fit the configured architecture.
    """
    config: ExperimentConfig = state['config']
    model = PlayLMP(config.model)
    try:
        model.load_state_dict(state['model'])
    except RuntimeError as error:
        raise CheckpointError(f'checkpoint weights do not match its model config: {error}'
                              ) from None
    return model.eval()


def check_run_directory(output_dir: Path, resume: bool) -> Path:
    """
    Check that a run directory suits a fresh start or a resume.

    :param output_dir: the run's output directory.
    :param resume: whether the run continues from its last checkpoint.
    :return: the path of its last checkpoint (which may not exist yet for a fresh run).
    :raises ValueError: when a fresh run would overwrite a run, or a resume finds none.
    """
    last = output_dir / LAST_CHECKPOINT
    if last.exists() and not resume:
        raise ValueError(f'{output_dir} already holds a run ({last}); pass --resume to '
                         f'continue it or choose another output_dir')
    if resume and not last.exists():
        raise ValueError(f'--resume: {last} does not exist')
    return last


def check_resume_config(saved: Dict[str, Any], current: Dict[str, Any],
                        changeable: Sequence[str], output_dir: Path) -> None:
    """
    Check that a resumed run has its checkpoint's configuration, but for the keys that may change.

    :param saved: the checkpoint's configuration as plain values (to_dict).
    :param current: this run's configuration as plain values.
    :param changeable: dotted 'section.key' names that may differ, e.g. ('train.steps',).
    :param output_dir: the run directory, named in the error.
    :raises ValueError: naming every differing key and the ones that may change.
    """
    saved = {key: dict(value) if isinstance(value, dict) else value
             for key, value in saved.items()}
    for name in changeable:
        section, key = name.split('.')
        saved[section][key] = current[section][key]
    if saved == current:
        return
    differences = []
    for key, value in current.items():
        if isinstance(value, dict):
            differences += [f'{key}.{sub}' for sub in value
                            if saved.get(key, {}).get(sub) != value[sub]]
        elif saved.get(key) != value:
            differences.append(key)
    raise ValueError(f'the checkpoint in {output_dir} was made with another configuration '
                     f'(differs in {", ".join(differences)}); only {" and ".join(changeable)} '
                     f'may change on --resume')


def purge_metrics_after(path: Path, step: int) -> None:
    """
    Drop the metrics.jsonl lines a killed run wrote after its last checkpoint, atomically.

    A step's lines are written before its checkpoint, so lines of the checkpoint's step stay; a
    line cut short by the kill goes too (as TensorBoard's purge_step).

    :param path: the run's metrics.jsonl (nothing happens when it does not exist).
    :param step: the step of the checkpoint being resumed.
    """
    if not path.exists():
        return
    lines = path.read_text(encoding='utf-8').splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            if json.loads(line)['step'] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    if len(kept) < len(lines):
        atomic_write_text(path, ''.join(kept))


def config_to_state(config: ExperimentConfig) -> Dict[str, Any]:
    """
    Serialize a configuration for a checkpoint.

    :param config: the experiment configuration.
    :return: a plain dict (YAML-compatible).
    """
    return to_dict(config)
