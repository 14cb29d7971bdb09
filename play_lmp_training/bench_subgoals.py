"""
Benchmark subgoal planning per plan mode on real play states: latency and what the plan achieves.

    python -m play_lmp_training.bench_subgoals --model <dir with subgoal.onnx> --data data/play2 \
        [--pairs 200] [--deterministic]

For pairs (s_t, s_{t+h}) of the validation split, with h uniform in [2k, max_goal_distance],
every plan mode plans once per pair as the policy does at a replan (the core planner,
onnxruntime, one thread).  Printed per mode: replan latency p50 and p99 in ms, the distance
model's steps from the state to the subgoal and from the subgoal to the goal, the error of the
subgoal's TCP position and scene against the true state k steps ahead (the play's own future),
and for collocation its objective before and after and the share of plans whose every hop fits in
k steps, and per mode the share of replans that handed the goal itself over (predicted within
k).  The direct mode is the baseline: the goal itself as the subgoal.
"""

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import ModelError, OnnxPolicy
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_training.calvin_dataset import load_split


def real_pairs(split, horizon: int, max_goal_distance: int, count: int,
               seed: int) -> List[tuple]:
    """
    Draw (state, goal, state k steps ahead) triples from one play segment each.

    :param split: the play split.
    :param horizon: k.
    :param max_goal_distance: farthest goal.
    :param count: how many triples.
    :param seed: generator seed.
    :return: (obs (39,), goal (39,), subgoal (39,)) tuples.
    """
    rng = np.random.default_rng(seed)
    obs = np.asarray(split.obs, dtype=np.float64)
    bounds = split.episode_bounds
    triples = []
    while len(triples) < count:
        first, last = bounds[rng.integers(len(bounds))]
        distance = int(rng.integers(2 * horizon, max_goal_distance + 1))
        if last - first <= distance:
            continue
        row = int(rng.integers(first, last - distance + 1))
        triples.append((obs[row], obs[row + distance], obs[row + horizon]))
    return triples


def benchmark(model_dir: str, triples: List[tuple], deterministic: bool) -> Dict[str, dict]:
    """
    Plan once per triple in every mode.

    :param model_dir: a model directory with the subgoal graphs.
    :param triples: from real_pairs.
    :param deterministic: plan with means instead of draws.
    :return: mode -> figures.
    """
    report = {}
    for mode in PLAN_MODES:
        policy = OnnxPolicy(model_dir, plan_mode=mode, deterministic=deterministic, seed=0)
        planner = policy.subgoal_planner
        times, reach, remaining, tcp_error, scene_error = [], [], [], [], []
        objectives, feasible, direct = [], [], []
        for obs, goal, truth in triples:
            started = time.perf_counter()
            if mode == 'direct':
                subgoal, info = goal, {}
            else:
                result = planner.plan(obs, goal, mode, np.random.default_rng(0), deterministic)
                subgoal, info = result.subgoal, result.info
                direct.append(result.reached_directly)
            times.append(time.perf_counter() - started)
            steps = planner.distance(np.stack([obs, subgoal]), np.stack([subgoal, goal]))[0]
            reach.append(steps[0])
            remaining.append(steps[1])
            tcp_error.append(np.linalg.norm(subgoal[layout.TCP_POS] - truth[layout.TCP_POS]))
            scene_error.append(np.abs(subgoal[layout.ROBOT_OBS_DIM:]
                                      - truth[layout.ROBOT_OBS_DIM:]).mean())
            if 'objective' in info:
                objectives.append(info['objective'])
                feasible.append(info['max_violation_steps'] <= 0.0)
        milliseconds = np.array(times) * 1000.0
        entry = {'replan_p50_ms': float(np.percentile(milliseconds, 50)),
                 'replan_p99_ms': float(np.percentile(milliseconds, 99)),
                 'steps_to_subgoal': float(np.mean(reach)),
                 'steps_subgoal_to_goal': float(np.mean(remaining)),
                 'tcp_error_m': float(np.mean(tcp_error)),
                 'scene_error': float(np.mean(scene_error)),
                 'goal_handed_over': float(np.mean(direct)) if direct else 1.0}
        if mode == 'collocation':
            before, after = (np.array(objectives).T if objectives
                             else (np.array([np.nan]), np.array([np.nan])))
            entry.update(objective_before=float(before.mean()),
                         objective_after=float(after.mean()),
                         all_hops_within_k=float(np.mean(feasible)) if feasible else None)
        report[mode] = entry
    return report


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the benchmark CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 on a bad model or dataset.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', required=True, help='model directory with subgoal.onnx')
    parser.add_argument('--data', required=True, help='dataset root (its validation split)')
    parser.add_argument('--pairs', type=int, default=200, help='(state, goal) pairs to plan for')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument('--deterministic', action='store_true',
                        help='plan means instead of samples')
    args = parser.parse_args(argv)
    try:
        policy = OnnxPolicy(args.model)
        if policy.subgoal_planner is None:
            raise ModelError(f'{args.model} has no subgoal graphs')
        split = load_split(Path(args.data) / 'validation', progress=False)
    except (ModelError, ValueError, FileNotFoundError) as error:
        print(f'bench_subgoals: {error}', file=sys.stderr)
        return 2
    meta = policy.subgoal_planner.metadata
    triples = real_pairs(split, int(meta['horizon']), int(meta['max_goal_distance']),
                         args.pairs, args.seed)
    print(json.dumps(benchmark(args.model, triples, args.deterministic), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
