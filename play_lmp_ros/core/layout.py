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
from typing import Dict, Tuple

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
    if not np.all(np.isfinite(vector)):
        bad = [int(i) for i in np.flatnonzero(~np.isfinite(vector))]
        raise ValueError(f'{what} has non-finite values (NaN or inf) at indices {bad}')
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


def check_absolute_action(action) -> np.ndarray:
    """
    Validate an absolute action: 7 finite values, gripper exactly +-1.

    :param action: array-like (7,): TCP position (m), TCP euler (rad), gripper.
    :return: (7,) float64 copy.
    """
    action = check_vector(action, ACTION_DIM, 'absolute action')
    check_gripper(action[6])
    return action


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
