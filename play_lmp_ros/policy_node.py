"""
The policy node: turn observations and the active goal into relative end-effector actions.

Two backends share the topics: 'onnx' runs an exported Play-LMP / Play-GCBC model with
onnxruntime (core.policy.OnnxPolicy), 'scripted' drives the scripted skill of the goal's task
(core.skills.make_skill), a baseline that needs no model.

In mode 'realtime' the node answers each observation with one action as it arrives; a timer at
control_hz is only a watchdog that holds while no fresh observation comes (a stopped simulator).
In mode 'lockstep' the node publishes exactly one action per observation while a
goal is active; when a goal arrives it acts once on the latest observation if that one has not
been acted on, so that a simulator waiting for an action starts the loop.

The node holds (zero motion, the gripper command the latest observation reports, so a hold
after a reset keeps the reset's gripper; open before any observation) when there is no goal (also
when the goal's publisher, the goal server, is gone), when the observation is older than
stale_periods control periods (realtime), when the model outputs NaN or inf, and, with the
scripted backend, when the goal has no task name or the skill is done or cannot be made.  Holds
are counted by reason on /diagnostics together with the inference latency, the replans and the
observation age.  If the simulator restarts, the node simply acts again on the first new
observation.

A model with subgoal graphs (core.subgoals) plans a subgoal at every replan (parameter
plan_mode); /diagnostics then also carries the plan mode, the current subgoal, the replan
latency percentiles and the non-finite subgoals (each held a replan period), and the current
subgoal is drawn on <namespace>/subgoal_markers as a second, fainter ghost.

The node never moves without a live goal.  A goal server that shuts down cleanly clears its
goal, or, after Ctrl-C, disappears from the goal topic at once; one that crashes or hangs stops
renewing the goal (it republishes the active goal at its feedback rate), and the node drops the
goal after goal_lease_s.  A goal past the deadline it carries is dropped too.  Goals are taken
only from the goal_publisher node, a clear ends the goal only when its goal_id matches, and
observations are taken only from the observation_publisher node: while another node publishes
either topic, the node holds (graph_guard).

An action's header stamp is the stamp of the observation it was computed from (holds included), so
that any subscriber can measure observation-to-action latency end to end; a hold published before
any observation arrived carries a zero stamp.
"""

import collections
from dataclasses import dataclass
import functools
import math
import os
import sys
import time
from typing import Deque, Dict, List, NamedTuple, Optional, Tuple

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.conversions import truncated
from play_lmp_ros.core import layout
from play_lmp_ros.core.policies import HOLD_NO_SKILL, HOLD_SKILL_DONE, Policy
from play_lmp_ros.core.policy import (
    CPU_PROVIDER, InferenceError, METADATA_MAXIMA, ModelError, NonFiniteOutputError,
    OnnxPolicy, resolve_model_dir)
from play_lmp_ros.core.scripted_policy import ScriptedPolicy
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.graph_guard import TrustedPublishers
from play_lmp_ros.markers import subgoal_markers
from play_lmp_ros.node_main import run_node
from play_lmp_ros.parameters import (accept_live_changes, check, check_at_least,
                                     check_one_of, check_positive, declare_parameters,
                                     parameter)
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

BACKENDS = ('onnx', 'scripted')
MODES = ('realtime', 'lockstep')
MAX_RATE_HZ = 1000.0
# Inference latencies kept for the diagnostics percentiles.
LATENCY_WINDOW = 300

# Why an action was a hold; the diagnostics count each.
HOLD_NO_GOAL = 'no_goal'
HOLD_NO_OBSERVATION = 'no_observation'
HOLD_STALE = 'stale_observation'
HOLD_NON_FINITE = 'non_finite_output'
HOLD_INFERENCE = 'inference_error'
HOLD_LEASE = 'goal_lease_expired'
HOLD_DEADLINE = 'goal_deadline_passed'
HOLD_FOREIGN = 'foreign_publisher'
HOLD_REASONS = (HOLD_NO_GOAL, HOLD_NO_OBSERVATION, HOLD_STALE, HOLD_NON_FINITE, HOLD_INFERENCE,
                HOLD_NO_SKILL, HOLD_SKILL_DONE, HOLD_LEASE, HOLD_DEADLINE, HOLD_FOREIGN)
