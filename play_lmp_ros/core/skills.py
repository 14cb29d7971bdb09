"""
Closed-loop scripted skills for CALVIN's 34 tasks on the play table.

A skill is a short list of waypoints (approach above, descend, grasp or press, move, release,
retreat).  Every waypoint's goal (TCP position, TCP yaw and gripper command) is recomputed from
the current 39-D observation, so a skill tolerates action noise and speed changes: a P-controller
on the TCP position and the wrap-aware orientation error turns the goal into a relative action.
The fixed landmarks (handles, button, switch, shelf, drawer floor) come from assets/play_table.urdf
and scene_geometry, in world coordinates.

feasible_tasks(obs) lists the tasks a skill can do from a state; make_skill(task, obs, rng, speed)
builds one; run_skill(sim, task, rng) runs one against the simulator and CALVIN's oracle.
"""

from dataclasses import dataclass
import logging
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import scene_geometry as geo
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle

logger = logging.getLogger(__name__)

BLOCK_COLORS = dict(zip(layout.BLOCK_COLORS, range(len(layout.BLOCK_NAMES))))
ORACLE_CHECK_EVERY = 4

# ------------------------------------------------------------------ landmarks (world, m)

# Sliding door (joint origin x 0.05, moving along -x): handle bar 6 cm in front of the door, free
# at its top; the fingers close on it at this height.
SLIDER_HANDLE_X0 = 0.05
SLIDER_HANDLE_Y = -0.0405
SLIDER_GRASP_Z = 0.545
# The door panel spans 0.34 m along x around its joint position and stands at y 0.012..0.027.
DOOR_HALF_WIDTH = 0.17
DOOR_FRONT_Y = 0.012
# Drawer (joint origin y -0.19, pulled along -y): handle bar 5 cm in front of the panel.
DRAWER_HANDLE_X = 0.17
DRAWER_HANDLE_Y0 = -0.3675
DRAWER_GRASP_Z = 0.37
# Drawer box: x 0.02..0.32 with 1.5 cm walls, floor top z 0.31; its inner front face is at
# y = -0.305 - drawer and the table top's front edge at y = -0.32.
DRAWER_INNER_X = (0.035, 0.305)
DRAWER_INNER_FRONT_Y0 = -0.305
DRAWER_FLOOR_Z = 0.31
TABLE_FRONT_Y = -0.32
# Push button cap (top at 0.48 released); the closed fingertips press it to this TCP height.
BUTTON_XY = (-0.10, -0.09)
BUTTON_PRESS_Z = 0.452
# Slide switch knob: centre z 0.53 + switch, sticking out of the box face to y -0.09.
SWITCH_X = 0.27
SWITCH_GRASP_Y = -0.065
SWITCH_Z0 = 0.53
# Shelf plank top (flush with the table top) behind the door: x -0.40..0.22, y 0.03..0.22.
PLANK_X = (-0.40, 0.22)
PLANK_Y = (0.03, 0.22)
SHELF_PLACE_Y = 0.09
TABLE_X = (-0.60, 0.50)

# ------------------------------------------------------------------ controller and thresholds

NEUTRAL_YAW = 1.5708
# Gripper pointing down: roll pi, pitch 0.
DOWN_ROLL_PITCH = (np.pi, 0.0)
POSITION_GAIN = 0.6
ORIENTATION_GAIN = 0.6
# Fraction of the maximal relative step used at speed 1, leaving headroom for noise.
CRUISE_FRACTION = 0.75
CONTACT_FRACTION = 0.4
GRIPPER_SETTLE_STEPS = 6
HOVER = 0.07
BLOCK_GRASP_DZ = 0.005
# A block is held when the closed gripper is about a block wide and the block's centre is near the
# TCP.
HELD_WIDTH = (0.025, 0.07)
HELD_DISTANCE = 0.04
REST_TOLERANCE = 0.012
STACK_HEIGHT = 0.04
UPRIGHT_TOLERANCE = 0.25
# Panda hand footprint seen from above, around the TCP: along the finger axis and across it.
HAND_HALF_ALONG_FINGERS = 0.117
HAND_HALF_ACROSS_FINGERS = 0.046
HAND_MARGIN = 0.008
# Travel height above every part of the scene (door top 0.60, raised switch knob 0.63).
TRANSIT_Z = 0.64
# The arm cannot reach far at travel height; precision comes from the lower waypoints.
TRANSIT_TOLERANCE = 0.03
# Door and drawer moves aim past CALVIN's 0.15 m / 0.12 m thresholds by this margin.
SLIDER_MOVE = 0.19
DRAWER_MOVE = 0.16
DOOR_THRESHOLD_MARGIN = 0.02
DRAWER_OPEN_FOR_BLOCKS = 0.15
PUSH_DISTANCE = 0.14
ROTATE_ANGLE = 1.45
REACH_X_MAX = 0.40
MAX_GRIP_SPAN = 0.07
# Half the open fingers' outer span along the finger axis.
FINGER_SPAN = 0.075
# How far from the robot base (in the xy plane) the TCP works at block height.
REACH_RADIUS = 0.76
PUSH_GAP = 0.03
FINGER_HALF_THICKNESS = 0.012
# Half the open fingers' span along the finger axis, plus a margin.
FINGER_REACH = 0.06
RELEASE_DROP = 0.008
SKILL_MAX_STEPS = 320

