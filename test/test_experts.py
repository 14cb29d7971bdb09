"""Experts that take over a task from any state, in the real simulator."""

from typing import Callable, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import block_pose, feasible_tasks, make_skill
from play_lmp_ros.core.skills.experts import Expert, ExpertError, run_expert
from play_lmp_ros.core.tasks import TaskOracle
import pytest

EXPERT_STEPS = 360


@pytest.fixture(scope='module')
def sim():
    """One simulator for the module's tests."""
    with PlayTableSim(seed=0) as simulator:
        yield simulator


def feasible_start(sim: PlayTableSim, task: str) -> np.ndarray:
    """
    Reset to the first seeded random scene from which a task is feasible.

    :param sim: the simulator.
    :param task: the task.
    :return: (39,) the start state.
    """
    for seed in range(200):
        obs = sim.reset_random(seed)
        if task in feasible_tasks(obs):
            return obs
    raise AssertionError(f'no feasible start for {task}')


def skill_until(sim: PlayTableSim, task: str, stop: Callable[[str, np.ndarray], bool]
                ) -> Tuple[np.ndarray, object]:
    """
    Run a task's scripted skill from a feasible start until a condition holds mid-task.

    :param sim: the simulator.
    :param task: the task.
    :param stop: (phase, obs) -> True where to stop.
    :return: the start state and the start's scene_info.
    """
    start = feasible_start(sim, task)
    start_info = sim.scene_info()
    skill = make_skill(task, start, np.random.default_rng(0))
    obs = start
    for _ in range(skill.max_steps):
        if stop(skill.phase, obs):
            return start, start_info
        obs = sim.step(skill.act(obs))
    raise AssertionError(f'{task}: the condition never held')


@pytest.mark.parametrize('task, phase, stop', [
    ('open_drawer', 'pull', lambda phase, obs: phase == 'pull' and obs[
        layout.ROBOT_OBS_DIM + layout.DRAWER] > 0.03),
    ('lift_blue_block_table', 'lift', lambda phase, obs: phase == 'lift'),
    ('push_pink_block_right', 'push', lambda phase, obs: phase == 'push' and obs[
        layout.ROBOT_OBS_DIM + layout.block_slice(2).start] > 0.0),
    ('rotate_red_block_left', 'turn', lambda phase, obs: phase == 'turn'),
])
def test_expert_takes_over_mid_task_in_the_right_phase(sim, task, phase, stop):
    """Mid-grasp, mid-pull, mid-push: the fresh expert goes on from there and succeeds."""
    start, start_info = skill_until(sim, task, stop)
    if task.startswith('push_'):
        # Stopped once the block started moving: the push phase's state at the block's rear.
        moved = block_pose(sim.observe(), 2)[0] - block_pose(start, 2)[0]
        assert moved > 0.0
    expert = Expert(task, start)
    expert.act(sim.observe())
    assert expert.phase == phase
    assert run_expert(sim, expert, TaskOracle(), start_info, EXPERT_STEPS) is not None


def test_fingers_closed_on_nothing_reopen_over_the_block(sim):
    """The hand closed beside a block, low: the expert opens it and backs up to regrasp."""
    task = 'lift_blue_block_table'
    start = feasible_start(sim, task)
    start_info = sim.scene_info()
    robot = start[:layout.ROBOT_OBS_DIM].copy()
    scene = start[layout.ROBOT_OBS_DIM:]
    # Drive the hand down beside the block, clear of it, with the gripper closed.
    goal = block_pose(start, 1)[:3] + (0.05, 0.0, 0.03)
    obs = sim.reset(robot, scene)
    for _ in range(120):
        error = goal - obs[layout.TCP_POS]
        action = np.zeros(layout.ACTION_DIM)
        action[:3] = np.clip(0.6 * error / layout.MAX_REL_POS_M, -0.5, 0.5)
        action[6] = layout.GRIPPER_CLOSE
        obs = sim.step(action)
    expert = Expert(task, start)
    expert.act(obs)
    assert expert.phase == 'reopen'
    assert run_expert(sim, expert, TaskOracle(), start_info, EXPERT_STEPS) is not None


def test_the_action_is_a_function_of_the_state(sim):
    """No history: a used expert and a fresh one give the same action in the same state."""
    task = 'open_drawer'
    start = feasible_start(sim, task)
    used = Expert(task, start)
    obs = start
    for _ in range(40):
        obs = sim.step(used.act(obs))
    np.testing.assert_array_equal(used.act(obs), Expert(task, start).act(obs))
    np.testing.assert_array_equal(used.act(obs), used.act(obs))


def test_a_tipped_block_leaves_no_action(sim):
    """A block on its side cannot be gripped from above: ExpertError, not a guess."""
    task = 'lift_red_block_table'
    start = feasible_start(sim, task)
    scene = start[layout.ROBOT_OBS_DIM:].copy()
    scene[layout.block_slice(0)][3] = np.pi / 2
    tipped = np.concatenate([start[:layout.ROBOT_OBS_DIM], scene])
    with pytest.raises(ExpertError, match='not upright'):
        Expert(task, start).act(tipped)


def test_bad_tasks_and_starts_are_refused():
    """An unknown task, a malformed start, a start with nothing to act on."""
    with pytest.raises(ValueError, match='unknown task'):
        Expert('juggle', np.zeros(layout.OBS_DIM))
    with pytest.raises(ValueError):
        Expert('open_drawer', np.zeros(5))
    with PlayTableSim(seed=0) as simulator:
        with pytest.raises(ExpertError, match='no block is held'):
            Expert('place_in_drawer', simulator.reset_random(0))


@pytest.mark.parametrize('task', ['turn_on_lightbulb', 'turn_off_lightbulb'])
def test_the_switch_expert_goes_straight_to_the_bar(sim, task):
    """From travel height to the bar and along it: each phase once or twice, under 120 steps."""
    start = feasible_start(sim, task)
    start_info = sim.scene_info()
    expert = Expert(task, start)
    obs, phases = start, []
    for _ in range(120):
        obs = sim.step(expert.act(obs))
        if not phases or phases[-1] != expert.phase:
            phases.append(expert.phase)
        if TaskOracle().check(task, start_info, sim.scene_info()):
            break
    else:
        raise AssertionError(f'{task} not done in 120 steps: {phases}')
    # Rising and tilting in turns near the switch was what a student learned nothing from.
    assert phases.count('clear') <= 1 and len(phases) <= 9, phases


def test_a_block_tipping_over_the_front_edge_is_pushed_on_into_the_drawer(sim):
    """push_into_drawer driven by its expert alone: the tipping block is no reason to stop."""
    start = feasible_start(sim, 'push_into_drawer')
    start_info = sim.scene_info()
    done = run_expert(sim, Expert('push_into_drawer', start), TaskOracle(), start_info,
                      EXPERT_STEPS)
    assert done is not None
