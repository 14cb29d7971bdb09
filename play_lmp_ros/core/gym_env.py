"""
A Gymnasium environment over the play table and CALVIN's oracle, for RL and IL libraries.

Each episode draws a random scene and a task, and makes the goal state as the goal server does
(GoalJudge.imagine_goal: the scripted skill runs in a scratch simulator and its final state is the
goal).  Success is CALVIN's oracle between the episode's start state and the current one, judged
from 39-D observations as the goal server judges them.  Importing this module registers the
environment once::

    import gymnasium
    import play_lmp_ros.core.gym_env  # noqa: F401 (registers PlayLMP/PlayTable-v0)

    env = gymnasium.make('PlayLMP/PlayTable-v0', render_mode='rgb_array')
    obs, info = env.reset(seed=0, options={'task': 'open_drawer'})
"""

from typing import Any, Dict, List, Optional, Tuple

import gymnasium
from gymnasium import spaces
import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import DEFAULT_MAX_STEPS, GoalError, GoalJudge
from play_lmp_ros.core.sim import make_sim
from play_lmp_ros.core.skills import feasible_tasks, infeasibility
from play_lmp_ros.core.tasks import TaskOracle

ENV_ID = 'PlayLMP/PlayTable-v0'
ENTRY_POINT = 'play_lmp_ros.core.gym_env:PlayTableEnv'
# The goal server's observation budget of a goal.
DEFAULT_MAX_EPISODE_STEPS = DEFAULT_MAX_STEPS
# Random scenes tried for one reset before giving up.  The rarest task that can start from a
# random scene (stack_block, push_into_drawer) is feasible in about 3 % of them.
MAX_SCENE_DRAWS = 500
# Exclusive bound of the seeds drawn for scenes and for the goal judge.
SEED_BOUND = 2 ** 31
# Index of the gripper command in a relative action.
ACTION_GRIPPER = layout.ACTION_DIM - 1
RENDER_CAMERA = 'static'
RESET_OPTIONS = ('task',)