TASK_OBJECTS: Dict[str, str] = {}
for _task in TASK_NAMES:
    _words = _task.split('_')
    if _words[0] in ('rotate', 'push', 'lift') and _words[1] in BLOCK_COLORS:
        TASK_OBJECTS[_task] = f'block_{_words[1]}'
    elif 'slider' in _task and _words[0] == 'move':
        TASK_OBJECTS[_task] = 'slider'
    elif _task.endswith('drawer') and _words[0] in ('open', 'close'):
        TASK_OBJECTS[_task] = 'drawer'
    elif _task.endswith('led'):
        TASK_OBJECTS[_task] = 'led'
    elif _task.endswith('lightbulb'):
        TASK_OBJECTS[_task] = 'lightbulb'
    else:
        TASK_OBJECTS[_task] = 'blocks'


# ------------------------------------------------------------------ reading the state


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
        if y < 0.0 and TABLE_X[0] < x < TABLE_X[1]:
            return 'table'
        if PLANK_X[0] < x < PLANK_X[1] and PLANK_Y[0] < y < PLANK_Y[1]:
            return 'slider'
        return 'other'
    if abs(z - DRAWER_FLOOR_Z - geo.block_half_extents(block)[2]) < REST_TOLERANCE:
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
    front = DRAWER_INNER_FRONT_Y0 - obs[layout.ROBOT_OBS_DIM + layout.DRAWER]
    finger = yaw - np.pi / 2.0
    finger_x = FINGER_SPAN * abs(np.cos(finger)) + FINGER_HALF_THICKNESS * abs(np.sin(finger))
    return bool(hand[:, 1].max() < TABLE_FRONT_Y and hand[:, 1].min() > front
                and DRAWER_INNER_X[0] < x - finger_x and x + finger_x < DRAWER_INNER_X[1])


def _rectangles_overlap(first: np.ndarray, second: np.ndarray) -> bool:
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


def hand_footprint(x: float, y: float, yaw: float, margin: float = HAND_MARGIN) -> np.ndarray:
    """
    Return the Panda hand's footprint seen from above for a TCP pose pointing down.

    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad); the fingers spread along yaw - pi/2.
    :param margin: growth on every side (m).
    :return: (4, 2) corners.
    """
    finger = yaw - np.pi / 2.0
    along = np.array([np.cos(finger), np.sin(finger)]) * (HAND_HALF_ALONG_FINGERS + margin)
    across = np.array([-np.sin(finger), np.cos(finger)]) * (HAND_HALF_ACROSS_FINGERS + margin)
    centre = np.array([x, y])
    return np.array([centre + along + across, centre - along + across,
                     centre - along - across, centre + along - across])


def low_obstacles(obs: np.ndarray) -> List[np.ndarray]:
    """
    Return the footprints of the fixed and articulated parts the hand meets at block height.

    At block height the hand (TCP + 0.03 to + 0.14 m) reaches the sliding door and its handle,
    the switch knob, the right box and the cabinet's left column.

    :param obs: (39,) observation.
    :return: list of (4, 2) corner arrays (m).
    """
    scene = obs[layout.ROBOT_OBS_DIM:]
    door_x = SLIDER_HANDLE_X0 - scene[layout.SLIDER]
    obstacles = [
        _box((door_x - DOOR_HALF_WIDTH, door_x + DOOR_HALF_WIDTH), (DOOR_FRONT_Y, 0.027)),
        _box((door_x - 0.0075, door_x + 0.0075), (SLIDER_HANDLE_Y - 0.0075, DOOR_FRONT_Y)),
        _box((0.22, 0.32), (0.02, 0.26)),
        _box((-0.46, -0.40), (0.0, 0.26)),
        # The knob, even raised: then the wrist (panda_link7) reaches its height.
        _box((SWITCH_X - 0.015, SWITCH_X + 0.015), (-0.09, 0.025)),
    ]
    return obstacles


def hand_clear(obs: np.ndarray, x: float, y: float, yaw: float) -> bool:
    """
    Return whether the hand, lowered to block height at (x, y, yaw), misses the scene's parts.

    :param obs: (39,) observation.
    :param x: TCP x (m).
    :param y: TCP y (m).
    :param yaw: TCP yaw (rad).
    :return: True when it is within reach and meets none of low_obstacles.
    """
    if np.hypot(x - geo.ROBOT_BASE_POSITION[0], y - geo.ROBOT_BASE_POSITION[1]) > REACH_RADIUS:
        return False
    hand = hand_footprint(x, y, yaw)
    return not any(_rectangles_overlap(hand, obstacle) for obstacle in low_obstacles(obs))


# ------------------------------------------------------------------ skills


Goal = Callable[[np.ndarray], Tuple[np.ndarray, float]]


