"""
The closed-loop waypoint controller that every scripted skill runs on.

A skill is a list of waypoints.  Each waypoint's goal (TCP position and yaw) is recomputed from
the current observation at every step, and a P-controller on the TCP position and the
wrap-aware orientation error turns it into a relative action, so a skill tolerates action noise
and speed changes.
"""

from dataclasses import dataclass
import logging
from typing import Callable, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.skills.geometry import DOWN_ROLL_PITCH, tcp_position

logger = logging.getLogger(__name__)
POSITION_GAIN = 0.6
ORIENTATION_GAIN = 0.6
# Fraction of the maximal relative step used at speed 1, leaving headroom for noise.
CRUISE_FRACTION = 0.75
CONTACT_FRACTION = 0.4

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
    :param yaw_tolerance: yaw error (rad) under which the phase is reached; a tilted phase
        must also bring roll and pitch this close.
    :param roll_pitch: TCP roll and pitch (rad): pointing down, or tilted for a part that the
        hand grips across a leaning face.
    """

    name: str
    goal: Goal
    gripper: float
    tolerance: float = 0.01
    hold: int = 0
    fraction: float = CRUISE_FRACTION
    timeout: int = 60
    yaw_tolerance: float = 0.08
    roll_pitch: Tuple[float, float] = DOWN_ROLL_PITCH


class Skill:
    """A phase machine over waypoints, closed-loop on the TCP pose."""

    def __init__(self, task: str, waypoints: Sequence[Waypoint], speed: float = 1.0,
                 max_steps: int = 300) -> None:
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
        orientation_error = np.abs(layout.wrap_to_pi(
            np.array([*waypoint.roll_pitch, yaw]) - obs[layout.TCP_ORN]))
        if waypoint.roll_pitch == DOWN_ROLL_PITCH:
            orientation_error = orientation_error[2:]
        reached = (np.linalg.norm(position - tcp_position(obs)) < waypoint.tolerance
                   and bool(np.all(orientation_error < waypoint.yaw_tolerance)))
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
        goal_orientation = np.array([*waypoint.roll_pitch, yaw])
        error = layout.wrap_to_pi(goal_orientation - obs[layout.TCP_ORN])
        action[3:6] = np.clip(ORIENTATION_GAIN * error / layout.MAX_REL_ORN_RAD, -limit, limit)
        action[6] = waypoint.gripper
        return action