class PlayTableEnv(gymnasium.Env):
    """
    Reach the goal of one of CALVIN's tasks on the play table, from a random scene.

    Observations are goal-conditioned dicts of (39,) float64 states in the layout.py order:
    'observation' and 'achieved_goal' are both the current state, 'desired_goal' the goal state
    made by the task's scripted skill.  The bounds are layout.RESET_STATE_LOW / HIGH, the range
    of every state the simulator produces (the judge rebuilds states by resets, which accept
    exactly these).

    An action is a (7,) relative action in [-1, 1]: dx, dy, dz (x 0.02 m), droll, dpitch,
    dyaw (x 0.05 rad), then the gripper.  The gripper value is thresholded before the action
    is checked: below 0 closes (-1), 0 and above opens (+1), so a continuous policy can drive
    it.  Motion values outside [-1, 1] are refused (ValueError), not clipped.

    The reward is sparse, as in CALVIN: 1.0 on a step where the oracle sees the task achieved
    between the start and the current state, else 0.0; that step terminates the episode.  It is
    judged on every step (the goal server judges every check_every observations).

    compute_reward is not provided: the reward is the oracle's verdict on the change between
    the start state and the current one, not a function of (achieved_goal, desired_goal).  The
    desired goal is one reachable end state among the many that achieve the task, and a goal
    relabelled with a visited state names no task.  For hindsight relabelling with explicit
    goal states, core.goals.state_reached(achieved_goal, desired_goal) is the goal server's
    criterion for such goals.

    A seeded reset rebuilds both simulators (about 0.3 s), so that the episode repeats exactly
    and does not depend on earlier ones; unseeded resets reuse them.
    """

    metadata = {'render_modes': ['rgb_array'], 'render_fps': layout.CONTROL_HZ}

    def __init__(self, max_episode_steps: Optional[int] = DEFAULT_MAX_EPISODE_STEPS,
                 render_mode: Optional[str] = None):
        """
        Define the spaces; the simulators are built at the first reset.

        :param max_episode_steps: truncate an episode after this many steps; None never
            truncates (gymnasium.make registers None here and applies its TimeLimit wrapper,
            so that make's own max_episode_steps argument sets the episode length).
        :param render_mode: None or 'rgb_array' (the static camera, (200, 200, 3) uint8).
        :raises ValueError: on a max_episode_steps below 1 or an unknown render mode.
        """
        if max_episode_steps is not None and (
                isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int)
                or max_episode_steps < 1):
            raise ValueError(
                f'max_episode_steps must be None or an integer >= 1, got {max_episode_steps!r}')
        if render_mode is not None and render_mode not in self.metadata['render_modes']:
            raise ValueError(f'render_mode must be None or one of '
                             f'{self.metadata["render_modes"]}, got {render_mode!r}')
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        state_space = spaces.Box(layout.RESET_STATE_LOW, layout.RESET_STATE_HIGH,
                                 shape=(layout.OBS_DIM,), dtype=np.float64)
        self.observation_space = spaces.Dict({
            'observation': state_space,
            'achieved_goal': state_space,
            'desired_goal': state_space,
        })
        self.action_space = spaces.Box(-1.0, 1.0, shape=(layout.ACTION_DIM,), dtype=np.float64)
        self._oracle = TaskOracle()
        self._sim = None
        self._judge: Optional[GoalJudge] = None
        self._task: Optional[str] = None
        self._obs = np.zeros(layout.OBS_DIM)
        self._goal = np.zeros(layout.OBS_DIM)
        self._start_info = None
        self._steps = 0
        self._tasks_completed: List[str] = []

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[Dict[str, Any]] = None
              ) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """
        Draw a random scene and a task, and make the task's goal state.

        Without a task in options, the task is drawn uniformly among those feasible from the
        scene, so door and light tasks come up more often than block tasks.  With one, scenes
        are drawn until it is feasible and its scripted skill reaches it.

        :param seed: seeds the episode's generator (scenes, tasks, the skills' choices) and
            rebuilds the simulators; None continues the generator.
        :param options: None, or {'task': name} with one of the 34 task names (None draws one).
        :return: the observation dict and info {'task': name, 'goal_skill_steps': the control
            steps the scripted skill took to make the goal}.
        :raises ValueError: on unknown option keys, an unknown task (naming the closest names)
            or a task that no random scene in MAX_SCENE_DRAWS makes feasible (with the last
            reason).
        """
        task = self._task_option(options)
        self._task = None  # until this reset succeeds, step() refuses
        super().reset(seed=seed)
        if self._sim is None or seed is not None:
            self._build(int(self.np_random.integers(SEED_BOUND)))
        obs, self._task, self._goal, skill_steps = self._draw_episode(task)
        self._obs = obs
        self._start_info = self._judge.scene_info(obs)
        self._steps = 0
        self._tasks_completed = []
        return self._observation(), {'task': self._task, 'goal_skill_steps': skill_steps}

    def step(self, action) -> Tuple[Dict[str, np.ndarray], float, bool, bool, Dict[str, Any]]:
        """
        Apply one 30 Hz relative action and judge the task.

        :param action: (7,) relative action; the gripper value is thresholded at 0 first.
        :return: observation dict, reward (1.0 on success, else 0.0), terminated (success),
            truncated (max_episode_steps reached without success) and info {'task',
            'is_success', 'tasks_completed': every task the oracle saw achieved since the
            start, in the order first seen}.
        :raises ValueError: on an action of the wrong shape, non-finite values or motion
            outside [-1, 1]; nothing is applied.
        :raises gymnasium.error.ResetNeeded: before the first reset.
        """
        if self._task is None:
            raise gymnasium.error.ResetNeeded('call reset() before step()')
        relative = relative_action(action)
        self._obs = self._sim.step(relative)
        self._steps += 1
        achieved = self._judge.tasks_achieved(self._start_info, self._obs)
        self._tasks_completed += [name for name in achieved if name not in self._tasks_completed]
        success = self._task in achieved
        truncated = (not success and self.max_episode_steps is not None
                     and self._steps >= self.max_episode_steps)
        info = {'task': self._task, 'is_success': success,
                'tasks_completed': list(self._tasks_completed)}
        return self._observation(), float(success), success, truncated, info

    def render(self) -> Optional[np.ndarray]:
        """
        Render the static camera when render_mode is 'rgb_array'.

        :return: (200, 200, 3) uint8 RGB, or None when render_mode is None.
        :raises gymnasium.error.ResetNeeded: before the first reset.
        """
        if self.render_mode is None:
            gymnasium.logger.warn('render() called without a render_mode; pass '
                                  "render_mode='rgb_array' to the constructor or to make")
            return None
        if self._sim is None:
            raise gymnasium.error.ResetNeeded('call reset() before render()')
        return self._sim.render(RENDER_CAMERA)

    def close(self) -> None:
        """Close both simulators; closing twice is allowed."""
        if self._sim is not None:
            self._sim.close()
            self._judge.close()
            self._sim = None
            self._judge = None
        self._task = None

    # ------------------------------------------------------------------ helpers

    def _task_option(self, options: Optional[Dict[str, Any]]) -> Optional[str]:
        """
        Read and check the reset options.

        :param options: None or a dict with the keys of RESET_OPTIONS.
        :return: the task name, or None to draw one.
        :raises ValueError: on unknown keys or an unknown task.
        """
        if options is None:
            return None
        unknown = sorted(str(key) for key in options if key not in RESET_OPTIONS)
        if unknown:
            raise ValueError(f'unknown reset options {unknown}; known: {list(RESET_OPTIONS)}')
        task = options.get('task')
        if task is not None:
            self._oracle.require_known([task])
        return task

    def _build(self, seed: int) -> None:
        """
        Build (or rebuild) the episode simulator and the goal judge's scratch simulator.

        :param seed: seeds the judge's skill choices.
        """
        self.close()
        self._sim = make_sim(seed=seed)
        self._judge = GoalJudge(seed=seed)

    def _draw_episode(self, task: Optional[str]) -> Tuple[np.ndarray, str, np.ndarray, int]:
        """
        Draw scenes until a task is feasible from one and its goal state can be made.

        :param task: the task to make feasible, or None for any task feasible from the scene.
        :return: the start state (39,), the task, the goal state (39,) and the control steps
            the scripted skill took to make it.
        :raises ValueError: when no scene in MAX_SCENE_DRAWS works.
        """
        reason = 'no scene drawn'
        for _ in range(MAX_SCENE_DRAWS):
            obs = self._sim.reset_random(seed=int(self.np_random.integers(SEED_BOUND)))
            if task is None:
                candidates = feasible_tasks(obs)
                if not candidates:
                    reason = 'no task is feasible from the scene'
            else:
                reason = infeasibility(task, obs)
                candidates = [task] if reason is None else []
            while candidates:
                name = candidates.pop(int(self.np_random.integers(len(candidates))))
                try:
                    goal, skill_steps = self._judge.imagine_goal_with_steps(name, obs)
                except GoalError as error:
                    reason = str(error)
                    continue
                return obs, name, goal, skill_steps
        what = 'any task' if task is None else task
        raise ValueError(f'no random scene out of {MAX_SCENE_DRAWS} made {what} feasible '
                         f'(last reason: {reason})')

    def _observation(self) -> Dict[str, np.ndarray]:
        """
        Build the observation dict from the current and the goal state.

        :return: new (39,) float64 arrays, shared with nothing kept here.
        """
        return {'observation': self._obs.copy(), 'achieved_goal': self._obs.copy(),
                'desired_goal': self._goal.copy()}


