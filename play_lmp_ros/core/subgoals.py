"""
Subgoals on the way to a far goal: plan them with the exported proposer and k-step model.

The actor reaches goals about k steps away (its training horizon); a goal the goal server makes
can lie hundreds of steps away.  At each replan, this module turns (state, far goal) into a
subgoal about k steps ahead, in one of the PLAN_MODES:

- ``direct``: no subgoal, the far goal goes to the actor (models without the graphs below).
- ``sample``: one draw from the proposer's mixture (its mode when deterministic).
- ``best_of_n``: several draws (the components' means when deterministic), scored by the
  distance model: the predicted steps from the candidate to the goal, plus a penalty on the
  steps from the state to the candidate beyond k.
- ``collocation``: LatCo-style.  A chain of subgoals x_1..x_K between the state x_0 and the goal
  x_{K+1}, started from the proposer's chain, is optimised for the total predicted steps
  sum_i d(x_i, x_{i+1}) plus the proposer's negative log-likelihood of each x_i (to stay on the
  states play visits), subject to d(x_i, x_{i+1}) <= k: the constraint is relaxed into the
  Lagrangian and tightened by dual ascent on its multipliers.  The first subgoal is used.

In every mode a goal that the distance model puts within ``handover`` times k steps is given to
the actor as it is (the actor reaches near goals better without a subgoal in between).

The graphs (format_version '1', next to actor.onnx; both optional):

- ``subgoal.onnx``: ``obs`` [B,39], ``goal`` [B,39] -> ``logits`` [B,M], ``means`` [B,M,39],
  ``scales`` [B,M,39] (> 0): a diagonal Gaussian mixture over the state k steps ahead, in raw
  state units (angles may leave [-pi, pi); they are wrapped here).
- ``kstep.onnx``: ``first`` [B,39], ``second`` [B,39] -> ``steps`` [B,1] (predicted control
  steps from first to second), ``grad_first`` [B,39], ``grad_second`` [B,39] (their gradients).

Both carry metadata_props REQUIRED_SUBGOAL_KEYS; horizon, mixtures, layout_hash and control_hz
must agree with each other and with this package.  Their plan_mode is the directory's default;
'direct' ships the graphs for callers to opt in while the default runs without subgoals.  Only
numpy and onnxruntime are used here.
"""

from dataclasses import dataclass
import os
from typing import Callable, Dict, Tuple

import numpy as np
from play_lmp_ros.core import layout

SUBGOAL_FILE = 'subgoal.onnx'
KSTEP_FILE = 'kstep.onnx'
SUBGOAL_OUTPUTS = ('logits', 'means', 'scales')
KSTEP_OUTPUTS = ('steps', 'grad_first', 'grad_second')
PLAN_MODES = ('direct', 'sample', 'best_of_n', 'collocation')
REQUIRED_SUBGOAL_KEYS = ('format_version', 'kind', 'horizon', 'max_goal_distance', 'mixtures',
                         'plan_mode', 'control_hz', 'layout_hash', 'training_data',
                         'code_version')
SUPPORTED_SUBGOAL_FORMATS = ('1',)
# Optional metadata of subgoal.onnx: the directory's PlannerSettings (handover, contact radius).
HANDOVER_KEY = 'handover'
CONTACT_RADIUS_KEY = 'contact_radius_m'
AFTER_CONTACT_KEY = 'after_contact'
PLANNER_METADATA_KEYS = (HANDOVER_KEY, CONTACT_RADIUS_KEY, AFTER_CONTACT_KEY)
# What follows the hand's arrival at a contact subgoal: the far goal goes to the actor until the
# next reset, or the proposer goes on planning (a proposer trained with a contact lead leads the
# hand through the interaction).
AFTER_CONTACT_MODES = ('goal', 'proposer')

