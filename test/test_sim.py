"""Tests of the PyBullet play table simulator (real PyBullet, no mocks)."""

import re
import subprocess
import sys

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import make_sim, PlayTableSim
from play_lmp_ros.core.sim import scene_geometry as geo
import pytest

DOWN = (3.0905, -0.0291, 1.5001)  # neutral TCP orientation: gripper pointing down
OPEN, CLOSE = layout.GRIPPER_OPEN, layout.GRIPPER_CLOSE
BLOCKS_OUT_OF_THE_WAY = ((0.36, -0.15, 0.46), (0.40, -0.06, 0.46), (-0.40, -0.15, 0.46))


@pytest.fixture(scope='module')
def sim():
    """Share one simulator across the tests that reset it first."""
    with PlayTableSim(seed=0) as shared:
        yield shared


def random_actions(count: int, seed: int) -> np.ndarray:
    """Draw (count, 7) random relative actions with a +-1 gripper."""
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.0, 1.0, (count, layout.ACTION_DIM))
    actions[:, 6] = rng.choice((CLOSE, OPEN), count)
    return actions


def quiet_scene(**joints) -> np.ndarray:
    """Return a scene_obs with the blocks away from the robot's work and the given joints."""
    scene = np.zeros(layout.SCENE_OBS_DIM)
    for block_index, position in enumerate(BLOCKS_OUT_OF_THE_WAY):
        scene[layout.block_slice(block_index)][:3] = position
    for name, value in joints.items():
        scene[getattr(layout, name.upper())] = value
    return scene


def move_to(sim, position, gripper, steps=40) -> np.ndarray:
    """Drive the TCP to a position, gripper pointing down, with absolute actions."""
    for _ in range(steps):
        observation = sim.step([*position, *DOWN, gripper], 'absolute')
    return observation


def test_reset_observe_round_trip(sim):
    """Restore a state the simulator produced and observe it again within 1e-3."""
    sim.reset_random(seed=3)
    for action in random_actions(30, seed=1):
        sim.step(action)
    for _ in range(15):  # let the blocks and the arm settle a little
        state = sim.step([0, 0, 0, 0, 0, 0, OPEN])
    with PlayTableSim(seed=9) as other:
        restored = other.reset(state[:layout.ROBOT_OBS_DIM], state[layout.ROBOT_OBS_DIM:])
        again = other.observe()
    difference = state - restored
    difference[list(layout.ANGLE_DIMS)] = layout.wrap_to_pi(difference[list(layout.ANGLE_DIMS)])
    assert np.max(np.abs(difference)) < 1e-3
    np.testing.assert_array_equal(restored, again)


def test_button_press_toggles_led_and_springs_back(sim):
    """Press the button twice with the closed gripper: each press toggles the LED."""
    sim.reset(scene_obs=quiet_scene())
    above = (-0.10, -0.09, 0.55)
    pressed = (-0.10, -0.09, 0.44)
    led_states = []
    for _ in range(2):
        move_to(sim, above, CLOSE)
        observation = move_to(sim, pressed, CLOSE, steps=25)
        scene = observation[layout.ROBOT_OBS_DIM:]
        assert scene[layout.BUTTON] > layout.BUTTON_TRIGGER
        led_states.append(scene[layout.LED])
        observation = move_to(sim, above, CLOSE, steps=25)
        assert observation[layout.ROBOT_OBS_DIM + layout.BUTTON] < layout.BUTTON_TRIGGER
        assert observation[layout.ROBOT_OBS_DIM + layout.LED] == led_states[-1]
    assert led_states == [1.0, 0.0]


