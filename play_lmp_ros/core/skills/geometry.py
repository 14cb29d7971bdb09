"""
What the skills read from a 39-D observation: poses, what a block rests on, where the hand fits.

The hand is the Panda's, pointing down; at TCP yaw psi its fingers spread along the world
direction psi - pi/2.  Footprints are rectangles seen from above, and the hand is clear where
its footprint meets none of the scene's low parts (door, handle, switch knob, cabinet).
"""

from typing import List, Mapping, Optional, Sequence

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import panda, scene_geometry as geo
from play_lmp_ros.core.skills import landmarks as marks

# Block index by the colour word and by the body name the oracle uses.
BLOCK_COLORS: Mapping[str, int] = dict(zip(layout.BLOCK_COLORS, range(len(layout.BLOCK_NAMES))))
BLOCK_INDEX: Mapping[str, int] = dict(zip(layout.BLOCK_NAMES, range(len(layout.BLOCK_NAMES))))

# TCP yaw at which the fingers spread along world x.
NEUTRAL_YAW = 1.5708
# Gripper pointing down: roll pi, pitch 0.
DOWN_ROLL_PITCH = (np.pi, 0.0)
# Blocks on the shelf beyond the wrist's reach (landmarks.WRIST_REACH_Y) are gripped with the
# hand leaning this far about its finger axis, the wrist towards the robot, when the fingers lie
# within SHELF_TILT_YAW_SPAN of world x.
SHELF_TILT = np.radians(20.0)
SHELF_TILT_YAW_SPAN = np.radians(15.0)

# The TCP works this far above a block's centre when it grips or pushes it.
BLOCK_GRASP_DZ = 0.005
# A block is held when the closed gripper is about a block wide and the block's centre is near the
# TCP.
HELD_WIDTH = (0.025, 0.07)
HELD_DISTANCE = 0.04
REST_TOLERANCE = 0.012
# Every block is equally tall, so a stacked block's centre is one block height above the lower
# one's.
(STACK_HEIGHT,) = {size[2] for size in geo.BLOCK_SIZES}
UPRIGHT_TOLERANCE = 0.25
# Panda hand footprint seen from above, around the TCP: along the finger axis and across it.
# The palm is PALM_ABOVE_TCP and more above the TCP; below it only the fingers reach out, as far
# as FINGER_SPAN along their axis and panda.FINGER_HALF_WIDTH across it.
HAND_HALF_ALONG_FINGERS = 0.104
HAND_HALF_ACROSS_FINGERS = 0.0316
HAND_MARGIN = 0.008
PALM_ABOVE_TCP = 0.074
PALM_TOP_ABOVE_TCP = 0.166
FINGERTIP_BELOW_TCP = panda.FINGERTIP_DROP
MAX_GRIP_SPAN = 0.07
# Half the open fingers' outer span along the finger axis.
FINGER_SPAN = 0.075
FINGER_HALF_THICKNESS = 0.012
# Half the open fingers' span along the finger axis (outer faces 6.7 cm from the TCP), plus a
# margin.
FINGER_REACH = 0.072
# How far from the robot base (in the xy plane) the TCP works at block height.
REACH_RADIUS = 0.76
# How far along +x the TCP reaches a block on the table from above.
REACH_X_MAX = 0.40


def tcp_position(obs: np.ndarray) -> np.ndarray:
    """
    Return the TCP position.

    :param obs: (39,) observation.
    :return: (3,) m, world.
    """
    return np.asarray(obs[layout.TCP_POS], dtype=np.float64)


def block_pose(obs: np.ndarray, block: int) -> np.ndarray:
    """
    Return a block's pose.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :return: (6,) position (m) and euler xyz (rad).
    """
    return np.asarray(obs[layout.ROBOT_OBS_DIM:][layout.block_slice(block)], dtype=np.float64)


def other_blocks(block: int) -> List[int]:
    """
    Return the indices of the other blocks.

    :param block: 0 red, 1 blue, 2 pink.
    :return: the two other indices.
    """
    return [other for other in range(len(layout.BLOCK_NAMES)) if other != block]