# Dimensions that take discrete values: the two lights (0 or 1) and the last gripper action
# (-1 or +1).  A subgoal is snapped to them; collocation leaves them as the proposer set them.
DISCRETE_DIMS = (layout.ROBOT_OBS_DIM + layout.LIGHTBULB, layout.ROBOT_OBS_DIM + layout.LED,
                 layout.GRIPPER_ACTION)
# Dimensions clipped to their physical ranges: (index, low, high).
_RANGES = (
    (layout.GRIPPER_WIDTH, *layout.GRIPPER_WIDTH_RANGE),
    (layout.ROBOT_OBS_DIM + layout.SLIDER, *layout.SLIDER_RANGE),
    (layout.ROBOT_OBS_DIM + layout.DRAWER, *layout.DRAWER_RANGE),
    (layout.ROBOT_OBS_DIM + layout.BUTTON, *layout.BUTTON_RANGE),
    (layout.ROBOT_OBS_DIM + layout.SWITCH, *layout.SWITCH_RANGE),
) + tuple((layout.ARM_JOINTS.start + joint, low, high) for joint, (low, high) in
          enumerate(zip(layout.ARM_LOWER_LIMITS, layout.ARM_UPPER_LIMITS)))

DistanceFunction = Callable[[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class PlannerSettings:
    """
    How subgoals are planned.

    :param candidates: best_of_n: draws per replan when sampling.
    :param reach_penalty: best_of_n: weight of the predicted steps to a candidate beyond k.
    :param chain: collocation: subgoals K between the state and the goal.
    :param iterations: collocation: primal-dual iterations per replan.
    :param step_size: collocation: primal step, in units of the proposer's scale per unit of
        the normalised gradient.
    :param max_move: collocation: largest change of a dimension per iteration, in units of the
        proposer's scale (a trust region).
    :param dual_step: collocation: dual ascent rate of the multipliers, per unit of constraint
        violation in units of k.
    :param prior_weight: collocation: weight of the proposer's negative log-likelihood.
    :param handover: every mode: the far goal itself goes to the actor once the distance model
        puts it within this many k steps.
    :param contact_radius_m: every mode, 0 for off: once the hand comes this close to the
        planned subgoal's TCP (where a proposer with contact subgoals says the interaction
        starts), the policy replans at once, and what follows is after_contact's.
    :param after_contact: one of AFTER_CONTACT_MODES: 'goal' hands the far goal to the actor
        until the next reset (also when a plan's subgoal already lies within the radius);
        'proposer' keeps planning.
    """

    candidates: int = 16
    reach_penalty: float = 1.0
    chain: int = 2
    iterations: int = 12
    step_size: float = 0.3
    max_move: float = 0.5
    dual_step: float = 1.0
    prior_weight: float = 0.02
    handover: float = 1.0
    contact_radius_m: float = 0.0
    after_contact: str = 'goal'

    @classmethod
    def from_metadata(cls, values: Dict[str, str]) -> 'PlannerSettings':
        """
        Build settings from a subgoal graph's metadata (PLANNER_METADATA_KEYS, all optional).

        :param values: metadata values by key, as strings.
        :return: the settings, defaults where a key is absent.
        :raises ValueError: for a value that is not a valid setting.
        """
        parsed: Dict[str, object] = {}
        for key, value in values.items():
            if key == AFTER_CONTACT_KEY:
                parsed[key] = str(value)
            else:
                try:
                    parsed[key] = float(value)
                except ValueError:
                    raise ValueError(f'{key} must be a number, got {value!r}') from None
        return cls(**parsed)

    def metadata(self) -> Dict[str, str]:
        """Return the settings of PLANNER_METADATA_KEYS as metadata strings."""
        return {key: (str(getattr(self, key)) if key == AFTER_CONTACT_KEY
                      else repr(float(getattr(self, key)))) for key in PLANNER_METADATA_KEYS}

    def __post_init__(self):
        """Reject settings that cannot plan."""
        if self.after_contact not in AFTER_CONTACT_MODES:
            raise ValueError(f'after_contact must be one of {list(AFTER_CONTACT_MODES)}, got '
                             f'{self.after_contact!r}')
        for name in ('candidates', 'chain', 'iterations'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be an integer >= 1, got {value!r}')
        for name in ('reach_penalty', 'step_size', 'max_move', 'dual_step', 'prior_weight',
                     'handover', 'contact_radius_m'):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
                raise ValueError(f'{name} must be a finite number >= 0, got {value!r}')


@dataclass(frozen=True)
class PlanResult:
    """
    One replan's outcome.

    :param subgoal: (39,) the goal handed to the actor until the next replan.
    :param reached_directly: the far goal itself was handed over (predicted within the
        settings' handover).
    :param steps_to_goal: the distance model's steps from the state to the far goal (nan
        without one).
    :param info: mode-specific figures (collocation: objective before and after, the largest
        constraint violation in steps, the multipliers).
    :param latched: the far goal is to go to the actor from now until the next reset (the
        hand reached the contact subgoal).
    """

    subgoal: np.ndarray
    reached_directly: bool
    steps_to_goal: float
    info: Dict[str, object]
    latched: bool = False


def tidy_states(states: np.ndarray) -> np.ndarray:
    """
    Make planned states valid observations: wrapped angles, snapped discrete dims, ranges.

    :param states: (N, 39) or (39,) states.
    :return: a new float64 array of the same shape.
    """
    states = np.array(states, dtype=np.float64)
    angles = list(layout.ANGLE_DIMS)
    states[..., angles] = layout.wrap_to_pi(states[..., angles])
    for index in DISCRETE_DIMS[:2]:
        states[..., index] = np.clip(np.round(states[..., index]), 0.0, 1.0)
    gripper = layout.GRIPPER_ACTION
    states[..., gripper] = np.where(states[..., gripper] >= 0.0, layout.GRIPPER_OPEN,
                                    layout.GRIPPER_CLOSE)
    for index, low, high in _RANGES:
        states[..., index] = np.clip(states[..., index], low, high)
    return states


def tcp_distance(first: np.ndarray, second: np.ndarray) -> float:
    """
    Distance between the TCP positions of two states (how close the hand is to a subgoal).

    :param first: (39,) state.
    :param second: (39,) state.
    :return: metres.
    """
    return float(np.linalg.norm(first[layout.TCP_POS] - second[layout.TCP_POS]))


def sample_mixture(logits: np.ndarray, means: np.ndarray, scales: np.ndarray,
                   rng: np.random.Generator, count: int) -> Tuple[np.ndarray, np.ndarray]:
    """
    Draw states from a diagonal Gaussian mixture.

    :param logits: (M,) component log-weights (up to a constant).
    :param means: (M, 39) component means.
    :param scales: (M, 39) component scales > 0.
    :param rng: the generator.
    :param count: N draws.
    :return: the draws (N, 39), not tidied, and the component of each (N,).
    """
    weights = np.exp(logits - np.max(logits))
    components = rng.choice(len(weights), size=count, p=weights / weights.sum())
    noise = rng.standard_normal((count, means.shape[1]))
    return means[components] + scales[components] * noise, components


def gaussian_log_prob(states: np.ndarray, means: np.ndarray,
                      scales: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Log-density of states under diagonal Gaussians, with its gradient; angles wrap-aware.

    :param states: (N, 39).
    :param means: (N, 39).
    :param scales: (N, 39) > 0.
    :return: log-densities (N,) up to a constant and their gradients (N, 39).
    """
    delta = states - means
    angles = list(layout.ANGLE_DIMS)
    delta[:, angles] = layout.wrap_to_pi(delta[:, angles])
    z = delta / scales
    return -0.5 * np.sum(z * z, axis=1), -z / scales


def collocate(start: np.ndarray, goal: np.ndarray, chain: np.ndarray, prior_means: np.ndarray,
              prior_scales: np.ndarray, distance: DistanceFunction, horizon: float,
              settings: PlannerSettings) -> Tuple[np.ndarray, Dict[str, object]]:
    """
    Optimise a chain of subgoals by primal-dual descent on the collocation Lagrangian.

    Minimises J(x) = sum_{i=0..K} d(x_i, x_{i+1}) / k - w * sum_{i=1..K} log N(x_i; prior_i)
    subject to c_i = (d(x_i, x_{i+1}) - k) / k <= 0, with x_0 = start and x_{K+1} = goal fixed:
    x descends L = J + sum_i lambda_i c_i (each dimension's step scaled by its prior scale
    squared, divided by 1 + the mean multiplier of the subgoal's two hops and clipped to
    settings.max_move prior scales), and lambda_i <- max(0, lambda_i + dual_step * c_i).
    Discrete dimensions stay as they start.

    :param start: (39,) the current state.
    :param goal: (39,) the far goal.
    :param chain: (K, 39) the initial subgoals.
    :param prior_means: (K, 39) the proposer's Gaussian for each subgoal.
    :param prior_scales: (K, 39) its scales > 0 (also the preconditioner).
    :param distance: (first (N, 39), second (N, 39)) -> steps (N,), d steps / d first (N, 39),
        d steps / d second (N, 39).
    :param horizon: k in steps.
    :param settings: step sizes, iterations and weights.
    :return: the optimised chain (K, 39) and info: 'objective' (J before and after),
        'max_violation_steps' (max_i d_i - k at the end, <= 0 when feasible), 'multipliers'.
    """
    x = np.array(chain, dtype=np.float64)
    count = len(x)
    free = np.ones(layout.OBS_DIM)
    free[list(DISCRETE_DIMS)] = 0.0
    multipliers = np.zeros(count + 1)
    start = np.asarray(start, dtype=np.float64)[None]
    goal = np.asarray(goal, dtype=np.float64)[None]

    def evaluate(states):
        firsts = np.concatenate([start, states])
        seconds = np.concatenate([states, goal])
        steps, grad_first, grad_second = distance(firsts, seconds)
        log_prior, grad_prior = gaussian_log_prob(states, prior_means, prior_scales)
        objective = float(np.sum(steps) / horizon - settings.prior_weight * np.sum(log_prior))
        return steps, grad_first, grad_second, grad_prior, objective

    steps, grad_first, grad_second, grad_prior, objective = evaluate(x)
    first_objective = objective
    for _ in range(settings.iterations):
        weights = (1.0 + multipliers) / horizon
        # x_j is the second state of segment j - 1 and the first of segment j.
        gradient = (weights[:-1, None] * grad_second[:-1] + weights[1:, None] * grad_first[1:]
                    - settings.prior_weight * grad_prior)
        # Dividing by the multipliers of the subgoal's two hops keeps the primal step from
        # growing with them (a diagonal preconditioner): no chattering once they are large.
        gradient = gradient / (1.0 + 0.5 * (multipliers[:-1] + multipliers[1:]))[:, None]
        move = np.clip(-settings.step_size * prior_scales * prior_scales * gradient,
                       -settings.max_move * prior_scales, settings.max_move * prior_scales)
        x = x + move * free
        steps, grad_first, grad_second, grad_prior, objective = evaluate(x)
        multipliers = np.maximum(0.0, multipliers + settings.dual_step
                                 * (steps - horizon) / horizon)
    return x, {'objective': (first_objective, objective),
               'max_violation_steps': float(np.max(steps - horizon)),
               'multipliers': multipliers.tolist()}


class SubgoalPlanner:
    """Plan subgoals with subgoal.onnx and kstep.onnx of a model directory."""

    def __init__(self, subgoal_session, kstep_session, metadata: Dict[str, str],
                 settings: PlannerSettings = PlannerSettings()):
        """
        Wrap opened and checked sessions (see load_subgoal_planner).

        :param subgoal_session: onnxruntime session of subgoal.onnx.
        :param kstep_session: onnxruntime session of kstep.onnx.
        :param metadata: subgoal.onnx's metadata.
        :param settings: how subgoals are planned.
        """
        self._subgoal = subgoal_session
        self._kstep = kstep_session
        self.metadata = metadata
        self.horizon = int(metadata['horizon'])
        self.default_mode = metadata['plan_mode']
        self.settings = settings

    def mixture(self, obs: np.ndarray, goal: np.ndarray
                ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        Run the proposer for one state.

        :param obs: (39,) state.
        :param goal: (39,) far goal.
        :return: logits (M,), means (M, 39), scales (M, 39), float64.
        """
        logits, means, scales = self._subgoal.run(
            list(SUBGOAL_OUTPUTS), {'obs': obs[None].astype(np.float32),
                                    'goal': goal[None].astype(np.float32)})
        return (logits[0].astype(np.float64), means[0].astype(np.float64),
                scales[0].astype(np.float64))

    def distance(self, first: np.ndarray, second: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """
        Run the k-step model on pairs of states.

        :param first: (N, 39).
        :param second: (N, 39).
        :return: steps (N,), their gradients with respect to first and second (N, 39), float64.
        """
        steps, grad_first, grad_second = self._kstep.run(
            list(KSTEP_OUTPUTS), {'first': np.asarray(first, dtype=np.float32),
                                  'second': np.asarray(second, dtype=np.float32)})
        return (steps[:, 0].astype(np.float64), grad_first.astype(np.float64),
                grad_second.astype(np.float64))

    def plan(self, obs: np.ndarray, goal: np.ndarray, mode: str, rng: np.random.Generator,
             deterministic: bool) -> PlanResult:
        """
        Choose the subgoal for the next replan period.

        :param obs: (39,) current state.
        :param goal: (39,) far goal.
        :param mode: one of PLAN_MODES other than 'direct'.
        :param rng: the policy's generator (untouched when deterministic).
        :param deterministic: use means instead of draws.
        :return: the subgoal and figures; the subgoal may be non-finite when a graph produced
            NaN (the caller holds).
        :raises ValueError: for an unknown mode.
        """
        if mode not in PLAN_MODES[1:]:
            raise ValueError(f'plan mode must be one of {PLAN_MODES[1:]}, got {mode!r}')
        obs = np.asarray(obs, dtype=np.float64)
        goal = np.asarray(goal, dtype=np.float64)
        steps_to_goal = float(self.distance(obs[None], goal[None])[0][0])
        if steps_to_goal <= self.settings.handover * self.horizon:
            return PlanResult(goal.copy(), True, steps_to_goal, {})
        logits, means, scales = self.mixture(obs, goal)
        if not _all_finite(logits, means, scales):
            return _non_finite_result(steps_to_goal)
        best = int(np.argmax(logits))
        info: Dict[str, object] = {}
        if mode == 'sample':
            subgoal = (means[best] if deterministic
                       else sample_mixture(logits, means, scales, rng, 1)[0][0])
        elif mode == 'best_of_n':
            candidates = (means if deterministic else sample_mixture(
                logits, means, scales, rng, self.settings.candidates)[0])
            candidates = tidy_states(candidates)
            count = len(candidates)
            steps = self.distance(np.concatenate([np.repeat(obs[None], count, 0), candidates]),
                                  np.concatenate([candidates, np.repeat(goal[None], count, 0)]))[0]
            reach, remaining = steps[:count], steps[count:]
            overshoot = np.maximum(0.0, reach - self.horizon)
            scores = remaining + self.settings.reach_penalty * overshoot
            subgoal = candidates[int(np.argmin(scores))]
            info = {'score': float(np.min(scores))}
        else:
            subgoal, info = self._collocate(obs, goal, logits, means, scales, rng,
                                            deterministic)
            if subgoal is None:
                return _non_finite_result(steps_to_goal)
        subgoal = tidy_states(subgoal)
        reach = tcp_distance(subgoal, obs)
        if reach < self.settings.contact_radius_m and self.settings.after_contact == 'goal':
            return PlanResult(goal.copy(), True, steps_to_goal, {'contact_m': reach},
                              latched=True)
        return PlanResult(subgoal, False, steps_to_goal, info)

    def _collocate(self, obs, goal, logits, means, scales, rng, deterministic):
        """Start the chain from the proposer (state -> x_1 -> x_2 ...), then optimise it."""
        prior_means, prior_scales = [], []
        current = (logits, means, scales)
        for index in range(self.settings.chain):
            logits_i, means_i, scales_i = current
            component = (int(np.argmax(logits_i)) if deterministic else
                         int(sample_mixture(logits_i, means_i, scales_i, rng, 1)[1][0]))
            prior_means.append(means_i[component])
            prior_scales.append(scales_i[component])
            if index + 1 < self.settings.chain:
                current = self.mixture(tidy_states(means_i[component]), goal)
                if not _all_finite(*current):
                    return None, {}
        # The chain starts at the proposer's means, which are also its priors.
        prior_means = np.array(prior_means)
        chain, info = collocate(obs, goal, prior_means, prior_means, np.array(prior_scales),
                                self.distance, float(self.horizon), self.settings)
        return chain[0], info


def _all_finite(*arrays: np.ndarray) -> bool:
    """Tell whether every value of every array is finite."""
    return all(bool(np.all(np.isfinite(array))) for array in arrays)


def _non_finite_result(steps_to_goal: float) -> PlanResult:
    """Return the plan of a proposer that produced NaN or inf: a NaN subgoal (the caller holds)."""
    return PlanResult(np.full(layout.OBS_DIM, np.nan), False, steps_to_goal,
                      {'non_finite': 'proposer'})


def check_subgoal_metadata(meta: Dict[str, str], path: str, kind: str) -> Dict[str, str]:
    """
    Check one subgoal graph's metadata against the contract and this package.

    :param meta: its metadata_props.
    :param path: the file, named in errors.
    :param kind: 'subgoal' or 'kstep'.
    :return: meta, unchanged.
    :raises ValueError: naming the file and the key that is missing or wrong.
    """
    missing = [key for key in REQUIRED_SUBGOAL_KEYS if key not in meta]
    if missing:
        raise ValueError(f'{path}: metadata lacks the required keys {missing}')
    if meta['format_version'] not in SUPPORTED_SUBGOAL_FORMATS:
        raise ValueError(f'{path}: format_version {meta["format_version"]!r} is not supported; '
                         f'this package reads {list(SUPPORTED_SUBGOAL_FORMATS)}')
    if meta['kind'] != kind:
        raise ValueError(f'{path}: metadata kind must be {kind!r}, got {meta["kind"]!r}')
    if meta['layout_hash'] != layout.layout_hash():
        raise ValueError(f'{path}: metadata layout_hash {meta["layout_hash"]} differs from this '
                         f"package's observation layout {layout.layout_hash()}")
    if meta['control_hz'] != str(layout.CONTROL_HZ):
        raise ValueError(f'{path}: metadata control_hz {meta["control_hz"]!r} differs from '
                         f'{layout.CONTROL_HZ}')
    if meta['plan_mode'] not in PLAN_MODES:
        raise ValueError(f'{path}: metadata plan_mode must be one of {list(PLAN_MODES)}, '
                         f'got {meta["plan_mode"]!r}')
    for key in ('horizon', 'max_goal_distance', 'mixtures'):
        try:
            value = int(meta[key])
        except ValueError:
            raise ValueError(f'{path}: metadata {key} must be an integer, got '
                             f'{meta[key]!r}') from None
        if value < 1:
            raise ValueError(f'{path}: metadata {key} must be positive, got {value}')
    return meta


def subgoal_files_present(model_dir: str) -> bool:
    """
    Tell whether a model directory carries the subgoal graphs.

    :param model_dir: the model directory.
    :return: True when subgoal.onnx exists (kstep.onnx is then required too).
    """
    return os.path.isfile(os.path.join(model_dir, SUBGOAL_FILE))