def test_switch_past_half_travel_turns_the_lightbulb_on_and_off(sim):
    """Grip the switch's bar tilted, slide it up the leaning face then down: the bulb follows."""
    from play_lmp_ros.core.skills import landmarks
    sim.reset(scene_obs=quiet_scene())
    bar = np.asarray(landmarks.SWITCH_BAR0)
    tilted = (*landmarks.SWITCH_GRASP_ROLL_PITCH, landmarks.SWITCH_GRASP_YAW)

    def tilted_to(position, gripper, steps=40):
        for _ in range(steps):
            observation = sim.step([*position, *tilted, gripper], 'absolute')
        return observation

    standoff = bar + landmarks.SWITCH_STANDOFF * landmarks.SWITCH_OUTWARD
    move_to(sim, standoff + (0, 0, 0.1), OPEN)
    tilted_to(standoff, OPEN)
    tilted_to(bar, OPEN, steps=30)
    tilted_to(bar, CLOSE, steps=10)
    up = bar + layout.SWITCH_RANGE[1] * landmarks.SWITCH_DIRECTION
    scene = tilted_to(up, CLOSE)[layout.ROBOT_OBS_DIM:]
    assert scene[layout.SWITCH] > layout.SWITCH_TRIGGER and scene[layout.LIGHTBULB] == 1.0
    scene = tilted_to(bar, CLOSE)[layout.ROBOT_OBS_DIM:]
    assert scene[layout.SWITCH] < layout.SWITCH_TRIGGER and scene[layout.LIGHTBULB] == 0.0


@pytest.mark.parametrize('axis, sign', [(0, 1.0), (2, -1.0), (5, 1.0)], ids=['+x', '-z', '+yaw'])
def test_relative_action_moves_tcp_the_commanded_way(sim, axis, sign):
    """Repeat one relative action and check the TCP moves that way."""
    start = sim.reset(scene_obs=quiet_scene())
    action = np.zeros(layout.ACTION_DIM)
    action[axis], action[6] = sign, OPEN
    for _ in range(5):
        end = sim.step(action)
    moved = layout.wrap_to_pi(end[axis] - start[axis]) if axis >= 3 else end[axis] - start[axis]
    assert sign * moved > 0.5 * 5 * (layout.MAX_REL_POS_M if axis < 3 else layout.MAX_REL_ORN_RAD)
    others = [i for i in range(3) if i != axis]
    assert np.all(np.abs(end[others] - start[others]) < 0.02)


def test_gripper_closes_and_opens(sim):
    """Close then open the gripper and read its width and last action."""
    observation = sim.reset(scene_obs=quiet_scene())
    assert observation[layout.GRIPPER_WIDTH] > 0.079
    for _ in range(20):
        observation = sim.step([0, 0, 0, 0, 0, 0, CLOSE])
    assert observation[layout.GRIPPER_WIDTH] < 0.005
    assert observation[layout.GRIPPER_ACTION] == CLOSE
    for _ in range(20):
        observation = sim.step([0, 0, 0, 0, 0, 0, OPEN])
    assert observation[layout.GRIPPER_WIDTH] > 0.075
    assert observation[layout.GRIPPER_ACTION] == OPEN


def test_same_seed_and_actions_give_identical_observations():
    """Run two simulators with the same seed and actions side by side."""
    actions = random_actions(40, seed=5)
    with make_sim('pybullet', seed=11) as first, make_sim('pybullet', seed=11) as second:
        np.testing.assert_array_equal(first.observe(), second.observe())
        for action in actions:
            np.testing.assert_array_equal(first.step(action), second.step(action))


def test_save_and_restore_state_is_exact(sim):
    """Replay the same actions after restore_state and compare bit for bit."""
    sim.reset_random(seed=4)
    for action in random_actions(10, seed=2):
        sim.step(action)
    token = sim.save_state()
    saved = sim.observe()
    actions = random_actions(20, seed=6)
    first_run = [sim.step(action) for action in actions]
    np.testing.assert_array_equal(sim.restore_state(token), saved)
    second_run = [sim.step(action) for action in actions]
    np.testing.assert_array_equal(np.array(first_run), np.array(second_run))
    sim.remove_state(token)


NEUTRAL_ROBOT = np.array([
    0.024, -0.232, 0.606, 3.09, -0.029, 1.5, 0.08, *geo.NEUTRAL_ARM_JOINTS, 1.0])
VALID_ACTION = [0.1, 0, 0, 0, 0, 0, 1.0]