def footprint_extent(block: int, yaw: float) -> np.ndarray:
    """
    Return the half extents along world x and y of an upright block's footprint.

    :param block: 0 red, 1 blue, 2 pink.
    :param yaw: the block's yaw (rad).
    :return: (2,) m.
    """
    half_x, half_y = geo.block_half_extents(block)[:2]
    cos, sin = abs(np.cos(yaw)), abs(np.sin(yaw))
    return np.array([half_x * cos + half_y * sin, half_x * sin + half_y * cos])


def is_upright(obs: np.ndarray, block: int) -> bool:
    """
    Return whether a block stands on one of its large faces (roll 0 or pi, pitch 0).

    A box turned by pi about x occupies the same space, so both rolls count as upright.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :return: True when the block is upright.
    """
    roll, pitch = block_pose(obs, block)[3:5]
    return bool(min(abs(roll), np.pi - abs(roll)) < UPRIGHT_TOLERANCE
                and abs(pitch) < UPRIGHT_TOLERANCE)


def held_block(obs: np.ndarray) -> Optional[int]:
    """
    Return the block the closed gripper holds, if any.

    :param obs: (39,) observation.
    :return: block index or None.
    """
    if obs[layout.GRIPPER_ACTION] != layout.GRIPPER_CLOSE:
        return None
    if not HELD_WIDTH[0] < obs[layout.GRIPPER_WIDTH] < HELD_WIDTH[1]:
        return None
    for block in range(len(layout.BLOCK_NAMES)):
        if np.linalg.norm(block_pose(obs, block)[:3] - tcp_position(obs)) < HELD_DISTANCE:
            return block
    return None


def block_support(obs: np.ndarray, block: int) -> str:
    """
    Classify what an upright block rests on, from its pose alone.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :return: 'held', 'table', 'slider', 'drawer', 'stacked' (on another block) or 'other'
        (tipped over, in the air, or anywhere else).
    """
    if held_block(obs) == block:
        return 'held'
    if not is_upright(obs, block):
        return 'other'
    x, y, z = block_pose(obs, block)[:3]
    if abs(z - geo.BLOCK_REST_Z) < REST_TOLERANCE:
        if y < 0.0 and marks.TABLE_X[0] < x < marks.TABLE_X[1]:
            return 'table'
        if (marks.PLANK_X[0] < x < marks.PLANK_X[1]
                and marks.PLANK_Y[0] < y < marks.PLANK_Y[1]):
            return 'slider'
        return 'other'
    if abs(z - marks.DRAWER_FLOOR_Z - geo.block_half_extents(block)[2]) < REST_TOLERANCE:
        return 'drawer'
    stacked_z = geo.BLOCK_REST_Z + STACK_HEIGHT
    if abs(z - stacked_z) < REST_TOLERANCE and block_below(obs, block) is not None:
        return 'stacked'
    return 'other'


def block_below(obs: np.ndarray, block: int) -> Optional[int]:
    """
    Return the block that this one rests on, judged from the poses.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :return: the lower block's index, or None.
    """
    position = block_pose(obs, block)[:3]
    for other in range(len(layout.BLOCK_NAMES)):
        below = block_pose(obs, other)[:3]
        if (other != block and abs(position[2] - below[2] - STACK_HEIGHT) < REST_TOLERANCE
                and np.linalg.norm(position[:2] - below[:2]) < 0.04):
            return other
    return None


def isolated(obs: np.ndarray, block: int, distance: float) -> bool:
    """
    Return whether every other block's centre is at least a distance away.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param distance: m, in the xy plane.
    :return: True when isolated.
    """
    centre = block_pose(obs, block)[:2]
    return all(np.linalg.norm(block_pose(obs, other)[:2] - centre) >= distance
               for other in other_blocks(block))


