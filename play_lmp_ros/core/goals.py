"""
Goals on the play table: imagine a goal state for a named task, and judge whether it is reached.

A named task's goal is a real, reachable state: the scripted skill runs from the current state in a
private scratch simulator and its final observation is the goal.  Success of a named task is
CALVIN's oracle between the start and the current state; success of an explicit goal state is a
distance over the scene dimensions below a tolerance.

The judge sees only 39-D observations (what the ROS topics carry), so it rebuilds the oracle's
snapshot (contacts included) by resetting its scratch simulator to the observed state.  Block
velocities are zero in such a snapshot; CALVIN's conditions only bound them from above.
"""

from typing import Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import SceneInfo
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.tasks import TaskOracle

# The observation budget of one goal (12 s at 30 Hz): the goal server's max_steps default and the
# Gymnasium environment's episode length.
DEFAULT_MAX_STEPS = 360
# Tolerances of an explicit goal state: the four joints (m), the two lights (exact), block
# positions (m) and block orientations (rad, wrap-aware).
JOINT_TOLERANCE_M = 0.02
BLOCK_POSITION_TOLERANCE_M = 0.04
BLOCK_ORIENTATION_TOLERANCE_RAD = 0.5


class GoalError(ValueError):
    """A goal that cannot be made: unknown or infeasible task, malformed state."""


def check_goal_state(state) -> np.ndarray:
    """
    Validate an explicit goal state.

    :param state: (39,) goal in the observation layout.
    :return: the state as a float64 array.
    :raises GoalError: naming the problem: wrong length, non-finite values.
    """
    try:
        return layout.check_vector(state, layout.OBS_DIM, 'goal state')
    except ValueError as error:
        raise GoalError(str(error)) from None


def scene_distance(obs: np.ndarray, goal: np.ndarray) -> float:
    """
    Distance between two states over the scene dimensions.

    :param obs: (39,) state.
    :param goal: (39,) goal state.
    :return: Euclidean norm of the scene difference, block euler angles wrapped to [-pi, pi).
    """
    difference = obs[layout.ROBOT_OBS_DIM:] - goal[layout.ROBOT_OBS_DIM:]
    angles = list(layout.SCENE_ANGLE_DIMS)
    difference[angles] = layout.wrap_to_pi(difference[angles])
    return float(np.linalg.norm(difference))


def state_reached(obs: np.ndarray, goal: np.ndarray) -> bool:
    """
    Whether a state matches an explicit goal in every scene dimension, within tolerances.

    :param obs: (39,) current state.
    :param goal: (39,) goal state.
    :return: True when joints, lights and every block pose are within tolerance.
    """
    scene, target = obs[layout.ROBOT_OBS_DIM:], goal[layout.ROBOT_OBS_DIM:]
    joints = slice(layout.SLIDER, layout.SWITCH + 1)
    if np.any(np.abs(scene[joints] - target[joints]) > JOINT_TOLERANCE_M):
        return False
    lights = slice(layout.LIGHTBULB, layout.LED + 1)
    if np.any(np.round(scene[lights]) != np.round(target[lights])):
        return False
    for block in range(len(layout.BLOCK_NAMES)):
        pose = slice(layout.BLOCK_OFFSET + block * layout.BLOCK_STATE_DIM,
                     layout.BLOCK_OFFSET + (block + 1) * layout.BLOCK_STATE_DIM)
        difference = scene[pose] - target[pose]
        if np.linalg.norm(difference[:3]) > BLOCK_POSITION_TOLERANCE_M:
            return False
        if np.max(np.abs(layout.wrap_to_pi(difference[3:]))) > BLOCK_ORIENTATION_TOLERANCE_RAD:
            return False
    return True


class GoalJudge:
    """Make goal states for named tasks and judge progress, from observations alone."""

    def __init__(self, seed: int = 0):
        """
        Create the judge and its scratch simulator.

        :param seed: seeds the skills' choices (which block to stack, and so on).
        """
        self._sim = PlayTableSim(seed=seed)
        self._rng = np.random.default_rng(seed)
        self._oracle = TaskOracle()

    def close(self) -> None:
        """Release the scratch simulator."""
        self._sim.close()

    def __enter__(self) -> 'GoalJudge':
        """Use as a context manager."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close on leaving the context."""
        self.close()

    def check_task(self, task: str) -> None:
        """
        Check a task name.

        :param task: a task name.
        :raises GoalError: for an unknown name, with the closest known names.
        """
        try:
            self._oracle.require_known([task])
        except ValueError as error:
            raise GoalError(str(error)) from None

    def scene_info(self, obs: np.ndarray) -> SceneInfo:
        """
        Rebuild the oracle's snapshot of a state.

        :param obs: (39,) state.
        :return: the snapshot, contacts included, velocities zero.
        """
        obs = check_goal_state(obs)
        self._sim.reset(obs[:layout.ROBOT_OBS_DIM], obs[layout.ROBOT_OBS_DIM:])
        return self._sim.scene_info()

    def imagine_goal(self, task: str, obs: np.ndarray, speed: float = 1.0) -> np.ndarray:
        """
        Make the goal state of a named task by running its skill from a state, in the scratch sim.

        :param task: one of the 34 task names.
        :param obs: (39,) the state the robot is in now.
        :param speed: skill speed factor.
        :return: (39,) the state at the end of the skill.
        :raises GoalError: for an unknown task, a task infeasible from this state (with the
            reason) or a skill that failed in the scratch copy.
        """
        return self.imagine_goal_with_steps(task, obs, speed)[0]

    def imagine_goal_with_steps(self, task: str, obs: np.ndarray,
                                speed: float = 1.0) -> Tuple[np.ndarray, int]:
        """
        Make a named task's goal state as imagine_goal does, and say how far away it lies.

        :param task: one of the 34 task names.
        :param obs: (39,) the state the robot is in now.
        :param speed: skill speed factor.
        :return: (39,) the state at the end of the skill, and the number of control steps the
            scripted skill took to get there (its retreat included).
        :raises GoalError: for an unknown task, a task infeasible from this state (with the
            reason) or a skill that failed in the scratch copy.
        """
        self.check_task(task)
        obs = check_goal_state(obs)
        reason = infeasibility(task, obs)
        if reason is not None:
            raise GoalError(f'{task} is not feasible from the current state: {reason}')
        self._sim.reset(obs[:layout.ROBOT_OBS_DIM], obs[layout.ROBOT_OBS_DIM:])
        run = run_skill(self._sim, task, self._rng, speed=speed)
        if not run.success:
            raise GoalError(f'the scripted {task} skill did not achieve the task from the '
                            f'current state ({run.steps} steps)')
        return self._sim.observe(), run.steps

    def task_achieved(self, task: str, start: SceneInfo, obs: np.ndarray) -> bool:
        """
        Judge a named task with CALVIN's oracle.

        :param task: the task name.
        :param start: snapshot of the state the goal started from (see scene_info).
        :param obs: (39,) current state.
        :return: True when the task is achieved between start and now.
        """
        return self._oracle.check(task, start, self.scene_info(obs))

    def tasks_achieved(self, start: SceneInfo, obs: np.ndarray) -> list:
        """
        List every task achieved between a start snapshot and a state.

        :param start: snapshot of the start state.
        :param obs: (39,) current state.
        :return: sorted task names.
        """
        return sorted(self._oracle.get_task_info(start, self.scene_info(obs)))
