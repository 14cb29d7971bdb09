"""Tests of the scene and goal markers, built from 39-D states without a ROS graph."""

from collections import Counter

from builtin_interfaces.msg import Time
import numpy as np
from play_lmp_ros import markers
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import PlayTableSim
from play_lmp_ros.core.sim import scene_geometry as geo
import pytest
from transforms3d.euler import euler2mat, euler2quat
from visualization_msgs.msg import Marker

pytestmark = pytest.mark.usefixtures('ros_domain')

STAMP = Time(sec=12, nanosec=34)
SCENE = layout.ROBOT_OBS_DIM
# Markers per namespace: the table URDF's visuals, three blocks, the TCP sphere and axes.
SCENE_COUNTS = {'table': 27, 'sliding_door': 4, 'drawer': 8, 'button': 1, 'switch': 3,
                'lightbulb': 1, 'led': 1, 'blocks': 3, 'tcp': 4}


@pytest.fixture(scope='module')
def state() -> np.ndarray:
    """Return a real observation of the simulator (seed 4), lights off."""
    with PlayTableSim(seed=4) as sim:
        observation = sim.observe()
    observation[SCENE + layout.LIGHTBULB] = 0.0
    observation[SCENE + layout.LED] = 0.0
    return observation


def by_key(array) -> dict:
    """Index markers by (namespace, id)."""
    return {(marker.ns, marker.id): marker for marker in array.markers}


def rgba(marker: Marker) -> tuple:
    """Return a marker's colour as a tuple."""
    return (marker.color.r, marker.color.g, marker.color.b, marker.color.a)


def position(marker: Marker) -> np.ndarray:
    """Return a marker's position."""
    return np.array([marker.pose.position.x, marker.pose.position.y, marker.pose.position.z])


def test_scene_markers_count_frame_and_unique_ids(state):
    """Every scene part is drawn once, in the given frame and stamp, with unique ids."""
    array = markers.scene_markers(state, STAMP, 'map')
    assert Counter(marker.ns for marker in array.markers) == SCENE_COUNTS
    assert len(by_key(array)) == len(array.markers)
    assert all(marker.header.frame_id == 'map' and marker.header.stamp == STAMP
               and marker.action == Marker.ADD for marker in array.markers)
    assert all(min(marker.scale.x, marker.scale.y, marker.scale.z) > 0
               for marker in array.markers)


