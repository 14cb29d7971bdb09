"""
The waypoint sequences that the skills are made of, and the distances they move.

Grasping a block from above, carrying a held block and setting it down, pushing with closed
fingers, letting go and backing off, and the first rise to a safe height.  The feasibility rules
check the same distances, so they are defined here, once.
"""

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.skills.controller import CONTACT_FRACTION, Goal, Waypoint
from play_lmp_ros.core.skills.geometry import (
    BLOCK_GRASP_DZ, block_pose, DOWN_ROLL_PITCH, FINGER_HALF_THICKNESS, footprint_extent,
    grasp_yaw, held_block, NEUTRAL_YAW, tcp_position)
from play_lmp_ros.core.skills.landmarks import HAND_REACH_Y, TRANSIT_Z

GRIPPER_SETTLE_STEPS = 6
HOVER = 0.07
RELEASE_DROP = 0.008
# The arm cannot reach far at travel height; precision comes from the lower waypoints.
TRANSIT_TOLERANCE = 0.03
# A push starts this far behind the block and backs off as far after it.
PUSH_GAP = 0.03
# push_* moves the block this far, past CALVIN's 0.1 m.
PUSH_DISTANCE = 0.14
# rotate_* turns the hand by this much, past CALVIN's 60 degrees.
ROTATE_ANGLE = 1.45


def fixed(position: Sequence[float], yaw: Optional[float] = NEUTRAL_YAW) -> Goal:
    """
    Return a goal position that does not depend on the state.

    :param position: (3,) m.
    :param yaw: rad; None keeps the TCP yaw of the first call.
    :return: the goal function.
    """
    target = np.asarray(position, dtype=np.float64)
    memory: Dict[str, float] = {}

    def goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        if yaw is not None:
            return target, yaw
        return target, memory.setdefault('yaw', float(obs[layout.TCP_ORN][2]))
    return goal


def clear_height(obs: np.ndarray) -> Waypoint:
    """
    Return the first waypoint of every skill: rise straight up to a safe height if lower.

    :param obs: (39,) observation at skill start.
    :return: the waypoint.
    """
    start = tcp_position(obs)
    goal = np.array([start[0], start[1], max(start[2], TRANSIT_Z)])
    gripper = layout.GRIPPER_CLOSE if held_block(obs) is not None else layout.GRIPPER_OPEN
    return Waypoint('clear', lambda obs: (goal, float(obs[layout.TCP_ORN][2])), gripper,
                    tolerance=0.02, timeout=30, yaw_tolerance=np.pi)


def retreat(rise: float, back: float = 0.0) -> List[Waypoint]:
    """
    Return the waypoints that open the gripper and move away from the object.

    The retreat is relative to the TCP where the release phase starts.

    :param rise: how far to move up (m).
    :param back: how far to move towards the robot, along -y (m).
    :return: waypoints.
    """
    anchor: Dict[str, np.ndarray] = {}

    def release_goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        anchor.setdefault('tcp', tcp_position(obs).copy())
        anchor.setdefault('yaw', float(obs[layout.TCP_ORN][2]))
        return anchor['tcp'], anchor['yaw']

    def away_goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        release_goal(obs)
        return anchor['tcp'] + np.array([0.0, -back, rise]), anchor['yaw']

    return [Waypoint('release', release_goal, layout.GRIPPER_OPEN, tolerance=0.02,
                     hold=GRIPPER_SETTLE_STEPS, timeout=GRIPPER_SETTLE_STEPS + 4),
            Waypoint('retreat', away_goal, layout.GRIPPER_OPEN, tolerance=TRANSIT_TOLERANCE,
                     timeout=40)]


def grasp(block: int, preferred_yaw: float = NEUTRAL_YAW, any_side: bool = False,
          roll_pitch: Tuple[float, float] = DOWN_ROLL_PITCH) -> List[Waypoint]:
    """
    Return the waypoints that grasp a resting block from above (gripper closed at the end).

    The grasp yaw is fixed from the first observation, so that it does not jump between the
    candidates while the block turns a little under the fingers.

    :param block: 0 red, 1 blue, 2 pink.
    :param preferred_yaw: TCP yaw to stay close to among the grasp candidates (rad).
    :param any_side: also grip the red block across its long side (see grasp_yaw).
    :param roll_pitch: the hand's roll and pitch on the way down (geometry.grasp_roll_pitch).
    :return: waypoints.
    """
    memory: Dict[str, float] = {}

    def yaw(obs: np.ndarray) -> float:
        if 'yaw' not in memory:
            memory['yaw'] = grasp_yaw(obs, block, preferred_yaw, any_side)
        return memory['yaw']

    def at(height: float) -> Goal:
        def goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
            return block_pose(obs, block)[:3] + (0.0, 0.0, height), yaw(obs)
        return goal

    def in_front(transit: bool) -> Goal:
        # For a block deep in the shelf the fingers come down in front of the lintel.
        def goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
            x, y, z = block_pose(obs, block)[:3]
            height = max(z + HOVER, TRANSIT_Z) if transit else z + HOVER
            return np.array([x, min(y, HAND_REACH_Y), height]), yaw(obs)
        return goal

    return [
        Waypoint('above block', in_front(transit=True),
                 layout.GRIPPER_OPEN, tolerance=TRANSIT_TOLERANCE, roll_pitch=roll_pitch),
        Waypoint('in front', in_front(transit=False), layout.GRIPPER_OPEN,
                 tolerance=0.01, roll_pitch=roll_pitch),
        Waypoint('align', at(HOVER), layout.GRIPPER_OPEN, tolerance=0.008,
                 roll_pitch=roll_pitch),
        Waypoint('descend', at(BLOCK_GRASP_DZ), layout.GRIPPER_OPEN, tolerance=0.006,
                 fraction=CONTACT_FRACTION, roll_pitch=roll_pitch),
        Waypoint('grasp', at(BLOCK_GRASP_DZ), layout.GRIPPER_CLOSE, tolerance=0.03,
                 hold=GRIPPER_SETTLE_STEPS, roll_pitch=roll_pitch),
    ]


