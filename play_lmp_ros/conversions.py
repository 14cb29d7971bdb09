"""
Message <-> numpy conversions for the play_lmp_interfaces types, validated.

The generated message classes accept (and even serialize) arrays of the wrong length, so every
function here checks sizes and finiteness and raises ValueError naming the problem; a node turns
that into a log line and a safe state.
"""

from typing import Optional, Tuple

from builtin_interfaces.msg import Time
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation

from play_lmp_ros.core import layout

# User-given strings are echoed into logs and /diagnostics up to this many characters.
MAX_ECHO_CHARS = 80
# An error text about a client's input (it names the bad values and their ranges) is kept up to
# this many characters in logs, /diagnostics and service responses.
MAX_REASON_CHARS = 400


def observation_to_array(msg: Observation) -> np.ndarray:
    """
    Return the 39-D observation carried by an Observation message.

    :param msg: the message.
    :return: (39,) float64: robot_obs (15) then scene_obs (24).
    :raises ValueError: on a wrong length or a non-finite value.
    """
    robot_obs = layout.check_vector(msg.robot_obs, layout.ROBOT_OBS_DIM, 'Observation.robot_obs')
    scene_obs = layout.check_vector(msg.scene_obs, layout.SCENE_OBS_DIM, 'Observation.scene_obs')
    return np.concatenate([robot_obs, scene_obs])


def array_to_observation(obs: np.ndarray, stamp: Time, frame_id: str = 'world') -> Observation:
    """
    Build an Observation message from a 39-D observation.

    :param obs: (39,) observation.
    :param stamp: header stamp.
    :param frame_id: header frame.
    :return: the message.
    :raises ValueError: on a wrong length or a non-finite value.
    """
    obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
    msg = Observation()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.robot_obs = obs[:layout.ROBOT_OBS_DIM]
    msg.scene_obs = obs[layout.ROBOT_OBS_DIM:]
    return msg


def action_to_array(msg: EndEffectorAction) -> Tuple[np.ndarray, str]:
    """
    Return the 7-D action of an EndEffectorAction and its type, validated for that type.

    :param msg: the message.
    :return: (7,) float64 action and 'relative' or 'absolute'.
    :raises ValueError: on an unknown type, wrong lengths, non-finite values, a relative action
        outside [-1, 1] or a gripper value other than -1 / +1.
    """
    if msg.type == EndEffectorAction.RELATIVE:
        action_type = 'relative'
    elif msg.type == EndEffectorAction.ABSOLUTE:
        action_type = 'absolute'
    else:
        raise ValueError(
            f'EndEffectorAction.type must be RELATIVE (0) or ABSOLUTE (1), got {msg.type}')
    position = layout.check_vector(msg.position, 3, 'EndEffectorAction.position')
    orientation = layout.check_vector(msg.orientation, 3, 'EndEffectorAction.orientation')
    action = np.concatenate([position, orientation, [msg.gripper]])
    if action_type == 'relative':
        return layout.check_relative_action(action), action_type
    return layout.check_absolute_action(action), action_type


def array_to_action(action: np.ndarray, action_type: str, stamp: Time,
                    frame_id: str = 'world') -> EndEffectorAction:
    """
    Build an EndEffectorAction from a 7-D action.

    :param action: (7,) relative or absolute action.
    :param action_type: 'relative' or 'absolute'.
    :param stamp: header stamp.
    :param frame_id: header frame.
    :return: the message.
    :raises ValueError: on an unknown type or an action invalid for its type.
    """
    if action_type == 'relative':
        action = layout.check_relative_action(action)
        kind = EndEffectorAction.RELATIVE
    elif action_type == 'absolute':
        action = layout.check_absolute_action(action)
        kind = EndEffectorAction.ABSOLUTE
    else:
        raise ValueError(f"action type must be 'relative' or 'absolute', got {action_type!r}")
    msg = EndEffectorAction()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.type = kind
    msg.position = action[:3]
    msg.orientation = action[3:6]
    msg.gripper = float(action[6])
    return msg


def goal_state_to_array(msg: GoalState) -> np.ndarray:
    """
    Return the 39-D goal state of a GoalState message.

    :param msg: the message.
    :return: (39,) float64.
    :raises ValueError: on a wrong length or a non-finite value.
    """
    return layout.check_vector(msg.state, layout.OBS_DIM, 'GoalState.state')


def stamp_ns(stamp: Time) -> int:
    """
    Return a builtin_interfaces Time (a header stamp, a deadline, a clock) in nanoseconds.

    :param stamp: the time.
    :return: sec * 1e9 + nanosec, as an int.
    """
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def truncated(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """
    Shorten a user-given string for a log line or a diagnostics value.

    :param text: any string (a task name, a goal id, a node name).
    :param limit: the most characters kept.
    :return: text, or its first limit characters and a note of how many were cut.
    """
    if len(text) <= limit:
        return text
    return f'{text[:limit]}... ({len(text) - limit} more characters)'


def array_to_goal_state(state: np.ndarray, stamp: Time, goal_id: str = '', task: str = '',
                        active: bool = True, frame_id: str = 'world',
                        deadline: Optional[Time] = None) -> GoalState:
    """
    Build a GoalState message.

    :param state: (39,) goal state.
    :param stamp: header stamp.
    :param goal_id: identifier of the ReachGoal goal, or empty.
    :param task: task name, or empty for an explicit state goal.
    :param active: False clears the goal.
    :param frame_id: header frame.
    :param deadline: when the goal ends, on the publisher's clock; None (zero): no deadline.
    :return: the message.
    :raises ValueError: on a wrong length or a non-finite value.
    """
    msg = GoalState()
    if deadline is not None:
        msg.deadline = deadline
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.goal_id = goal_id
    msg.task = task
    msg.state = layout.check_vector(state, layout.OBS_DIM, 'goal state')
    msg.active = active
    return msg
