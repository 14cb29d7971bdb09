"""
Diagnose the subgoal route: the actor with the scripted skill's own states as subgoals.

    python -m play_lmp_training.oracle_subgoals --model <dir> [--episodes 10] [--seed 100] \
        [--lookahead 32] [--tasks a,b] [--workers 2]

For each task, random scenes where it is feasible (as the goal server's goals): the scripted
skill runs in a scratch simulator and its states are kept; its last state is the goal.  The
policy (plan mode direct) then gets, at each replan, the skill's state `lookahead` steps after the
current step (the last state once past it): perfect subgoals on the skill's timeline.  The
success rate so measured bounds what any subgoal planner can give this actor; with --lookahead 0
the goal itself is given, as in plan mode direct.  Prints success per task family and the mean
over tasks.  --part robot keeps only the skill state's robot part (the scene part is the goal's),
--part robot_now likewise with the current scene, --part scene only its scene part (the robot
part is the current state's): which half of a subgoal the actor needs.
"""

import argparse
import json
import multiprocessing
import sys
from typing import List, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.stdout_redirect import stdout_to_stderr
from play_lmp_ros.core.subgoals import tcp_distance
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from play_lmp_training.calvin_dataset.events import scene_moving
from play_lmp_training.evaluation.episodes import derived_seed
from play_lmp_training.evaluation.rollouts import SINGLE_MAX_STEPS

TRIES_PER_EPISODE = 40
# Which part of the skill's state a subgoal takes; the rest comes from the goal or the state.
PARTS = ('full', 'robot', 'robot_now', 'scene', 'contact')
# contact: the subgoal is the skill's state where the scene starts to move, until the TCP is
# this close to it; then the goal itself.
CONTACT_REACHED_M = 0.03


def skill_contact_state(states: np.ndarray) -> np.ndarray:
    """
    Return the skill's state where it starts moving the scene (its last if it never does).

    :param states: (T, 39) the skill's states, start first.
    :return: (39,) the state.
    """
    moving = np.flatnonzero(scene_moving(states))
    return states[int(moving[0])] if len(moving) else states[-1]


def oracle_episode(job: Tuple[str, str, int, int, int]) -> List[bool]:
    """
    Run one task's episodes with skill-state subgoals.

    :param job: (model directory, task, episodes, seed, lookahead, part).
    :return: one success flag per episode made.
    """
    model_dir, task, episodes, seed, lookahead, part = job
    policy = OnnxPolicy(model_dir, deterministic=True, plan_mode='direct')
    oracle = TaskOracle()
    outcomes = []
    with stdout_to_stderr():  # pybullet's banner would land in the JSON on stdout
        scratch, sim = PlayTableSim(seed=seed), PlayTableSim(seed=seed)
    with scratch, sim:
        for attempt in range(TRIES_PER_EPISODE * episodes):
            if len(outcomes) == episodes:
                break
            rng = np.random.default_rng(derived_seed(seed, TASK_NAMES.index(task), attempt))
            start = scratch.reset_random(int(rng.integers(2 ** 31)))
            if infeasibility(task, start) is not None:
                continue
            states = [start]
            run = run_skill(scratch, task, rng,
                            step=lambda action: states.append(scratch.step(action)) or states[-1])
            if not run.success:
                continue
            sim.reset(start[:layout.ROBOT_OBS_DIM], start[layout.ROBOT_OBS_DIM:])
            start_info = sim.scene_info()
            policy.reset()
            obs, subgoal, success = sim.observe(), states[-1], False
            if part == 'contact':
                contact = subgoal = skill_contact_state(np.array(states))
            for step in range(SINGLE_MAX_STEPS):
                if part == 'contact':
                    if subgoal is contact and tcp_distance(obs, contact) < CONTACT_REACHED_M:
                        subgoal = states[-1]
                        policy.reset()
                elif step % policy.replan_every == 0 and lookahead:
                    subgoal = states[min(step + lookahead, len(states) - 1)].copy()
                    robot = slice(0, layout.ROBOT_OBS_DIM)
                    if part == 'robot':
                        subgoal[layout.ROBOT_OBS_DIM:] = states[-1][layout.ROBOT_OBS_DIM:]
                    elif part == 'robot_now':
                        subgoal[layout.ROBOT_OBS_DIM:] = obs[layout.ROBOT_OBS_DIM:]
                    elif part == 'scene':
                        subgoal[robot] = obs[robot]
                obs = sim.step(policy.act(obs, subgoal))
                if oracle.check(task, start_info, sim.scene_info()):
                    success = True
                    break
            outcomes.append(success)
    return outcomes


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the diagnosis CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', required=True, help='exported model folder')
    parser.add_argument('--episodes', type=int, default=10, help='episodes per task')
    parser.add_argument('--seed', type=int, default=100, help='seed of the scenes')
    parser.add_argument('--lookahead', type=int, default=32,
                        help="steps ahead of the skill's state taken as the subgoal")
    parser.add_argument('--part', choices=PARTS, default='full',
                        help='which part of the skill state the subgoal takes')
    parser.add_argument('--tasks', default=None,
                        help='comma-separated tasks (default: every feasible one)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    args = parser.parse_args(argv)
    tasks = TASK_NAMES if args.tasks is None else args.tasks.split(',')
    jobs = [(args.model, task, args.episodes, args.seed, args.lookahead, args.part)
            for task in tasks]
    if args.workers > 1:
        with multiprocessing.get_context('spawn').Pool(args.workers) as pool:
            results = pool.map(oracle_episode, jobs)
    else:
        results = [oracle_episode(job) for job in jobs]
    per_task = {task: (sum(outcome), len(outcome)) for task, outcome in zip(tasks, results)
                if outcome}
    rates = [wins / count for wins, count in per_task.values()]
    print(json.dumps({'lookahead': args.lookahead, 'part': args.part,
                      'mean_success': float(np.mean(rates)),
                      'per_task': {task: f'{wins}/{count}' for task, (wins, count)
                                   in per_task.items()}}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