# Holds that mean something is wrong, not merely idle or finished.
WARN_HOLDS = (HOLD_STALE, HOLD_NON_FINITE, HOLD_INFERENCE, HOLD_NO_SKILL, HOLD_LEASE,
              HOLD_FOREIGN)


@dataclass(frozen=True)
class PolicyNodeParams:
    """
    Validated policy_node parameters.

    Each field is one parameter, with its description, range and live status (see
    parameters.parameter); tools/node_parameter_docs.py writes the README table and
    config/policy_node.yaml from them.  The model, its sampling and the mode are fixed at
    start-up and read-only.
    """

    backend: str = parameter(
        'onnx', '`onnx` (an exported Play-LMP or Play-GCBC model) or `scripted` (the scripted '
        'skills)')
    model_dir: str = parameter(
        '', 'folder with `actor.onnx` (and `planner.onnx` for Play-LMP), or the name of a '
        'model installed with the package (`play_lmp`: learned from play alone); '
        "`''` is the bundled default")
    providers: Tuple[str, ...] = parameter(
        (CPU_PROVIDER,), 'execution providers of onnxruntime in order of preference, e.g. '
        '`[TensorrtExecutionProvider, CUDAExecutionProvider, CPUExecutionProvider]`; '
        'unavailable ones are dropped with a warning, and CPU is always the fallback')
    replan_every: int = parameter(
        0, "control steps between replans; 0 takes the model's metadata")
    plan_mode: str = parameter(
        '', 'subgoal planning at each replan: `direct` (the goal as it is), `sample`, '
        '`best_of_n` or `collocation` (models with `subgoal.onnx` and `kstep.onnx`, see the '
        "ONNX contract); `''` takes the model's default")
    deterministic: bool = parameter(
        True, 'plan means and the most likely mixture component instead of sampling')
    seed: int = parameter(
        0, "seed of action sampling (onnx) or of the skills' choices (scripted)")
    mode: str = parameter(
        'realtime', '`realtime`: one action for each observation as it arrives, and a hold on '
        'the `control_hz` watchdog while none comes; `lockstep`: one action per observation '
        'while a goal is active')
    control_hz: float = parameter(
        float(layout.CONTROL_HZ), 'realtime: rate of the watchdog that holds while no fresh '
        f'observation comes (Hz, at most {MAX_RATE_HZ:g})', live=True)
    stale_periods: float = parameter(
        2.0, 'realtime: hold when the observation is older than this many control periods',
        live=True)
    diagnostics_hz: float = parameter(
        1.0, 'rate of `/diagnostics` (Hz)', live=True)
    goal_lease_s: float = parameter(
        1.0, 'drop the goal and hold when its `GoalState` was not heard for this long (s; the '
        'goal server renews the active goal at `feedback_hz`); 0 never drops it (a tool that '
        'publishes a goal once)', live=True)
    goal_publisher: str = parameter(
        'goal_server', 'the only node (in the namespace) whose goals are taken; while another '
        "node publishes goals the policy holds (`foreign_publisher`); `''` takes any "
        "publisher's", live=True)
    observation_publisher: str = parameter(
        'sim_node', 'the only node (in the namespace) whose observations are taken; '
        "`''` takes any publisher's", live=True)

    def __post_init__(self):
        """
        Check every value.

        :raises ValueError: naming the parameter and its bad value.
        """
        check_one_of(self, 'backend', BACKENDS)
        check_one_of(self, 'mode', MODES)
        check('plan_mode', self.plan_mode, self.plan_mode in ('',) + PLAN_MODES,
              f"be '' (the model's default) or one of {list(PLAN_MODES)}")
        check('providers', self.providers, bool(self.providers) and all(
            isinstance(name, str) and name for name in self.providers),
            'be a non-empty list of execution provider names')
        check_at_least(self, 0, 'replan_every', 'seed')
        check('replan_every', self.replan_every,
              self.replan_every <= METADATA_MAXIMA['replan_every'],
              f'be at most {METADATA_MAXIMA["replan_every"]}')
        check('goal_lease_s', self.goal_lease_s,
              math.isfinite(self.goal_lease_s) and self.goal_lease_s >= 0.0,
              'be a finite number >= 0')
        check_positive(self, 'control_hz', 'stale_periods', 'diagnostics_hz')
        check('control_hz', self.control_hz, self.control_hz <= MAX_RATE_HZ,
              f'be at most {MAX_RATE_HZ}')


