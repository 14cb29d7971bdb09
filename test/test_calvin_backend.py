"""Tests of the calvin_env backend against real calvin_env; skipped where it is not installed."""

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import ROBOT, TABLE, TABLE_LINKS
from play_lmp_ros.core.sim import make_sim
from play_lmp_ros.core.tasks import TaskOracle
import pytest

pytest.importorskip('calvin_env')

OPEN, CLOSE = layout.GRIPPER_OPEN, layout.GRIPPER_CLOSE
# CALVIN's evaluation block spots: red and pink on the table, blue on the shelf (slider left).
QUIET_BLOCKS = (
    (0.05, -0.12, 0.45999, 0.0, 0.0, 1.5708),
    (-0.240852, 0.092404, 0.46099, 0.0, 0.0, 1.5708),
    (0.229995, -0.119995, 0.45999, 0.0, 0.0, 1.5708),
)


@pytest.fixture(scope='module')
def sim():
    """Share one calvin_env simulator across the tests, each of which resets it first."""
    with make_sim('calvin_env', seed=0) as shared:
        yield shared


def quiet_scene(**joints) -> np.ndarray:
    """Return a scene_obs with the blocks at rest away from the robot and the given joints."""
    scene = np.zeros(layout.SCENE_OBS_DIM)
    for block_index, pose in enumerate(QUIET_BLOCKS):
        scene[layout.block_slice(block_index)] = pose
    for name, value in joints.items():
        scene[getattr(layout, name.upper())] = value
    return scene


def wrapped_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Return first - second with the angle dimensions wrapped to [-pi, pi]."""
    difference = np.asarray(first) - np.asarray(second)
    angles = list(layout.ANGLE_DIMS)
    difference[angles] = layout.wrap_to_pi(difference[angles])
    return difference


def test_reset_to_a_state_and_observe_round_trip(sim):
    """Reset to a state the simulator produced, closed gripper included, and observe it."""
    sim.reset(None, quiet_scene(slider=0.1, drawer=0.05))
    rng = np.random.default_rng(1)
    for _ in range(20):
        sim.step([*rng.uniform(-0.5, 0.5, 6), OPEN])
    for _ in range(15):  # let the arm come to rest
        state = sim.step([0, 0, 0, 0, 0, 0, CLOSE])
    assert state[layout.GRIPPER_ACTION] == CLOSE
    sim.reset()
    assert sim.observe()[layout.GRIPPER_ACTION] == OPEN
    restored = sim.reset(state[:layout.ROBOT_OBS_DIM], state[layout.ROBOT_OBS_DIM:])
    np.testing.assert_array_equal(sim.observe(), restored)
    # calvin_env's reset runs one physics step, which nudges the resting blocks a little.
    difference = np.abs(wrapped_difference(restored, state))
    angles = list(layout.ANGLE_DIMS)
    assert np.delete(difference, angles).max() < 1e-3
    assert difference[angles].max() < 1e-2
    assert restored[layout.GRIPPER_ACTION] == CLOSE
    np.testing.assert_allclose(sim.robot_obs, restored[:layout.ROBOT_OBS_DIM])
    np.testing.assert_allclose(sim.scene_obs, restored[layout.ROBOT_OBS_DIM:])


def test_relative_step_moves_the_tcp_the_commanded_way(sim):
    """Command +x then -z and watch the TCP follow, about 0.02 m per step."""
    start = sim.reset(None, quiet_scene())[layout.TCP_POS]
    for _ in range(5):
        position = sim.step([1, 0, 0, 0, 0, 0, OPEN])[layout.TCP_POS]
    moved = position - start
    assert 0.05 < moved[0] < 0.11
    assert np.abs(moved[1:]).max() < 0.01
    for _ in range(10):  # the TCP trails its accumulated target: let it catch up
        start = sim.step([0, 0, 0, 0, 0, 0, OPEN])[layout.TCP_POS]
    for _ in range(5):
        position = sim.step([0, 0, -1, 0, 0, 0, OPEN])[layout.TCP_POS]
    moved = position - start
    assert -0.11 < moved[2] < -0.05
    assert np.abs(moved[:2]).max() < 0.01


def test_absolute_step_reaches_the_target_and_relative_steps_continue_from_it(sim):
    """Drive to an absolute pose, then check that a zero relative action holds it."""
    down = sim.reset(None, quiet_scene())[layout.TCP_ORN]
    target = np.array([0.1, -0.2, 0.5])
    for _ in range(30):
        observation = sim.step([*target, *down, OPEN], 'absolute')
    np.testing.assert_allclose(observation[layout.TCP_POS], target, atol=5e-3)
    for _ in range(3):
        observation = sim.step([0, 0, 0, 0, 0, 0, OPEN])
    np.testing.assert_allclose(observation[layout.TCP_POS], target, atol=5e-3)


def test_scene_info_maps_to_names(sim):
    """Map calvin_env's uids and link ids to the names of SceneInfo."""
    sim.reset(None, quiet_scene(slider=0.2, led=1))
    info = sim.scene_info()
    assert set(info.doors) == {'base__slide', 'base__drawer'}
    assert info.doors['base__slide'] == pytest.approx(0.2, abs=1e-3)
    assert info.lights == {'lightbulb': 0, 'led': 1}
    assert set(info.blocks) == set(layout.BLOCK_NAMES)
    assert (TABLE, 'base_link') in info.blocks['block_red'].contacts
    assert (TABLE, 'plank_link') in info.blocks['block_blue'].contacts
    known = {ROBOT, TABLE, 'plane', *layout.BLOCK_NAMES}
    for block in info.blocks.values():
        assert block.position.shape == (3,) and block.orientation.shape == (4,)
        for body, link in block.contacts:
            assert body in known
            if body == TABLE:
                assert link in TABLE_LINKS
            elif body != ROBOT:
                assert link == 'base_link'
    np.testing.assert_allclose(
        info.blocks['block_red'].position, QUIET_BLOCKS[0][:3], atol=2e-3)