@dataclass(frozen=True)
class Waypoint:
    """
    One phase of a scripted skill.

    :param name: phase name, for logs.
    :param goal: obs -> (TCP position (3,) m, TCP yaw rad), recomputed every step.
    :param gripper: gripper command during the phase, -1 close or +1 open.
    :param tolerance: position error (m) under which the phase is reached.
    :param hold: steps to stay once reached (the gripper settles meanwhile).
    :param fraction: speed as a fraction of the maximal relative step, before the speed factor.
    :param timeout: steps after which the phase ends even if not reached.
    :param yaw_tolerance: yaw error (rad) under which the phase is reached.
    """

    name: str
    goal: Goal
    gripper: float
    tolerance: float = 0.01
    hold: int = 0
    fraction: float = CRUISE_FRACTION
    timeout: int = 60
    yaw_tolerance: float = 0.08


class Skill:
    """A phase machine over waypoints, closed-loop on the TCP pose."""

    def __init__(self, task: str, waypoints: Sequence[Waypoint], speed: float = 1.0,
                 max_steps: int = 300):
        """
        Create a skill.

        :param task: the task name.
        :param waypoints: phases in order.
        :param speed: factor on the cruise speed, e.g. in [0.7, 1.2].
        :param max_steps: hard step budget.
        """
        self.task = task
        self.max_steps = max_steps
        self._waypoints = list(waypoints)
        self._speed = float(speed)
        self._phase = 0
        self._phase_steps = 0
        self._held_steps = 0

    @property
    def done(self) -> bool:
        """
        Return whether the last phase has finished.

        :return: True when the script is over.
        """
        return self._phase >= len(self._waypoints)

    @property
    def phase(self) -> str:
        """
        Return the current phase's name.

        :return: the name, or 'done'.
        """
        return 'done' if self.done else self._waypoints[self._phase].name

    def act(self, obs: np.ndarray) -> np.ndarray:
        """
        Return the next relative action.

        :param obs: (39,) current observation.
        :return: (7,) a new relative action: motion in [-1, 1], gripper exactly -1 or +1.
        """
        if self.done:
            return np.array([0.0] * 6 + [float(obs[layout.GRIPPER_ACTION]) or 1.0])
        waypoint = self._waypoints[self._phase]
        position, yaw = waypoint.goal(obs)
        action = self._control(obs, position, yaw, waypoint)
        self._phase_steps += 1
        yaw_error = abs(layout.wrap_to_pi(yaw - obs[layout.TCP_ORN][2]))
        reached = (np.linalg.norm(position - tcp_position(obs)) < waypoint.tolerance
                   and yaw_error < waypoint.yaw_tolerance)
        if reached:
            self._held_steps += 1
        if self._held_steps > waypoint.hold or self._phase_steps >= waypoint.timeout:
            if not reached:
                logger.debug('%s: phase %s timed out', self.task, waypoint.name)
            self._phase += 1
            self._phase_steps = 0
            self._held_steps = 0
        return action

    def _control(self, obs: np.ndarray, position: np.ndarray, yaw: float,
                 waypoint: Waypoint) -> np.ndarray:
        """
        Return the P-control action towards a TCP goal.

        :param obs: (39,) observation.
        :param position: (3,) goal position (m).
        :param yaw: goal yaw (rad).
        :param waypoint: the phase (gripper, speed).
        :return: (7,) relative action.
        """
        limit = min(1.0, waypoint.fraction * self._speed)
        action = np.empty(layout.ACTION_DIM)
        step = POSITION_GAIN * (position - tcp_position(obs)) / layout.MAX_REL_POS_M
        norm = np.linalg.norm(step)
        action[:3] = step * (limit / norm) if norm > limit else step
        goal_orientation = np.array([*DOWN_ROLL_PITCH, yaw])
        error = layout.wrap_to_pi(goal_orientation - obs[layout.TCP_ORN])
        action[3:6] = np.clip(ORIENTATION_GAIN * error / layout.MAX_REL_ORN_RAD, -limit, limit)
        action[6] = waypoint.gripper
        return action


def _fixed(position: Sequence[float], yaw: Optional[float] = NEUTRAL_YAW) -> Goal:
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


def _retreat(rise: float, back: float = 0.0) -> List[Waypoint]:
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


def _door_skill(obs: np.ndarray, task: str) -> List[Waypoint]:
    """
    Return the waypoints of move_slider_* and open/close_drawer: grip the handle and pull.

    :param obs: (39,) observation at skill start.
    :param task: the task.
    :return: waypoints.
    """
    scene = obs[layout.ROBOT_OBS_DIM:]
    if 'slider' in task:
        start = scene[layout.SLIDER]
        move = SLIDER_MOVE if task == 'move_slider_left' else -SLIDER_MOVE
        goal_value = float(np.clip(start + move, *layout.SLIDER_RANGE))

        def handle(value: float) -> np.ndarray:
            return np.array([SLIDER_HANDLE_X0 - value, SLIDER_HANDLE_Y, SLIDER_GRASP_Z])
    else:
        start = scene[layout.DRAWER]
        move = DRAWER_MOVE if task == 'open_drawer' else -DRAWER_MOVE
        goal_value = float(np.clip(start + move, *layout.DRAWER_RANGE))

        def handle(value: float) -> np.ndarray:
            return np.array([DRAWER_HANDLE_X, DRAWER_HANDLE_Y0 - value, DRAWER_GRASP_Z])

    index = layout.SLIDER if 'slider' in task else layout.DRAWER
    current = lambda obs: handle(obs[layout.ROBOT_OBS_DIM + index])  # noqa: E731
    above = lambda obs: (current(obs) + np.array([0.0, 0.0, HOVER]), NEUTRAL_YAW)  # noqa: E731
    return [
        Waypoint('above handle', above, layout.GRIPPER_OPEN, tolerance=0.015),
        Waypoint('descend', lambda obs: (current(obs), NEUTRAL_YAW), layout.GRIPPER_OPEN,
                 tolerance=0.006, fraction=CONTACT_FRACTION),
        Waypoint('grip', lambda obs: (current(obs), NEUTRAL_YAW), layout.GRIPPER_CLOSE,
                 tolerance=0.02, hold=GRIPPER_SETTLE_STEPS),
        Waypoint('pull', _fixed(handle(goal_value)), layout.GRIPPER_CLOSE, tolerance=0.01,
                 fraction=0.6, timeout=80),
        *_retreat(rise=HOVER),
    ]