def robot_with(**values) -> np.ndarray:
    """Return NEUTRAL_ROBOT with some dimensions, named as in layout.OBS_NAMES, replaced."""
    robot = NEUTRAL_ROBOT.copy()
    for name, value in values.items():
        robot[layout.OBS_NAMES.index(name)] = value
    return robot


def scene_with(**values) -> np.ndarray:
    """Return quiet_scene() with some dimensions, named as in layout.OBS_NAMES, replaced."""
    scene = quiet_scene()
    for name, value in values.items():
        scene[layout.OBS_NAMES.index(name) - layout.ROBOT_OBS_DIM] = value
    return scene


BAD_INPUTS = [
    # NaN in a relative action
    ('step', ([np.nan, 0, 0, 0, 0, 0, 1.0],), 'non-finite'),
    # inf in an absolute action
    ('step', ([0.1, 0, np.inf, 0, 0, 0, 1.0], 'absolute'), 'non-finite'),
    # six values instead of seven
    ('step', ([0, 0, 0, 0, 0, 0],), 'must have 7 values'),
    # not numbers at all
    ('step', (['a'] * 7,), 'must be 7 numbers'),
    # gripper neither -1 nor +1
    ('step', ([0, 0, 0, 0, 0, 0, 0.5],), 'gripper'),
    # relative motion outside [-1, 1]
    ('step', ([1.5, 0, 0, 0, 0, 0, 1.0],), '[-1, 1]'),
    # unknown action type
    ('step', (VALID_ACTION, 'joint'), 'action_type'),
    # robot state of the wrong size
    ('reset', (NEUTRAL_ROBOT[:14], None), 'robot_obs must have 15'),
    # scene state of NaNs: the first few indices are listed, then the count
    ('reset', (None, np.full(layout.SCENE_OBS_DIM, np.nan)),
     'scene_obs has non-finite values (NaN or inf) at indices [0, 1, 2, 3] (24 in all)'),
    # scene state of the wrong size
    ('reset', (NEUTRAL_ROBOT, np.zeros(23)), 'scene_obs must have 24'),
    # robot state whose gripper action is not +-1
    ('reset', (np.concatenate([NEUTRAL_ROBOT[:14], [0.0]]), None), 'gripper'),
    # absolute TCP target far outside the table
    ('step', ([10, 10, 10, *DOWN, 1.0], 'absolute'),
     'x = 10 m lies outside the TCP workspace (x -0.5..0.5, y -0.7..0.3, z 0.25..0.85 m)'),
    # absolute TCP target at a huge but finite height
    ('step', ([0.0, -0.1, 1e300, *DOWN, 1.0], 'absolute'), 'z = 1e+300 m lies outside'),
    # absolute TCP target inside the table top
    ('step', ([0.0, -0.1, 0.1, *DOWN, 1.0], 'absolute'), 'z = 0.1 m lies outside'),
    # switch pushed far past its 0.088 m stop
    ('reset', (None, scene_with(switch=0.5)), 'switch = 0.5 m outside -0.15..0.238 m'),
    # drawer pulled out a metre
    ('reset', (None, scene_with(drawer=1.0)), 'drawer = 1 m outside -0.15..0.37 m'),
    # a block below the floor
    ('reset', (None, scene_with(red_block_z=-5.0)), 'red_block_z = -5 m outside 0..2 m'),
    # a block 1e300 m away
    ('reset', (None, scene_with(pink_block_x=1e300)), 'pink_block_x = 1e+300 m outside'),
    # a block angle of 100 rad
    ('reset', (None, scene_with(blue_block_yaw=100.0)), 'blue_block_yaw = 100 rad outside'),
    # a light neither on nor off
    ('reset', (None, scene_with(led=2.0)), 'led state must be 0 or 1'),
    # an arm joint far past its limit
    ('reset', (robot_with(arm_joint_4=1.0), None), 'arm_joint_4 = 1 rad outside'),
    # a gripper opened 0.5 m
    ('reset', (robot_with(gripper_width=0.5), None), 'gripper_width = 0.5 m outside'),
    # a TCP euler angle of 1e9 rad
    ('reset', (robot_with(tcp_yaw=1e9), None), 'tcp_yaw = 1e+09 rad outside'),
]