class Goal(NamedTuple):
    """
    The goal the policy pursues, as published by the goal server.

    :param goal_id: the ReachGoal goal's UUID hex (may be empty for a goal from another tool).
    :param task: the task name, or '' for an explicit goal state.
    :param state: (39,) goal state.
    :param deadline_ns: the goal's end on the node clock (ns), 0 for none.
    """

    goal_id: str
    task: str
    state: np.ndarray
    deadline_ns: int = 0


def make_policy(params: PolicyNodeParams) -> Policy:
    """
    Build the node's policy: the exported model, or the scripted skills.

    :param params: the node parameters.
    :return: the policy (core.policies.Policy).
    :raises ModelError: when the model directory is missing, corrupt or does not match.
    """
    if params.backend == 'scripted':
        return ScriptedPolicy(params.seed)
    model_dir = resolve_model_dir(params.model_dir)
    if not params.model_dir and not os.path.isdir(model_dir):
        raise ModelError(
            f'no model_dir given and the bundled default model ({model_dir}) is not '
            'installed: pass -p model_dir:=<directory with planner.onnx and actor.onnx> '
            'or use -p backend:=scripted')
    return OnnxPolicy(model_dir, params.providers, params.replan_every, params.deterministic,
                      params.seed, params.plan_mode or None)