def relative_action(action) -> np.ndarray:
    """
    Turn an environment action into a relative action for the simulator.

    :param action: array-like of shape (7,): motion in [-1, 1], then any gripper value.
    :return: (7,) float64 relative action, the gripper thresholded to exactly -1 (below 0) or
        +1 (0 and above).
    :raises ValueError: on a shape other than (7,), non-numeric or non-finite values, or
        motion outside [-1, 1].
    """
    try:
        values = np.array(action, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f'action must be {layout.ACTION_DIM} numbers: {error}') from None
    if values.shape != (layout.ACTION_DIM,):
        raise ValueError(f'action must have shape ({layout.ACTION_DIM},), got {values.shape}')
    values = layout.check_vector(values, layout.ACTION_DIM, 'action')
    values[ACTION_GRIPPER] = (
        layout.GRIPPER_CLOSE if values[ACTION_GRIPPER] < 0.0 else layout.GRIPPER_OPEN)
    return layout.check_relative_action(values)


if ENV_ID not in gymnasium.registry:
    # make() applies gymnasium's TimeLimit at the goal server's budget; the environment's own
    # limit is off so that make(ENV_ID, max_episode_steps=N) alone sets the episode length.
    gymnasium.register(id=ENV_ID, entry_point=ENTRY_POINT,
                       max_episode_steps=DEFAULT_MAX_EPISODE_STEPS,
                       kwargs={'max_episode_steps': None})
