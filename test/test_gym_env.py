"""The Gymnasium environment: API checks, seeding, scripted skills to success, bad input."""

import subprocess
import sys
import warnings

import gymnasium
from gymnasium.utils.env_checker import check_env
import numpy as np
from play_lmp_ros.core import layout, skills
from play_lmp_ros.core.gym_env import DEFAULT_MAX_EPISODE_STEPS, ENV_ID, PlayTableEnv
from play_lmp_ros.core.sim.scene_geometry import STATIC_CAMERA
import pytest

SKILL_TASKS = ('open_drawer', 'turn_on_led', 'lift_red_block_table')


@pytest.fixture(scope='module')
def env():
    """
    Share one environment across the module; every test resets it.

    :return: the environment, rendering the static camera.
    """
    environment = PlayTableEnv(render_mode='rgb_array')
    yield environment
    environment.close()


def hold() -> np.ndarray:
    """
    Return the action that keeps the robot still with the gripper open.

    :return: (7,) relative action.
    """
    return layout.hold_action(layout.GRIPPER_OPEN)


@pytest.mark.slow
def test_gymnasium_env_checker_passes_without_warnings():
    """check_env on the made environment's unwrapped env raises nothing and warns nothing."""
    made = gymnasium.make(ENV_ID, render_mode='rgb_array')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            check_env(made.unwrapped)
    finally:
        made.close()


def test_module_registers_once():
    """A fresh interpreter imports and reloads the module: one registration, no warning."""
    probe = (
        'import importlib, warnings; warnings.simplefilter("error"); '
        'import play_lmp_ros.core.gym_env as module; importlib.reload(module)'
    )
    completed = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_make_applies_the_goal_servers_step_budget_as_a_time_limit():
    """make() wraps a TimeLimit of 360 steps; make's max_episode_steps alone sets the length."""
    made = gymnasium.make(ENV_ID)
    try:
        assert made.spec.max_episode_steps == DEFAULT_MAX_EPISODE_STEPS
        assert made.unwrapped.max_episode_steps is None
    finally:
        made.close()
    short = gymnasium.make(ENV_ID, max_episode_steps=2)
    try:
        short.reset(seed=0)
        assert short.step(hold())[3] is False
        assert short.step(hold())[3] is True
    finally:
        short.close()


def test_own_step_limit_truncates_a_directly_built_env():
    """PlayTableEnv(max_episode_steps=2) truncates on its second step, without success."""
    environment = PlayTableEnv(max_episode_steps=2)
    try:
        environment.reset(seed=0, options={'task': 'open_drawer'})
        _, reward, terminated, truncated, info = environment.step(hold())
        assert (reward, terminated, truncated) == (0.0, False, False)
        _, reward, terminated, truncated, info = environment.step(hold())
        assert (reward, terminated, truncated) == (0.0, False, True)
        assert info['task'] == 'open_drawer' and info['is_success'] is False
    finally:
        environment.close()


def test_observations_lie_in_the_space_and_the_goal_differs_from_the_start(env):
    """Reset gives three (39,) float64 states in the space; the goal moved the task's object."""
    obs, info = env.reset(seed=4, options={'task': 'open_drawer'})
    assert info['task'] == 'open_drawer' and info['goal_skill_steps'] > 0
    assert obs in env.observation_space
    for value in obs.values():
        assert value.shape == (layout.OBS_DIM,) and value.dtype == np.float64
    np.testing.assert_array_equal(obs['observation'], obs['achieved_goal'])
    drawer = layout.ROBOT_OBS_DIM + layout.DRAWER
    assert obs['desired_goal'][drawer] > obs['observation'][drawer] + 0.1


def test_seeded_resets_repeat_exactly(env):
    """The same seed gives the same scene, task, goal and steps, bit for bit."""
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, (10, layout.ACTION_DIM))

    def episode(seed):
        obs, info = env.reset(seed=seed)
        states = [obs['observation']]
        for action in actions:
            states.append(env.step(action)[0]['observation'])
        follow_up = env.reset()[0]
        return obs['desired_goal'], info, np.array(states), follow_up['observation']

    first, second = episode(21), episode(21)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    np.testing.assert_array_equal(first[2], second[2])
    np.testing.assert_array_equal(first[3], second[3])
    other = episode(22)
    assert not np.array_equal(first[2][0], other[2][0])