@pytest.mark.parametrize('method, args, message', BAD_INPUTS)
def test_bad_input_raises_and_leaves_state_unchanged(sim, method, args, message):
    """Reject bad input with a ValueError naming the problem, before touching the scene."""
    sim.reset_random(seed=1)
    sim.step(VALID_ACTION)
    before = sim.observe()
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(sim, method)(*args)
    np.testing.assert_array_equal(sim.observe(), before)


def test_reset_takes_back_the_overshoots_pybullet_produces(sim):
    """
    Accept states past the nominal stops, as pybullet's soft limits produce them.

    The values are the extremes seen over 300,000 frames of scripted play: a pressed button and
    a pushed switch past their stops, fingers pressed past closed, an arm joint past its limit,
    a block knocked onto the floor, a block yaw beyond pi.
    """
    robot = robot_with(gripper_width=-0.0275, arm_joint_4=-0.0698 + 0.071)
    scene = scene_with(button=0.0425, switch=0.209, slider=-0.0056, red_block_x=0.61,
                       red_block_y=-1.5, red_block_z=0.0175, pink_block_yaw=4.616)
    observation = sim.reset(robot, scene)
    np.testing.assert_allclose(observation[layout.ROBOT_OBS_DIM:][:4], scene[:4], atol=1e-9)
    assert observation[layout.OBS_NAMES.index('red_block_y')] == pytest.approx(-1.5)


def test_every_state_random_play_reaches_resets(sim):
    """Random play, then a reset of a second simulator to each observation: none is refused."""
    sim.reset_random(seed=5)
    with PlayTableSim(seed=1) as other:
        for action in random_actions(60, seed=8):
            observation = sim.step(action)
            other.reset(observation[:layout.ROBOT_OBS_DIM], observation[layout.ROBOT_OBS_DIM:])


def test_the_tcp_workspace_covers_every_part_of_the_scene():
    """
    Check that an absolute action can reach every part of the scene.

    Every table part at both ends of its travel, every block placement and the neutral TCP lie
    inside layout.TCP_WORKSPACE_M.
    """
    import pybullet
    low, high = (np.asarray(corner) for corner in layout.TCP_WORKSPACE_M)
    client = pybullet.connect(pybullet.DIRECT)
    try:
        table = pybullet.loadURDF(str(geo.TABLE_URDF), useFixedBase=True,
                                  physicsClientId=client)
        for joint in range(pybullet.getNumJoints(table, physicsClientId=client)):
            info = pybullet.getJointInfo(table, joint, physicsClientId=client)
            travel = (info[8], info[9]) if info[9] > info[8] else (0.0,)
            for position in travel:
                pybullet.resetJointState(table, joint, position, physicsClientId=client)
                aabb_low, aabb_high = pybullet.getAABB(table, joint, physicsClientId=client)
                assert np.all(low <= aabb_low) and np.all(aabb_high <= high), (
                    f'{info[12].decode()} at {position} spans {aabb_low}..{aabb_high}')
            pybullet.resetJointState(table, joint, 0.0, physicsClientId=client)
    finally:
        pybullet.disconnect(client)
    reach = max(np.max(geo.block_half_extents(b)) for b in range(3))
    for (x_low, y_low), (x_high, y_high) in geo.PLACEMENT_SURFACES.values():
        for corner in ((x_low - reach, y_low - reach), (x_high + reach, y_high + reach)):
            assert np.all(low <= (*corner, geo.BLOCK_REST_Z))
            assert np.all((*corner, geo.BLOCK_REST_Z) <= high)
    with PlayTableSim(seed=0) as fresh:
        tcp = fresh.observe()[layout.TCP_POS]
    assert np.all(low <= tcp) and np.all(tcp <= high)


