"""
Reference policies for the evaluation: what a run scores without learning anything.

- hold: the zero motion, the gripper kept as the start state's last gripper action.
- open-gripper: the zero motion, the gripper opened (+1).
- untrained: a Play-LMP / Play-GCBC network of a model's architecture with random weights,
  exported like a trained one, so that it runs through OnnxPolicy as the models do.

The first two have the interface the evaluation steps (reset(), reseed(seed), step(obs, goal)
-> (7,) relative action); an episode either of them solves is trivial.
"""

from pathlib import Path
from typing import Dict, Mapping, Tuple

import numpy as np
from play_lmp_ros.core import layout
import yaml

HOLD = 'hold'
OPEN_GRIPPER = 'open-gripper'
UNTRAINED = 'untrained'
BASELINES = (HOLD, OPEN_GRIPPER, UNTRAINED)

CPU_DEFAULT_CONFIG = (Path(__file__).resolve().parents[1] / 'config' / 'training'
                      / 'cpu_default.yaml')
# ModelConfig field -> the ONNX metadata key that carries it.
METADATA_FIELDS = {'method': 'method', 'd_latent': 'd_latent', 'policy_hidden': 'hidden_size',
                   'mixtures': 'mixtures', 'bins': 'bins', 'replan_every': 'replan_every'}


class HoldPolicy:
    """Stay put: the zero motion, the gripper as the start state's last gripper action."""

    def __init__(self) -> None:
        """Start with no episode."""
        self._gripper = None

    def reseed(self, seed: int) -> None:
        """
        Do nothing: the policy draws no random numbers.

        :param seed: ignored.
        """

    def reset(self) -> None:
        """Forget the gripper of the last episode; the next step reads the new start state."""
        self._gripper = None

    def step(self, obs, goal) -> np.ndarray:
        """
        Return the zero motion with the start state's gripper.

        :param obs: (39,) current state; the first one after reset() fixes the gripper.
        :param goal: (39,) goal state, unused.
        :return: (7,) float64 relative action.
        """
        if self._gripper is None:
            self._gripper = layout.gripper_command_of(obs)
        return layout.hold_action(self._gripper)


class OpenGripperPolicy(HoldPolicy):
    """Stay put with the gripper open."""

    def step(self, obs, goal) -> np.ndarray:
        """
        Return the zero motion with the gripper open.

        :param obs: (39,) current state, unused.
        :param goal: (39,) goal state, unused.
        :return: (7,) float64 relative action.
        """
        return layout.hold_action(layout.GRIPPER_OPEN)


def untrained_architecture(metadata: Mapping[str, str]) -> Tuple[Dict[str, object],
                                                                 Dict[str, str]]:
    """
    Read a model's architecture from its ONNX metadata, the rest from the CPU default config.

    The metadata carries method, d_latent (0 for GCBC), hidden_size, mixtures, bins and
    replan_every; the recognizer and proposal sizes, log_scale_min and relative_features are not
    in it and come from config/training/cpu_default.yaml (as does d_latent for GCBC, whose
    network has no plan).

    :param metadata: metadata_props of the model (OnnxPolicy.metadata).
    :return: ModelConfig fields, and field -> where its value came from ('metadata' or the
        config file's name).
    """
    defaults = yaml.safe_load(CPU_DEFAULT_CONFIG.read_text())['model']
    fields: Dict[str, object] = dict(defaults)
    sources = {name: CPU_DEFAULT_CONFIG.name for name in fields}
    for name, key in METADATA_FIELDS.items():
        if key not in metadata:
            continue
        value = metadata[key] if name == 'method' else int(metadata[key])
        if name == 'd_latent' and value == 0:
            continue
        fields[name] = value
        sources[name] = 'metadata'
    return fields, sources


def write_untrained_model(metadata: Mapping[str, str], out: Path, seed: int) -> Dict[str, str]:
    """
    Export a randomly initialised network of a model's architecture to a model directory.

    The observation normalization is the identity (no data are read).

    :param metadata: metadata_props of the model to mirror.
    :param out: the model directory to write (actor.onnx, planner.onnx for LMP).
    :param seed: seed of the random weights.
    :return: field -> where its value came from (see untrained_architecture).
    """
    import torch
    from training.export import export_model
    from training.play_lmp.configuration import ModelConfig
    from training.play_lmp.modeling import PlayLMP

    fields, sources = untrained_architecture(metadata)
    config = ModelConfig(**fields)
    torch.manual_seed(seed)
    export_model(PlayLMP(config), Path(out), config.replan_every, UNTRAINED)
    return sources