def grasp_yaw(obs: np.ndarray, block: int, preferred: float = NEUTRAL_YAW,
              any_side: bool = False) -> float:
    """
    Return the TCP yaw that closes the fingers across the block's short side.

    At TCP yaw psi the fingers close along the world direction psi - pi/2, so the block's local y
    axis (its short side for red and pink) is gripped at psi = block yaw (mod pi); the blue cube
    may be gripped every pi/2, and so may the red block when any_side allows its 5.6 cm side.
    The candidate closest to preferred wins.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param preferred: the yaw to stay close to (rad).
    :param any_side: also grip across the long side where it fits between the fingers.
    :return: TCP yaw (rad).
    """
    half_x, half_y = geo.block_half_extents(block)[:2]
    square = np.isclose(half_x, half_y) or (any_side and 2.0 * half_x < MAX_GRIP_SPAN)
    period = np.pi / 2.0 if square else np.pi
    offset = (block_pose(obs, block)[5] - preferred) % period
    if offset > period / 2.0:
        offset -= period
    return float(preferred + offset)


def rectangles_overlap(first: np.ndarray, second: np.ndarray) -> bool:
    """
    Tell whether two convex quadrilaterals in the plane overlap (separating axes).

    :param first: (4, 2) corners in order around the rectangle (m).
    :param second: (4, 2) corners in order around the rectangle (m).
    :return: True if they overlap.
    """
    for corners in (first, second):
        for edge in (corners[1] - corners[0], corners[2] - corners[1]):
            axis = np.array([-edge[1], edge[0]])
            a, b = first @ axis, second @ axis
            if a.max() < b.min() or b.max() < a.min():
                return False
    return True


def _box(x_range: Sequence[float], y_range: Sequence[float]) -> np.ndarray:
    """
    Return the corners of an axis-aligned rectangle.

    :param x_range: (low, high) m.
    :param y_range: (low, high) m.
    :return: (4, 2) corners.
    """
    (x0, x1), (y0, y1) = x_range, y_range
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def hand_footprint(x: float, y: float, yaw: float, margin: float = HAND_MARGIN,
                   half_along: float = HAND_HALF_ALONG_FINGERS,
                   half_across: float = HAND_HALF_ACROSS_FINGERS) -> np.ndarray:
    """
    Return the Panda hand's footprint seen from above for a TCP pose pointing down.

    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad); the fingers spread along yaw - pi/2.
    :param margin: growth on every side (m).
    :param half_along: half its length along the finger axis (m): the palm's by default.
    :param half_across: half its width across the finger axis (m).
    :return: (4, 2) corners.
    """
    finger = yaw - np.pi / 2.0
    along = np.array([np.cos(finger), np.sin(finger)]) * (half_along + margin)
    across = np.array([-np.sin(finger), np.cos(finger)]) * (half_across + margin)
    centre = np.array([x, y])
    return np.array([centre + along + across, centre - along + across,
                     centre - along - across, centre + along - across])


def low_obstacles(obs: np.ndarray, palm: bool = True) -> List[np.ndarray]:
    """
    Return the footprints of the fixed and articulated parts the hand meets at block height.

    At block height the hand (TCP - 0.015 to + 0.14 m) reaches the foot of the leaning sliding
    door and its handle's lower end, the switch's handle, the shelf's back wall and the
    cabinet's columns, whose leaning faces stand further back at the palm's height.

    :param obs: (39,) observation.
    :param palm: the palm's obstacles (True) or the fingers' (False).
    :return: list of (4, 2) corner arrays (m).
    """
    slide = obs[layout.ROBOT_OBS_DIM + layout.SLIDER]
    tcp_z = geo.BLOCK_REST_Z + BLOCK_GRASP_DZ
    heights = ((tcp_z + PALM_ABOVE_TCP, tcp_z + PALM_TOP_ABOVE_TCP) if palm
               else (tcp_z - FINGERTIP_BELOW_TCP, tcp_z + PALM_ABOVE_TCP))
    door_x = marks.DOOR_CENTRE_X0 - slide
    handle_x = marks.SLIDER_GRASP0[0] - slide
    handle = marks.SLIDER_HANDLE_HALF_WIDTH
    switch_x, switch = marks.SWITCH_BAR0[0], marks.SWITCH_BAR_HALF_WIDTH
    obstacles = [
        _box((door_x - marks.DOOR_HALF_WIDTH, door_x + marks.DOOR_HALF_WIDTH),
             marks.door_y_band(*heights)),
        _box((handle_x - handle, handle_x + handle), (marks.SLIDER_HANDLE_LOW_Y,
                                                      marks.door_y_band(*heights)[0])),
        _box(*marks.SHELF_BACK_XY),
        _box((switch_x - switch, switch_x + switch), marks.SWITCH_LOW_Y),
    ]
    face_y = marks.cabinet_face_y(heights[0]) if palm else None
    for x_range, (foot_y, back_y) in (marks.CABINET_LEFT_COLUMN_XY,
                                      marks.CABINET_RIGHT_BOX_XY):
        obstacles.append(_box(x_range, (foot_y if face_y is None else face_y, back_y)))
    return obstacles


