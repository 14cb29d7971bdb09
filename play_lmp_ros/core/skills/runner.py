"""Run a skill to its end in a simulator and judge it with CALVIN's oracle."""

from typing import Callable, NamedTuple, Optional

import numpy as np
from play_lmp_ros.core.skills.library import make_skill
from play_lmp_ros.core.tasks import TaskOracle

ORACLE_CHECK_EVERY = 4


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