def _button_skill() -> List[Waypoint]:
    """
    Return the waypoints of turn_on_led / turn_off_led: press the button once with closed fingers.

    :return: waypoints.
    """
    above = (*BUTTON_XY, BUTTON_PRESS_Z + HOVER)
    return [
        Waypoint('above button', _fixed(above), layout.GRIPPER_CLOSE, tolerance=0.01),
        Waypoint('press', _fixed((*BUTTON_XY, BUTTON_PRESS_Z)), layout.GRIPPER_CLOSE,
                 tolerance=0.006, hold=2, fraction=CONTACT_FRACTION, timeout=40),
        Waypoint('lift off', _fixed(above), layout.GRIPPER_CLOSE, tolerance=0.015),
    ]


def _switch_skill(task: str) -> List[Waypoint]:
    """
    Return the waypoints of turn_on/off_lightbulb: grip the switch knob and slide it.

    :param task: the task.
    :return: waypoints.
    """
    goal_value = layout.SWITCH_RANGE[1] - 0.004 if task == 'turn_on_lightbulb' else 0.004

    def knob(obs: np.ndarray) -> np.ndarray:
        return np.array([SWITCH_X, SWITCH_GRASP_Y,
                         SWITCH_Z0 + obs[layout.ROBOT_OBS_DIM + layout.SWITCH]])

    return [
        Waypoint('above knob', lambda obs: (knob(obs) + (0.0, 0.0, HOVER), NEUTRAL_YAW),
                 layout.GRIPPER_OPEN, tolerance=0.015),
        Waypoint('descend', lambda obs: (knob(obs), NEUTRAL_YAW), layout.GRIPPER_OPEN,
                 tolerance=0.006, fraction=CONTACT_FRACTION),
        Waypoint('grip', lambda obs: (knob(obs), NEUTRAL_YAW), layout.GRIPPER_CLOSE,
                 tolerance=0.02, hold=GRIPPER_SETTLE_STEPS),
        Waypoint('slide', _fixed((SWITCH_X, SWITCH_GRASP_Y, SWITCH_Z0 + goal_value)),
                 layout.GRIPPER_CLOSE, tolerance=0.006, fraction=0.5, timeout=60),
        *_retreat(rise=0.0, back=0.08),
    ]


def _grasp(block: int, preferred_yaw: float = NEUTRAL_YAW,
           any_side: bool = False) -> List[Waypoint]:
    """
    Return the waypoints that grasp a resting block from above (gripper closed at the end).

    The grasp yaw is fixed from the first observation, so that it does not jump between the
    candidates while the block turns a little under the fingers.

    :param block: 0 red, 1 blue, 2 pink.
    :param preferred_yaw: TCP yaw to stay close to among the grasp candidates (rad).
    :param any_side: also grip the red block across its long side (see grasp_yaw).
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

    def above(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        return np.array([*block_pose(obs, block)[:2], TRANSIT_Z]), yaw(obs)

    return [
        Waypoint('above block', above, layout.GRIPPER_OPEN, tolerance=TRANSIT_TOLERANCE),
        Waypoint('align', at(HOVER), layout.GRIPPER_OPEN, tolerance=0.008),
        Waypoint('descend', at(BLOCK_GRASP_DZ), layout.GRIPPER_OPEN, tolerance=0.006,
                 fraction=CONTACT_FRACTION),
        Waypoint('grasp', at(BLOCK_GRASP_DZ), layout.GRIPPER_CLOSE, tolerance=0.03,
                 hold=GRIPPER_SETTLE_STEPS),
    ]


def _carry_to(goal_xy: Callable[[np.ndarray], np.ndarray], release_z: float,
              carry_z: float = TRANSIT_Z, yaw: Optional[float] = None) -> List[Waypoint]:
    """
    Return the waypoints that carry a held block over a spot, lower it and let go.

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


def _lift_skill(obs: np.ndarray, block: int) -> List[Waypoint]:
    """
    Return the waypoints of lift_*: grasp the block and hold it up in the air (no release).

    :param obs: (39,) observation at skill start.
    :param block: 0 red, 1 blue, 2 pink.
    :return: waypoints.
    """
    start = block_pose(obs, block)[:3]
    lift_z = max(start[2] + 0.12, 0.52)
    return [
        *_grasp(block, any_side=block_support(obs, block) == 'drawer'),
        Waypoint('lift', _fixed((start[0], start[1], lift_z), None), layout.GRIPPER_CLOSE,
                 tolerance=0.01, hold=4, fraction=0.5),
    ]