def _meets_lintel(x: float, y: float, yaw: float, roll_pitch: tuple) -> bool:
    """
    Tell whether the top of a hand working at block height meets the shelf's lintel.

    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad).
    :param roll_pitch: the hand's roll and pitch.
    :return: True if it does.
    """
    top = hand_footprint(*(np.array([x, y]) + _lean(yaw, roll_pitch, PALM_TOP_ABOVE_TCP)), yaw)
    return rectangles_overlap(top, _box(*marks.SHELF_LINTEL_XY))


def grasp_roll_pitch(x: float, y: float, yaw: float) -> tuple:
    """
    Return the hand's roll and pitch for working at block height at a place.

    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad).
    :return: DOWN_ROLL_PITCH, or the lean about the finger axis where the hand's top would meet
        the shelf's lintel.
    """
    along_x = abs(layout.wrap_to_pi(yaw - NEUTRAL_YAW)) <= SHELF_TILT_YAW_SPAN
    if along_x and _meets_lintel(x, y, yaw, DOWN_ROLL_PITCH):
        return (np.pi, -float(SHELF_TILT))
    return DOWN_ROLL_PITCH


def _lean(yaw: float, roll_pitch: tuple, height: float) -> np.ndarray:
    """
    Return how far a point of the hand at some height above the TCP moves when it leans.

    :param yaw: TCP yaw (rad).
    :param roll_pitch: the hand's roll and pitch (grasp_roll_pitch).
    :param height: the point's height above the TCP (m).
    :return: (2,) xy shift (m).
    """
    tilt = -roll_pitch[1]
    return -height * np.sin(tilt) * np.array([np.cos(yaw), np.sin(yaw)])


def hand_clear(obs: np.ndarray, x: float, y: float, yaw: float) -> bool:
    """
    Return whether the hand, lowered to block height at (x, y, yaw), misses the scene's parts.

    :param obs: (39,) observation.
    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad).
    :return: True when it is within reach, short of the shelf's lintel and meets none of
        low_obstacles.
    """
    if np.hypot(x - geo.ROBOT_BASE_POSITION[0], y - geo.ROBOT_BASE_POSITION[1]) > REACH_RADIUS:
        return False
    roll_pitch = grasp_roll_pitch(x, y, yaw)
    if _meets_lintel(x, y, yaw, roll_pitch):
        return False
    palm = hand_footprint(*(np.array([x, y]) + _lean(yaw, roll_pitch, PALM_ABOVE_TCP)), yaw)
    fingers = hand_footprint(x, y, yaw, half_along=FINGER_SPAN,
                             half_across=panda.FINGER_HALF_WIDTH)
    return not (any(rectangles_overlap(palm, obstacle) for obstacle in low_obstacles(obs))
                or any(rectangles_overlap(fingers, obstacle)
                       for obstacle in low_obstacles(obs, palm=False)))


