"""
Run an exported Play-LMP / Play-GCBC policy with onnxruntime, one control step at a time.

Both the ROS policy node and the evaluation tools use :class:`OnnxPolicy`; it needs only numpy
and onnxruntime (never rclpy or torch).

The ONNX contract (format_version '1').  A model directory holds:

- ``planner.onnx`` (LMP only; not read for GCBC): inputs ``obs`` [B,39] and ``goal`` [B,39],
  float32 -> outputs ``plan_mean`` [B,D] and ``plan_std`` [B,D] (std > 0), the prior over the
  latent plan.
- ``actor.onnx``: inputs ``obs`` [B,39], ``goal`` [B,39], ``plan`` [B,D] (LMP only: a GCBC actor
  has NO ``plan`` input), ``h`` [B,H], ``c`` [B,H], all float32 -> outputs ``logits``,
  ``means``, ``log_scales`` [B,7,K] (the discretized logistic mixture per action dimension) and
  ``h_out``, ``c_out`` [B,H] (the LSTM state after this step).  One control step per call; the
  recurrent state is explicit.

B is the batch axis (symbolic or 1; the runtime uses 1), D = d_latent, H = hidden_size,
K = mixtures.  Observation normalization is baked into the graphs: they take raw 39-D states in
the layout of :mod:`play_lmp_ros.core.layout`.  Sampling happens here in numpy with a seeded
generator, so runs are reproducible.

Each model carries string ``metadata_props`` with the keys of :data:`REQUIRED_METADATA_KEYS`:
format_version ('1'), method ('lmp' or 'gcbc'), d_latent (D, 0 for GCBC), hidden_size (H),
mixtures (K), bins, replan_every, control_hz (must equal layout.CONTROL_HZ), action_type
('relative'), layout_hash (must equal layout.layout_hash()), training_data and code_version.
The planner and the actor must agree on method and d_latent, and the graphs' input and output
names and shapes must match the metadata; anything else raises :class:`ModelError`.

Rollout (the seed's run_policy loop): every ``replan_every`` steps counted from :meth:`reset`
(steps 0, k, 2k, ...) the LSTM state is zeroed and, for LMP, a new plan is sampled from the
planner's prior; each step samples the mixture, clips the six motion dimensions to [-1, 1] and
binarizes the gripper (+1 if > 0 else -1).

The contract grows by two optional graphs, ``subgoal.onnx`` and ``kstep.onnx`` (see
:mod:`play_lmp_ros.core.subgoals`): with them, each replan first turns the far goal into a
subgoal about k steps ahead (``plan_mode``), and the planner and the actor see that subgoal as
their goal until the next replan.  A model directory without them runs as before
(``plan_mode`` 'direct').  A subgoal that comes out non-finite makes the policy hold (zero
motion, gripper unchanged) until the next replan, counted in :attr:`subgoal_failures`.
"""

import logging
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime
from play_lmp_ros.core import layout
from play_lmp_ros.core.policies import Policy, positive_period, replan_period
from play_lmp_ros.core.subgoals import (
    check_subgoal_metadata, KSTEP_FILE, KSTEP_OUTPUTS, PLAN_MODES, PLANNER_METADATA_KEYS,
    PlannerSettings, SUBGOAL_FILE, subgoal_files_present, SUBGOAL_OUTPUTS, SubgoalPlanner,
    tcp_distance)

logger = logging.getLogger(__name__)

PLANNER_FILE = 'planner.onnx'
ACTOR_FILE = 'actor.onnx'
DEFAULT_MODEL_NAME = 'default'
ACTOR_OUTPUTS = ('logits', 'means', 'log_scales', 'h_out', 'c_out')

REQUIRED_METADATA_KEYS = (
    'format_version',
    'method',
    'd_latent',
    'hidden_size',
    'mixtures',
    'bins',
    'replan_every',
    'control_hz',
    'action_type',
    'layout_hash',
    'training_data',
    'code_version',
)
INTEGER_METADATA_KEYS = ('d_latent', 'hidden_size', 'mixtures', 'bins', 'replan_every',
                         'control_hz')
# Largest values of the integer metadata a model of this contract can have; anything above is a
# damaged or foreign file (replan_every: one replan per minute of control).
METADATA_MAXIMA = {'d_latent': 4096, 'hidden_size': 65536, 'mixtures': 1024, 'bins': 65536,
                   'replan_every': 60 * layout.CONTROL_HZ}
# The discretized logistic needs at least two bins.
MIN_BINS = 2
SUPPORTED_FORMAT_VERSIONS = ('1',)
METHODS = ('lmp', 'gcbc')
ACTION_TYPE = 'relative'
CPU_PROVIDER = 'CPUExecutionProvider'
FLOAT_TENSOR = 'tensor(float)'

