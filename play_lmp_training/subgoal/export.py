"""
Export a subgoal checkpoint next to an exported actor: subgoal.onnx and kstep.onnx.

    python -m play_lmp_training.subgoal.export --checkpoint runs/subgoal/last.pt \
        --model-dir <dir> \
        [--plan-mode sample|best_of_n|collocation]

<dir> must already hold actor.onnx (play_lmp_training.export).  The graphs take raw 39-D states
with the normalization inside, as the actor does; their metadata names the horizon k, the mixture
size and the plan mode the directory runs by default (play_lmp_ros.core.subgoals).  Parity with
torch (each output's difference relative to max(1, its largest magnitude)) is checked on random and
real states and written to subgoal_parity.json; the export fails (exit 1) when it exceeds the
tolerance.
"""

import argparse
import json
from pathlib import Path
import sys
from typing import Dict, List, Optional

import numpy as np
import onnxruntime
import play_lmp_ros
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import ACTOR_FILE, load_metadata
from play_lmp_ros.core.subgoals import (
    AFTER_CONTACT_MODES, KSTEP_FILE, KSTEP_OUTPUTS, PLAN_MODES, PlannerSettings, SUBGOAL_FILE,
    SUBGOAL_OUTPUTS)
from play_lmp_training import checkpoint as ckpt
from play_lmp_training.calvin_dataset import load_split
from play_lmp_training.export import export_graph, PARITY_TOLERANCE
from play_lmp_training.subgoal.configuration import from_dict
from play_lmp_training.subgoal.modeling import SubgoalModels
import torch
from torch import nn, Tensor

FORMAT_VERSION = '1'
PARITY_STATES = 64


class SubgoalGraph(nn.Module):
    """The proposer as a graph: obs, goal -> logits, means, scales."""

    def __init__(self, models: SubgoalModels):
        """:param models: the trained models."""
        super().__init__()
        self.proposer = models.proposer

    def forward(self, obs: Tensor, goal: Tensor):
        """Compute the mixture; obs and goal are (B, 39)."""
        return self.proposer.mixture(obs, goal)


class KstepGraph(nn.Module):
    """The distance model as a graph: first, second -> steps, grad_first, grad_second."""

    def __init__(self, models: SubgoalModels):
        """:param models: the trained models."""
        super().__init__()
        self.distance = models.distance

    def forward(self, first: Tensor, second: Tensor):
        """Predict the steps (B, 1) and their gradients (B, 39) each."""
        steps, grad_first, grad_second = self.distance.steps_and_gradients(first, second)
        return steps.unsqueeze(-1), grad_first, grad_second


def subgoal_metadata(models: SubgoalModels, plan_mode: str, training_data: str,
                     kind: str, subgoal_target: str = 'horizon') -> Dict[str, str]:
    """
    Build the metadata_props of one graph.

    :param models: the models.
    :param plan_mode: the directory's default plan mode.
    :param training_data: the training split the models learned from.
    :param kind: 'subgoal' or 'kstep'.
    :param subgoal_target: where the proposer's subgoals lie (play_lmp_training.subgoal.data).
    :return: string metadata (play_lmp_ros.core.subgoals.REQUIRED_SUBGOAL_KEYS).
    """
    config = models.config
    return {'format_version': FORMAT_VERSION, 'kind': kind, 'horizon': str(config.horizon),
            'max_goal_distance': str(config.max_goal_distance),
            'mixtures': str(config.mixtures), 'plan_mode': plan_mode,
            'control_hz': str(layout.CONTROL_HZ), 'layout_hash': layout.layout_hash(),
            'training_data': training_data, 'code_version': play_lmp_ros.__version__,
            'subgoal_part': config.subgoal_part, 'subgoal_target': subgoal_target}


def export_subgoal(models: SubgoalModels, model_dir: Path, plan_mode: str,
                   training_data: str, settings: PlannerSettings = PlannerSettings(),
                   subgoal_target: str = 'horizon') -> None:
    """
    Write subgoal.onnx and kstep.onnx into a model directory.

    :param models: the trained models (set to eval mode).
    :param model_dir: a directory with actor.onnx.
    :param plan_mode: the directory's default plan mode.
    :param training_data: the training split id.
    :param settings: the directory's planner settings; those of PLANNER_METADATA_KEYS
        (core.subgoals) go into subgoal.onnx's metadata.
    :param subgoal_target: where the proposer's subgoals lie, for the metadata.
    """
    models.eval()
    state = torch.zeros(1, layout.OBS_DIM)
    mixtures = models.config.mixtures
    export_graph(SubgoalGraph(models), {'obs': state, 'goal': state.clone()},
                 dict(zip(SUBGOAL_OUTPUTS, ((mixtures,), (mixtures, layout.OBS_DIM),
                                            (mixtures, layout.OBS_DIM)))),
                 dict(subgoal_metadata(models, plan_mode, training_data, 'subgoal',
                                       subgoal_target),
                      **settings.metadata()),
                 model_dir / SUBGOAL_FILE)
    export_graph(KstepGraph(models), {'first': state, 'second': state.clone()},
                 dict(zip(KSTEP_OUTPUTS, ((1,), (layout.OBS_DIM,), (layout.OBS_DIM,)))),
                 subgoal_metadata(models, plan_mode, training_data, 'kstep', subgoal_target),
                 model_dir / KSTEP_FILE)