def drawer_hand_clear(obs: np.ndarray, x: float, y: float, yaw: float) -> bool:
    """
    Return whether the hand, lowered into the open drawer at (x, y, yaw), fits.

    The hand must stay between the drawer's front panel and the table top's front edge, and the
    fingers between the drawer's side walls.

    :param obs: (39,) observation (drawer position).
    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad).
    :return: True when it fits.
    """
    hand = hand_footprint(x, y, yaw, margin=0.004)
    front = marks.DRAWER_INNER_FRONT_Y0 - obs[layout.ROBOT_OBS_DIM + layout.DRAWER]
    finger = yaw - np.pi / 2.0
    finger_x = FINGER_SPAN * abs(np.cos(finger)) + FINGER_HALF_THICKNESS * abs(np.sin(finger))
    return bool(hand[:, 1].max() < marks.TABLE_FRONT_Y and hand[:, 1].min() > front
                and marks.DRAWER_INNER_X[0] < x - finger_x
                and x + finger_x < marks.DRAWER_INNER_X[1])


def fingers_clear(obs: np.ndarray, block: int, yaw: float) -> bool:
    """
    Return whether the open fingers, lowered around a block at TCP yaw, miss the other blocks.

    :param obs: (39,) observation.
    :param block: the block to grasp.
    :param yaw: TCP yaw (rad); the fingers spread along yaw - pi/2.
    :return: True when no other block's footprint meets the fingers' sweep.
    """
    finger = yaw - np.pi / 2.0
    axes = np.array([[np.cos(finger), np.sin(finger)], [-np.sin(finger), np.cos(finger)]])
    centre = block_pose(obs, block)[:2]
    for other in other_blocks(block):
        pose = block_pose(obs, other)
        # The fingertips stay above the grasped block's bottom, so blocks below it do not count.
        if pose[2] < block_pose(obs, block)[2] - STACK_HEIGHT + REST_TOLERANCE:
            continue
        offset = np.abs(axes @ (pose[:2] - centre))
        half_x, half_y = geo.block_half_extents(other)[:2]
        relative = pose[5] - finger
        along = half_x * abs(np.cos(relative)) + half_y * abs(np.sin(relative))
        across = half_x * abs(np.sin(relative)) + half_y * abs(np.cos(relative))
        if offset[0] - along < FINGER_REACH and offset[1] - across < FINGER_HALF_THICKNESS + 0.01:
            return False
    return True


def path_clear(obs: np.ndarray, block: int, direction: np.ndarray, distance: float) -> bool:
    """
    Return whether no other block lies in the corridor a pushed block sweeps (and behind it).

    :param obs: (39,) observation.
    :param block: the pushed block.
    :param direction: (2,) unit push direction.
    :param distance: push distance (m).
    :return: True when the corridor is free.
    """
    pose = block_pose(obs, block)
    across = np.array([-direction[1], direction[0]])
    width = float(footprint_extent(block, pose[5]) @ np.abs(across))
    for other in other_blocks(block):
        other_pose = block_pose(obs, other)
        extent = footprint_extent(other, other_pose[5])
        offset = other_pose[:2] - pose[:2]
        other_width = float(extent @ np.abs(across))
        other_length = float(extent @ np.abs(direction))
        along = float(offset @ direction)
        if (abs(float(offset @ across)) < width + other_width + 0.02
                and -0.1 - other_length < along < distance + 0.08 + other_length):
            return False
    return True


def sweep_clear(obs: np.ndarray, start: Sequence[float], end: Sequence[float],
                yaw: float = NEUTRAL_YAW) -> bool:
    """
    Return whether the hand at block height can move straight from start to end.

    :param obs: (39,) observation.
    :param start: (2,) TCP xy (m).
    :param end: (2,) TCP xy (m).
    :param yaw: TCP yaw (rad).
    :return: True when every point of the way is clear (checked every 2 cm).
    """
    count = int(np.ceil(np.linalg.norm(np.subtract(end, start)) / 0.02)) + 1
    return all(hand_clear(obs, *point, yaw) for point in np.linspace(start, end, count))