def _rotate_skill(obs: np.ndarray, block: int, sign: float) -> List[Waypoint]:
    """
    Return the waypoints of rotate_*: grasp, raise a little, turn about z, set down, release.

    :param obs: (39,) observation at skill start.
    :param block: 0 red, 1 blue, 2 pink.
    :param sign: +1 for left (counter-clockwise from above), -1 for right.
    :return: waypoints.
    """
    start = block_pose(obs, block)[:3]
    # Grasp at the candidate that leaves the turned hand closest to its neutral yaw.
    grasp = _grasp(block, NEUTRAL_YAW - sign * ROTATE_ANGLE / 2.0)
    memory: Dict[str, float] = {}

    def grasped_yaw(obs: np.ndarray) -> float:
        memory.setdefault('grasp', float(obs[layout.TCP_ORN][2]))
        return memory['grasp']

    def turned(height: float) -> Goal:
        def goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
            return start + (0.0, 0.0, height), grasped_yaw(obs) + sign * ROTATE_ANGLE
        return goal

    return [
        *grasp,
        Waypoint('raise', lambda obs: (start + (0.0, 0.0, 0.02), grasped_yaw(obs)),
                 layout.GRIPPER_CLOSE, tolerance=0.008, fraction=0.5),
        Waypoint('turn', turned(0.02), layout.GRIPPER_CLOSE, tolerance=0.01, hold=6,
                 timeout=70),
        Waypoint('set down', turned(BLOCK_GRASP_DZ), layout.GRIPPER_CLOSE, tolerance=0.006,
                 fraction=CONTACT_FRACTION),
        *_retreat(rise=TRANSIT_Z - start[2]),
    ]


def _push_skill(obs: np.ndarray, block: int, direction: np.ndarray,
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
        Waypoint('above start', _fixed((*behind, TRANSIT_Z)), layout.GRIPPER_CLOSE,
                 tolerance=TRANSIT_TOLERANCE),
        Waypoint('lower', _fixed((*behind, height + HOVER)), layout.GRIPPER_CLOSE,
                 tolerance=0.01),
        Waypoint('descend', _fixed((*behind, height)), layout.GRIPPER_CLOSE, tolerance=0.006,
                 fraction=CONTACT_FRACTION),
        Waypoint('push', _fixed((*end, height)), layout.GRIPPER_CLOSE, tolerance=0.008,
                 fraction=0.5, timeout=60),
        Waypoint('back off', _fixed((*back, height)), layout.GRIPPER_CLOSE, tolerance=0.008),
        Waypoint('retreat', _fixed((*back, TRANSIT_Z)), layout.GRIPPER_CLOSE,
                 tolerance=TRANSIT_TOLERANCE),
    ]


def _held_or_grasp(obs: np.ndarray, block: int) -> List[Waypoint]:
    """
    Return the grasp waypoints unless the block is already held.

    :param obs: (39,) observation at skill start.
    :param block: 0 red, 1 blue, 2 pink.
    :return: waypoints (empty when held).
    """
    return [] if held_block(obs) == block else _grasp(block)


def _stack_skill(obs: np.ndarray, block: int, base: int) -> List[Waypoint]:
    """
    Return the waypoints of stack_block: put one block on top of another, release, retreat.

    :param obs: (39,) observation at skill start.
    :param block: the block to move.
    :param base: the block to stack on.
    :return: waypoints.
    """
    release_z = (block_pose(obs, base)[2] + STACK_HEIGHT + BLOCK_GRASP_DZ + RELEASE_DROP)
    return [
        *_held_or_grasp(obs, block),
        *_carry_to(lambda obs: block_pose(obs, base)[:2], release_z),
        *_retreat(rise=TRANSIT_Z - release_z),
    ]


def _unstack_skill(obs: np.ndarray, block: int, spot: np.ndarray) -> List[Waypoint]:
    """
    Return the waypoints of unstack_block: take the top block to a free spot on the table.

    :param obs: (39,) observation at skill start.
    :param block: the top block.
    :param spot: (2,) free table spot (m).
    :return: waypoints.
    """
    release_z = geo.BLOCK_REST_Z + BLOCK_GRASP_DZ + RELEASE_DROP
    return [*_grasp(block), *_carry_to(lambda obs: spot, release_z),
            *_retreat(rise=TRANSIT_Z - release_z)]


def _place_skill(spot: np.ndarray, release_z: float, carry_z: float) -> List[Waypoint]:
    """
    Return the waypoints of place_in_slider / place_in_drawer: carry the held block and let go.

    :param spot: (2,) TCP xy over the destination (m).
    :param release_z: TCP height where the fingers open (m).
    :param carry_z: travel height (m).
    :return: waypoints.
    """
    return [*_carry_to(lambda obs: spot, release_z, carry_z),
            *_retreat(rise=TRANSIT_Z - release_z)]


