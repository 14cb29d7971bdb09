"""
Whether a skill can run from a state, and what it would act on.

Each rule takes the arguments that skills.library reads from a task's spec and returns why the
skill cannot run, or None when it can.  The choices a skill makes (a free spot to put a block
down, a pair to stack, a block to push into the drawer) are found here too, so that a task is
feasible exactly when its skill has something to act on.
"""

from typing import List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import scene_geometry as geo
from play_lmp_ros.core.skills import landmarks as marks
from play_lmp_ros.core.skills.geometry import (
    block_pose, block_support, drawer_hand_clear, FINGER_HALF_THICKNESS, fingers_clear,
    footprint_extent, grasp_yaw, hand_clear, held_block, isolated, NEUTRAL_YAW, other_blocks,
    path_clear, REACH_X_MAX, sweep_clear)
from play_lmp_ros.core.skills.motions import (
    PUSH_DISTANCE, PUSH_GAP, ROTATE_ANGLE, turn_grasp_yaw)

# A door or drawer must have room to travel this far past the oracle's threshold.
DOOR_THRESHOLD_MARGIN = 0.02
# Blocks go into the drawer only when it is open at least this far (m).
DRAWER_OPEN_FOR_BLOCKS = 0.15


# ------------------------------------------------------------------ what a skill acts on


def table_spot(obs: np.ndarray, block: int) -> Optional[np.ndarray]:
    """
    Return a free spot on the table for a block, far from the others, or None.

    :param obs: (39,) observation.
    :param block: the block to put down.
    :return: (2,) xy (m) or None.
    """
    best, best_distance = None, 0.0
    for x in np.linspace(0.02, 0.3, 8):
        for y in np.linspace(-0.16, -0.06, 4):
            spot = np.array([x, y])
            if not hand_clear(obs, x, y, grasp_yaw(obs, block)):
                continue
            distance = min(np.linalg.norm(block_pose(obs, other)[:2] - spot)
                           for other in other_blocks(block))
            if distance > best_distance:
                best, best_distance = spot, distance
    return best if best_distance > 0.1 else None


def shelf_spot(obs: np.ndarray, block: int) -> Optional[np.ndarray]:
    """
    Return a spot on the shelf, clear of the door and of other blocks, to place a block.

    :param obs: (39,) observation.
    :param block: the held block.
    :return: (2,) TCP xy (m) or None.
    """
    candidates = []
    for x in np.linspace(marks.PLANK_X[0] + 0.08, marks.PLANK_X[1] - 0.08, 12):
        if not hand_clear(obs, x, marks.SHELF_PLACE_Y, obs[layout.TCP_ORN][2]):
            continue
        spot = np.array([x, marks.SHELF_PLACE_Y])
        distance = min(np.linalg.norm(block_pose(obs, other)[:2] - spot)
                       for other in other_blocks(block))
        if distance > 0.1:
            candidates.append((abs(x), spot))
    return min(candidates, key=lambda item: item[0])[1] if candidates else None


def drawer_spot(obs: np.ndarray) -> Optional[np.ndarray]:
    """
    Return the TCP xy over the open drawer's visible floor, or None if it is not open enough.

    :param obs: (39,) observation.
    :return: (2,) m or None.
    """
    drawer = obs[layout.ROBOT_OBS_DIM + layout.DRAWER]
    if drawer < DRAWER_OPEN_FOR_BLOCKS:
        return None
    front = marks.DRAWER_INNER_FRONT_Y0 - drawer
    return np.array([marks.DRAWER_HANDLE_X, (front + marks.TABLE_FRONT_Y) / 2.0])


def place_spot(obs: np.ndarray, support: str, block: int) -> Optional[np.ndarray]:
    """
    Return where to put a held block down on a surface, or None when there is no room.

    :param obs: (39,) observation.
    :param support: 'slider' (the shelf) or 'drawer'.
    :param block: the held block.
    :return: (2,) TCP xy (m) or None.
    :raises ValueError: for another surface.
    """
    if support == 'slider':
        return shelf_spot(obs, block)
    if support == 'drawer':
        return drawer_spot(obs)
    raise ValueError(f'blocks are placed on the slider or in the drawer, not on {support}')