class PolicyNode(Node):
    """Publish the policy's actions for the active goal, or hold."""

    def __init__(self, **kwargs):
        """
        Declare parameters, load the backend, create topics and timers.

        :param kwargs: passed to rclpy.node.Node (namespace defaults to 'play_lmp').
        :raises ValueError: on an invalid parameter (ParameterException on a wrong type), and
            ModelError (a ValueError) when the model cannot be used.
        """
        kwargs.setdefault('namespace', qos.NAMESPACE)
        super().__init__('policy_node', **kwargs)
        try:
            self._params = declare_parameters(self, PolicyNodeParams())
            self._policy = make_policy(self._params)
        except (ValueError, ParameterException):
            super().destroy_node()
            raise
        params = self._params
        self._goal: Optional[Goal] = None
        self._goal_heard_at = 0.0
        self._goal_started = False
        self._obs: Optional[np.ndarray] = None
        self._obs_at: Optional[float] = None
        self._obs_stamp = Time()
        self._obs_acted = False
        self._latencies: Deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self._plan_latencies: Deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self._holds: Dict[str, int] = dict.fromkeys(HOLD_REASONS, 0)
        self._last_hold = ''
        self._actions = 0

        self._action_pub = self.create_publisher(
            EndEffectorAction, qos.ACTION_TOPIC, qos.CONTROL_QOS)
        self._diagnostics_pub = self.create_publisher(
            DiagnosticArray, qos.DIAGNOSTICS_TOPIC, qos.DIAGNOSTICS_QOS)
        self._subgoal_pub = self.create_publisher(
            MarkerArray, qos.SUBGOAL_MARKERS_TOPIC, qos.MARKERS_QOS)
        self._drawn_subgoal: Optional[np.ndarray] = None
        observation_sub = self.create_subscription(
            Observation, qos.OBSERVATION_TOPIC, self._on_observation, qos.CONTROL_QOS)
        self._goal_sub = self.create_subscription(
            GoalState, qos.GOAL_TOPIC, self._on_goal, qos.GOAL_QOS)
        self._trusted = {qos.OBSERVATION_TOPIC: TrustedPublishers(self, observation_sub),
                         qos.GOAL_TOPIC: TrustedPublishers(self, self._goal_sub)}
        # On the steady clock, also on sim time: the hold when the simulator stops is what the
        # timer is for, and a stopped simulator stops the simulated clock too.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._control_timer = None
        if params.mode == 'realtime':
            self._control_timer = self.create_timer(1.0 / params.control_hz,
                                                    self._on_control_tick, clock=steady)
        self._diagnostics_timer = self.create_timer(1.0 / params.diagnostics_hz,
                                                    self._publish_diagnostics, clock=steady)
        accept_live_changes(self, lambda: self._params,
                            functools.partial(setattr, self, '_params'),
                            {'control_hz': self._control_timer,
                             'diagnostics_hz': self._diagnostics_timer})

        logger = self.get_logger()
        logger.info(f'{self._params.backend} backend: {self._policy.describe()}; mode '
                    f'{params.mode}' + (f' at {params.control_hz:g} Hz'
                                        if params.mode == 'realtime' else ''))
        if params.backend == 'onnx':
            running = self._policy.providers
            logger.info(f'execution providers in use: {running}')
            unused = [name for name in params.providers if name not in running]
            if unused:
                logger.warning(f'requested execution providers {unused} are not in use '
                               '(not in this onnxruntime build, or they failed to start)')
        if params.mode == 'realtime' and params.control_hz != layout.CONTROL_HZ:
            logger.warning(f'control_hz {params.control_hz:g} differs from the '
                           f'{layout.CONTROL_HZ} Hz the simulator and the models run at')

    @property
    def params(self) -> PolicyNodeParams:
        """Return the parameters the node runs with."""
        return self._params

    def _foreign(self, topic: str, expected_node: str) -> List[str]:
        """
        Name the publishers of a topic other than the trusted node, warning when there are any.

        :param topic: qos.OBSERVATION_TOPIC or qos.GOAL_TOPIC.
        :param expected_node: the trusted node's name ('' trusts every publisher).
        :return: the other publishers' names.
        """
        others = self._trusted[topic].foreign(expected_node)
        if others:
            self.get_logger().warning(
                f'{self.resolve_topic_name(topic)} has publishers other than {expected_node}: '
                f'{truncated(", ".join(others))}; not taking its data', throttle_duration_sec=5.0)
        return others

    def _on_goal(self, msg: GoalState) -> None:
        """
        Take a new goal (restarting the backend), renew the current one, or drop it when cleared.

        Only goals from the trusted goal publisher are taken; a clear ends the goal only when
        its goal_id matches.

        :param msg: the goal server's goal.
        """
        if self._foreign(qos.GOAL_TOPIC, self._params.goal_publisher):
            return   # the next decision drops the current goal too (HOLD_FOREIGN)
        current = self._goal
        if not msg.active:
            if current is not None and msg.goal_id == current.goal_id:
                self.get_logger().info(f'goal {truncated(current.goal_id)} ended: holding')
                self._goal = None
            return
        if current is not None and msg.goal_id == current.goal_id:
            self._goal_heard_at = time.monotonic()
            return
        try:
            state = conversions.goal_state_to_array(msg)
        except ValueError as error:
            self.get_logger().error(f'ignoring goal {truncated(msg.goal_id)}, holding: {error}')
            self._goal = None
            return
        self._goal = Goal(msg.goal_id, msg.task, state, conversions.stamp_ns(msg.deadline))
        self._goal_heard_at = time.monotonic()
        self._goal_started = False
        self.get_logger().info(f'new goal {truncated(msg.goal_id)} '
                               f'({truncated(msg.task) or "explicit state"})')
        if self._params.mode == 'lockstep' and self._obs is not None and not self._obs_acted:
            self._act_once()

    def _on_observation(self, msg: Observation) -> None:
        """
        Keep the latest observation and answer it with one action (lockstep: while a goal runs).

        In realtime the answer goes out on arrival, not at the next tick of a timer that runs on
        its own phase (4-33 ms later, depending on how the two timers line up).

        :param msg: the observation.
        """
        if self._foreign(qos.OBSERVATION_TOPIC, self._params.observation_publisher):
            return
        try:
            obs = conversions.observation_to_array(msg)
        except ValueError as error:
            self.get_logger().warning(f'ignoring a malformed observation: {error}',
                                      throttle_duration_sec=5.0)
            return
        self._obs = obs
        self._obs_at = time.monotonic()
        self._obs_stamp = msg.header.stamp
        self._obs_acted = False
        if self._params.mode == 'realtime' or self._goal is not None:
            self._act_once()

    def _act_once(self) -> None:
        """Answer the latest observation with one action (lockstep)."""
        self._obs_acted = True
        self._publish(self._decide())

    def _on_control_tick(self) -> None:
        """
        Watchdog (realtime): hold while no fresh observation arrives to be answered.

        A simulator that stopped, or never started, still hears a hold every period, counted as
        no_observation or stale_observation.
        """
        if self._obs is None or time.monotonic() - self._obs_at > self._stale_after_s():
            self._publish(self._decide())

    def _stale_after_s(self) -> float:
        """Return the age after which an observation is stale (realtime)."""
        return self._params.stale_periods / self._params.control_hz

    def _decide(self) -> np.ndarray:
        """
        Choose the next action: the backend's, or a hold with its reason counted.

        :return: (7,) relative action.
        """
        goal, obs = self._goal, self._obs
        if goal is not None:
            reason = self._goal_problem(goal)
            if reason is not None:
                self._goal = None
                return self._hold(reason)
        if goal is None:
            return self._hold(HOLD_NO_GOAL)
        if obs is None:
            return self._hold(HOLD_NO_OBSERVATION)
        if (self._params.mode == 'realtime'
                and time.monotonic() - self._obs_at > self._stale_after_s()):
            return self._hold(HOLD_STALE)
        if not self._goal_started:
            self._goal_started = True
            problem = self._policy.reset(obs, goal.state, goal.task)
            if problem is not None:
                self.get_logger().warning(f'goal {truncated(goal.goal_id)}: {problem}')
        policy = self._policy
        replans = policy.replans
        started = time.perf_counter()
        try:
            action = policy.act(obs, goal.state)
        except InferenceError as error:
            self.get_logger().warning(f'holding: {error}', throttle_duration_sec=5.0)
            return self._hold(HOLD_NON_FINITE if isinstance(error, NonFiniteOutputError)
                              else HOLD_INFERENCE)
        self._latencies.append(time.perf_counter() - started)
        if policy.replans != replans and policy.plan_mode != 'direct':
            self._plan_latencies.append(policy.last_plan_s)
        self._draw_subgoal(policy.subgoal)
        if policy.holding:
            return self._hold(policy.holding)
        self._last_hold = ''
        return action

    def _goal_problem(self, goal: Goal) -> Optional[str]:
        """
        Tell why the goal is no longer live, logging it once: the hold reason, or None.

        :param goal: the current goal.
        :return: HOLD_NO_GOAL (its publisher is gone), HOLD_FOREIGN, HOLD_LEASE, HOLD_DEADLINE
            or None.
        """
        logger = self.get_logger()
        name = truncated(goal.goal_id)
        if self._goal_sub.get_publisher_count() == 0:
            # The goal server died or shut down without clearing its goal: nothing judges or
            # ends the goal any more.
            logger.warning(f'goal {name}: its publisher (the goal server) is gone: holding')
            return HOLD_NO_GOAL
        if self._foreign(qos.GOAL_TOPIC, self._params.goal_publisher):
            return HOLD_FOREIGN
        lease = self._params.goal_lease_s
        silent_s = time.monotonic() - self._goal_heard_at
        if lease > 0.0 and silent_s > lease:
            logger.warning(f'goal {name}: not renewed for {silent_s:.2f} s (lease {lease:g} s): '
                           'holding')
            return HOLD_LEASE
        if goal.deadline_ns and self.get_clock().now().nanoseconds > goal.deadline_ns:
            logger.warning(f'goal {name}: its deadline passed: holding')
            return HOLD_DEADLINE
        return None

    def _draw_subgoal(self, subgoal: Optional[np.ndarray]) -> None:
        """Publish the subgoal's ghost when it changed (or delete it when there is none)."""
        drawn = self._drawn_subgoal
        if (subgoal is None and drawn is None) or (
                subgoal is not None and drawn is not None and np.array_equal(subgoal, drawn)):
            return
        self._drawn_subgoal = subgoal
        self._subgoal_pub.publish(subgoal_markers(subgoal, self.get_clock().now().to_msg()))

    def _hold(self, reason: str) -> np.ndarray:
        """
        Count a hold and return the hold action.

        :param reason: one of HOLD_REASONS.
        :return: (7,) zero motion with the gripper command the latest observation reports
            (open before any), so that a hold after a reset keeps the reset's gripper.
        """
        self._holds[reason] += 1
        self._last_hold = reason
        gripper = (layout.GRIPPER_OPEN if self._obs is None
                   else layout.gripper_command_of(self._obs))
        return layout.hold_action(gripper)

    def _publish(self, action: np.ndarray) -> None:
        """
        Publish a relative action stamped with the latest observation's stamp.

        :param action: (7,) relative action, computed from the latest observation.
        """
        # The stamp of the observation this action answers, so latency can be measured end to
        # end (zero before any observation arrived).
        self._action_pub.publish(conversions.array_to_action(action, 'relative', self._obs_stamp))
        self._actions += 1

    def _publish_diagnostics(self) -> None:
        """Publish backend, providers, latency percentiles, replans, observation age, holds."""
        if self._latencies:
            p50, p99 = np.percentile(np.array(self._latencies) * 1000.0, [50.0, 99.0])
            latency = {'inference_p50_ms': f'{p50:.3f}', 'inference_p99_ms': f'{p99:.3f}'}
        else:
            latency = {'inference_p50_ms': '', 'inference_p99_ms': ''}
        age = ('' if self._obs_at is None
               else f'{1000.0 * (time.monotonic() - self._obs_at):.0f}')
        policy = self._policy
        if self._plan_latencies:
            p50, p99 = np.percentile(np.array(self._plan_latencies) * 1000.0, [50.0, 99.0])
            planning = {'replan_p50_ms': f'{p50:.3f}', 'replan_p99_ms': f'{p99:.3f}'}
        else:
            planning = {'replan_p50_ms': '', 'replan_p99_ms': ''}
        subgoal = policy.subgoal
        values = {
            'backend': self._params.backend,
            'providers': ','.join(policy.providers),
            'mode': self._params.mode,
            'goal_id': truncated(self._goal.goal_id) if self._goal else '',
            'task': truncated(self._goal.task) if self._goal else '',
            **latency,
            'replans': str(policy.replans),
            'plan_mode': policy.plan_mode,
            **planning,
            'subgoal': '' if subgoal is None else ','.join(f'{value:.4f}' for value in subgoal),
            'subgoal_failures': str(policy.subgoal_failures),
            'goal_handed_over': str(policy.goal_handed_over).lower(),
            'observation_age_ms': age,
            'actions_published': str(self._actions),
            'held_steps': str(sum(self._holds.values())),
            **{f'held_{reason}': str(count) for reason, count in self._holds.items()},
        }
        if self._last_hold in WARN_HOLDS:
            level, message = DiagnosticStatus.WARN, f'holding: {self._last_hold}'
        elif self._goal is None:
            level, message = DiagnosticStatus.OK, 'no goal: holding'
        else:
            level, message = DiagnosticStatus.OK, f'pursuing goal {truncated(self._goal.goal_id)}'
        status = DiagnosticStatus(
            level=level, name=self.get_fully_qualified_name(), hardware_id=qos.NAMESPACE,
            message=message, values=[KeyValue(key=key, value=value)
                                     for key, value in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


def main(args=None) -> int:
    """
    Run the policy node until Ctrl-C or shutdown.

    :param args: command-line arguments for rclpy (sys.argv when None).
    :return: the exit code: 0, or 1 on a start-up error such as a bad parameter or model
        (printed to stderr).
    """
    return run_node(PolicyNode, 'policy_node', args=args)


if __name__ == '__main__':
    sys.exit(main())