@pytest.mark.parametrize('task', SKILL_TASKS)
def test_scripted_skill_through_step_reaches_success(env, task):
    """The task's scripted skill, driven through step(), earns reward 1 and terminates."""
    obs, info = env.reset(seed=5, options={'task': task})
    skill = skills.make_skill(info['task'], obs['observation'], np.random.default_rng(0))
    rewards = []
    for _ in range(skill.max_steps):
        obs, reward, terminated, truncated, info = env.step(skill.act(obs['observation']))
        rewards.append(reward)
        if terminated or truncated:
            break
    assert terminated and not truncated, f'{task} not reached in {len(rewards)} steps'
    assert rewards[-1] == 1.0 and set(rewards[:-1]) <= {0.0}
    assert info['is_success'] is True and task in info['tasks_completed']


def test_gripper_value_is_thresholded_at_zero(env):
    """A continuous gripper value closes below 0 and opens from 0 up."""
    env.reset(seed=1)
    for value, command in ((-0.2, layout.GRIPPER_CLOSE), (0.0, layout.GRIPPER_OPEN),
                           (0.7, layout.GRIPPER_OPEN), (-1.0, layout.GRIPPER_CLOSE)):
        action = np.zeros(layout.ACTION_DIM)
        action[-1] = value
        obs = env.step(action)[0]['observation']
        assert obs[layout.GRIPPER_ACTION] == command


def test_unknown_task_and_options_raise_value_error(env):
    """A misspelt task names the closest names; an unknown option key is named."""
    with pytest.raises(ValueError, match=r"unknown task 'open_drawr'; did you mean open_drawer"):
        env.reset(seed=0, options={'task': 'open_drawr'})
    with pytest.raises(ValueError, match=r"unknown reset options \['tasks'\]"):
        env.reset(options={'tasks': 'open_drawer'})


def test_a_task_no_random_scene_allows_raises_value_error(env):
    """place_in_slider needs a held block, which no random scene has: the reason is given."""
    with pytest.raises(ValueError, match='place_in_slider.*no block is held'):
        env.reset(seed=0, options={'task': 'place_in_slider'})


@pytest.mark.parametrize('action, message', [
    (np.zeros(6), r'shape \(7,\), got \(6,\)'),
    (np.zeros((1, 7)), r'shape \(7,\), got \(1, 7\)'),
    ([0.0, np.nan, 0.0, 0.0, 0.0, 0.0, 1.0], r'non-finite values .* at indices \[1\]'),
    ([0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 1.0], r"\['z'\] are \[1.5\]"),
    (['up'] * 7, 'action must be 7 numbers'),
])
def test_bad_actions_raise_value_error_and_change_nothing(env, action, message):
    """Wrong shapes, NaN, motion outside [-1, 1] and non-numbers raise; the state stays."""
    obs, _ = env.reset(seed=2)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    after = env.step(hold())[0]['observation']
    assert np.abs(after[layout.TCP_POS] - obs['observation'][layout.TCP_POS]).max() < 1e-3


def test_render_and_call_order(env):
    """render() gives the static camera; step before reset and bad constructor values raise."""
    env.reset(seed=3)
    image = env.render()
    side = STATIC_CAMERA['size']
    assert image.shape == (side, side, 3) and image.dtype == np.uint8
    fresh = PlayTableEnv()
    with pytest.raises(gymnasium.error.ResetNeeded):
        fresh.step(hold())
    fresh.close()
    with pytest.raises(ValueError, match='max_episode_steps'):
        PlayTableEnv(max_episode_steps=0)
    with pytest.raises(ValueError, match='render_mode'):
        PlayTableEnv(render_mode='human')
