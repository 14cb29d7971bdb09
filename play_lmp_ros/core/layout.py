"""
The observation / action contract, CALVIN's exactly.

Every other module (simulator, oracle, skills, dataset code, ONNX export, ROS conversions)
takes its sizes, slices, ranges and scalings from here, so that one edit changes them everywhere
and the layout hash stamped into exported models changes with it.

Observation (39,) float64 = concat(robot_obs (15,), scene_obs (24,)):

- robot_obs: TCP position xyz (m, world), TCP euler xyz (rad, pybullet 'sxyz'), gripper opening
  width (m, 0-0.08), 7 arm joints (rad), last gripper action (-1 close, +1 open).
- scene_obs: sliding door (0-0.28 m), drawer (0-0.22 m), button (0-0.02 m), switch (0-0.088 m),
  lightbulb (0/1), green LED (0/1), then red, blue, pink block: position xyz + euler xyz each.

Relative action (7,): dx, dy, dz in [-1, 1] scaled by 0.02 m; droll, dpitch, dyaw in [-1, 1]
scaled by 0.05 rad; gripper exactly -1 or +1.  Absolute action (7,): TCP position (m), TCP euler
(rad), gripper.
"""

import hashlib
import json
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

ROBOT_OBS_DIM = 15
SCENE_OBS_DIM = 24
OBS_DIM = ROBOT_OBS_DIM + SCENE_OBS_DIM
ACTION_DIM = 7

CONTROL_HZ = 30
PHYSICS_HZ = 240
SUBSTEPS = PHYSICS_HZ // CONTROL_HZ

MAX_REL_POS_M = 0.02
MAX_REL_ORN_RAD = 0.05
GRIPPER_OPEN = 1.0
GRIPPER_CLOSE = -1.0

BLOCK_NAMES = ('block_red', 'block_blue', 'block_pink')
BLOCK_COLORS = ('red', 'blue', 'pink')

# Slices into robot_obs (15,).
TCP_POS = slice(0, 3)
TCP_ORN = slice(3, 6)
GRIPPER_WIDTH = 6
ARM_JOINTS = slice(7, 14)
GRIPPER_ACTION = 14

# Indices into scene_obs (24,).
SLIDER = 0
DRAWER = 1
BUTTON = 2
SWITCH = 3
LIGHTBULB = 4
LED = 5
BLOCK_OFFSET = 6
BLOCK_STATE_DIM = 6


def block_slice(block_index: int) -> slice:
    """
    Return the slice of one block's pose (xyz + euler xyz) in scene_obs.

    :param block_index: 0 red, 1 blue, 2 pink.
    :return: a slice of length 6 into scene_obs (24,).
    """
    if not 0 <= block_index < len(BLOCK_NAMES):
        raise ValueError(f'block index must be 0..{len(BLOCK_NAMES) - 1}, got {block_index}')
    start = BLOCK_OFFSET + BLOCK_STATE_DIM * block_index
    return slice(start, start + BLOCK_STATE_DIM)


# Joint ranges of the articulated scene parts (m) and their trigger points.
SLIDER_RANGE = (0.0, 0.28)
DRAWER_RANGE = (0.0, 0.22)
BUTTON_RANGE = (0.0, 0.02)
SWITCH_RANGE = (0.0, 0.088)
BUTTON_TRIGGER = 0.01
SWITCH_TRIGGER = 0.044
GRIPPER_WIDTH_RANGE = (0.0, 0.08)

# Franka Panda joint limits used by CALVIN (rad).
ARM_LOWER_LIMITS = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)
ARM_UPPER_LIMITS = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)

# The box (m, world) that an absolute action's TCP position must lie in: low (x, y, z), high.
# calvin_env's Panda config (conf/robot/panda.yaml) and robot.py set no workspace bounds, so this
# box is the scene's own: it covers every part the TCP must reach with at least 0.1 m to spare
# sideways (table x -0.60..0.50, blocks x -0.36..0.39, the sliding door's handle x -0.23..0.05,
# the drawer's handle out to y -0.60 when open, the shelf and the cabinet back y 0.03..0.26) and
# from below the open drawer's floor (z 0.30) to well above the lightbulb (z 0.67).  It also holds
# every TCP position of CALVIN's recorded actions (ABC->D act bounds: x -0.43..0.43,
# y -0.55..0.14, z 0.29..0.80).
TCP_WORKSPACE_M = ((-0.5, -0.7, 0.25), (0.5, 0.3, 0.85))

