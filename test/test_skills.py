"""Scripted skills: each of the 34 succeeds in PyBullet; feasibility follows the state."""

import numpy as np
from play_lmp_ros.core import layout, skills
from play_lmp_ros.core.sim import PlayTableSim
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training.evaluate_skills import prepare_start
import pytest

START_STATES_PER_TASK = 2
QUIET_BLOCKS = ((0.0, -0.13, 1.5), (0.13, -0.15, 0.3), (-0.30, -0.10, 1.2))


@pytest.fixture(scope='module')
def sim():
    """
    Share one simulator across the module; every test resets it.

    :return: the simulator.
    """
    with PlayTableSim(seed=0) as simulator:
        yield simulator


def scene(slider=0.0, drawer=0.0, switch=0.0, led=0, blocks=QUIET_BLOCKS) -> np.ndarray:
    """
    Build a scene_obs with upright blocks at rest.

    :param slider: door position (m).
    :param drawer: drawer position (m).
    :param switch: switch position (m); the lightbulb follows it.
    :param led: LED state.
    :param blocks: (x, y, yaw) per block.
    :return: (24,) scene_obs.
    """
    scene_obs = np.zeros(layout.SCENE_OBS_DIM)
    scene_obs[:6] = (slider, drawer, 0.0, switch, float(switch > layout.SWITCH_TRIGGER), led)
    for index, (x, y, yaw) in enumerate(blocks):
        scene_obs[layout.block_slice(index)] = (x, y, 0.46, 0.0, 0.0, yaw)
    return scene_obs


@pytest.mark.parametrize('task', TASK_NAMES)
def test_skill_succeeds_from_random_feasible_states(sim, task):
    """Run the skill from two seeded random feasible start states; the oracle must agree."""
    rng = np.random.default_rng(sum(map(ord, task)))
    for _ in range(START_STATES_PER_TASK):
        assert prepare_start(sim, task, rng), f'no feasible start state for {task}'
        success, steps, _ = skills.run_skill(sim, task, rng, speed=float(rng.uniform(0.7, 1.2)),
                                             noise=0.05)
        assert success, f'{task} failed after {steps} steps'


def test_every_emitted_action_is_valid(sim):
    """Every action of a full skill passes the relative action check, done or not."""
    rng = np.random.default_rng(0)
    obs = sim.reset(None, scene(drawer=0.2))
    skill = skills.make_skill('lift_blue_block_table', obs, rng, speed=1.2)
    for _ in range(skill.max_steps + 3):
        action = skill.act(obs)
        layout.check_relative_action(action)
        obs = sim.step(action)
    assert skill.done


def test_door_drawer_and_light_feasibility_follows_the_state(sim):
    """Closed drawer, LED on, lightbulb off, door slid right: only the matching tasks."""
    feasible = set(skills.feasible_tasks(sim.reset(None, scene(led=1))))
    assert {'open_drawer', 'turn_off_led', 'turn_on_lightbulb', 'move_slider_left'} <= feasible
    assert not feasible & {'close_drawer', 'turn_on_led', 'turn_off_lightbulb',
                           'move_slider_right', 'place_in_slider', 'place_in_drawer',
                           'unstack_block', 'push_into_drawer'}
    feasible = set(skills.feasible_tasks(sim.reset(None, scene(0.28, 0.22, 0.088, 0))))
    assert {'close_drawer', 'turn_on_led', 'turn_off_lightbulb', 'move_slider_right'} <= feasible
    assert not feasible & {'open_drawer', 'turn_off_led', 'turn_on_lightbulb',
                           'move_slider_left'}


def test_a_held_block_makes_placing_feasible_and_lifting_not(sim):
    """After a lift the block is held: placing is feasible, other block tasks are not."""
    rng = np.random.default_rng(1)
    sim.reset(None, scene(drawer=0.2))
    success = skills.run_skill(sim, 'lift_red_block_table', rng).success
    assert success
    obs = sim.observe()
    assert skills.held_block(obs) == 0
    feasible = set(skills.feasible_tasks(obs))
    assert {'place_in_slider', 'place_in_drawer'} <= feasible
    assert not [task for task in feasible if task.startswith(('lift_', 'push_', 'rotate_'))]


def test_stacked_blocks_allow_unstacking(sim):
    """A block resting on another makes unstack_block feasible, lifting it from the table not."""
    blocks = ((0.1, -0.12, 0.0), (0.1, -0.12, 0.5), (-0.25, 0.09, 1.2))
    scene_obs = scene(blocks=blocks)
    scene_obs[layout.block_slice(1)][2] = 0.5
    sim.reset(None, scene_obs)
    obs = sim.step(np.array([0.0] * 6 + [1.0]))
    assert skills.block_support(obs, 1) == 'stacked'
    feasible = skills.feasible_tasks(obs)
    assert 'unstack_block' in feasible and 'lift_blue_block_table' not in feasible


def test_make_skill_rejects_unknown_and_infeasible_tasks(sim):
    """Unknown names and tasks impossible from the state raise ValueError naming them."""
    obs = sim.reset(None, scene())
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match='open_the_pod_bay_doors'):
        skills.make_skill('open_the_pod_bay_doors', obs, rng)
    with pytest.raises(ValueError, match='close_drawer is not feasible'):
        skills.make_skill('close_drawer', obs, rng)
    with pytest.raises(ValueError, match='place_in_slider is not feasible here: no block is held'):
        skills.make_skill('place_in_slider', obs, rng)


def test_task_objects_cover_every_task():
    """Every task maps to the object it acts on."""
    assert set(skills.TASK_OBJECTS) == set(TASK_NAMES)
    assert skills.TASK_OBJECTS['lift_pink_block_drawer'] == 'block_pink'
    assert skills.TASK_OBJECTS['move_slider_left'] == 'slider'
    assert skills.TASK_OBJECTS['turn_on_lightbulb'] == 'lightbulb'
    assert skills.TASK_OBJECTS['stack_block'] == 'blocks'
