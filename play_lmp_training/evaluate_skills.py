"""
Measure how often each scripted skill achieves its task, as judged by CALVIN's oracle.

    python -m play_lmp_training.evaluate_skills --trials 20 --seed 0 [--tasks a,b] [--noise 0.1]

For every task, start states are random feasible scenes: sim.reset_random(seed) with fresh seeds
until skills.feasible_tasks lists the task.  States that random play rarely or never starts from
are built first:

- lift_*_drawer: the drawer opened to 0.17-0.22 m and the block set on its visible floor;
- push_into_drawer: the drawer opened to 0.15-0.22 m;
- place_in_drawer / place_in_slider: the drawer opened to 0.15-0.22 m (for the drawer), then a
  lift_*_table skill is run so that the block is held in the air;
- unstack_block: one block set on top of another table block and left to settle.

Each trial runs the skill at a random speed in [0.7, 1.2] with the given action noise.  The result
is printed as a Markdown table and written to <out>/skill_success.json and <out>/skill_success.md.
"""

import argparse
import json
import logging
from pathlib import Path
import sys
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core import layout, skills
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.sim import PlayTableSim
from play_lmp_ros.core.sim import scene_geometry as geo
from play_lmp_ros.core.sim.pybullet_sim import draw_parts
from play_lmp_ros.core.tasks import MoveDoor, TASK_NAMES, TASKS, ToggleLight
from tqdm import tqdm

logger = logging.getLogger(__name__)

MAX_SCENE_TRIES = 400
SETTLE_STEPS = 10
SPEED_RANGE = (0.7, 1.2)


def _settle(sim: PlayTableSim, steps: int = SETTLE_STEPS) -> np.ndarray:
    """
    Step the simulator without moving the robot, so that the scene comes to rest.

    :param sim: the simulator.
    :param steps: control steps.
    :return: (39,) observation.
    """
    obs = sim.observe()
    for _ in range(steps):
        obs = sim.step(np.array([0.0] * 6 + [obs[layout.GRIPPER_ACTION]]))
    return obs


def _with_drawer_open(sim: PlayTableSim, rng: np.random.Generator, low: float) -> np.ndarray:
    """
    Reset to the current scene with the drawer opened to a random value in [low, 0.22].

    :param sim: the simulator.
    :param rng: random source.
    :param low: lowest opening (m).
    :return: (39,) observation.
    """
    scene = sim.observe()[layout.ROBOT_OBS_DIM:].copy()
    scene[layout.DRAWER] = rng.uniform(low, layout.DRAWER_RANGE[1])
    return sim.reset(None, scene)


def _block_into_drawer(sim: PlayTableSim, rng: np.random.Generator, block: int) -> np.ndarray:
    """
    Reset with the drawer open and a block lying on the drawer floor's visible part.

    :param sim: the simulator.
    :param rng: random source.
    :param block: 0 red, 1 blue, 2 pink.
    :return: (39,) observation.
    """
    scene = sim.observe()[layout.ROBOT_OBS_DIM:].copy()
    drawer = rng.uniform(0.17, layout.DRAWER_RANGE[1])
    scene[layout.DRAWER] = drawer
    yaw = rng.uniform(-np.pi, np.pi)
    extent = skills.footprint_extent(block, yaw)
    front = skills.DRAWER_INNER_FRONT_Y0 - drawer + extent[1] + 0.005
    x = rng.uniform(skills.DRAWER_INNER_X[0] + extent[0] + 0.03,
                    skills.DRAWER_INNER_X[1] - extent[0] - 0.03)
    y = rng.uniform(front, skills.TABLE_FRONT_Y - extent[1] - 0.005)
    z = skills.DRAWER_FLOOR_Z + geo.block_half_extents(block)[2]
    scene[layout.block_slice(block)] = (x, y, z, 0.0, 0.0, yaw)
    sim.reset(None, scene)
    return _settle(sim)