# Reset states are observations, and the simulator's own observations overshoot the nominal
# ranges above: pybullet's joint limits and contacts are soft, so a push carries a part past its
# stop.  Over 300,000 frames of scripted play: slider -0.006..0.284 m, button -0.019..0.043 m,
# switch -0.023..0.209 m, gripper width -0.028..0.091 m, arm joints up to 0.08 rad past their
# limits, blocks knocked onto the floor (z 0.02) out to y -1.50, euler angles up to 4.62 rad
# (pybullet's euler near pitch +-pi/2).  A reset must take back every state the simulator
# produces (the goal judge and recordings rebuild observations by resets), so it accepts the
# nominal ranges widened by these margins and refuses only what no simulation produces.
RESET_JOINT_MARGIN_M = 0.15
RESET_GRIPPER_MARGIN_M = 0.04
RESET_ARM_MARGIN_RAD = 0.2
RESET_MAX_ANGLE_RAD = 2.0 * np.pi
# Where any body of the scene can be in a reset state (m, world): the floor around the table
# (z 0 is the floor) out to 2 m, up to 2 m high; blocks and the TCP.
SCENE_BOUNDS_M = ((-2.0, -2.0, 0.0), (2.0, 2.0, 2.0))

# Dimensions of the 39-D observation that are angles and wrap at +-pi.
ANGLE_DIMS = tuple(
    [3, 4, 5]
    + [ROBOT_OBS_DIM + BLOCK_OFFSET + BLOCK_STATE_DIM * b + k for b in range(3) for k in (3, 4, 5)]
)
# The same angles as indices into scene_obs (24,): the blocks' euler angles.
SCENE_ANGLE_DIMS = tuple(dim - ROBOT_OBS_DIM for dim in ANGLE_DIMS if dim >= ROBOT_OBS_DIM)

# Human-readable name of every observation dimension, in order.
OBS_NAMES = (
    'tcp_x', 'tcp_y', 'tcp_z', 'tcp_roll', 'tcp_pitch', 'tcp_yaw', 'gripper_width',
    *[f'arm_joint_{i + 1}' for i in range(7)], 'gripper_action',
    'slider', 'drawer', 'button', 'switch', 'lightbulb', 'led',
    *[f'{color}_block_{axis}' for color in BLOCK_COLORS
      for axis in ('x', 'y', 'z', 'roll', 'pitch', 'yaw')],
)

ACTION_NAMES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw', 'gripper')


def _reset_state_bounds() -> Tuple[np.ndarray, np.ndarray]:
    """
    Build the per-dimension range of a reset state from the ranges and margins above.

    :return: low (39,) and high (39,), inclusive.
    """
    low, high = np.empty(OBS_DIM), np.empty(OBS_DIM)
    scene_low, scene_high = np.asarray(SCENE_BOUNDS_M[0]), np.asarray(SCENE_BOUNDS_M[1])
    low[TCP_POS], high[TCP_POS] = scene_low, scene_high
    low[GRIPPER_WIDTH] = GRIPPER_WIDTH_RANGE[0] - RESET_GRIPPER_MARGIN_M
    high[GRIPPER_WIDTH] = GRIPPER_WIDTH_RANGE[1] + RESET_GRIPPER_MARGIN_M
    low[ARM_JOINTS] = np.asarray(ARM_LOWER_LIMITS) - RESET_ARM_MARGIN_RAD
    high[ARM_JOINTS] = np.asarray(ARM_UPPER_LIMITS) + RESET_ARM_MARGIN_RAD
    low[GRIPPER_ACTION], high[GRIPPER_ACTION] = GRIPPER_CLOSE, GRIPPER_OPEN
    scene = slice(ROBOT_OBS_DIM, OBS_DIM)
    scene_part_low, scene_part_high = low[scene], high[scene]
    for index, (start, stop) in ((SLIDER, SLIDER_RANGE), (DRAWER, DRAWER_RANGE),
                                 (BUTTON, BUTTON_RANGE), (SWITCH, SWITCH_RANGE)):
        scene_part_low[index] = start - RESET_JOINT_MARGIN_M
        scene_part_high[index] = stop + RESET_JOINT_MARGIN_M
    scene_part_low[[LIGHTBULB, LED]], scene_part_high[[LIGHTBULB, LED]] = 0.0, 1.0
    for block_index in range(len(BLOCK_NAMES)):
        start = BLOCK_OFFSET + BLOCK_STATE_DIM * block_index
        scene_part_low[start:start + 3], scene_part_high[start:start + 3] = scene_low, scene_high
    low[list(ANGLE_DIMS)], high[list(ANGLE_DIMS)] = -RESET_MAX_ANGLE_RAD, RESET_MAX_ANGLE_RAD
    return low, high