def _push_into_drawer_skill(obs: np.ndarray, block: int) -> List[Waypoint]:
    """
    Return the waypoints of push_into_drawer: push the block off the table's front edge.

    :param obs: (39,) observation at skill start.
    :param block: a block on the table in front of the open drawer.
    :return: waypoints.
    """
    pose = block_pose(obs, block)
    extent = footprint_extent(block, pose[5])[1]
    # The TCP travels until the block's centre is well past the table's front edge.
    distance = pose[1] - TABLE_FRONT_Y + extent + 0.035
    return _push_skill(obs, block, np.array([0.0, -1.0]), distance)


# ------------------------------------------------------------------ feasibility


def _other_blocks(block: int) -> List[int]:
    """
    Return the indices of the other blocks.

    :param block: 0 red, 1 blue, 2 pink.
    :return: the two other indices.
    """
    return [other for other in range(len(layout.BLOCK_NAMES)) if other != block]


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
    for other in _other_blocks(block):
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


def _isolated(obs: np.ndarray, block: int, distance: float) -> bool:
    """
    Return whether every other block's centre is at least a distance away.

    :param obs: (39,) observation.
    :param block: 0 red, 1 blue, 2 pink.
    :param distance: m, in the xy plane.
    :return: True when isolated.
    """
    centre = block_pose(obs, block)[:2]
    return all(np.linalg.norm(block_pose(obs, other)[:2] - centre) >= distance
               for other in _other_blocks(block))


def _path_clear(obs: np.ndarray, block: int, direction: np.ndarray, distance: float) -> bool:
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
    for other in _other_blocks(block):
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


def _push_reason(obs: np.ndarray, block: int, sign: float) -> Optional[str]:
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
    if not _isolated(obs, block, 0.1):
        return 'another block is too close'
    direction = np.array([sign, 0.0])
    if not _path_clear(obs, block, direction, PUSH_DISTANCE):
        return 'another block is in the way'
    end_x = pose[0] + sign * (PUSH_DISTANCE - 0.01)
    if support == 'table':
        low = -0.05 if abs(pose[1] - BUTTON_XY[1]) < extent[1] + 0.06 else -0.30
        if not low + extent[0] < end_x < REACH_X_MAX - extent[0]:
            return 'the push would leave the reachable table area or hit the button'
    elif not PLANK_X[0] + extent[0] + 0.01 < end_x < PLANK_X[1] - extent[0] - 0.01:
        return 'the push would run into the cabinet wall'
    start_x = pose[0] - sign * (extent[0] + FINGER_HALF_THICKNESS + PUSH_GAP)
    if not _sweep_clear(obs, (start_x, pose[1]), (end_x - sign * extent[0], pose[1])):
        return 'the hand would hit the door, the switch or the cabinet on the way'
    return None