def held_or_grasp(obs: np.ndarray, block: int) -> List[Waypoint]:
    """
    Return the grasp waypoints unless the block is already held.

    :param obs: (39,) observation at skill start.
    :param block: 0 red, 1 blue, 2 pink.
    :return: waypoints (empty when held).
    """
    return [] if held_block(obs) == block else grasp(block)


def turn_grasp_yaw(sign: float) -> float:
    """
    Return the grasp yaw preference that leaves the turned hand closest to its neutral yaw.

    :param sign: +1 for a turn to the left (counter-clockwise from above), -1 to the right.
    :return: TCP yaw (rad).
    """
    return NEUTRAL_YAW - sign * ROTATE_ANGLE / 2.0


def carry_to(goal_xy: Callable[[np.ndarray], np.ndarray], release_z: float,
             carry_z: float = TRANSIT_Z, yaw: Optional[float] = None) -> List[Waypoint]:
    """
    Return the waypoints that carry a held block over a spot and lower it there, still held.

    :param goal_xy: obs -> (2,) TCP xy over the spot (m).
    :param release_z: TCP height at which the fingers open (m).
    :param carry_z: travel height (m).
    :param yaw: TCP yaw during the move, the current one when None.
    :return: waypoints.
    """
    memory: Dict[str, float] = {}

    def keep_yaw(obs: np.ndarray) -> float:
        if 'yaw' not in memory:
            memory['yaw'] = float(obs[layout.TCP_ORN][2]) if yaw is None else yaw
        return memory['yaw']

    def up(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        position = tcp_position(obs).copy()
        memory.setdefault('x', position[0])
        memory.setdefault('y', position[1])
        return np.array([memory['x'], memory['y'], max(carry_z, position[2])]), keep_yaw(obs)

    return [
        Waypoint('raise', up, layout.GRIPPER_CLOSE, tolerance=TRANSIT_TOLERANCE),
        Waypoint('carry', lambda obs: (np.array([*goal_xy(obs), carry_z]), keep_yaw(obs)),
                 layout.GRIPPER_CLOSE, tolerance=TRANSIT_TOLERANCE, timeout=80),
        Waypoint('approach', lambda obs: (np.array([*goal_xy(obs), release_z + HOVER]),
                                          keep_yaw(obs)),
                 layout.GRIPPER_CLOSE, tolerance=0.01),
        Waypoint('lower', lambda obs: (np.array([*goal_xy(obs), release_z]), keep_yaw(obs)),
                 layout.GRIPPER_CLOSE, tolerance=0.008, fraction=CONTACT_FRACTION, timeout=60),
    ]


def push(obs: np.ndarray, block: int, direction: np.ndarray,
         distance: float) -> List[Waypoint]:
    """
    Return the waypoints of a push: closed fingers behind the block, slide it, back off.

    :param obs: (39,) observation at skill start.
    :param block: 0 red, 1 blue, 2 pink.
    :param direction: (2,) unit push direction in the xy plane, along x or y.
    :param distance: how far the TCP moves past its first contact point (m).
    :return: waypoints.
    """
    pose = block_pose(obs, block)
    extent = float(footprint_extent(block, pose[5]) @ np.abs(direction))
    height = pose[2] + BLOCK_GRASP_DZ
    behind = pose[:2] - direction * (extent + FINGER_HALF_THICKNESS + PUSH_GAP)
    end = pose[:2] - direction * (extent + FINGER_HALF_THICKNESS) + direction * distance
    back = end - direction * PUSH_GAP
    return [
        Waypoint('above start', fixed((*behind, TRANSIT_Z)), layout.GRIPPER_CLOSE,
                 tolerance=TRANSIT_TOLERANCE),
        Waypoint('lower', fixed((*behind, height + HOVER)), layout.GRIPPER_CLOSE,
                 tolerance=0.01),
        Waypoint('descend', fixed((*behind, height)), layout.GRIPPER_CLOSE, tolerance=0.006,
                 fraction=CONTACT_FRACTION),
        Waypoint('push', fixed((*end, height)), layout.GRIPPER_CLOSE, tolerance=0.008,
                 fraction=0.5, timeout=60),
        Waypoint('back off', fixed((*back, height)), layout.GRIPPER_CLOSE, tolerance=0.008),
        Waypoint('retreat', fixed((*back, TRANSIT_Z)), layout.GRIPPER_CLOSE,
                 tolerance=TRANSIT_TOLERANCE),
    ]
