"""
Reference policies for the evaluation: what a run scores without learning anything, and the expert.

- hold: the zero motion, the gripper kept as the start state's last gripper command
  (core.policies.HoldPolicy).
- open-gripper: the zero motion, the gripper opened (core.policies.OpenGripperPolicy).
- untrained: a Play-LMP / Play-GCBC network of a model's architecture with random weights,
  exported like a trained one, so that it runs through OnnxPolicy as the models do.
- scripted: the scripted skills (core.scripted_policy.ScriptedPolicy), the expert with the scene
  built in: the ceiling of the protocol, not a learned result.

All run through the policy interface of core.policies, as the policy node runs them; an episode
that hold or open-gripper solves is trivial.
"""

from pathlib import Path
from typing import Dict, Mapping, Tuple

import yaml

HOLD = 'hold'
OPEN_GRIPPER = 'open-gripper'
UNTRAINED = 'untrained'
SCRIPTED = 'scripted'
BASELINES = (HOLD, OPEN_GRIPPER, UNTRAINED, SCRIPTED)

CPU_DEFAULT_CONFIG = (Path(__file__).resolve().parents[1] / 'config' / 'training'
                      / 'cpu_default.yaml')
# ModelConfig field -> the ONNX metadata key that carries it.
METADATA_FIELDS = {'method': 'method', 'd_latent': 'd_latent', 'policy_hidden': 'hidden_size',
                   'mixtures': 'mixtures', 'bins': 'bins', 'replan_every': 'replan_every'}


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
    from play_lmp_training.export import export_model
    from play_lmp_training.play_lmp.configuration import ModelConfig
    from play_lmp_training.play_lmp.modeling import PlayLMP

    fields, sources = untrained_architecture(metadata)
    config = ModelConfig(**fields)
    torch.manual_seed(seed)
    export_model(PlayLMP(config), Path(out), config.replan_every, UNTRAINED)
    return sources
