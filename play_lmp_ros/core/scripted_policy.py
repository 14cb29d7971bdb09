"""The scripted skills behind the policy interface (core.policies.Policy)."""

from typing import Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.policies import HOLD_NO_SKILL, HOLD_SKILL_DONE, Policy
from play_lmp_ros.core.skills import make_skill, Skill


class ScriptedPolicy(Policy):
    """
    The scripted skill of the goal's task, built afresh from the state at each reset().

    An expert with the scene's geometry built in, not a learned policy: it needs the task name
    (an explicit goal state has none) and holds once the skill is over.
    """

    name = 'scripted'

    def __init__(self, seed: int = 0) -> None:
        """
        Seed the skills' choices (which blocks to stack, which way to push).

        :param seed: seed of the generator.
        """
        self._rng = np.random.default_rng(seed)
        self._skill: Optional[Skill] = None
        self._holding = HOLD_NO_SKILL

    def reseed(self, seed: int) -> None:
        """
        Restart the skills' generator.

        :param seed: the new seed.
        """
        self._rng = np.random.default_rng(seed)

    def reset(self, observation: Optional[np.ndarray] = None,
              goal: Optional[np.ndarray] = None, task: str = '') -> Optional[str]:
        """
        Build the task's skill from the start state.

        :param observation: (39,) the start state.
        :param goal: unused: the skill knows where its task ends.
        :param task: the task name.
        :return: None, or why no skill could be made (the policy then holds).
        """
        self._skill = None
        self._holding = HOLD_NO_SKILL
        if not task:
            return 'the scripted policy needs a task name; it holds for an explicit goal state'
        if observation is None:
            return 'the scripted policy needs the start state to build its skill'
        try:
            self._skill = make_skill(task, observation, self._rng)
        except ValueError as error:
            return f'no scripted skill for {task}: {error}'
        self._holding = ''
        return None

    def act(self, observation: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """
        Run one step of the skill, or hold when there is none or it is over.

        :param observation: (39,) current state.
        :param goal: (39,) unused.
        :return: (7,) float64 relative action.
        """
        if self._skill is not None and self._skill.done:
            self._holding = HOLD_SKILL_DONE
        if self._holding:
            return layout.hold_action(layout.gripper_command_of(observation))
        return self._skill.act(observation)

    @property
    def holding(self) -> str:
        """Return HOLD_NO_SKILL, HOLD_SKILL_DONE or '' (the skill acted)."""
        return self._holding

    def describe(self) -> str:
        """
        Describe the policy for a start-up log.

        :return: one line.
        """
        return 'scripted skills (no model)'