def stack_pair(obs: np.ndarray, rng: Optional[np.random.Generator] = None
               ) -> Optional[Tuple[int, int]]:
    """
    Return a (block to move, base block) pair for stack_block, or None.

    :param obs: (39,) observation.
    :param rng: picks among the pairs; the first pair when None.
    :return: the pair or None.
    """
    held = held_block(obs)
    pairs = []
    for block in range(len(layout.BLOCK_NAMES)):
        if held is not None and block != held:
            continue
        if held is None and grasp_reason(obs, block, ('table',)) is not None:
            continue
        if held is None and not isolated(obs, block, 0.07):
            continue
        for base in other_blocks(block):
            base_pose = block_pose(obs, base)
            yaw = obs[layout.TCP_ORN][2] if held is not None else grasp_yaw(obs, block)
            if (block_support(obs, base) == 'table' and isolated(obs, base, 0.09)
                    and base_pose[0] < REACH_X_MAX and hand_clear(obs, *base_pose[:2], yaw)
                    and all(block_support(obs, other) != 'stacked'
                            for other in range(len(layout.BLOCK_NAMES)))):
                pairs.append((block, base))
    if not pairs:
        return None
    return pairs[0] if rng is None else pairs[int(rng.integers(len(pairs)))]


def stacked_block(obs: np.ndarray) -> Optional[int]:
    """
    Return a block resting on another one that the hand can grasp, if any.

    :param obs: (39,) observation.
    :return: its index or None.
    """
    for block in range(len(layout.BLOCK_NAMES)):
        if held_block(obs) is None and grasp_reason(obs, block, ('stacked',)) is None:
            return block
    return None


def drawer_candidates(obs: np.ndarray, blocks: Sequence[int]) -> List[int]:
    """
    Return the blocks that can be pushed off the table's front edge into the open drawer.

    :param obs: (39,) observation.
    :param blocks: the blocks to consider.
    :return: block indices, in the order of blocks.
    """
    if obs[layout.ROBOT_OBS_DIM + layout.DRAWER] < DRAWER_OPEN_FOR_BLOCKS:
        return []
    candidates = []
    for block in blocks:
        pose = block_pose(obs, block)
        extent = footprint_extent(block, pose[5])
        if (block_support(obs, block) == 'table' and isolated(obs, block, 0.1)
                and marks.DRAWER_INNER_X[0] + extent[0] + 0.02 < pose[0]
                < marks.DRAWER_INNER_X[1] - extent[0] - 0.02
                and path_clear(obs, block, np.array([0.0, -1.0]), 0.3)
                and sweep_clear(obs, pose[:2] + (0.0, extent[1] + PUSH_GAP + 0.012),
                                (pose[0], marks.TABLE_FRONT_Y))):
            candidates.append(block)
    return candidates


# ------------------------------------------------------------------ shared checks


def grasp_reason(obs: np.ndarray, block: int, supports: Sequence[str],
                 preferred_yaw: float = NEUTRAL_YAW) -> Optional[str]:
    """
    Return why a block cannot be grasped from above, or None when it can.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param supports: the acceptable block_support values.
    :param preferred_yaw: TCP yaw preference among the grasp candidates (rad).
    :return: the reason or None.
    """
    support = block_support(obs, block)
    if support not in supports:
        return f'the block rests on {support}, not on {"/".join(supports)}'
    yaw = grasp_yaw(obs, block, preferred_yaw, any_side=support == 'drawer')
    if not fingers_clear(obs, block, yaw):
        return 'another block is in the way of the fingers'
    x, y = block_pose(obs, block)[:2]
    if support != 'drawer' and not hand_clear(obs, x, y, yaw):
        return 'the hand would hit the door, the switch or the cabinet'
    if support == 'drawer':
        drawer = obs[layout.ROBOT_OBS_DIM + layout.DRAWER]
        if not drawer_hand_clear(obs, x, y, yaw):
            return f'the hand does not fit into the drawer (open {drawer:.2f} m) there'
    if support == 'table' and x > REACH_X_MAX:
        return 'the block is out of reach'
    return None


# ------------------------------------------------------------------ one rule per kind of task


def rotate_reason(obs: np.ndarray, block: int, sign: float) -> Optional[str]:
    """
    Return why a block on the table cannot be turned about z, or None when it can.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param sign: +1 to the left (counter-clockwise from above), -1 to the right.
    :return: the reason or None.
    """
    grasp = turn_grasp_yaw(sign)
    reason = grasp_reason(obs, block, ('table',), grasp)
    if reason is None and not isolated(obs, block, 0.11):
        reason = 'another block is too close to turn this one'
    turned = grasp_yaw(obs, block, grasp) + sign * ROTATE_ANGLE
    if reason is None and not hand_clear(obs, *block_pose(obs, block)[:2], turned):
        reason = 'the turned hand would hit the switch or the cabinet'
    return reason