# The logistics' log-scales are clamped below at this, in the training likelihood and in the
# sampler alike (the seed's and HULC's value; a scale of 1e-3 is far inside one action bin).
DLML_LOG_SCALE_MIN = -7.0
# The seed draws uniforms from this open interval so that log(u) and log(1 - u) stay finite.
UNIFORM_LOW = 1e-5
UNIFORM_HIGH = 1.0 - 1e-5


def bundled_model_dir(name: str = DEFAULT_MODEL_NAME) -> str:
    """
    Return the directory of a model installed with the package.

    :param name: the model's folder name under play_lmp_ros/models.
    :return: its path (it may not exist in a source tree without it).
    """
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models',
                        name)


def default_model_dir() -> str:
    """
    Return the directory of the bundled default model, installed with the package.

    :return: path of play_lmp_ros/models/default (it may not exist in a source tree without one).
    """
    return bundled_model_dir(DEFAULT_MODEL_NAME)


def resolve_model_dir(model_dir: str) -> str:
    """
    Turn a model_dir setting into a folder: '' is the default, a bundled model's name is its own.

    :param model_dir: '', the name of a model installed with the package (a folder of
        play_lmp_ros/models, e.g. 'play_lmp'), or a path.
    :return: the folder to load (a path is returned as given, existing or not).
    """
    if not model_dir:
        return default_model_dir()
    if os.sep not in model_dir and not os.path.isdir(model_dir) and os.path.isdir(
            bundled_model_dir(model_dir)):
        return bundled_model_dir(model_dir)
    return model_dir


class ModelError(ValueError):
    """Raised when a model directory is missing, corrupt or does not match this package."""


class InferenceError(RuntimeError):
    """Raised when a step's graph run failed or gave unusable output; the caller holds."""


class NonFiniteOutputError(InferenceError):
    """Raised when the model produced NaN or inf."""


def _open_session(path: str, providers: Sequence[str]) -> onnxruntime.InferenceSession:
    """
    Open an onnxruntime session, turning a missing or unreadable file into ModelError.

    :param path: the .onnx file.
    :param providers: execution providers, in order of preference, all available.
    :return: the session.
    :raises ModelError: if the file is missing or is not a valid ONNX model.
    """
    if not os.path.isfile(path):
        raise ModelError(f'model file {path} does not exist')
    options = onnxruntime.SessionOptions()
    # One step of a small network: more threads only add synchronisation latency.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(path, sess_options=options, providers=list(providers))
    except Exception as error:  # onnxruntime raises its own unexported exception types.
        raise ModelError(f'{path} is not a valid ONNX model: {error}') from None


def load_metadata(path: str) -> Dict[str, str]:
    """
    Return the metadata_props of an ONNX model file.

    :param path: the .onnx file.
    :return: key -> value, both strings.
    :raises ModelError: if the file is missing or is not a valid ONNX model.
    """
    return dict(_open_session(path, [CPU_PROVIDER]).get_modelmeta().custom_metadata_map)


def check_metadata(meta: Dict[str, str], path: str) -> Dict[str, str]:
    """
    Check one model's metadata against the contract and this package's layout.

    :param meta: metadata_props of the model.
    :param path: the model file, named in error messages.
    :return: meta, unchanged.
    :raises ModelError: if a key is missing or a value is unsupported or does not match.
    """
    missing = [key for key in REQUIRED_METADATA_KEYS if key not in meta]
    if missing:
        raise ModelError(f'{path}: metadata lacks the required keys {missing}')
    if meta['format_version'] not in SUPPORTED_FORMAT_VERSIONS:
        raise ModelError(
            f'{path}: format_version {meta["format_version"]!r} is not supported; this package '
            f'reads {list(SUPPORTED_FORMAT_VERSIONS)}')
    if meta['method'] not in METHODS:
        raise ModelError(f'{path}: method must be one of {list(METHODS)}, got {meta["method"]!r}')
    if meta['layout_hash'] != layout.layout_hash():
        raise ModelError(
            f'{path}: model was trained for observation layout {meta["layout_hash"]}, this '
            f'package uses {layout.layout_hash()}')
    if meta['action_type'] != ACTION_TYPE:
        raise ModelError(
            f'{path}: action_type must be {ACTION_TYPE!r}, got {meta["action_type"]!r}')
    values = {key: _metadata_int(meta, key, path) for key in INTEGER_METADATA_KEYS}
    if values['control_hz'] != layout.CONTROL_HZ:
        raise ModelError(
            f'{path}: model was trained at control_hz {values["control_hz"]}, this package '
            f'runs at {layout.CONTROL_HZ}')
    for key in ('hidden_size', 'mixtures', 'bins', 'replan_every'):
        if values[key] < 1:
            raise ModelError(f'{path}: metadata {key} must be positive, got {values[key]}')
    for key, maximum in METADATA_MAXIMA.items():
        if values[key] > maximum:
            raise ModelError(f'{path}: metadata {key} must be at most {maximum}, got '
                             f'{values[key]}')
    if values['bins'] < MIN_BINS:
        raise ModelError(f'{path}: metadata bins must be at least {MIN_BINS}, got '
                         f'{values["bins"]}')
    if meta['method'] == 'lmp' and values['d_latent'] < 1:
        raise ModelError(f'{path}: an lmp model needs d_latent > 0, got {values["d_latent"]}')
    if meta['method'] == 'gcbc' and values['d_latent'] != 0:
        raise ModelError(f'{path}: a gcbc model has d_latent 0, got {values["d_latent"]}')
    return meta


