"""The observation/action contract: slices, names, validation and CALVIN's relative actions."""

import re

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import scene_distance
import pytest


def test_sizes_and_slices_cover_the_observation():
    """Robot and scene parts are 15 + 24 = 39 and every dimension is named once."""
    assert (layout.ROBOT_OBS_DIM, layout.SCENE_OBS_DIM, layout.OBS_DIM) == (15, 24, 39)
    assert len(layout.OBS_NAMES) == layout.OBS_DIM == len(set(layout.OBS_NAMES))
    assert layout.SUBSTEPS == 8
    obs = np.arange(39.0)
    robot, scene = layout.split_observation(obs)
    assert robot[layout.TCP_POS].tolist() == [0, 1, 2]
    assert robot[layout.TCP_ORN].tolist() == [3, 4, 5]
    assert robot[layout.GRIPPER_WIDTH] == 6 and robot[layout.GRIPPER_ACTION] == 14
    assert robot[layout.ARM_JOINTS].tolist() == list(range(7, 14))
    assert scene[layout.SLIDER] == 15 and scene[layout.LED] == 20
    assert scene[layout.block_slice(2)].tolist() == list(range(33, 39))


def test_angle_dims_are_the_euler_entries():
    """The wrap-aware dimensions are the TCP and block eulers, by name."""
    names = [layout.OBS_NAMES[i] for i in layout.ANGLE_DIMS]
    assert names[:3] == ['tcp_roll', 'tcp_pitch', 'tcp_yaw']
    assert names[3:6] == ['red_block_roll', 'red_block_pitch', 'red_block_yaw']
    assert len(names) == 12 and all(n.endswith(('roll', 'pitch', 'yaw')) for n in names)
    scene_names = [layout.OBS_NAMES[layout.ROBOT_OBS_DIM + i] for i in layout.SCENE_ANGLE_DIMS]
    assert scene_names == names[3:]


def test_scene_distance_wraps_block_angles_not_positions():
    """A 0.02 rad yaw step across +-pi is 0.02; a 0.5 m drawer difference is not wrapped."""
    first, second = np.zeros(layout.OBS_DIM), np.zeros(layout.OBS_DIM)
    yaw = layout.OBS_NAMES.index('blue_block_yaw')
    first[yaw], second[yaw] = np.pi - 0.01, -np.pi + 0.01
    assert scene_distance(first, second) == pytest.approx(0.02, abs=1e-9)
    second[yaw] = first[yaw]
    second[layout.ROBOT_OBS_DIM + layout.BLOCK_OFFSET] = 6.0   # a block 6 m away stays 6 m
    assert scene_distance(first, second) == pytest.approx(6.0)


@pytest.mark.parametrize('action, message', [
    ([0, 0, 0, 0, 0, 0, 1, 0], 'must have 7 values'),             # one value too many
    ([0, 0, 0, 0, 0, 0], 'must have 7 values'),                    # one value short
    ([np.nan, 0, 0, 0, 0, 0, 1], 'non-finite'),                     # NaN motion
    ([0, 0, np.inf, 0, 0, 0, 1], 'non-finite'),                     # infinite motion
    ([0, 0, 0, 0, 0, 0, 0.5], 'exactly -1 (close) or +1 (open)'),   # soft gripper value
    ([1.5, 0, 0, 0, 0, 0, -1], "['x'] are [1.5]"),                  # motion outside [-1, 1]
    (['a'] * 7, 'must be 7 numbers'),                               # not numbers
])
def test_bad_relative_actions_are_named(action, message):
    """Each malformed relative action raises a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        layout.check_relative_action(action)


def test_absolute_actions_allow_any_finite_pose():
    """Absolute actions are poses: no [-1, 1] bound, but the gripper rule holds."""
    np.testing.assert_array_equal(
        layout.check_absolute_action([0.3, -0.2, 0.6, 3.1, 0.0, 1.5, -1]),
        [0.3, -0.2, 0.6, 3.1, 0.0, 1.5, -1])
    with pytest.raises(ValueError, match='gripper'):
        layout.check_absolute_action([0.3, -0.2, 0.6, 3.1, 0.0, 1.5, 0])


def test_relative_action_follows_calvin_formula_with_wrap():
    """Compute rel = clip(target - observed) / scale, with euler differences wrapped first."""
    robot_obs = np.zeros(15)
    robot_obs[:6] = [0.1, 0.2, 0.5, 3.13, 0.0, -3.13]
    absolute = np.array([0.11, 0.17, 0.5, -3.13, 0.01, 3.13, -1.0])
    relative = layout.absolute_to_relative(absolute, robot_obs)
    # +0.01 m is half the 0.02 m step; -0.03 m clips to -1.
    np.testing.assert_allclose(relative[:3], [0.5, -1.0, 0.0], atol=1e-9)
    # -3.13 - 3.13 wraps to +0.0232 rad, not -6.26; 3.13 - (-3.13) wraps to -0.0232 rad.
    wrapped = 2 * np.pi - 6.26
    np.testing.assert_allclose(
        relative[3:6], [wrapped / 0.05, 0.2, -wrapped / 0.05], atol=1e-9)
    assert relative[6] == -1.0


def test_relative_then_absolute_is_consistent():
    """Adding a relative action to a target pose and reading it back gives the same action."""
    robot_obs = np.zeros(15)
    robot_obs[:6] = [0.0, -0.2, 0.55, np.pi - 0.01, 0.02, 1.5]
    relative = np.array([0.5, -0.25, 1.0, 0.8, -0.4, 0.1, 1.0])
    absolute = layout.relative_to_absolute(relative, robot_obs[:6])
    assert -np.pi <= absolute[3] < np.pi
    np.testing.assert_allclose(layout.absolute_to_relative(absolute, robot_obs), relative,
                               atol=1e-9)


def test_layout_hash_is_stable_and_short():
    """The hash stamped into models depends only on the layout."""
    assert layout.layout_hash() == layout.layout_hash()
    assert len(layout.layout_hash()) == 16