def test_oracle_detects_open_drawer_moved_by_reset(sim):
    """Open the drawer through reset and ask the task oracle what happened."""
    start_state = sim.reset(None, quiet_scene(drawer=0.0))
    start = sim.scene_info()
    scene = start_state[layout.ROBOT_OBS_DIM:].copy()
    scene[layout.DRAWER] = 0.2
    sim.reset(start_state[:layout.ROBOT_OBS_DIM], scene)
    end = sim.scene_info()
    assert TaskOracle().get_task_info(start, end) == {'open_drawer'}


def test_save_and_restore_state_is_exact(sim):
    """Replay the same actions after restore_state and compare bit for bit."""
    sim.reset_random(seed=4)
    rng = np.random.default_rng(2)
    for _ in range(10):
        sim.step([*rng.uniform(-1, 1, 6), OPEN])
    token = sim.save_state()
    saved = sim.observe()
    actions = [[*rng.uniform(-1, 1, 6), rng.choice((OPEN, CLOSE))] for _ in range(20)]
    first_run = [sim.step(action) for action in actions]
    np.testing.assert_array_equal(sim.restore_state(token), saved)
    second_run = [sim.step(action) for action in actions]
    np.testing.assert_array_equal(np.array(first_run), np.array(second_run))
    sim.remove_state(token)


def test_invalid_input_is_rejected_before_calvin_env_sees_it(sim):
    """Reject a bad gripper value, a bad light state and an unknown action type."""
    with pytest.raises(ValueError):
        sim.step([0, 0, 0, 0, 0, 0, 0.5])
    with pytest.raises(ValueError):
        sim.reset(None, quiet_scene(led=0.5))
    with pytest.raises(ValueError):
        sim.step([0] * 7, 'joint')


def test_render_both_cameras(sim):
    """Render calvin_env's static and gripper cameras, at default and given sizes."""
    sim.reset(None, quiet_scene())
    assert sim.render('static').shape == (200, 200, 3)
    assert sim.render('gripper').shape == (84, 84, 3)
    image = sim.render('static', size=32)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
