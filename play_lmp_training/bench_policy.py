"""
Benchmark one control step: onnxruntime against torch eager on the same weights.

    python -m play_lmp_training.bench_policy --checkpoint runs/lmp/best.pt --model <model dir>

Prints p50 and p99 latency of the actor step and of the planner in both backends (batch 1, one
thread each, the same random states), and the torch / onnxruntime ratio measured in the same run.
"""

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import onnxruntime
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import ACTOR_FILE, ACTOR_OUTPUTS, PLANNER_FILE
from play_lmp_training import checkpoint as ckpt
import torch


def _percentiles(run: Callable[[], object], repeats: int, warmup: int = 50) -> Dict[str, float]:
    """Time a callable; return p50 and p99 in microseconds."""
    for _ in range(warmup):
        run()
    times = np.empty(repeats)
    for index in range(repeats):
        started = time.perf_counter()
        run()
        times[index] = time.perf_counter() - started
    return {'p50_us': float(np.percentile(times, 50) * 1e6),
            'p99_us': float(np.percentile(times, 99) * 1e6)}


@torch.no_grad()
def benchmark(checkpoint: Path, model_dir: Path, repeats: int) -> Dict[str, Dict[str, float]]:
    """
    Measure actor and planner latency in onnxruntime and in torch eager.

    :param checkpoint: the training checkpoint the model directory was exported from.
    :param model_dir: the exported model directory.
    :param repeats: timed calls per measurement.
    :return: {'actor': {...}, 'planner': {...}} with per-backend percentiles and ratios.
    """
    torch.set_num_threads(1)
    model = ckpt.model_from_checkpoint(ckpt.load_checkpoint(checkpoint))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    providers = ['CPUExecutionProvider']
    rng = np.random.default_rng(0)
    obs = (model.obs_mean.numpy() + model.obs_std.numpy()
           * rng.standard_normal(39)).astype(np.float32)[None]
    goal = obs + 0.01
    h, c = (state.numpy() for state in model.initial_state(1))
    feeds = {'obs': obs, 'goal': goal, 'h': h, 'c': c}
    plan = None
    results = {}
    if model.config.uses_plan:
        planner = onnxruntime.InferenceSession(str(model_dir / PLANNER_FILE), options,
                                               providers=providers)
        obs_t, goal_t = torch.from_numpy(obs), torch.from_numpy(goal)
        results['planner'] = {
            'onnxruntime': _percentiles(lambda: planner.run(None, {'obs': obs, 'goal': goal}),
                                        repeats),
            'torch_eager': _percentiles(lambda: model.propose_plan(obs_t, goal_t), repeats)}
        plan = model.propose_plan(obs_t, goal_t)[0]
        feeds['plan'] = plan.numpy()
    actor = onnxruntime.InferenceSession(str(model_dir / ACTOR_FILE), options,
                                         providers=providers)
    tensors = {key: torch.from_numpy(value) for key, value in feeds.items()}
    results['actor'] = {
        'onnxruntime': _percentiles(lambda: actor.run(list(ACTOR_OUTPUTS), feeds), repeats),
        'torch_eager': _percentiles(lambda: model.step(tensors['obs'], tensors['goal'], plan,
                                                       tensors['h'], tensors['c']), repeats)}
    for entry in results.values():
        entry['torch_over_onnxruntime_p50'] = (entry['torch_eager']['p50_us']
                                               / entry['onnxruntime']['p50_us'])
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the benchmark CLI and print a JSON report.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 on a bad checkpoint.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--checkpoint', required=True, help='training checkpoint to time')
    parser.add_argument('--model', required=True, help='the exported model directory')
    parser.add_argument('--repeats', type=int, default=2000, help='timed steps')
    args = parser.parse_args(argv)
    try:
        results = benchmark(Path(args.checkpoint), Path(args.model), args.repeats)
    except (ValueError, FileNotFoundError) as error:
        print(f'bench_policy: {error}', file=sys.stderr)
        return 2
    print(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