def _random_parts(sim: PlayTableSim, rng: np.random.Generator) -> Optional[np.ndarray]:
    """
    Reset with the door, the drawer, the switch and the LED drawn anew, the blocks kept.

    calvin_env's random reset leaves them all at 0; this gives every backend the same spread.

    :param sim: the simulator.
    :param rng: random source.
    :return: (39,) observation, or None when the door would meet a block there.
    """
    scene = sim.observe()[layout.ROBOT_OBS_DIM:].copy()
    draw_parts(rng, scene)
    try:
        return sim.reset(None, scene)
    except ValueError:
        return None


def _door_aside(sim: PlayTableSim, block: int) -> Optional[np.ndarray]:
    """
    Reset with the sliding door pushed to the end of its travel away from a block on the shelf.

    :param sim: the simulator.
    :param block: 0 red, 1 blue, 2 pink.
    :return: (39,) observation, or None when the door would meet another block there.
    """
    obs = sim.observe()
    scene = obs[layout.ROBOT_OBS_DIM:].copy()
    # The door covers the shelf's right half at 0 and its left half at the far end.
    left_half = skills.block_pose(obs, block)[0] < skills.DOOR_CENTRE_X0 - skills.DOOR_HALF_WIDTH
    scene[layout.SLIDER] = layout.SLIDER_RANGE[0] if left_half else layout.SLIDER_RANGE[1]
    try:
        return sim.reset(None, scene)
    except ValueError:
        return None


def _stack_two(sim: PlayTableSim, rng: np.random.Generator) -> Optional[np.ndarray]:
    """
    Reset with one block set on top of another block that lies on the table.

    :param sim: the simulator.
    :param rng: random source.
    :return: (39,) observation, or None when no block lies on the table.
    """
    obs = sim.observe()
    on_table = [b for b in range(3) if skills.block_support(obs, b) == 'table'
                and skills.block_pose(obs, b)[0] < skills.REACH_X_MAX]
    if not on_table:
        return None
    base = int(rng.choice(on_table))
    top = int(rng.choice([b for b in range(3) if b != base]))
    scene = obs[layout.ROBOT_OBS_DIM:].copy()
    base_pose = skills.block_pose(obs, base)
    offset = rng.uniform(-0.005, 0.005, 2)
    scene[layout.block_slice(top)] = (*(base_pose[:2] + offset),
                                      base_pose[2] + skills.STACK_HEIGHT + 0.001,
                                      0.0, 0.0, rng.uniform(-np.pi, np.pi))
    sim.reset(None, scene)
    return _settle(sim)


def _hold_a_block(sim: PlayTableSim, rng: np.random.Generator) -> Optional[np.ndarray]:
    """
    Run a feasible lift_*_table skill so that a block is held in the air.

    :param sim: the simulator.
    :param rng: random source.
    :return: (39,) observation, or None when no lift is feasible or it failed.
    """
    lifts = [t for t in skills.feasible_tasks(sim.observe()) if t.startswith('lift_')]
    if not lifts:
        return None
    run = skills.run_skill(sim, str(rng.choice(lifts)), rng, float(rng.uniform(*SPEED_RANGE)))
    return sim.observe() if run.success else None


def prepare_start(sim: PlayTableSim, task: str, rng: np.random.Generator) -> bool:
    """
    Bring the simulator to a random state from which the task is feasible.

    :param sim: the simulator.
    :param task: the task name.
    :param rng: random source.
    :return: False when no such state was found in MAX_SCENE_TRIES scenes.
    """
    for _ in range(MAX_SCENE_TRIES):
        obs = sim.reset_random(int(rng.integers(2 ** 31)))
        if task.startswith('lift_') and task.endswith('_drawer'):
            obs = _block_into_drawer(sim, rng, layout.BLOCK_NAMES.index(TASKS[task].block))
        elif isinstance(TASKS[task], (MoveDoor, ToggleLight)):
            obs = _random_parts(sim, rng)
        elif task.startswith('lift_') and task.endswith('_slider'):
            obs = _door_aside(sim, layout.BLOCK_NAMES.index(TASKS[task].block))
        elif task in ('push_into_drawer', 'place_in_drawer'):
            obs = _with_drawer_open(sim, rng, skills.DRAWER_OPEN_FOR_BLOCKS)
        elif task == 'unstack_block':
            obs = _stack_two(sim, rng)
        if obs is not None and task.startswith('place_'):
            obs = _hold_a_block(sim, rng)
        if obs is not None and task in skills.feasible_tasks(obs):
            return True
    return False