def test_absolute_actions_on_the_workspace_bounds_are_accepted(sim):
    """The box includes its bounds: a target on a face is applied."""
    sim.reset(scene_obs=quiet_scene())
    (x_low, y_low, z_low), (x_high, y_high, z_high) = layout.TCP_WORKSPACE_M
    for corner in ((x_low, y_low, z_high), (x_high, y_high, z_low)):
        assert np.all(np.isfinite(sim.step([*corner, *DOWN, OPEN], 'absolute')))


def footprint(scene: np.ndarray, block_index: int):
    """Return (x, y, yaw, half extents) of a block in a scene_obs."""
    pose = scene[layout.block_slice(block_index)]
    return pose[0], pose[1], pose[5], geo.block_half_extents(block_index)[:2]


def test_random_reset_places_blocks_on_surfaces_without_overlap(sim):
    """Check several random resets: blocks rest on a named surface, apart."""
    from play_lmp_ros.core.sim.pybullet_sim import _footprints_overlap
    for seed in range(8):
        scene = sim.reset_random(seed=seed)[layout.ROBOT_OBS_DIM:]
        for block_index in range(3):
            x, y, z = scene[layout.block_slice(block_index)][:3]
            assert z == pytest.approx(geo.BLOCK_REST_Z)
            assert any(low[0] <= x <= high[0] and low[1] <= y <= high[1]
                       for low, high in geo.PLACEMENT_SURFACES.values())
        for first in range(3):
            for second in range(first + 1, 3):
                assert not _footprints_overlap(
                    footprint(scene, first), footprint(scene, second), 0.0)


def test_scene_info_names_table_and_shelf_contacts(sim):
    """Put one block on the table and one on the shelf and read their contacts."""
    scene = quiet_scene(slider=0.0)
    scene[layout.block_slice(0)][:3] = (0.05, -0.12, 0.46)
    scene[layout.block_slice(1)][:3] = (-0.2409, 0.0924, 0.461)
    sim.reset(scene_obs=scene)
    for _ in range(5):
        sim.step([0, 0, 0, 0, 0, 0, OPEN])
    info = sim.scene_info()
    assert ('table', 'base_link') in info.blocks['block_red'].contacts
    assert ('table', 'plank_link') in info.blocks['block_blue'].contacts
    assert ('table', 'plank_link') not in info.blocks['block_red'].contacts
    assert info.doors['base__slide'] == pytest.approx(0.0, abs=1e-3)
    assert set(info.lights) == {'lightbulb', 'led'}
    assert not info.robot_contacts


@pytest.mark.parametrize('camera, size', [('static', 200), ('gripper', 84)])
def test_render_returns_rgb_images(sim, camera, size):
    """Render each camera at its default size and at a custom one."""
    image = sim.render(camera)
    assert image.shape == (size, size, 3) and image.dtype == np.uint8
    assert sim.render(camera, size=32).shape == (32, 32, 3)


def test_importing_sim_loads_neither_rclpy_nor_torch():
    """Import the simulator package in a fresh interpreter and list heavy modules."""
    probe = ('import sys, play_lmp_ros.core.sim; '
             "print(sorted(m for m in ('rclpy', 'torch', 'calvin_env') if m in sys.modules))")
    completed = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip().splitlines()[-1] == '[]'


def test_calvin_backend_without_calvin_env_raises_a_clear_import_error():
    """Ask for the calvin_env backend where calvin_env is missing."""
    try:
        import calvin_env  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match='calvin_env'):
            make_sim('calvin_env')
    else:
        pytest.skip('calvin_env is installed')


def test_pybullet_prints_nothing():
    """Importing the simulator and connecting two clients print nothing: no pybullet banner."""
    script = ('from play_lmp_ros.core.sim import make_sim\n'
              'for seed in (0, 1):\n'
              '    make_sim(seed=seed).close()\n'
              'print("done")\n')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    # Without the silencing: 'pybullet build time: ...' once on stderr, 'argv[0]=' on stdout.
    assert (result.stdout, result.stderr) == ('done\n', '')