def push_reason(obs: np.ndarray, block: int, sign: float) -> Optional[str]:
    """
    Return why a block cannot be pushed along x, or None when it can.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param sign: +1 right, -1 left.
    :return: the reason or None.
    """
    support = block_support(obs, block)
    if support not in ('table', 'slider'):
        return f'the block is not upright on the table or the shelf ({support})'
    pose = block_pose(obs, block)
    extent = footprint_extent(block, pose[5])
    if not isolated(obs, block, 0.1):
        return 'another block is too close'
    direction = np.array([sign, 0.0])
    if not path_clear(obs, block, direction, PUSH_DISTANCE):
        return 'another block is in the way'
    end_x = pose[0] + sign * (PUSH_DISTANCE - 0.01)
    if support == 'table':
        low = -0.05 if abs(pose[1] - marks.BUTTON_XY[1]) < extent[1] + 0.06 else -0.30
        if not low + extent[0] < end_x < REACH_X_MAX - extent[0]:
            return 'the push would leave the reachable table area or hit the button'
    elif not marks.PLANK_X[0] + extent[0] + 0.01 < end_x < marks.PLANK_X[1] - extent[0] - 0.01:
        return 'the push would run into the cabinet wall'
    start_x = pose[0] - sign * (extent[0] + FINGER_HALF_THICKNESS + PUSH_GAP)
    if not sweep_clear(obs, (start_x, pose[1]), (end_x - sign * extent[0], pose[1])):
        return 'the hand would hit the door, the switch or the cabinet on the way'
    return None


def door_reason(obs: np.ndarray, door: marks.Door, sign: float, travel: float) -> Optional[str]:
    """
    Return why a door or drawer cannot travel far enough for the oracle, or None when it can.

    :param obs: (39,) observation.
    :param door: the part.
    :param sign: +1 towards its upper joint limit, -1 towards the lower one.
    :param travel: the oracle's threshold (m); a margin is added on top.
    :return: the reason or None.
    """
    value = obs[layout.ROBOT_OBS_DIM + door.state_index]
    lower, upper = door.joint_range
    room = upper - value if sign > 0 else value - lower
    if room < travel + DOOR_THRESHOLD_MARGIN:
        return f'the {door.description} is at {value:.2f} m, too close to its end'
    return None


def lift_reason(obs: np.ndarray, block: int, support: str) -> Optional[str]:
    """
    Return why a block cannot be lifted from a surface, or None when it can.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param support: the block_support value it must rest on.
    :return: the reason or None.
    """
    reason = grasp_reason(obs, block, (support,))
    if reason is None and drawer_spot(obs) is None and shelf_spot(obs, block) is None:
        reason = 'the block could not be put down anywhere afterwards'
    return reason


def place_reason(obs: np.ndarray, support: str) -> Optional[str]:
    """
    Return why the held block cannot be put down on a surface, or None when it can.

    :param obs: (39,) observation.
    :param support: 'slider' (the shelf) or 'drawer'.
    :return: the reason or None.
    """
    held = held_block(obs)
    if held is None or block_pose(obs, held)[2] < geo.BLOCK_REST_Z + 0.02:
        return 'no block is held in the air'
    if place_spot(obs, support, held) is None:
        return 'no free spot to put the block down'
    return None


def stack_reason(obs: np.ndarray) -> Optional[str]:
    """
    Return why no block can be stacked on another, or None when one can.

    :param obs: (39,) observation.
    :return: the reason or None.
    """
    return None if stack_pair(obs) is not None else 'no pair of free blocks to stack'


def unstack_reason(obs: np.ndarray) -> Optional[str]:
    """
    Return why no block can be taken off a stack, or None when one can.

    :param obs: (39,) observation.
    :return: the reason or None.
    """
    block = stacked_block(obs)
    if block is None:
        return 'no block is stacked where the hand can grasp it'
    return None if table_spot(obs, block) is not None else 'no free spot on the table'


def light_reason(obs: np.ndarray, light: str, start_state: int,
                 end_state: int) -> Optional[str]:
    """
    Return why a light cannot be switched to a state, or None when it can.

    :param obs: (39,) observation.
    :param light: 'lightbulb' or 'led'.
    :param start_state: the logical state it must be in (0 or 1).
    :param end_state: the logical state to switch it to (0 or 1).
    :return: the reason or None.
    """
    if obs[layout.ROBOT_OBS_DIM + marks.LIGHT_STATE_INDEX[light]] != start_state:
        return f'the {light} is already {"on" if end_state else "off"}'
    return None


def push_into_drawer_reason(obs: np.ndarray, blocks: Sequence[int]) -> Optional[str]:
    """
    Return why none of the blocks can be pushed into the drawer, or None when one can.

    :param obs: (39,) observation.
    :param blocks: the blocks to consider.
    :return: the reason or None.
    """
    if drawer_candidates(obs, blocks):
        return None
    return 'no block can be pushed into the open drawer'
