"""
Export a training checkpoint to the ONNX contract of play_lmp_ros.core.policy.

    python -m play_lmp_training.export --checkpoint runs/cpu_default/best.pt \
        --out models/my_policy \
        [--data data/play] [--replan-every N]

Writes planner.onnx (Play-LMP only) and actor.onnx with the normalization inside, the recurrent
state explicit and the metadata the loader checks; runs onnx.checker; then checks parity with
torch over multi-step rollouts (random states, and real windows when --data is given) and writes
parity.json.  It fails (exit 1) when the largest difference exceeds the tolerance.
"""

import argparse
import json
from pathlib import Path
import sys
import tempfile
from typing import Dict, List, Optional
import warnings

import numpy as np
import onnx
import onnxruntime
import play_lmp_ros
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import ACTOR_FILE, ACTOR_OUTPUTS, PLANNER_FILE
from play_lmp_training import checkpoint as ckpt
from play_lmp_training.calvin_dataset import iterate_validation_windows, load_split
from play_lmp_training.play_lmp.modeling import PlayLMP
import torch
from torch import nn, Tensor

FORMAT_VERSION = '1'
OPSET = 17
PARITY_TOLERANCE = 1e-4
PARITY_STEPS = 32
PARITY_ROLLOUTS = 8


class PlannerGraph(nn.Module):
    """The plan proposal as a graph: obs, goal -> plan_mean, plan_std."""

    def __init__(self, model: PlayLMP):
        """:param model: an 'lmp' model."""
        super().__init__()
        self.model = model

    def forward(self, obs: Tensor, goal: Tensor):
        """Compute the prior over plans; obs and goal are (B, 39), outputs (B, D)."""
        return self.model.propose_plan(obs, goal)


class ActorGraph(nn.Module):
    """One actor step as a graph: obs, goal, [plan], h, c -> DLML parameters, h_out, c_out."""

    def __init__(self, model: PlayLMP):
        """:param model: the model."""
        super().__init__()
        self.model = model

    def forward(self, obs: Tensor, goal: Tensor, *rest: Tensor):
        """Advance one step; rest is (plan, h, c) for 'lmp' and (h, c) for 'gcbc'."""
        plan = rest[0] if self.model.config.uses_plan else None
        h, c = rest[-2], rest[-1]
        return self.model.step(obs, goal, plan, h, c)


def export_metadata(model: PlayLMP, replan_every: int, training_data: str) -> Dict[str, str]:
    """
    Build the metadata_props of both graphs.

    :param model: the model.
    :param replan_every: control steps between replans.
    :param training_data: the training split id recorded in the checkpoint.
    :return: the string metadata of core.policy.REQUIRED_METADATA_KEYS.
    """
    config = model.config
    return {
        'format_version': FORMAT_VERSION, 'method': config.method,
        'd_latent': str(config.d_latent if config.uses_plan else 0),
        'hidden_size': str(config.policy_hidden), 'mixtures': str(config.mixtures),
        'bins': str(config.bins), 'replan_every': str(replan_every),
        'control_hz': str(layout.CONTROL_HZ), 'action_type': 'relative',
        'layout_hash': layout.layout_hash(), 'training_data': training_data,
        'code_version': play_lmp_ros.__version__,
    }


def export_graph(module: nn.Module, inputs: Dict[str, Tensor], outputs: Dict[str, tuple],
                 metadata: Dict[str, str], path: Path) -> None:
    """
    Trace one graph with a symbolic batch axis, stamp the metadata, check and save it.

    The tracer leaves some output sizes symbolic (a split's halves), so the sizes after the batch
    axis are written into the graph's outputs; the full check's shape inference verifies them.
    """
    with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
        # The tracer warns about LSTM batch sizes (h and c are inputs here, which is its advice)
        # and about its own deprecation in favour of the dynamo exporter (needs onnxscript).
        warnings.simplefilter('ignore')
        traced = Path(scratch) / path.name
        torch.onnx.export(
            module, tuple(inputs.values()), str(traced), input_names=list(inputs),
            output_names=list(outputs), opset_version=OPSET, dynamo=False,
            dynamic_axes={name: {0: 'batch'} for name in list(inputs) + list(outputs)})
        graph = onnx.load(str(traced))
    for value in graph.graph.output:
        for dim, size in zip(value.type.tensor_type.shape.dim[1:], outputs[value.name]):
            dim.dim_value = size
    onnx.helper.set_model_props(graph, metadata)
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))


def export_model(model: PlayLMP, out: Path, replan_every: int, training_data: str) -> None:
    """
    Write planner.onnx (for 'lmp') and actor.onnx.

    :param model: the trained model (set to eval mode).
    :param out: the model directory (created).
    :param replan_every: control steps between replans, stored in the metadata.
    :param training_data: the training split id.
    """
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    metadata = export_metadata(model, replan_every, training_data)
    config = model.config
    obs = torch.zeros(1, layout.OBS_DIM)
    inputs = {'obs': obs, 'goal': obs.clone()}
    if config.uses_plan:
        plan = (config.d_latent,)
        export_graph(PlannerGraph(model), dict(inputs), {'plan_mean': plan, 'plan_std': plan},
                     metadata, out / PLANNER_FILE)
        inputs['plan'] = torch.zeros(1, config.d_latent)
    elif (out / PLANNER_FILE).exists():
        (out / PLANNER_FILE).unlink()
    inputs['h'], inputs['c'] = model.initial_state(1)
    head = (layout.ACTION_DIM, config.mixtures)
    state = (config.policy_hidden,)
    shapes = dict(zip(ACTOR_OUTPUTS, (head, head, head, state, state)))
    export_graph(ActorGraph(model), inputs, shapes, metadata, out / ACTOR_FILE)