def _metadata_int(meta: Dict[str, str], key: str, path: str) -> int:
    """
    Parse an integer metadata value.

    :param meta: metadata_props of the model.
    :param key: the key to parse.
    :param path: the model file, named in error messages.
    :return: the value.
    :raises ModelError: if the value is not an integer.
    """
    try:
        return int(meta[key])
    except ValueError:
        raise ModelError(f'{path}: metadata {key} must be an integer, got {meta[key]!r}') from None


def _check_signature(nodes, expected: Dict[str, Tuple[int, ...]], what: str, path: str) -> None:
    """
    Check a graph's inputs or outputs: exact names, float32, and non-batch dims as expected.

    :param nodes: session.get_inputs() or session.get_outputs().
    :param expected: name -> expected dims after the batch axis.
    :param what: 'inputs' or 'outputs', for messages.
    :param path: the model file, named in error messages.
    :raises ModelError: on any mismatch.
    """
    found = {node.name: node for node in nodes}
    if sorted(found) != sorted(expected):
        raise ModelError(
            f'{path}: graph {what} are {sorted(found)}, the contract expects {sorted(expected)}')
    for name, dims in expected.items():
        node = found[name]
        if node.type != FLOAT_TENSOR:
            raise ModelError(f'{path}: {name} must be {FLOAT_TENSOR}, got {node.type}')
        shape = list(node.shape)
        batch_ok = shape and (shape[0] is None or isinstance(shape[0], str) or shape[0] == 1)
        if len(shape) != len(dims) + 1 or not batch_ok or tuple(shape[1:]) != dims:
            raise ModelError(
                f'{path}: {name} has shape {shape}, the metadata implies [B, '
                f'{", ".join(str(dim) for dim in dims)}]')


def _usable_providers(providers: Sequence[str]) -> List[str]:
    """
    Drop the providers this onnxruntime build lacks, with a warning, and append CPU as fallback.

    :param providers: requested execution providers, in order of preference.
    :return: the available ones, ending with CPUExecutionProvider.
    """
    available = onnxruntime.get_available_providers()
    usable = [provider for provider in providers if provider in available]
    dropped = [provider for provider in providers if provider not in available]
    if dropped:
        logger.warning('execution providers %s are not available (this onnxruntime has %s); '
                       'dropping them', dropped, available)
    if CPU_PROVIDER not in usable:
        usable.append(CPU_PROVIDER)
    return usable


def sample_dlml(logits: np.ndarray, means: np.ndarray, log_scales: np.ndarray,
                rng: np.random.Generator, deterministic: bool = False) -> np.ndarray:
    """
    Sample one action from a factorized discretized-logistic mixture (the seed's DLML head).

    Per action dimension, pick a component by Gumbel-max over the logits, then draw a logistic
    sample mu + exp(s) * (log u - log(1 - u)) from it, with u ~ U(1e-5, 1 - 1e-5) fresh for each
    draw.  The only mixture sampler of the package: the ONNX and the torch policy both run it.
    No clipping here.

    :param logits: (A, K) unnormalised component log-weights, A action dims (7), K components.
    :param means: (A, K) component locations.
    :param log_scales: (A, K) component log-scales, clamped below at DLML_LOG_SCALE_MIN as the
        training likelihood clamps them.
    :param rng: the generator to draw from; untouched in deterministic mode.
    :param deterministic: return the mean of the most likely component of each dim instead.
    :return: (A,) float32 action.
    """
    logits = np.asarray(logits, dtype=np.float32)
    means = np.asarray(means, dtype=np.float32)
    log_scales = np.asarray(log_scales, dtype=np.float32)
    if logits.ndim != 2 or means.shape != logits.shape or log_scales.shape != logits.shape:
        raise ValueError(
            'logits, means and log_scales must share one (A, K) shape, got '
            f'{logits.shape}, {means.shape}, {log_scales.shape}')
    dims = np.arange(logits.shape[0])
    if deterministic:
        return means[dims, np.argmax(logits, axis=1)].astype(np.float32)
    gumbel = -np.log(-np.log(rng.uniform(UNIFORM_LOW, UNIFORM_HIGH, size=logits.shape)))
    component = np.argmax(logits + gumbel, axis=1)
    u = rng.uniform(UNIFORM_LOW, UNIFORM_HIGH, size=logits.shape[0])
    scale = np.exp(np.maximum(log_scales[dims, component], DLML_LOG_SCALE_MIN).astype(np.float64))
    sample = means[dims, component] + scale * (np.log(u) - np.log1p(-u))
    return sample.astype(np.float32)


