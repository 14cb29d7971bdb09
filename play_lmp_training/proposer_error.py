"""
Diagnose a subgoal proposer against the scripted skill: its subgoal's TCP against the skill's.

    python -m play_lmp_training.proposer_error --model <dir> [--episodes 3] [--seed 123] \
        [--target contact|horizon] [--tasks a,b]

For each task, random scenes where it is feasible: the skill runs in a scratch simulator, its
last state is the goal, and its target state is where it starts moving the scene (contact) or 32
steps in (horizon).  From the start state the proposer's mixture is compared with that target:
the TCP distance of the most likely component's mean and of the nearest component's mean.
Prints one JSON line per kind of task (its TaskSpec type; mean metres), with the skill's own
hand travel to the target.
"""

import argparse
import json
import sys
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.stdout_redirect import stdout_to_stderr
from play_lmp_ros.core.subgoals import tcp_distance
from play_lmp_ros.core.tasks import TASK_NAMES, TASKS
from play_lmp_training.oracle_subgoals import skill_contact_state, TRIES_PER_EPISODE

TARGETS = ('contact', 'horizon')


def skill_target(states: np.ndarray, target: str, horizon: int) -> np.ndarray:
    """
    Return the skill state a proposer should give from the first state.

    :param states: (T, 39) the skill's states, start first.
    :param target: 'contact' (the first state that moves the scene) or 'horizon'.
    :param horizon: k, for 'horizon'.
    :return: (39,) the state.
    """
    if target == 'contact':
        return skill_contact_state(states)
    return states[min(horizon, len(states) - 1)]


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the diagnosis CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0, or 2 for a model directory without subgoal graphs.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', required=True, help='exported model folder')
    parser.add_argument('--episodes', type=int, default=3, help='episodes per task')
    parser.add_argument('--seed', type=int, default=123, help='seed of the scenes')
    parser.add_argument('--target', choices=TARGETS, default='contact',
                        help='what the proposer is compared with')
    parser.add_argument('--tasks', default=None, help='comma-separated subset of tasks')
    args = parser.parse_args(argv)
    tasks = TASK_NAMES if args.tasks is None else args.tasks.split(',')
    planner = OnnxPolicy(args.model).subgoal_planner
    if planner is None:
        print(f'proposer_error: {args.model} has no subgoal graphs', file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    rows: Dict[str, List[List[float]]] = {}
    with stdout_to_stderr():
        scratch = PlayTableSim(seed=args.seed)
    with scratch:
        for task in tasks:
            made = 0
            for _ in range(TRIES_PER_EPISODE * args.episodes):
                if made == args.episodes:
                    break
                start = scratch.reset_random(int(rng.integers(2 ** 31)))
                if infeasibility(task, start) is not None:
                    continue
                states = [start]
                run = run_skill(scratch, task, rng, step=lambda action: states.append(
                    scratch.step(action)) or states[-1])
                if not run.success:
                    continue
                made += 1
                target = skill_target(np.array(states), args.target, planner.horizon)
                logits, means, _ = planner.mixture(start, states[-1])
                errors = np.linalg.norm(means[:, layout.TCP_POS] - target[layout.TCP_POS], axis=1)
                travel = tcp_distance(target, start)
                rows.setdefault(type(TASKS[task]).__name__, []).append(
                    [errors[int(np.argmax(logits))], errors.min(), travel])
    for family, values in rows.items():
        mode, nearest, travel = np.mean(values, axis=0)
        print(json.dumps({'family': family, 'episodes': len(values), 'mode_error_m': float(mode),
                          'nearest_component_error_m': float(nearest),
                          'skill_travel_m': float(travel)}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
