"""
The policy interface: what the policy node, the evaluation and the gym environment drive.

Every policy, learned or not, is stepped the same way:

    problem = policy.reset(observation, goal, task)   # a new goal; None, or why it cannot run
    action = policy.act(observation, goal)             # one (7,) relative action per step

``act`` always returns an action.  When the policy has nothing to do (a scripted skill that
finished, a goal it cannot pursue) it returns the hold action (`layout.hold_action`, the gripper
as the observation's last command) and says why in `holding`; the caller may count the reason.

A learned policy *replans* every ``replan_every`` steps (`replan_period` says how many when the
caller does not): it clears its recurrent state and draws a new plan (and, with subgoal graphs, a
new subgoal).  Policies that do not replan report zero replans.

Implementations: `play_lmp_ros.core.policy.OnnxPolicy` (an exported model),
``play_lmp_training.play_lmp.torch_policy.TorchPolicy`` (the torch model, for checks during
training), ``play_lmp_ros.core.scripted_policy.ScriptedPolicy`` (the scripted skills: an expert,
not a learned policy; a module of its own, so that a learned policy's users do not load the skills
and the simulator's geometry), and the evaluation's baselines `HoldPolicy` and `OpenGripperPolicy`.
"""

from typing import List, Optional

import numpy as np
from play_lmp_ros.core import layout

# Why a policy returned the hold action instead of an action of its own (Policy.holding).
HOLD_NO_SKILL = 'no_skill'
HOLD_SKILL_DONE = 'skill_done'


def replan_period(requested: Optional[int], model_default: int) -> int:
    """
    Choose the replanning period: the one rule for "use the model's".

    :param requested: steps between replans asked for; None or 0 takes the model's.
    :param model_default: the model's own period (its metadata, as text, or its config).
    :return: the period, a positive integer.
    :raises ValueError: when the result is not a positive integer.
    """
    return positive_period(model_default if requested in (None, 0) else requested)


def positive_period(period) -> int:
    """
    Check a replanning period.

    :param period: a positive integer, or its text (model metadata carries it as text).
    :return: the period as an int.
    :raises ValueError: when it is not a positive integer.
    """
    try:
        value = int(period)
    except (TypeError, ValueError):
        value = 0
    if isinstance(period, bool) or (isinstance(period, float) and period != value) or value < 1:
        raise ValueError(f'replan_every must be a positive integer, got {period!r}')
    return value


class Policy:
    """
    Base of every policy: a goal begins with reset(), each control step calls act().

    Subclasses implement act() and may override reset() and reseed(); the read-only properties
    describe a learned policy's planning and are neutral here.
    """

    name = 'policy'
    # The subgoal plan mode (core.subgoals.PLAN_MODES); 'direct': the goal goes to the actor.
    plan_mode = 'direct'

    def reset(self, observation: Optional[np.ndarray] = None,
              goal: Optional[np.ndarray] = None, task: str = '') -> Optional[str]:
        """
        Begin a new goal.

        :param observation: (39,) the state the goal starts from, if known.
        :param goal: (39,) the goal state, if known.
        :param task: the goal's task name, '' for an explicit goal state.
        :return: None, or why this policy cannot pursue the goal (it then holds).
        """
        return None

    def reseed(self, seed: int) -> None:
        """
        Restart the random generator, e.g. per evaluation episode.

        :param seed: the new seed.
        """

    def act(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """
        Produce the next relative action.

        :param observation: (39,) current state.
        :param goal: (39,) goal state.
        :return: (7,) float64 relative action: motion in [-1, 1], gripper exactly -1 or +1.
        """
        raise NotImplementedError

    @property
    def holding(self) -> str:
        """Return why the last action was the hold action the policy chose, '' otherwise."""
        return ''

    @property
    def replans(self) -> int:
        """Return how many times the policy has replanned."""
        return 0

    @property
    def subgoal(self) -> Optional[np.ndarray]:
        """Return the (39,) subgoal pursued now, or None."""
        return None

    @property
    def subgoal_failures(self) -> int:
        """Return how many replans produced a non-finite subgoal."""
        return 0

    @property
    def goal_handed_over(self) -> bool:
        """Tell whether the goal itself goes to the actor after a contact subgoal."""
        return False

    @property
    def last_plan_s(self) -> float:
        """Return the wall time in seconds of the last subgoal plan (0 without one)."""
        return 0.0

    @property
    def providers(self) -> List[str]:
        """Return the onnxruntime execution providers the policy runs on (none here)."""
        return []

    def describe(self) -> str:
        """
        Describe the policy for a start-up log.

        :return: one line.
        """
        return self.name


class HoldPolicy(Policy):
    """Stay put: the zero motion, the gripper as the start state's last gripper command."""

    name = 'hold'

    def __init__(self) -> None:
        """Start with no episode."""
        self._gripper: Optional[float] = None

    def reset(self, observation: Optional[np.ndarray] = None,
              goal: Optional[np.ndarray] = None, task: str = '') -> Optional[str]:
        """
        Take the gripper from the start state (or from the first act() without one).

        :param observation: (39,) the start state.
        :param goal: unused.
        :param task: unused.
        :return: None.
        """
        self._gripper = None if observation is None else layout.gripper_command_of(observation)
        return None

    def act(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """
        Return the zero motion with the start state's gripper.

        :param observation: (39,) current state; fixes the gripper when reset() had none.
        :param goal: (39,) unused.
        :return: (7,) float64 hold action.
        """
        if self._gripper is None:
            self._gripper = layout.gripper_command_of(observation)
        return layout.hold_action(self._gripper)


class OpenGripperPolicy(Policy):
    """Stay put with the gripper open."""

    name = 'open-gripper'

    def act(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """
        Return the zero motion with the gripper open.

        :param observation: (39,) unused.
        :param goal: (39,) unused.
        :return: (7,) float64 hold action with the gripper open.
        """
        return layout.hold_action(layout.GRIPPER_OPEN)