def evaluate(tasks: List[str], trials: int, seed: int, noise: float,
             progress: bool = True) -> Dict[str, Dict[str, float]]:
    """
    Run every task's skill from random feasible start states.

    :param tasks: task names.
    :param trials: trials per task.
    :param seed: base seed.
    :param noise: std of the Gaussian action noise on the motion dims.
    :param progress: show a progress bar.
    :return: task -> {'trials', 'successes', 'success_rate', 'mean_steps', 'no_start_state'}.
    """
    results: Dict[str, Dict[str, float]] = {}
    with PlayTableSim() as sim, tqdm(total=len(tasks) * trials, disable=not progress,
                                     desc='skills') as bar:
        for task_index, task in enumerate(tasks):
            rng = np.random.default_rng([seed, task_index])
            successes, steps, missing = 0, [], 0
            for trial in range(trials):
                if not prepare_start(sim, task, rng):
                    missing += 1
                    bar.update(1)
                    continue
                run = skills.run_skill(sim, task, rng, float(rng.uniform(*SPEED_RANGE)), noise)
                if not run.success:
                    logger.info('%s failed in trial %d', task, trial)
                successes += int(run.success)
                steps.append(run.steps)
                bar.update(1)
            run = trials - missing
            results[task] = {
                'trials': run, 'successes': successes,
                'success_rate': round(successes / run, 3) if run else 0.0,
                'mean_steps': round(float(np.mean(steps)), 1) if steps else 0.0,
                'no_start_state': missing,
            }
    return results


def markdown_table(results: Dict[str, Dict[str, float]]) -> str:
    """
    Format the results as a Markdown table.

    :param results: from evaluate.
    :return: the table, one line per task plus a total line.
    """
    lines = ['| task | trials | successes | success rate | mean steps |',
             '|---|---:|---:|---:|---:|']
    for task, result in results.items():
        lines.append(f'| {task} | {result["trials"]} | {result["successes"]} | '
                     f'{result["success_rate"]:.0%} | {result["mean_steps"]} |')
    total = sum(r['trials'] for r in results.values())
    won = sum(r['successes'] for r in results.values())
    lines.append(f'| **all** | {total} | {won} | {won / max(total, 1):.0%} | |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the skill evaluation from the command line.

    :param argv: arguments, sys.argv[1:] when None.
    :return: process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--trials', type=int, default=20, help='trials per task')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument('--tasks', default='', help='comma-separated task names (default: all)')
    parser.add_argument('--noise', type=float, default=0.0,
                        help='std of the Gaussian noise on the motion dims of every action')
    parser.add_argument('--out', type=Path, default=Path('docs/skills'), help='output folder')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    tasks = [t for t in args.tasks.split(',') if t] or list(TASK_NAMES)
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown or args.trials < 1:
        print(f'error: unknown tasks {unknown} or --trials below 1', file=sys.stderr)
        return 2
    results = evaluate(tasks, args.trials, args.seed, args.noise, not args.no_progress)
    table = markdown_table(results)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {'trials': args.trials, 'seed': args.seed, 'noise': args.noise,
                'speed_range': list(SPEED_RANGE)}
    (args.out / 'skill_success.json').write_text(
        json.dumps({'settings': settings, 'results': results}, indent=2) + '\n')
    (args.out / 'skill_success.md').write_text(
        f'# Scripted skill success\n\nSettings: {json.dumps(settings)}\n\n{table}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