def _sweep_clear(obs: np.ndarray, start: Sequence[float], end: Sequence[float],
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


def _grasp_reason(obs: np.ndarray, block: int, supports: Sequence[str],
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


def _table_spot(obs: np.ndarray, block: int) -> Optional[np.ndarray]:
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
                           for other in _other_blocks(block))
            if distance > best_distance:
                best, best_distance = spot, distance
    return best if best_distance > 0.1 else None


def _shelf_spot(obs: np.ndarray, block: int) -> Optional[np.ndarray]:
    """
    Return a spot on the shelf, clear of the door and of other blocks, to place a block.

    :param obs: (39,) observation.
    :param block: the held block.
    :return: (2,) TCP xy (m) or None.
    """
    candidates = []
    for x in np.linspace(PLANK_X[0] + 0.08, PLANK_X[1] - 0.08, 12):
        if not hand_clear(obs, x, SHELF_PLACE_Y, obs[layout.TCP_ORN][2]):
            continue
        spot = np.array([x, SHELF_PLACE_Y])
        distance = min(np.linalg.norm(block_pose(obs, other)[:2] - spot)
                       for other in _other_blocks(block))
        if distance > 0.1:
            candidates.append((abs(x), spot))
    return min(candidates, key=lambda item: item[0])[1] if candidates else None


def _drawer_spot(obs: np.ndarray) -> Optional[np.ndarray]:
    """
    Return the TCP xy over the open drawer's visible floor, or None if it is not open enough.

    :param obs: (39,) observation.
    :return: (2,) m or None.
    """
    drawer = obs[layout.ROBOT_OBS_DIM + layout.DRAWER]
    if drawer < DRAWER_OPEN_FOR_BLOCKS:
        return None
    front = DRAWER_INNER_FRONT_Y0 - drawer
    return np.array([DRAWER_HANDLE_X, (front + TABLE_FRONT_Y) / 2.0])


def _stack_pair(obs: np.ndarray, rng: Optional[np.random.Generator] = None
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
        if held is None and _grasp_reason(obs, block, ('table',)) is not None:
            continue
        if held is None and not _isolated(obs, block, 0.07):
            continue
        for base in _other_blocks(block):
            base_pose = block_pose(obs, base)
            yaw = obs[layout.TCP_ORN][2] if held is not None else grasp_yaw(obs, block)
            if (block_support(obs, base) == 'table' and _isolated(obs, base, 0.09)
                    and base_pose[0] < REACH_X_MAX and hand_clear(obs, *base_pose[:2], yaw)
                    and all(block_support(obs, other) != 'stacked' for other in range(3))):
                pairs.append((block, base))
    if not pairs:
        return None
    return pairs[0] if rng is None else pairs[int(rng.integers(len(pairs)))]


def _stacked_block(obs: np.ndarray) -> Optional[int]:
    """
    Return a block resting on another one that the hand can grasp, if any.

    :param obs: (39,) observation.
    :return: its index or None.
    """
    for block in range(len(layout.BLOCK_NAMES)):
        if held_block(obs) is None and _grasp_reason(obs, block, ('stacked',)) is None:
            return block
    return None


def _drawer_candidates(obs: np.ndarray) -> List[int]:
    """
    Return the blocks that can be pushed off the table's front edge into the open drawer.

    :param obs: (39,) observation.
    :return: block indices.
    """
    if obs[layout.ROBOT_OBS_DIM + layout.DRAWER] < DRAWER_OPEN_FOR_BLOCKS:
        return []
    blocks = []
    for block in range(len(layout.BLOCK_NAMES)):
        pose = block_pose(obs, block)
        extent = footprint_extent(block, pose[5])
        if (block_support(obs, block) == 'table' and _isolated(obs, block, 0.1)
                and DRAWER_INNER_X[0] + extent[0] + 0.02 < pose[0]
                < DRAWER_INNER_X[1] - extent[0] - 0.02
                and _path_clear(obs, block, np.array([0.0, -1.0]), 0.3)
                and _sweep_clear(obs, pose[:2] + (0.0, extent[1] + PUSH_GAP + 0.012),
                                 (pose[0], TABLE_FRONT_Y))):
            blocks.append(block)
    return blocks


def _door_room_problem(name: str, value: float, joint_range: Tuple[float, float],
                       towards_upper: bool, travel: float) -> Optional[str]:
    """
    Say why a door or drawer cannot travel far enough for the oracle, or None when it can.

    :param name: the part, for the message.
    :param value: its joint value (m).
    :param joint_range: (lower, upper) joint limits (m).
    :param towards_upper: whether the task moves it towards the upper limit.
    :param travel: the oracle's threshold (m); a margin is added on top.
    :return: the reason, or None.
    """
    room = joint_range[1] - value if towards_upper else value - joint_range[0]
    if room < travel + DOOR_THRESHOLD_MARGIN:
        return f'the {name} is at {value:.2f} m, too close to its end'
    return None


def infeasibility(task: str, obs: np.ndarray) -> Optional[str]:
    """
    Return why a task's skill cannot run from a state, or None when it can.

    :param task: one of the 34 task names.
    :param obs: (39,) observation.
    :return: the reason or None.
    :raises ValueError: when the task is unknown.
    """
    if task not in TASK_OBJECTS:
        raise ValueError(f'unknown task {task!r}; known tasks: {", ".join(TASK_NAMES)}')
    scene = obs[layout.ROBOT_OBS_DIM:]
    held = held_block(obs)
    words = task.split('_')
    if task in ('place_in_slider', 'place_in_drawer'):
        if held is None or block_pose(obs, held)[2] < geo.BLOCK_REST_Z + 0.02:
            return 'no block is held in the air'
        spot = _shelf_spot(obs, held) if task == 'place_in_slider' else _drawer_spot(obs)
        return None if spot is not None else 'no free spot to put the block down'
    if task == 'stack_block':
        return None if _stack_pair(obs) is not None else 'no pair of free blocks to stack'
    if held is not None:
        return 'a block is held; only placing and stacking can follow'
    if task == 'unstack_block':
        block = _stacked_block(obs)
        if block is None:
            return 'no block is stacked where the hand can grasp it'
        return None if _table_spot(obs, block) is not None else 'no free spot on the table'
    if task == 'push_into_drawer':
        return None if _drawer_candidates(obs) else 'no block can be pushed into the open drawer'
    if words[0] == 'move':
        return _door_room_problem('sliding door', scene[layout.SLIDER], layout.SLIDER_RANGE,
                                  towards_upper=words[2] == 'left', travel=0.15)
    if words[1] == 'drawer':
        return _door_room_problem('drawer', scene[layout.DRAWER], layout.DRAWER_RANGE,
                                  towards_upper=words[0] == 'open', travel=0.12)
    if words[-1] in ('led', 'lightbulb'):
        index = layout.LED if words[-1] == 'led' else layout.LIGHTBULB
        wanted_start = 0 if words[1] == 'on' else 1
        if scene[index] != wanted_start:
            return f'the {words[-1]} is already {words[1]}'
        return None
    block = BLOCK_COLORS[words[1]]
    if words[0] == 'lift':
        supports = {'table': ('table',), 'slider': ('slider',), 'drawer': ('drawer',)}
        reason = _grasp_reason(obs, block, supports[words[3]])
        if reason is None and _drawer_spot(obs) is None and _shelf_spot(obs, block) is None:
            reason = 'the block could not be put down anywhere afterwards'
        return reason
    if words[0] == 'push':
        return _push_reason(obs, block, 1.0 if words[3] == 'right' else -1.0)
    sign = 1.0 if words[3] == 'left' else -1.0
    grasp = NEUTRAL_YAW - sign * ROTATE_ANGLE / 2.0
    reason = _grasp_reason(obs, block, ('table',), grasp)
    if reason is None and not _isolated(obs, block, 0.11):
        reason = 'another block is too close to turn this one'
    turned = grasp_yaw(obs, block, grasp) + sign * ROTATE_ANGLE
    if reason is None and not hand_clear(obs, *block_pose(obs, block)[:2], turned):
        reason = 'the turned hand would hit the switch or the cabinet'
    return reason


def feasible_tasks(obs: np.ndarray) -> List[str]:
    """
    Return the tasks whose skills can run from a state, in TASK_NAMES order.

    :param obs: (39,) observation.
    :return: task names.
    """
    obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
    return [task for task in TASK_NAMES if infeasibility(task, obs) is None]


def make_skill(task: str, obs: np.ndarray, rng: np.random.Generator,
               speed: float = 1.0) -> Skill:
    """
    Build the skill for a task from the current state.

    :param task: one of the 34 task names.
    :param obs: (39,) current observation.
    :param rng: chooses among equivalent options (which blocks to stack, which to push).
    :param speed: factor on the cruise speed, e.g. in [0.7, 1.2].
    :return: a fresh Skill.
    :raises ValueError: when the task is unknown or infeasible from this state (says why).
    """
    obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
    reason = infeasibility(task, obs)
    if reason is not None:
        raise ValueError(f'{task} is not feasible here: {reason}')
    words = task.split('_')
    waypoints: List[Waypoint] = [_clear_height(obs)]
    if words[0] in ('move', 'open', 'close'):
        waypoints += _door_skill(obs, task)
    elif words[-1] == 'led':
        waypoints += _button_skill()
    elif words[-1] == 'lightbulb':
        waypoints += _switch_skill(task)
    elif task == 'stack_block':
        waypoints += _stack_skill(obs, *_stack_pair(obs, rng))
    elif task == 'unstack_block':
        block = _stacked_block(obs)
        waypoints += _unstack_skill(obs, block, _table_spot(obs, block))
    elif task == 'place_in_slider':
        waypoints += _place_skill(_shelf_spot(obs, held_block(obs)),
                                  geo.BLOCK_REST_Z + BLOCK_GRASP_DZ + RELEASE_DROP, TRANSIT_Z)
    elif task == 'place_in_drawer':
        # Released above the table top's height so that no finger can catch its front edge.
        waypoints += _place_skill(_drawer_spot(obs), geo.TABLE_TOP_Z + 0.02, TRANSIT_Z)
    elif task == 'push_into_drawer':
        candidates = _drawer_candidates(obs)
        waypoints += _push_into_drawer_skill(obs, candidates[int(rng.integers(len(candidates)))])
    elif words[0] == 'lift':
        waypoints += _lift_skill(obs, BLOCK_COLORS[words[1]])
    elif words[0] == 'push':
        sign = 1.0 if words[3] == 'right' else -1.0
        waypoints += _push_skill(obs, BLOCK_COLORS[words[1]], np.array([sign, 0.0]),
                                 PUSH_DISTANCE + PUSH_GAP)
    else:
        waypoints += _rotate_skill(obs, BLOCK_COLORS[words[1]],
                                   1.0 if words[3] == 'left' else -1.0)
    return Skill(task, waypoints, speed, SKILL_MAX_STEPS)


def _clear_height(obs: np.ndarray) -> Waypoint:
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


class SkillRun(NamedTuple):
    """
    The outcome of one skill run.

    :param success: the oracle saw the task done during the run.
    :param steps: control steps run.
    :param achieved_step: the number of steps after which the oracle first saw it done, or None.
    """

    success: bool
    steps: int
    achieved_step: Optional[int]


def run_skill(sim, task: str, rng: np.random.Generator, speed: float = 1.0,
              noise: float = 0.0, max_steps: Optional[int] = None,
              step: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> SkillRun:
    """
    Run one skill in a simulator and judge it with CALVIN's oracle.

    The oracle compares the start snapshot with the current one every ORACLE_CHECK_EVERY steps
    and at the end.  The skill runs on after success to its end (its retreat included).

    :param sim: a simulator with the PlayTableSim API.
    :param task: one of the 34 task names.
    :param rng: for the skill's choices and the action noise.
    :param speed: factor on the cruise speed.
    :param noise: std of Gaussian noise added to the motion dims of every action.
    :param max_steps: stop after this many steps even if the skill is not done (at most the
        skill's own budget).
    :param step: applies one (7,) relative action and returns the (39,) observation after it;
        sim.step when None (a recorder passes its own).
    :return: the outcome.
    :raises ValueError: when the task is unknown or infeasible from the simulator's state.
    """
    oracle = TaskOracle()
    step = sim.step if step is None else step
    obs = sim.observe()
    skill = make_skill(task, obs, rng, speed)
    budget = skill.max_steps if max_steps is None else min(max_steps, skill.max_steps)
    start_info = sim.scene_info()
    achieved_step = None
    steps = 0
    while steps < budget and not skill.done:
        action = skill.act(obs)
        if noise > 0.0:
            action[:6] = np.clip(action[:6] + rng.normal(0.0, noise, 6), -1.0, 1.0)
        obs = step(action)
        steps += 1
        finished = skill.done or steps == budget
        if achieved_step is None and (steps % ORACLE_CHECK_EVERY == 0 or finished):
            if oracle.check(task, start_info, sim.scene_info()):
                achieved_step = steps
    return SkillRun(achieved_step is not None, steps, achieved_step)
