"""Message conversions: exact round trips and clear errors on malformed messages."""

import re

from builtin_interfaces.msg import Time
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_ros import conversions
import pytest

STAMP = Time(sec=12, nanosec=345)


def test_observation_round_trip_is_exact():
    """A 39-D observation survives array -> message -> array unchanged, header kept."""
    obs = np.random.default_rng(0).normal(size=39)
    msg = conversions.array_to_observation(obs, STAMP)
    assert (msg.header.stamp.sec, msg.header.frame_id) == (12, 'world')
    np.testing.assert_array_equal(conversions.observation_to_array(msg), obs)


@pytest.mark.parametrize('action_type, action', [
    ('relative', [0.5, -1.0, 1.0, 0.0, 0.25, -0.75, -1.0]),   # bounds included
    ('absolute', [0.3, -0.2, 0.6, 3.1, -0.02, 1.5, 1.0]),     # a TCP pose
])
def test_action_round_trip_is_exact(action_type, action):
    """Relative and absolute actions survive the round trip with their type."""
    msg = conversions.array_to_action(np.array(action), action_type, STAMP)
    back, back_type = conversions.action_to_array(msg)
    assert back_type == action_type
    np.testing.assert_array_equal(back, action)


def test_goal_state_round_trip_is_exact():
    """A goal state keeps its numbers, task, id and active flag."""
    state = np.linspace(-2.0, 2.0, 39)
    msg = conversions.array_to_goal_state(state, STAMP, goal_id='ab12', task='open_drawer')
    assert (msg.goal_id, msg.task, msg.active) == ('ab12', 'open_drawer', True)
    np.testing.assert_array_equal(conversions.goal_state_to_array(msg), state)


def _relative_action_msg(position=(0.0, 0.0, 0.0), gripper=1.0, kind=None):
    """Build a relative EndEffectorAction message with the given fields."""
    msg = EndEffectorAction()
    msg.type = EndEffectorAction.RELATIVE if kind is None else kind
    msg.position = list(position)
    msg.gripper = gripper
    return msg


@pytest.mark.parametrize('msg, message', [
    (_relative_action_msg(position=(np.nan, 0, 0)), 'non-finite'),        # NaN motion
    (_relative_action_msg(position=(0, 0, 2.0)), 'must lie in [-1, 1]'),   # out of range
    (_relative_action_msg(position=(0, 0)), 'must have 3 values'),         # short array
    (_relative_action_msg(gripper=0.0), 'exactly -1 (close) or +1'),       # soft gripper
    (_relative_action_msg(kind=7), 'RELATIVE (0) or ABSOLUTE (1)'),        # unknown type
])
def test_bad_actions_raise_named_errors(msg, message):
    """Malformed action messages raise ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=re.escape(message)):
        conversions.action_to_array(msg)


def test_wrong_sized_observation_and_goal_raise():
    """Arrays the generated classes let through are refused here."""
    observation = Observation()
    observation.robot_obs = [0.0] * 14
    with pytest.raises(ValueError, match='robot_obs must have 15 values, got 14'):
        conversions.observation_to_array(observation)
    goal = GoalState()
    goal.state = [0.0] * 38 + [np.inf]
    with pytest.raises(ValueError, match='non-finite'):
        conversions.goal_state_to_array(goal)
    with pytest.raises(ValueError, match='goal state must have 39 values'):
        conversions.array_to_goal_state(np.zeros(40), STAMP)


@pytest.mark.parametrize('text, limit, expected', [
    ('open_drawer', 80, 'open_drawer'),                         # short: unchanged
    ('x' * 80, 80, 'x' * 80),                                   # exactly the limit: unchanged
    ('x' * 1000000, 80, 'x' * 80 + '... (999920 more characters)'),  # a million characters
    ('abcdef', 3, 'abc... (3 more characters)'),                # a custom limit
])
def test_truncated_cuts_echoed_strings_and_says_how_much(text, limit, expected):
    """Strings echoed into logs and /diagnostics are cut to the limit, with a note."""
    assert conversions.truncated(text, limit) == expected