# The range of every dimension of a reset state (39,): see the margins above.
RESET_STATE_LOW, RESET_STATE_HIGH = _reset_state_bounds()
# At most this many offending entries are listed in an error message.
MAX_LISTED_ENTRIES = 4


def wrap_to_pi(angles: np.ndarray) -> np.ndarray:
    """
    Wrap angles to [-pi, pi).

    :param angles: any shape, radians.
    :return: same shape, radians in [-pi, pi).
    """
    return (np.asarray(angles) + np.pi) % (2.0 * np.pi) - np.pi


def split_observation(obs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Split a 39-D observation into robot_obs and scene_obs.

    :param obs: (..., 39).
    :return: robot_obs (..., 15) and scene_obs (..., 24), views of obs.
    """
    obs = np.asarray(obs)
    if obs.shape[-1] != OBS_DIM:
        raise ValueError(
            f'observation must have {OBS_DIM} values in its last axis, got shape {obs.shape}')
    return obs[..., :ROBOT_OBS_DIM], obs[..., ROBOT_OBS_DIM:]


def check_vector(values, size: int, what: str) -> np.ndarray:
    """
    Return values as a float64 vector of the given size, or raise ValueError naming the problem.

    :param values: array-like of length size.
    :param size: expected length.
    :param what: name used in the error message.
    :return: (size,) float64, a copy.
    """
    try:
        vector = np.array(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{what} must be {size} numbers: {error}') from None
    if vector.size != size:
        raise ValueError(f'{what} must have {size} values, got {vector.size}')
    if not np.isfinite(vector).all():   # the method: np.all's dispatch costs more here
        bad = np.flatnonzero(~np.isfinite(vector))
        listed = [int(i) for i in bad[:MAX_LISTED_ENTRIES]]
        more = f' ({bad.size} in all)' if bad.size > MAX_LISTED_ENTRIES else ''
        raise ValueError(f'{what} has non-finite values (NaN or inf) at indices {listed}{more}')
    return vector


def check_gripper(value: float, what: str = 'gripper action') -> float:
    """
    Raise ValueError unless the gripper action is exactly -1 (close) or +1 (open).

    :param value: the gripper command.
    :param what: name used in the error message.
    :return: the value as float.
    """
    if value not in (GRIPPER_CLOSE, GRIPPER_OPEN):
        raise ValueError(f'{what} must be exactly -1 (close) or +1 (open), got {value!r}')
    return float(value)


def gripper_command_of(observation) -> float:
    """
    Return the last gripper command an observation reports (robot_obs[14]), as exactly +-1.

    :param observation: (39,) state or (15,) robot_obs.
    :return: GRIPPER_CLOSE or GRIPPER_OPEN.
    """
    last = float(np.asarray(observation, dtype=np.float64)[GRIPPER_ACTION])
    return GRIPPER_CLOSE if last < 0.0 else GRIPPER_OPEN


def hold_action(gripper: float) -> np.ndarray:
    """
    Return the relative action that keeps the robot where it is.

    :param gripper: the gripper command to keep, +-1.
    :return: (7,) float64: zero motion, then the gripper command.
    """
    action = np.zeros(ACTION_DIM)
    action[ACTION_DIM - 1] = check_gripper(gripper)
    return action


def check_relative_action(action) -> np.ndarray:
    """
    Validate a relative action: 7 finite values, motion in [-1, 1], gripper exactly +-1.

    :param action: array-like (7,).
    :return: (7,) float64 copy.
    """
    action = check_vector(action, ACTION_DIM, 'relative action')
    outside = [int(i) for i in np.flatnonzero(np.abs(action[:6]) > 1.0)]
    if outside:
        raise ValueError(
            f'relative action values must lie in [-1, 1]; {[ACTION_NAMES[i] for i in outside]} '
            f'are {action[outside].tolist()}')
    check_gripper(action[6])
    return action


def check_absolute_action(action, workspace: Optional[Sequence[Sequence[float]]] = None
                          ) -> np.ndarray:
    """
    Validate an absolute action: 7 finite values, gripper exactly +-1, TCP inside a workspace.

    A command to a simulator gives the workspace (TCP_WORKSPACE_M); a recorded action, which
    is where the TCP went rather than where it was sent, is checked without one.

    :param action: array-like (7,): TCP position (m), TCP euler (rad), gripper.
    :param workspace: (low (3,), high (3,)) box (m) the TCP position must lie in, bounds
        included; None checks no box.
    :return: (7,) float64 copy.
    :raises ValueError: naming the problem; outside the box, naming the coordinate, its value
        and the box.
    """
    action = check_vector(action, ACTION_DIM, 'absolute action')
    check_gripper(action[6])
    if workspace is not None:
        check_in_box(action[:3], workspace, ACTION_NAMES[:3], 'absolute action TCP position',
                     'the TCP workspace')
    return action


def check_in_box(position, box: Sequence[Sequence[float]], names: Sequence[str], what: str,
                 box_name: str) -> np.ndarray:
    """
    Raise ValueError unless a finite position lies inside an axis-aligned box.

    :param position: array-like (3,), finite.
    :param box: (low (3,), high (3,)), bounds included.
    :param names: the name of each coordinate, for the message.
    :param what: name of the position, for the message.
    :param box_name: name of the box, for the message.
    :return: the position as (3,) float64.
    :raises ValueError: naming the first coordinate outside, its value and the box.
    """
    position = np.asarray(position, dtype=np.float64)
    low, high = np.asarray(box[0], dtype=np.float64), np.asarray(box[1], dtype=np.float64)
    outside = np.flatnonzero((position < low) | (position > high))
    if outside.size:
        axis = int(outside[0])
        box_text = ', '.join(f'{name} {low[i]:g}..{high[i]:g}' for i, name in enumerate(names))
        raise ValueError(f'{what}: {names[axis]} = {position[axis]:.6g} m lies outside '
                         f'{box_name} ({box_text} m)')
    return position


def _check_state_ranges(values: np.ndarray, first_dim: int, what: str) -> None:
    """
    Raise ValueError naming the dimensions of a state that lie outside the reset ranges.

    :param values: finite part of a 39-D state.
    :param first_dim: index of values[0] in the 39-D state.
    :param what: name of the state, for the message.
    """
    dims = slice(first_dim, first_dim + values.size)
    low, high = RESET_STATE_LOW[dims], RESET_STATE_HIGH[dims]
    outside = np.flatnonzero((values < low) | (values > high))
    if not outside.size:
        return
    parts = []
    for i in outside[:MAX_LISTED_ENTRIES]:
        unit = _unit(first_dim + int(i))
        parts.append(f'{OBS_NAMES[first_dim + i]} = {values[i]:.6g}{unit} outside '
                     f'{low[i]:.6g}..{high[i]:.6g}{unit}')
    if outside.size > MAX_LISTED_ENTRIES:
        parts.append(f'and {outside.size - MAX_LISTED_ENTRIES} more')
    raise ValueError(f'{what} has values outside their physical ranges: {"; ".join(parts)}')


def _unit(dim: int) -> str:
    """
    Return the unit of one observation dimension, for messages.

    :param dim: index into the 39-D observation.
    :return: ' rad', ' m' or '' (lights, gripper action).
    """
    if dim in ANGLE_DIMS or ARM_JOINTS.start <= dim < ARM_JOINTS.stop:
        return ' rad'
    if dim in (GRIPPER_ACTION, ROBOT_OBS_DIM + LIGHTBULB, ROBOT_OBS_DIM + LED):
        return ''
    return ' m'


def check_robot_state(robot_obs, what: str = 'robot_obs') -> np.ndarray:
    """
    Validate a robot state to reset to: 15 finite values in the reset ranges, gripper +-1.

    The ranges are RESET_STATE_LOW / RESET_STATE_HIGH: gripper width and arm joints within
    their limits widened by a margin, the TCP in SCENE_BOUNDS_M, euler angles within
    +-RESET_MAX_ANGLE_RAD.

    :param robot_obs: array-like (15,).
    :param what: name used in the error message.
    :return: (15,) float64 copy.
    :raises ValueError: naming the dimension, its value and its range.
    """
    robot_state = check_vector(robot_obs, ROBOT_OBS_DIM, what)
    check_gripper(robot_state[GRIPPER_ACTION], f'{what} gripper action')
    _check_state_ranges(robot_state, 0, what)
    return robot_state


def check_scene_state(scene_obs, what: str = 'scene_obs') -> np.ndarray:
    """
    Validate a scene state to reset to: 24 finite values in the reset ranges, lights 0 or 1.

    The ranges are RESET_STATE_LOW / RESET_STATE_HIGH: slider, drawer, button and switch within
    their ranges widened by RESET_JOINT_MARGIN_M, block positions in SCENE_BOUNDS_M, euler
    angles within +-RESET_MAX_ANGLE_RAD.

    :param scene_obs: array-like (24,).
    :param what: name used in the error message.
    :return: (24,) float64 copy.
    :raises ValueError: naming the dimension, its value and its range.
    """
    scene_state = check_vector(scene_obs, SCENE_OBS_DIM, what)
    for index, name in ((LIGHTBULB, 'lightbulb'), (LED, 'led')):
        if scene_state[index] not in (0.0, 1.0):
            raise ValueError(f'{what} {name} state must be 0 or 1, got {scene_state[index]!r}')
    _check_state_ranges(scene_state, ROBOT_OBS_DIM, what)
    return scene_state


def relative_to_absolute(relative: np.ndarray, target_pose: np.ndarray) -> np.ndarray:
    """
    Turn a relative action into an absolute one by adding it to an accumulating target pose.

    :param relative: (7,) validated relative action.
    :param target_pose: (6,) current TCP target, position (m) + euler (rad).
    :return: (7,) absolute action with wrapped euler.
    """
    absolute = np.empty(ACTION_DIM)
    absolute[:3] = target_pose[:3] + relative[:3] * MAX_REL_POS_M
    absolute[3:6] = wrap_to_pi(target_pose[3:6] + relative[3:6] * MAX_REL_ORN_RAD)
    absolute[6] = relative[6]
    return absolute


def absolute_to_relative(absolute: np.ndarray, robot_obs: np.ndarray) -> np.ndarray:
    """
    Compute CALVIN's rel_actions from absolute actions and the observed TCP, wrap-aware.

    rel = clip(pos_target - pos_obs, +-0.02) / 0.02 and
    clip(wrap(euler_target - euler_obs), +-0.05) / 0.05; the gripper is copied.

    :param absolute: (..., 7) absolute actions.
    :param robot_obs: (..., 15) robot observations at the same frames.
    :return: (..., 7) relative actions in [-1, 1].
    """
    absolute = np.asarray(absolute, dtype=np.float64)
    robot_obs = np.asarray(robot_obs, dtype=np.float64)
    relative = np.empty(np.broadcast_shapes(absolute.shape, robot_obs.shape[:-1] + (ACTION_DIM,)))
    delta_pos = absolute[..., :3] - robot_obs[..., TCP_POS]
    delta_orn = wrap_to_pi(absolute[..., 3:6] - robot_obs[..., TCP_ORN])
    relative[..., :3] = np.clip(delta_pos, -MAX_REL_POS_M, MAX_REL_POS_M) / MAX_REL_POS_M
    relative[..., 3:6] = np.clip(delta_orn, -MAX_REL_ORN_RAD, MAX_REL_ORN_RAD) / MAX_REL_ORN_RAD
    relative[..., 6] = absolute[..., 6]
    return relative


def layout_description() -> Dict[str, object]:
    """
    Describe the layout as plain data: names, dimensions, scalings and rates.

    :return: a JSON-serialisable dict.
    """
    return {
        'obs_names': list(OBS_NAMES),
        'action_names': list(ACTION_NAMES),
        'angle_dims': list(ANGLE_DIMS),
        'max_rel_pos_m': MAX_REL_POS_M,
        'max_rel_orn_rad': MAX_REL_ORN_RAD,
        'control_hz': CONTROL_HZ,
        'physics_hz': PHYSICS_HZ,
    }


def layout_hash() -> str:
    """
    Return a short stable hash of the layout, stamped into exported models and datasets.

    :return: 16 hex digits.
    """
    text = json.dumps(layout_description(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