@pytest.mark.parametrize('lightbulb, led', [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_light_colours_follow_the_light_states(state, lightbulb, led):
    """A light that is on has its configured colour; off, a darker shade of it."""
    lit = state.copy()
    lit[SCENE + layout.LIGHTBULB] = lightbulb
    lit[SCENE + layout.LED] = led
    drawn = by_key(markers.scene_markers(lit, STAMP))
    for name, on, on_rgba in (('lightbulb', lightbulb, geo.LIGHTBULB_ON_RGBA),
                              ('led', led, geo.LED_ON_RGBA)):
        colour = rgba(drawn[(name, 0)])
        if on:
            assert colour == pytest.approx(on_rgba)
        else:
            assert sum(colour[:3]) < 0.5 * sum(on_rgba[:3]) and colour[3] == 1.0


def test_blocks_have_their_colours_sizes_and_poses(state):
    """The red, blue and pink blocks are boxes of their size at their pose."""
    drawn = by_key(markers.scene_markers(state, STAMP))
    for index, (size, colour) in enumerate(zip(geo.BLOCK_SIZES, geo.BLOCK_RGBA)):
        block = drawn[('blocks', index)]
        pose = state[SCENE:][layout.block_slice(index)]
        assert block.type == Marker.CUBE and rgba(block) == pytest.approx(colour)
        assert (block.scale.x, block.scale.y, block.scale.z) == pytest.approx(size)
        np.testing.assert_allclose(position(block), pose[:3])
        quaternion = block.pose.orientation
        np.testing.assert_allclose(
            np.abs(np.dot([quaternion.w, quaternion.x, quaternion.y, quaternion.z],
                          euler2quat(*pose[3:], 'sxyz'))), 1.0, atol=1e-9)


@pytest.mark.parametrize('index, namespace, direction', [
    (layout.SLIDER, 'sliding_door', (-1, 0, 0)),   # slides left along -x
    (layout.DRAWER, 'drawer', (0, -1, 0)),         # pulled out along -y
    (layout.BUTTON, 'button', (0, 0, -1)),         # pressed down
    (layout.SWITCH, 'switch', (0, 0.5, np.sqrt(3) / 2)),  # pushed up the leaning face
])
def test_moving_parts_follow_their_joints(state, index, namespace, direction):
    """Changing one joint moves only its part's markers, along its axis, by the joint's change."""
    moved = state.copy()
    moved[SCENE + index] += 0.01
    before = by_key(markers.scene_markers(state, STAMP))
    after = by_key(markers.scene_markers(moved, STAMP))
    for key, marker in before.items():
        shift = position(after[key]) - position(marker)
        expected = 0.01 * np.asarray(direction) if key[0] == namespace else np.zeros(3)
        np.testing.assert_allclose(shift, expected, atol=1e-9, err_msg=str(key))


def test_goal_markers_are_transparent_copies_with_a_ghost_tcp(state):
    """The goal draws every moving part and the TCP, transparent, in 'goal/' namespaces."""
    goal = state.copy()
    goal[SCENE + layout.LIGHTBULB] = 1.0
    array = markers.goal_markers(goal, STAMP)
    expected = {f'goal/{name}': count for name, count in SCENE_COUNTS.items() if name != 'table'}
    assert Counter(marker.ns for marker in array.markers) == expected
    assert all(marker.color.a == markers.GOAL_ALPHA < 1.0 for marker in array.markers)
    drawn = by_key(array)
    assert (drawn[('goal/lightbulb', 0)].color.r, drawn[('goal/lightbulb', 0)].color.g) == \
        pytest.approx(geo.LIGHTBULB_ON_RGBA[:2])
    sphere = drawn[('goal/tcp', 0)]
    assert sphere.type == Marker.SPHERE
    np.testing.assert_allclose(position(sphere), goal[layout.TCP_POS])
    rotation = euler2mat(*goal[layout.TCP_ORN], 'sxyz')
    for axis in range(3):
        arrow = drawn[('goal/tcp', axis + 1)]
        start, tip = (np.array([point.x, point.y, point.z]) for point in arrow.points)
        np.testing.assert_allclose(start, goal[layout.TCP_POS])
        np.testing.assert_allclose((tip - start) / markers.AXIS_LENGTH_M, rotation[:, axis],
                                   atol=1e-12)
    scene_keys = set(by_key(markers.scene_markers(state, STAMP)))
    assert not scene_keys & set(drawn), 'goal markers would replace scene markers'


def test_no_goal_deletes_exactly_the_goal_markers(state):
    """goal_markers(None) deletes the same (namespace, id) pairs a goal draws."""
    drawn = markers.goal_markers(state, STAMP, 'map')
    deleted = markers.goal_markers(None, STAMP, 'map')
    assert set(by_key(deleted)) == set(by_key(drawn))
    assert {marker.action for marker in deleted.markers} == {Marker.DELETE}


def test_subgoal_ghost_is_fainter_and_apart_from_the_goal(state):
    """The subgoal draws the goal's parts under 'subgoal/' namespaces, fainter; None deletes."""
    ghost = markers.subgoal_markers(state, STAMP)
    goal = markers.goal_markers(state, STAMP)
    assert sorted(key[0].replace('subgoal/', 'goal/') for key in by_key(ghost)) == \
        sorted(key[0] for key in by_key(goal))
    assert all(m.color.a == markers.SUBGOAL_ALPHA < markers.GOAL_ALPHA for m in ghost.markers)
    deleted = markers.subgoal_markers(None, STAMP)
    assert set(by_key(deleted)) == set(by_key(ghost))
    assert {marker.action for marker in deleted.markers} == {Marker.DELETE}


def test_ids_do_not_depend_on_the_state(state):
    """Two different states give the same (namespace, id) list, so updates replace markers."""
    other = np.zeros(layout.OBS_DIM)
    keys = [[(marker.ns, marker.id) for marker in markers.scene_markers(drawn, STAMP).markers]
            for drawn in (state, other)]
    assert keys[0] == keys[1]


@pytest.mark.parametrize('bad, message', [
    (np.zeros(38), '39 values'),                            # too short
    (np.full(layout.OBS_DIM, np.nan), 'non-finite'),       # NaN everywhere
])
def test_malformed_states_raise(bad, message):
    """A malformed state or goal raises ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        markers.scene_markers(bad, STAMP)
    with pytest.raises(ValueError, match=message):
        markers.goal_markers(bad, STAMP)