@torch.no_grad()
def check_parity(models: SubgoalModels, model_dir: Path, states: np.ndarray) -> float:
    """
    Compare both graphs with torch on pairs of states.

    :param models: the torch models.
    :param model_dir: the directory written by export_subgoal.
    :param states: (N, 39) states; pairs are (states, states reversed).
    :return: the largest difference of any output, relative to max(1, the output's largest
        magnitude in torch): the predicted steps and their gradients run to hundreds and
        thousands, where float32 alone differs by about 1e-6 of the magnitude.
    """
    first = states.astype(np.float32)
    second = first[::-1].copy()
    worst = 0.0
    graphs = ((SUBGOAL_FILE, SubgoalGraph(models), ('obs', 'goal')),
              (KSTEP_FILE, KstepGraph(models), ('first', 'second')))
    for name, graph, inputs in graphs:
        session = onnxruntime.InferenceSession(str(model_dir / name),
                                               providers=['CPUExecutionProvider'])
        onnx_out = session.run(None, dict(zip(inputs, (first, second))))
        torch_out = graph(torch.from_numpy(first), torch.from_numpy(second))
        worst = max(worst, *(float(np.abs(a - b.numpy()).max()
                                   / max(1.0, float(np.abs(b.numpy()).max())))
                             for a, b in zip(onnx_out, torch_out)))
    return worst


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--checkpoint', required=True, help='subgoal checkpoint (.pt)')
    parser.add_argument('--model-dir', required=True,
                        help='exported model directory with actor.onnx')
    parser.add_argument('--plan-mode', choices=PLAN_MODES, default='sample',
                        help='the plan mode the directory runs by default')
    parser.add_argument('--handover', type=float, default=PlannerSettings.handover,
                        help='hand the far goal itself to the actor once the distance model '
                             'puts it within this many horizons')
    parser.add_argument('--contact-radius', type=float, default=PlannerSettings.contact_radius_m,
                        help='replan at once when the hand is this close (m) to the planned '
                             'subgoal; 0: off (proposers with contact subgoals)')
    parser.add_argument('--after-contact', choices=AFTER_CONTACT_MODES,
                        default=PlannerSettings.after_contact,
                        help="after the hand reaches a contact subgoal: 'goal' hands the far "
                             "goal to the actor, 'proposer' keeps planning (a proposer trained "
                             'with train.contact_lead)')
    parser.add_argument('--data', default=None,
                        help='dataset root; its validation split adds real-state parity')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the export CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0 on success, 1 when parity fails, 2 on a bad checkpoint or model directory.
    """
    args = parse_args(argv)
    model_dir = Path(args.model_dir)
    try:
        state = ckpt.load_checkpoint(args.checkpoint, from_dict)
        models = SubgoalModels(state['config'].model)
        models.load_state_dict(state['model'])
        actor = load_metadata(str(model_dir / ACTOR_FILE))
        if actor.get('layout_hash') != layout.layout_hash():
            raise ValueError(f'{model_dir / ACTOR_FILE} has another observation layout')
        split = load_split(Path(args.data) / 'validation', progress=False) if args.data else None
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f'subgoal export: {error}', file=sys.stderr)
        return 2
    try:
        settings = PlannerSettings(handover=args.handover, contact_radius_m=args.contact_radius,
                                   after_contact=args.after_contact)
    except ValueError as error:
        print(f'subgoal export: {error}', file=sys.stderr)
        return 2
    export_subgoal(models, model_dir, args.plan_mode,
                   str(state.get('training_data', 'unknown')), settings,
                   state['config'].train.subgoal_target)
    rng = np.random.default_rng(0)
    mean, std = models.proposer.obs_mean.numpy(), models.proposer.obs_std.numpy()
    report = {'random': check_parity(
        models, model_dir, mean + std * rng.standard_normal((PARITY_STATES, layout.OBS_DIM)))}
    if split is not None:
        rows = rng.choice(split.num_frames, size=PARITY_STATES, replace=False)
        report['real'] = check_parity(models, model_dir, np.asarray(split.obs[np.sort(rows)]))
    report.update(tolerance=PARITY_TOLERANCE, checkpoint_step=int(state['step']))
    (model_dir / 'subgoal_parity.json').write_text(json.dumps(report, indent=1))
    worst = max(report['random'], report.get('real', 0.0))
    print(f'exported subgoal proposer and distance model (step {state["step"]}) to {model_dir};'
          f' parity max relative diff {worst:.2e} (tolerance {PARITY_TOLERANCE:.0e})')
    if worst > PARITY_TOLERANCE:
        print('subgoal export: parity check FAILED', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