def _rollout_parity(model: PlayLMP, planner, actor, obs: np.ndarray, goal: np.ndarray) -> float:
    """
    Step torch and onnxruntime side by side over a sequence, feeding each its own state.

    :param model: the torch model.
    :param planner: planner session or None.
    :param actor: actor session.
    :param obs: (T, 39) observations.
    :param goal: (39,) goal.
    :return: the largest absolute difference of any output at any step.
    """
    goal_batch = goal[None].astype(np.float32)
    first = obs[:1].astype(np.float32)
    worst = 0.0
    feeds = {'goal': goal_batch}
    torch_plan = None
    if planner is not None:
        onnx_plan = planner.run(None, {'obs': first, 'goal': goal_batch})
        torch_plan = model.propose_plan(torch.from_numpy(first), torch.from_numpy(goal_batch))
        worst = max(worst, *(float(np.abs(a - b.numpy()).max())
                             for a, b in zip(onnx_plan, torch_plan)))
        feeds['plan'] = torch_plan[0].numpy()
    h_torch, c_torch = model.initial_state(1)
    h_onnx, c_onnx = h_torch.numpy(), c_torch.numpy()
    for step in obs.astype(np.float32):
        feeds.update(obs=step[None], h=h_onnx, c=c_onnx)
        onnx_out = actor.run(list(ACTOR_OUTPUTS), feeds)
        torch_out = model.step(torch.from_numpy(step[None]), torch.from_numpy(goal_batch),
                               None if torch_plan is None else torch_plan[0], h_torch, c_torch)
        worst = max(worst, *(float(np.abs(a - b.numpy()).max())
                             for a, b in zip(onnx_out, torch_out)))
        h_onnx, c_onnx = onnx_out[3], onnx_out[4]
        h_torch, c_torch = torch_out[3], torch_out[4]
    return worst


@torch.no_grad()
def check_parity(model: PlayLMP, model_dir: Path, split=None, seed: int = 0) -> Dict[str, float]:
    """
    Compare the exported graphs with torch over multi-step rollouts.

    :param model: the torch model.
    :param model_dir: the exported directory.
    :param split: optional validation split for real windows.
    :param seed: seed of the random states.
    :return: {'random': max abs diff, 'real': max abs diff (if a split was given)}.
    """
    options = onnxruntime.SessionOptions()
    providers = ['CPUExecutionProvider']
    actor = onnxruntime.InferenceSession(str(model_dir / ACTOR_FILE), options,
                                         providers=providers)
    planner = (onnxruntime.InferenceSession(str(model_dir / PLANNER_FILE), options,
                                            providers=providers)
               if model.config.uses_plan else None)
    rng = np.random.default_rng(seed)
    mean, std = model.obs_mean.numpy(), model.obs_std.numpy()
    report = {'random': 0.0}
    for _ in range(PARITY_ROLLOUTS):
        states = mean + std * rng.standard_normal((PARITY_STEPS + 1, layout.OBS_DIM))
        report['random'] = max(report['random'], _rollout_parity(
            model, planner, actor, states[:-1], states[-1]))
    if split is not None:
        batch = next(iterate_validation_windows(split, PARITY_STEPS, PARITY_STEPS,
                                                PARITY_ROLLOUTS))
        report['real'] = 0.0
        for obs, mask, goal in zip(batch['obs'], batch['mask'], batch['goal']):
            report['real'] = max(report['real'], _rollout_parity(
                model, planner, actor, np.asarray(obs)[np.asarray(mask)], np.asarray(goal)))
    return report


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--checkpoint', required=True, help='training checkpoint (.pt)')
    parser.add_argument('--out', required=True, help='model directory to write')
    parser.add_argument('--data', default=None,
                        help='dataset root; its validation split adds real-window parity')
    parser.add_argument('--replan-every', type=int, default=0,
                        help='control steps between replans (default: the model config)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the export CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0 on success, 1 when parity fails, 2 on a bad checkpoint or arguments.
    """
    args = parse_args(argv)
    try:
        state = ckpt.load_checkpoint(args.checkpoint)
        model = ckpt.model_from_checkpoint(state)
        if args.replan_every < 0:
            raise ValueError(f'--replan-every must be >= 0, got {args.replan_every}')
        split = load_split(Path(args.data) / 'validation', progress=False) if args.data else None
    except (ValueError, FileNotFoundError) as error:
        print(f'export: {error}', file=sys.stderr)
        return 2
    out = Path(args.out)
    replan_every = args.replan_every or model.config.replan_every
    export_model(model, out, replan_every, str(state.get('training_data', 'unknown')))
    report = check_parity(model, out, split)
    report.update(tolerance=PARITY_TOLERANCE, steps=PARITY_STEPS, rollouts=PARITY_ROLLOUTS,
                  checkpoint_step=int(state['step']))
    (out / 'parity.json').write_text(json.dumps(report, indent=1))
    worst = max(value for key, value in report.items() if key in ('random', 'real'))
    print(f'exported {model.config.method} model (step {state["step"]}) to {out}; parity max '
          f'abs diff {worst:.2e} (tolerance {PARITY_TOLERANCE:.0e})')
    if worst > PARITY_TOLERANCE:
        print('export: parity check FAILED', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