class RecurrentPolicy(Policy):
    """
    The rollout loop shared by every backend: replanning, recurrent state, seeded sampling.

    A backend implements _run_planner and _run_actor on (1, .) float32 arrays; OnnxPolicy runs
    onnxruntime sessions, the training code runs the torch modules through the same loop.
    """

    def __init__(self, method: str, d_latent: int, hidden_size: int, replan_every: int,
                 deterministic: bool = False, seed: int = 0,
                 subgoal_planner: Optional[SubgoalPlanner] = None,
                 plan_mode: Optional[str] = None) -> None:
        """
        Start with an empty state.

        :param method: 'lmp' (plans from the planner) or 'gcbc' (no plan).
        :param d_latent: plan size D (0 for 'gcbc').
        :param hidden_size: actor LSTM size H.
        :param replan_every: steps between replans (a positive integer; `replan_period` turns
            "the model's" into one).
        :param deterministic: use plan means and the mean of the most likely mixture component
            instead of sampling.
        :param seed: seed of the sampling generator (reset() does not reseed it).
        :param subgoal_planner: plans subgoals toward far goals, or None.
        :param plan_mode: one of core.subgoals.PLAN_MODES; None takes the planner's default
            ('direct' without a planner).
        :raises ValueError: if replan_every is not a positive integer, or plan_mode is unknown
            or needs a planner that is missing.
        """
        replan_every = positive_period(replan_every)
        if plan_mode is None:
            plan_mode = 'direct' if subgoal_planner is None else subgoal_planner.default_mode
        if plan_mode not in PLAN_MODES:
            raise ValueError(f'plan_mode must be one of {list(PLAN_MODES)}, got {plan_mode!r}')
        if plan_mode != 'direct' and subgoal_planner is None:
            raise ValueError(f'plan_mode {plan_mode!r} needs {SUBGOAL_FILE} and {KSTEP_FILE} in '
                             f"the model directory; this model has none (use 'direct')")
        self.plan_mode = plan_mode
        self.subgoal_planner = subgoal_planner
        self._subgoal: Optional[np.ndarray] = None
        self._subgoal_failures = 0
        self._last_plan_s = 0.0
        self.method = method
        self.d_latent = int(d_latent)
        self.hidden_size = int(hidden_size)
        self.replan_every = int(replan_every)
        self.deterministic = deterministic
        self._rng = np.random.default_rng(seed)
        self._steps = 0
        self._replans = 0
        self._last_inference_s = 0.0
        self.reset()

    def _run_planner(self, obs_batch: np.ndarray,
                     goal_batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """
        Compute the prior over plans.

        :param obs_batch: (1, 39) float32.
        :param goal_batch: (1, 39) float32.
        :return: plan_mean and plan_std, each (1, D) float32.
        """
        raise NotImplementedError

    def _run_actor(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """
        Run one actor step.

        :param feeds: obs, goal (1, 39), h, c (1, H) and for 'lmp' plan (1, D), float32.
        :return: logits, means, log_scales (1, 7, K), h_out, c_out (1, H).
        """
        raise NotImplementedError

    @property
    def steps(self) -> int:
        """Return the number of actions produced since the last reset()."""
        return self._steps

    @property
    def replans(self) -> int:
        """Return how many times the policy has replanned since it was created."""
        return self._replans

    @property
    def last_inference_s(self) -> float:
        """Return the wall time in seconds of the network runs of the last step."""
        return self._last_inference_s

    @property
    def subgoal(self) -> Optional[np.ndarray]:
        """Return the (39,) subgoal the actor pursues now, or None ('direct', or holding)."""
        return None if self._subgoal is None else self._subgoal.copy()

    @property
    def subgoal_failures(self) -> int:
        """Return how many replans produced a non-finite subgoal (each held a period)."""
        return self._subgoal_failures

    @property
    def goal_handed_over(self) -> bool:
        """Tell whether the hand reached a contact subgoal: the goal itself goes to the actor."""
        return self._latched

    @property
    def last_plan_s(self) -> float:
        """Return the wall time in seconds of the last subgoal plan (0 in 'direct')."""
        return self._last_plan_s

    def reseed(self, seed: int) -> None:
        """
        Restart the sampling generator, e.g. per evaluation episode.

        :param seed: the new seed.
        """
        self._rng = np.random.default_rng(seed)

    def reset(self, observation: Optional[np.ndarray] = None,
              goal: Optional[np.ndarray] = None, task: str = '') -> Optional[str]:
        """
        Clear the recurrent state, the plan and the step counter; call it on each new goal.

        :param observation: unused: the first step reads the state.
        :param goal: unused: every step takes the goal.
        :param task: unused: a learned policy pursues any goal state.
        :return: None.
        """
        self._steps = 0
        self._h = np.zeros((1, self.hidden_size), dtype=np.float32)
        self._c = np.zeros((1, self.hidden_size), dtype=np.float32)
        self._plan = np.zeros((1, self.d_latent), dtype=np.float32)
        self._subgoal = None
        self._latched = False
        self._contact_armed = False
        return None

    def act(self, obs, goal) -> np.ndarray:
        """
        Produce the next relative action for the current observation and goal.

        The state (LSTM, plan, step counter, random generator) advances only if the step succeeds.

        :param obs: (39,) current state in the layout of play_lmp_ros.core.layout.
        :param goal: (39,) goal state, same layout.
        :return: (7,) float64 relative action, motion in [-1, 1], gripper exactly -1 or +1; a
            new array.
        :raises ValueError: if obs or goal is not 39 finite numbers.
        :raises InferenceError: if a graph failed (NonFiniteOutputError: it produced NaN or inf).
        """
        obs_batch = layout.check_vector(obs, layout.OBS_DIM, 'obs').astype(np.float32)[None]
        goal_batch = layout.check_vector(goal, layout.OBS_DIM, 'goal').astype(np.float32)[None]
        rng_state = self._rng.bit_generator.state
        try:
            return self._advance(obs_batch, goal_batch)
        except InferenceError:
            self._rng.bit_generator.state = rng_state
            raise

    def _advance(self, obs_batch: np.ndarray, goal_batch: np.ndarray) -> np.ndarray:
        """
        Run one step on validated inputs and commit the new state only at the end.

        :param obs_batch: (1, 39) float32.
        :param goal_batch: (1, 39) float32.
        :return: (7,) float64 relative action.
        :raises InferenceError: if a graph failed (NonFiniteOutputError: it produced NaN or inf).
        """
        replanning = (self._steps % self.replan_every == 0
                      or self._contact_reached(obs_batch[0]))
        h, c, plan = self._h, self._c, self._plan
        subgoal = self._subgoal
        latched = self._latched
        armed = self._contact_armed
        started = time.perf_counter()
        if replanning:
            h = np.zeros_like(self._h)
            c = np.zeros_like(self._c)
            subgoal = None
            armed = False
            if latched:   # only a planner latches
                subgoal = goal_batch[0].copy()
            elif self.plan_mode != 'direct':
                try:
                    planned = self.subgoal_planner.plan(obs_batch[0], goal_batch[0],
                                                        self.plan_mode, self._rng,
                                                        self.deterministic)
                except Exception as error:  # onnxruntime raises its own unexported types.
                    raise InferenceError(f'subgoal planning failed: {_first_line(error)}'
                                         ) from None
                self._last_plan_s = time.perf_counter() - started
                latched = planned.latched
                if np.all(np.isfinite(planned.subgoal)):
                    subgoal = planned.subgoal.astype(np.float32)
                    # Only a subgoal the hand has yet to reach can be reached.
                    armed = (not latched and not planned.reached_directly
                             and tcp_distance(subgoal, obs_batch[0])
                             >= self.subgoal_planner.settings.contact_radius_m)
                else:
                    self._subgoal_failures += 1
                    logger.warning('the subgoal planner produced a non-finite subgoal; holding '
                                   'until the next replan')
        # Planning modes always have a subgoal, except for a period whose plan failed.
        if self.plan_mode != 'direct' and subgoal is None:
            return self._hold(obs_batch, replanning)
        if subgoal is not None:
            goal_batch = subgoal[None]
        if replanning and self.method == 'lmp':
            plan = self._sample_plan(obs_batch, goal_batch)
        feeds = {'obs': obs_batch, 'goal': goal_batch, 'h': h, 'c': c}
        if self.method == 'lmp':
            feeds['plan'] = plan
        outputs = self._run_actor(feeds)
        self._last_inference_s = time.perf_counter() - started
        for name, value in zip(ACTOR_OUTPUTS, outputs):
            _require_finite(value, f'actor output {name}')
        logits, means, log_scales, h_out, c_out = outputs
        action = sample_dlml(logits[0], means[0], log_scales[0], self._rng,
                             self.deterministic).astype(np.float64)
        action[:6] = np.clip(action[:6], -1.0, 1.0)
        action[6] = layout.GRIPPER_OPEN if action[6] > 0.0 else layout.GRIPPER_CLOSE
        self._h, self._c, self._plan = h_out, c_out, plan
        self._subgoal = subgoal
        self._latched = latched
        self._contact_armed = armed
        self._steps += 1
        self._replans += int(replanning)
        return action

    def _contact_reached(self, obs: np.ndarray) -> bool:
        """Tell whether the hand reached a contact subgoal before the period's end (replan now)."""
        if not self._contact_armed:
            return False
        return tcp_distance(self._subgoal, obs) < self.subgoal_planner.settings.contact_radius_m

    def _hold(self, obs_batch: np.ndarray, replanning: bool) -> np.ndarray:
        """Hold for the rest of a replan period: zero motion, the gripper as it was."""
        self._subgoal = None
        self._contact_armed = False
        self._steps += 1
        self._replans += int(replanning)
        gripper = obs_batch[0, layout.GRIPPER_ACTION]
        return np.array([0.0] * 6 + [layout.GRIPPER_OPEN if gripper >= 0.0
                                     else layout.GRIPPER_CLOSE])

    def _sample_plan(self, obs_batch: np.ndarray, goal_batch: np.ndarray) -> np.ndarray:
        """
        Draw a plan from the planner's prior: mean + std * N(0, 1), or the mean if deterministic.

        :param obs_batch: (1, 39) float32.
        :param goal_batch: (1, 39) float32.
        :return: (1, D) float32 plan.
        :raises NonFiniteOutputError: if the planner produced NaN or inf.
        """
        plan_mean, plan_std = self._run_planner(obs_batch, goal_batch)
        _require_finite(plan_mean, 'planner output plan_mean')
        _require_finite(plan_std, 'planner output plan_std')
        if self.deterministic:
            return plan_mean.astype(np.float32)
        noise = self._rng.standard_normal(plan_mean.shape)
        return (plan_mean + plan_std * noise).astype(np.float32)


class OnnxPolicy(RecurrentPolicy):
    """A goal-conditioned policy exported to ONNX, stepped once per control tick (batch 1)."""

    def __init__(self, model_dir: str, providers: Sequence[str] = (CPU_PROVIDER,),
                 replan_every: Optional[int] = None, deterministic: bool = False,
                 seed: int = 0, plan_mode: Optional[str] = None,
                 planner_settings: Optional[PlannerSettings] = None) -> None:
        """
        Load and check the model directory and start with an empty state.

        :param model_dir: directory with actor.onnx (and planner.onnx for LMP).
        :param providers: onnxruntime execution providers in order of preference; unavailable
            ones are dropped with a warning and CPU is always the fallback.
        :param replan_every: steps between replans; None or 0 takes the model's metadata
            (core.policies.replan_period).
        :param deterministic: use plan means and the mean of the most likely mixture component
            instead of sampling.
        :param seed: seed of the sampling generator (reset() does not reseed it).
        :param plan_mode: one of core.subgoals.PLAN_MODES; default: the subgoal graphs' own
            (their metadata), or 'direct' for a directory without them.
        :param planner_settings: how subgoals are planned; default: PlannerSettings with the
            subgoal graph's metadata (PLANNER_METADATA_KEYS) where it has them.
        :raises ModelError: if the directory is missing, corrupt or does not match the package,
            or plan_mode is unknown or needs subgoal graphs the directory lacks.
        """
        if not os.path.isdir(model_dir):
            raise ModelError(f'model directory {model_dir} does not exist')
        usable = _usable_providers(providers)
        actor_path = os.path.join(model_dir, ACTOR_FILE)
        self._actor = _open_session(actor_path, usable)
        self.metadata = check_metadata(
            dict(self._actor.get_modelmeta().custom_metadata_map), actor_path)
        subgoal_planner = (self._load_subgoal_planner(model_dir, usable, planner_settings)
                           if subgoal_files_present(model_dir) else None)
        try:
            super().__init__(self.metadata['method'], int(self.metadata['d_latent']),
                             int(self.metadata['hidden_size']),
                             replan_period(replan_every, self.metadata['replan_every']),
                             deterministic, seed, subgoal_planner, plan_mode)
        except ValueError as error:
            raise ModelError(f'{model_dir}: {error}') from None
        self.mixtures = int(self.metadata['mixtures'])
        self.model_dir = model_dir

        obs_dims = {'obs': (layout.OBS_DIM,), 'goal': (layout.OBS_DIM,)}
        state_dims = {'h': (self.hidden_size,), 'c': (self.hidden_size,)}
        actor_inputs = {**obs_dims, **state_dims}
        self._planner = None
        if self.method == 'lmp':
            actor_inputs['plan'] = (self.d_latent,)
            self._planner = self._load_planner(model_dir, usable, obs_dims)
        _check_signature(self._actor.get_inputs(), actor_inputs, 'inputs', actor_path)
        head = (layout.ACTION_DIM, self.mixtures)
        _check_signature(
            self._actor.get_outputs(),
            {'logits': head, 'means': head, 'log_scales': head,
             'h_out': (self.hidden_size,), 'c_out': (self.hidden_size,)},
            'outputs', actor_path)
        self._actor_outputs = list(ACTOR_OUTPUTS)
        self._check_by_a_test_step(model_dir)
        logger.info('loaded %s policy from %s (D=%d, H=%d, K=%d, replan every %d, %s, plan '
                    'mode %s) on %s', self.method, model_dir, self.d_latent, self.hidden_size,
                    self.mixtures, self.replan_every,
                    'deterministic' if deterministic else 'sampling', self.plan_mode,
                    self.active_providers)
        if self.active_providers[0] != usable[0]:
            logger.warning('requested provider %s did not start; running on %s',
                           usable[0], self.active_providers)

    def _check_by_a_test_step(self, model_dir: str) -> None:
        """
        Run every graph once on a neutral state, so that a damaged model fails at start.

        The state is zeros with the gripper open; the recurrent state and the generator are
        left as they are.

        :param model_dir: the model directory, named in errors.
        :raises ModelError: naming the file when a graph fails or gives a non-finite output.
        """
        state = np.zeros((1, layout.OBS_DIM), dtype=np.float32)
        state[0, layout.GRIPPER_ACTION] = layout.GRIPPER_OPEN
        feeds = {'obs': state, 'goal': state, 'h': self._h, 'c': self._c}
        checks = [(ACTOR_FILE, lambda: self._run_actor(dict(feeds, **(
            {'plan': self._plan} if self.method == 'lmp' else {}))))]
        if self._planner is not None:
            checks.append((PLANNER_FILE, lambda: self._run_planner(state, state)))
        if self.subgoal_planner is not None:
            planner = self.subgoal_planner
            checks.append((SUBGOAL_FILE, lambda: planner.mixture(state[0], state[0])))
            checks.append((KSTEP_FILE, lambda: planner.distance(state, state)))
        for name, run in checks:
            path = os.path.join(model_dir, name)
            try:
                outputs = run()
            except InferenceError as error:
                raise ModelError(f'{path}: a test step on a neutral state failed: '
                                 f'{error}') from None
            except Exception as error:  # onnxruntime raises its own unexported types.
                raise ModelError(f'{path}: a test step on a neutral state failed: '
                                 f'{_first_line(error)}') from None
            for index, value in enumerate(outputs):
                if not np.all(np.isfinite(value)):
                    raise ModelError(f'{path}: a test step on a neutral state gave non-finite '
                                     f'values in output {index} (NaN or inf weights?)')

    def _load_planner(self, model_dir: str, usable: Sequence[str],
                      obs_dims: Dict[str, Tuple[int, ...]]) -> onnxruntime.InferenceSession:
        """
        Open planner.onnx and check it against the contract and the actor's metadata.

        :param model_dir: the model directory.
        :param usable: execution providers.
        :param obs_dims: the expected obs and goal dims after the batch axis.
        :return: the planner session.
        :raises ModelError: if the planner is missing, corrupt or disagrees with the actor.
        """
        planner_path = os.path.join(model_dir, PLANNER_FILE)
        planner = _open_session(planner_path, usable)
        planner_meta = dict(planner.get_modelmeta().custom_metadata_map)
        # Disagreement is the more useful message, so it is reported before the planner's own
        # consistency checks (a planner stamped 'gcbc' would otherwise fail on its d_latent).
        for key in ('method', 'd_latent'):
            if key in planner_meta and planner_meta[key] != self.metadata[key]:
                raise ModelError(
                    f'{planner_path} has {key} {planner_meta[key]!r} but '
                    f'{os.path.join(model_dir, ACTOR_FILE)} has {self.metadata[key]!r}')
        check_metadata(planner_meta, planner_path)
        _check_signature(planner.get_inputs(), obs_dims, 'inputs', planner_path)
        _check_signature(
            planner.get_outputs(),
            {'plan_mean': (self.d_latent,), 'plan_std': (self.d_latent,)},
            'outputs', planner_path)
        return planner

    def _load_subgoal_planner(self, model_dir: str, usable: Sequence[str],
                              settings: Optional[PlannerSettings]) -> SubgoalPlanner:
        """
        Open subgoal.onnx and kstep.onnx and check them against the contract and the actor.

        :param model_dir: the model directory.
        :param usable: execution providers.
        :param settings: how subgoals are planned (None: the defaults and the metadata's
            PLANNER_METADATA_KEYS).
        :return: the planner.
        :raises ModelError: naming the file and key when a graph is missing, corrupt or
            disagrees with the actor or the other graph.
        """
        sessions, metas = {}, {}
        for kind, name in (('subgoal', SUBGOAL_FILE), ('kstep', KSTEP_FILE)):
            path = os.path.join(model_dir, name)
            session = _open_session(path, usable)
            meta = dict(session.get_modelmeta().custom_metadata_map)
            # Disagreement with the actor is the more useful message, so it comes first.
            for key in ('layout_hash', 'control_hz'):
                if key in meta and meta[key] != self.metadata[key]:
                    raise ModelError(f'{path} has {key} {meta[key]!r} but '
                                     f'{os.path.join(model_dir, ACTOR_FILE)} has '
                                     f'{self.metadata[key]!r}')
            try:
                metas[kind] = check_subgoal_metadata(meta, path, kind)
            except ValueError as error:
                raise ModelError(str(error)) from None
            sessions[kind] = session
        kstep_path = os.path.join(model_dir, KSTEP_FILE)
        for key in ('horizon', 'max_goal_distance'):
            if metas['kstep'][key] != metas['subgoal'][key]:
                raise ModelError(f'{kstep_path} has {key} {metas["kstep"][key]!r} but '
                                 f'{os.path.join(model_dir, SUBGOAL_FILE)} has '
                                 f'{metas["subgoal"][key]!r}')
        mixtures = int(metas['subgoal']['mixtures'])
        state = (layout.OBS_DIM,)
        subgoal_path = os.path.join(model_dir, SUBGOAL_FILE)
        _check_signature(sessions['subgoal'].get_inputs(), {'obs': state, 'goal': state},
                         'inputs', subgoal_path)
        _check_signature(sessions['subgoal'].get_outputs(),
                         dict(zip(SUBGOAL_OUTPUTS, ((mixtures,), (mixtures, layout.OBS_DIM),
                                                    (mixtures, layout.OBS_DIM)))),
                         'outputs', subgoal_path)
        _check_signature(sessions['kstep'].get_inputs(), {'first': state, 'second': state},
                         'inputs', kstep_path)
        _check_signature(sessions['kstep'].get_outputs(),
                         dict(zip(KSTEP_OUTPUTS, ((1,), state, state))), 'outputs', kstep_path)
        if settings is None:
            values = {key: metas['subgoal'][key] for key in PLANNER_METADATA_KEYS
                      if key in metas['subgoal']}
            try:
                settings = PlannerSettings.from_metadata(values)
            except ValueError as error:
                raise ModelError(f'{subgoal_path}: metadata {sorted(values)}: {error}') from None
        return SubgoalPlanner(sessions['subgoal'], sessions['kstep'], metas['subgoal'], settings)

    @property
    def active_providers(self) -> List[str]:
        """Return the execution providers the actor session actually runs on."""
        return list(self._actor.get_providers())

    @property
    def providers(self) -> List[str]:
        """Return the execution providers the actor session actually runs on."""
        return self.active_providers

    def describe(self) -> str:
        """
        Describe the loaded model for a start-up log.

        :return: method, model directory, replanning, plan mode and action mode.
        """
        return (f'{self.method} model from {self.model_dir}, replanning every '
                f'{self.replan_every} steps, plan mode {self.plan_mode}, '
                f'{"deterministic" if self.deterministic else "sampling"}')

    def _run_planner(self, obs_batch: np.ndarray,
                     goal_batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """
        Run planner.onnx.

        :param obs_batch: (1, 39) float32.
        :param goal_batch: (1, 39) float32.
        :return: plan_mean and plan_std, each (1, D) float32.
        """
        plan_mean, plan_std = _run_session(self._planner, ['plan_mean', 'plan_std'],
                                           {'obs': obs_batch, 'goal': goal_batch},
                                           PLANNER_FILE)
        return plan_mean, plan_std

    def _run_actor(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """
        Run actor.onnx.

        :param feeds: the actor's inputs by name.
        :return: logits, means, log_scales, h_out, c_out.
        """
        return _run_session(self._actor, self._actor_outputs, feeds, ACTOR_FILE)


def _first_line(error: BaseException) -> str:
    """Return the first line of an error's message (onnxruntime's run to many lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _run_session(session: onnxruntime.InferenceSession, outputs: List[str],
                 feeds: Dict[str, np.ndarray], name: str) -> List[np.ndarray]:
    """
    Run a session, turning any onnxruntime failure into InferenceError.

    :param session: the graph.
    :param outputs: output names.
    :param feeds: inputs by name.
    :param name: the graph's file name, for the message.
    :return: the outputs.
    :raises InferenceError: naming the graph and the first line of onnxruntime's message.
    """
    try:
        return session.run(outputs, feeds)
    except Exception as error:  # onnxruntime raises its own unexported types.
        raise InferenceError(f'{name}: onnxruntime failed: {_first_line(error)}') from None


def _require_finite(values: np.ndarray, what: str) -> None:
    """
    Raise NonFiniteOutputError unless every value is finite.

    :param values: any shape.
    :param what: name used in the error message.
    :raises NonFiniteOutputError: if a value is NaN or inf.
    """
    # The array method, not np.all: this runs five times a control step, and np.all's dispatch
    # cost more than the check itself on these small arrays.
    if not np.isfinite(values).all():
        raise NonFiniteOutputError(
            f'{what} has {int(np.sum(~np.isfinite(values)))} non-finite values (NaN or inf)')
