"""
Measure the runtime figures: policy step, observation-to-action latency, 30 Hz jitter.

    python -m benchmarks.bench_runtime                         # onnx backend
    python -m benchmarks.bench_runtime --model-dir <model dir> --seconds 20 --json
    python -m benchmarks.bench_runtime --backend scripted

Run from the repository root (the nodes are started from the same checkout).

Three figures, plus the load average of the machine before and after:

1. Policy step: p50 / p99 / max of ``OnnxPolicy.act`` on the CPU, in this process, over
   ``--steps`` steps on observations of a PlayTableSim run (random smooth motions), with replanning
   steps also reported apart.  The model is ``--model-dir``, else the bundled default, else (with
   onnx installed) the tiny test model of test/onnx_fixtures.py; the output says which.
2. Observation-to-action latency across processes: sim_node (realtime, 30 Hz) and policy_node run
   as processes of their own (``python -m``, started by test/ros_harness.py's NodeProcess) in a
   private namespace, and a probe node here publishes a long-lived goal (the state
   GoalJudge.imagine_goal makes for a task feasible from the seeded scene) and subscribes to
   ``observation`` and ``action``.  policy_node stamps each action with the stamp of the
   observation it answers, so the latency is the probe's receive time of the action minus that
   stamp (one host clock: the sim stamps with its node clock, which is system time).
   ``latency_at_receipt`` takes Fast DDS's receive timestamp instead of the probe's callback,
   leaving out the probe's own executor.  With the scripted backend, whose skill stops when done,
   the probe alternates the task and its reverse (open_drawer, close_drawer, ...) after a few
   holds, so that a skill runs most of the time; hold actions are counted either way.
3. Jitter of the 30 Hz action stream: the inter-arrival times of ``action`` at the probe (mean,
   std, p99 and max of |period - 1/30 s|), and the same on the publisher's DDS source timestamps;
   the observation stream (the sim's timer) is reported the same way for comparison.

Figures 2 and 3 are measured for each ``--policy-modes`` entry, ``--seconds`` each, with a fresh
policy_node and the simulator reset to the seeded scene for each.  In ``realtime`` (the supported
configuration: both nodes realtime) the policy answers each observation as it arrives, its timer
only a watchdog that holds while no fresh observation comes; in ``lockstep`` it answers every
observation at once too, the sim still on its timer.  Either way the latency is the reaction time
(transport both ways, executor, inference), and the action stream follows the sim's timer.

Exit codes: 0, 1 when a node could not be started or the model cannot be used (stderr says why,
with the tail of the node's log), 2 for bad arguments, 130 on Ctrl-C.  The node processes are
stopped on every exit (SIGTERM, then SIGKILL if one lingers).
"""

import argparse
import contextlib
import functools
import json
import math
import os
from pathlib import Path
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple
import uuid

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.policy import CPU_PROVIDER, default_model_dir, ModelError, OnnxPolicy
from play_lmp_ros.core.sim import PlayTableSim
from play_lmp_ros.core.skills import feasible_tasks
from play_lmp_ros.core.stdout_redirect import stdout_to_stderr
from play_lmp_ros.policy_node import HOLD_REASONS
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from ros_harness import diagnostics_topic, NodeProcess

BACKENDS = ('onnx', 'scripted')
POLICY_MODES = ('realtime', 'lockstep')
# Tasks whose skills move the arm for a few seconds, tried in this order; any feasible one does.
PREFERRED_TASKS = ('open_drawer', 'close_drawer', 'move_slider_left', 'move_slider_right',
                   'turn_on_lightbulb', 'turn_off_lightbulb', 'turn_on_led', 'turn_off_led')
# Each goal the probe publishes gets this prefix and a count as its id.
GOAL_ID = 'bench_runtime'
# With the scripted backend the goal alternates between a task and its reverse, so that a skill
# is running (not holding, done) throughout the measurement.
REVERSE_TASKS = {
    'open_drawer': 'close_drawer', 'close_drawer': 'open_drawer',
    'move_slider_left': 'move_slider_right', 'move_slider_right': 'move_slider_left',
    'turn_on_lightbulb': 'turn_off_lightbulb', 'turn_off_lightbulb': 'turn_on_lightbulb',
    'turn_on_led': 'turn_off_led', 'turn_off_led': 'turn_on_led',
}
# Consecutive hold actions after which the probe sends the next goal of the cycle.
HOLDS_BEFORE_NEXT_GOAL = 10
FIXTURE_SOURCE = 'tiny test fixture (test/onnx_fixtures.py)'
# Distinct simulator observations the policy step cycles through.
MAX_DISTINCT_OBSERVATIONS = 500
WARMUP_STEPS = 50
STARTUP_TIMEOUT_S = 90.0
WARMUP_S = 1.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 2000
NS_PER_MS = 1e6
# Counters of the nodes' /diagnostics reported as their change over the measured window.
SIM_COUNTERS = ('steps', 'ticks without a fresh action', 'actions replaced before use',
                'held steps', 'rejected actions')
POLICY_COUNTERS = ('actions_published', 'held_steps') + tuple(
    f'held_{reason}' for reason in HOLD_REASONS)


class BenchError(RuntimeError):
    """Raised when the benchmark cannot run: a node did not start, or no usable model."""


def summary_ms(values_ms: Sequence[float]) -> Dict[str, Any]:
    """
    Summarize a sample of durations.

    :param values_ms: durations in milliseconds.
    :return: n, mean, p50, p99 and max in ms (None when the sample is empty).
    """
    values = np.asarray(values_ms, dtype=np.float64)
    if values.size == 0:
        return {'n': 0, 'mean_ms': None, 'p50_ms': None, 'p99_ms': None, 'max_ms': None}
    p50, p99 = np.percentile(values, [50.0, 99.0])
    return {'n': int(values.size), 'mean_ms': float(values.mean()), 'p50_ms': float(p50),
            'p99_ms': float(p99), 'max_ms': float(values.max())}


def period_stats(times_ns: Sequence[int], period_s: float) -> Dict[str, Any]:
    """
    Describe the regularity of a message stream from its arrival (or publication) times.

    :param times_ns: (N,) times in ns, in arrival order.
    :param period_s: the nominal period.
    :return: n (periods), mean_ms, std_ms, and p99_abs_dev_ms and max_abs_dev_ms of
        |period - period_s| (None with fewer than two times).
    """
    periods_ms = np.diff(np.asarray(times_ns, dtype=np.int64)).astype(np.float64) / NS_PER_MS
    if periods_ms.size == 0:
        return {'n': 0, 'mean_ms': None, 'std_ms': None, 'p99_abs_dev_ms': None,
                'max_abs_dev_ms': None}
    deviation = np.abs(periods_ms - period_s * 1000.0)
    return {'n': int(periods_ms.size), 'mean_ms': float(periods_ms.mean()),
            'std_ms': float(periods_ms.std()),
            'p99_abs_dev_ms': float(np.percentile(deviation, 99.0)),
            'max_abs_dev_ms': float(deviation.max())}


class Arrival(NamedTuple):
    """
    One message as the probe saw it; times in ns.

    :param wall_ns: system time in the probe's callback.
    :param mono_ns: monotonic time in the probe's callback.
    :param stamp_ns: the header stamp (an action's: the observation it answers; 0: none).
    :param source_ns: DDS source timestamp (publication, system time; 0: unknown).
    :param received_ns: DDS receive timestamp in the probe's process (system time; 0: unknown).
    :param hold: an action without motion (a hold, or a skill pausing).
    """

    wall_ns: int
    mono_ns: int
    stamp_ns: int
    source_ns: int
    received_ns: int
    hold: bool = False


def stream_figures(observations: Sequence[Arrival], actions: Sequence[Arrival],
                   period_s: float) -> Dict[str, Any]:
    """
    Compute latency and jitter figures from the recorded streams of one measurement.

    :param observations: the observations received, in order.
    :param actions: the actions received, in order.
    :param period_s: the nominal control period.
    :return: counts, latency summaries and period statistics (see the module docstring).
    """
    paired = [action for action in actions if action.stamp_ns > 0]
    answered = {action.stamp_ns for action in paired}
    seen = {observation.stamp_ns for observation in observations}
    repeats = sum(1 for previous, action in zip(paired, paired[1:])
                  if action.stamp_ns == previous.stamp_ns)
    return {
        'observations': len(observations),
        'actions': len(actions),
        'actions_without_observation_stamp': len(actions) - len(paired),
        'hold_actions': sum(1 for action in actions if action.hold),
        'repeated_answers': repeats,
        'observations_answered': len(answered & seen),
        'latency': summary_ms([(a.wall_ns - a.stamp_ns) / NS_PER_MS for a in paired]),
        'latency_at_receipt': summary_ms(
            [(a.received_ns - a.stamp_ns) / NS_PER_MS for a in paired if a.received_ns]),
        'observation_transport': summary_ms(
            [(o.wall_ns - o.stamp_ns) / NS_PER_MS for o in observations]),
        'action_period': period_stats([a.mono_ns for a in actions], period_s),
        'action_period_published': period_stats(
            [a.source_ns for a in actions if a.source_ns], period_s),
        'observation_period': period_stats([o.mono_ns for o in observations], period_s),
        'observation_period_published': period_stats(
            [o.source_ns for o in observations if o.source_ns], period_s),
    }


def counter_changes(first: Dict[str, str], last: Dict[str, str],
                    names: Sequence[str]) -> Dict[str, int]:
    """
    Return how much integer counters of a node's /diagnostics grew between two reports.

    :param first: key/values of the earlier report.
    :param last: key/values of the later report.
    :param names: the counters.
    :return: name -> change, for the counters present and integer in both.
    """
    changes = {}
    for name in names:
        try:
            changes[name] = int(last[name]) - int(first[name])
        except (KeyError, ValueError):
            continue
    return changes


# ---------------------------------------------------------------------------- policy step


def resolve_model(model_dir: Optional[str], scratch: Path) -> Tuple[str, str]:
    """
    Find the model to benchmark.

    :param model_dir: the directory given on the command line, or None.
    :param scratch: a directory that outlives the benchmark's use of the model.
    :return: the model directory and where it comes from: 'given', 'bundled default' or
        FIXTURE_SOURCE.
    :raises BenchError: when no model is given, none is bundled and the tiny test model cannot
        be built (onnx missing).
    """
    if model_dir:
        return model_dir, 'given'
    bundled = default_model_dir()
    if os.path.isdir(bundled):
        return bundled, 'bundled default'
    try:
        from onnx_fixtures import write_model_dir
    except ImportError as error:
        raise BenchError(f'no --model-dir given and no bundled default model ({bundled}); '
                         f'the tiny test model needs {error.name}: pass --model-dir') from None
    return str(write_model_dir(scratch)), FIXTURE_SOURCE


def simulator_observations(count: int, seed: int) -> np.ndarray:
    """
    Collect observations from a PlayTableSim moved by random smooth relative actions.

    :param count: how many.
    :param seed: scene and motion seed.
    :return: (count, 39) observations.
    """
    rng = np.random.default_rng(seed)
    motion = np.zeros(layout.ACTION_DIM - 1)
    gripper = layout.GRIPPER_OPEN
    observations = []
    with PlayTableSim(seed=seed) as sim:
        sim.reset_random(seed)
        for _ in range(count):
            motion = np.clip(0.9 * motion + 0.3 * rng.standard_normal(motion.size), -1.0, 1.0)
            if rng.random() < 0.02:
                gripper = -gripper
            observations.append(sim.step(np.append(motion, gripper), 'relative'))
    return np.array(observations)


def bench_policy_step(model_dir: str, steps: int, seed: int) -> Dict[str, Any]:
    """
    Time OnnxPolicy.act on the CPU, one step at a time, as policy_node runs it.

    :param model_dir: the model directory.
    :param steps: timed steps (after WARMUP_STEPS untimed ones).
    :param seed: seed of the observations and of the action sampling.
    :return: the model's method and replanning, and latency summaries of all steps, of the
        steps that replanned and of the others.
    :raises ModelError: when the model cannot be used.
    """
    policy = OnnxPolicy(model_dir, (CPU_PROVIDER,), seed=seed)
    observations = simulator_observations(min(steps, MAX_DISTINCT_OBSERVATIONS), seed)
    goal = observations[-1]
    for index in range(WARMUP_STEPS):
        policy.act(observations[index % len(observations)], goal)
    policy.reset()
    times_ms = np.empty(steps)
    replanned = np.zeros(steps, dtype=bool)
    for index in range(steps):
        obs = observations[index % len(observations)]
        replans = policy.replans
        started = time.perf_counter_ns()
        policy.act(obs, goal)
        times_ms[index] = (time.perf_counter_ns() - started) / NS_PER_MS
        replanned[index] = policy.replans > replans
    return {
        'method': policy.method,
        'replan_every': policy.replan_every,
        'providers': policy.active_providers,
        'steps': summary_ms(times_ms),
        'replanning_steps': summary_ms(times_ms[replanned]),
        'other_steps': summary_ms(times_ms[~replanned]),
    }


# ---------------------------------------------------------------------------- processes


def check_alive(process: NodeProcess) -> None:
    """
    Fail if a node process has exited.

    :param process: the node process.
    :raises BenchError: with its exit code and the tail of its log.
    """
    if not process.alive():
        raise BenchError(f'{process.executable} exited with code {process.process.returncode}:\n'
                         f'{process.output()[-LOG_TAIL_CHARS:]}')


def _with_message_info(callback):
    """
    Adapt a (message, message info) callback to this rclpy.

    rclpy passes the message info (DDS source and receive timestamps) to two-argument callbacks
    from Iron on; Humble's passes the message alone, and the timestamps then read 0 (unknown).

    :param callback: takes the message and the message info dict.
    :return: the callback to subscribe with.
    """
    if hasattr(Subscription, 'CallbackType'):
        return callback
    return functools.partial(callback, info={})


class Probe:
    """
    A node in a private context that publishes the goal and records observations and actions.

    An executor thread runs its callbacks; the main thread waits and reads the records.
    """

    def __init__(self, namespace: str):
        """
        Create the node and start spinning.

        :param namespace: the graph's namespace, without a leading slash.
        """
        self.namespace = namespace
        self._lock = threading.Lock()
        self._observations: List[Arrival] = []
        self._actions: List[Arrival] = []
        self._diagnostics: Dict[str, List[Tuple[int, Dict[str, str]]]] = {}
        self._latest: Optional[Observation] = None
        self._goals: List[Tuple[str, np.ndarray]] = []
        self._cycle = False
        self._next_goal = 0
        self._goals_sent = 0
        self._goals_in_window = 0
        self._holds_in_a_row = 0
        self.context = rclpy.Context()
        # No rclpy signal handler: Ctrl-C stays a plain KeyboardInterrupt, and the cleanup runs
        # with the context still valid.
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('bench_runtime_probe', namespace=namespace,
                                      context=self.context)
        self._goal_pub = self.node.create_publisher(GoalState, qos.GOAL_TOPIC, qos.GOAL_QOS)
        self._reset_client = self.node.create_client(ResetSim, qos.RESET_SERVICE)
        self.node.create_subscription(Observation, qos.OBSERVATION_TOPIC,
                                      _with_message_info(self._on_observation), qos.CONTROL_QOS)
        self.node.create_subscription(EndEffectorAction, qos.ACTION_TOPIC,
                                      _with_message_info(self._on_action), qos.CONTROL_QOS)
        self.node.create_subscription(DiagnosticArray, diagnostics_topic(namespace),
                                      self._on_diagnostics, qos.DIAGNOSTICS_QOS)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the executor, destroy the node and shut the context down."""
        self._executor.shutdown(timeout_sec=STOP_TIMEOUT_S)
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    @staticmethod
    def _arrival(msg, info: Dict[str, Any], hold: bool = False) -> Arrival:
        stamp = msg.header.stamp
        return Arrival(time.time_ns(), time.monotonic_ns(),
                       conversions.stamp_ns(stamp),
                       int(info.get('source_timestamp') or 0),
                       int(info.get('received_timestamp') or 0), hold)

    def _on_observation(self, msg: Observation, info: Dict[str, Any]) -> None:
        arrival = self._arrival(msg, info)
        with self._lock:
            self._observations.append(arrival)
            self._latest = msg

    def _on_action(self, msg: EndEffectorAction, info: Dict[str, Any]) -> None:
        arrival = self._arrival(msg, info, not any(msg.position) and not any(msg.orientation))
        with self._lock:
            self._actions.append(arrival)
            self._holds_in_a_row = self._holds_in_a_row + 1 if arrival.hold else 0
            next_goal = self._cycle and self._holds_in_a_row >= HOLDS_BEFORE_NEXT_GOAL
        if next_goal:
            self._publish_next_goal()

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        stamp = conversions.stamp_ns(msg.header.stamp)
        with self._lock:
            for status in msg.status:
                self._diagnostics.setdefault(status.name, []).append(
                    (stamp, {value.key: value.value for value in status.values}))

    def start_goals(self, goals: Sequence[Tuple[str, np.ndarray]], cycle: bool) -> None:
        """
        Publish the first goal (latched; a goal stays active while this node lives).

        :param goals: task names and their (39,) goal states.
        :param cycle: send the next goal, in a cycle, after HOLDS_BEFORE_NEXT_GOAL holds in a row.
        """
        with self._lock:
            self._goals = list(goals)
            self._cycle = cycle
            self._next_goal = 0
        self._publish_next_goal()

    def _publish_next_goal(self) -> None:
        with self._lock:
            task, state = self._goals[self._next_goal % len(self._goals)]
            goal_id = f'{GOAL_ID}_{self._goals_sent}'
            self._next_goal += 1
            self._goals_sent += 1
            self._goals_in_window += 1
            self._holds_in_a_row = 0
        self._goal_pub.publish(conversions.array_to_goal_state(
            state, self.node.get_clock().now().to_msg(), goal_id, task))

    @property
    def goals_in_window(self) -> int:
        """Return how many goals were sent since the last clear()."""
        with self._lock:
            return self._goals_in_window

    def reset_sim(self, seed: int, timeout: float) -> None:
        """
        Reset the simulator to its seeded scene.

        :param seed: the scene seed.
        :param timeout: seconds to wait for the service and its answer.
        :raises BenchError: when the reset fails or does not answer in time.
        """
        if not self._reset_client.wait_for_service(timeout_sec=timeout):
            raise BenchError(f'no {qos.RESET_SERVICE} service from sim_node')
        done = threading.Event()
        future = self._reset_client.call_async(ResetSim.Request(seed=seed))
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise BenchError(f'sim_node did not answer the reset within {timeout:g} s')
        response = future.result()
        if not response.success:
            raise BenchError(f'sim_node refused the reset: {response.message}')

    def latest_observation(self) -> Optional[np.ndarray]:
        """
        Return the latest observation received.

        :return: (39,) observation, or None before the first one.
        """
        with self._lock:
            latest = self._latest
        return None if latest is None else conversions.observation_to_array(latest)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._observations.clear()
            self._actions.clear()
            self._diagnostics.clear()
            self._goals_in_window = 0

    def records(self) -> Tuple[List[Arrival], List[Arrival]]:
        """
        Return copies of the records.

        :return: observations and actions received since the last clear().
        """
        with self._lock:
            return list(self._observations), list(self._actions)

    def diagnostics(self, name: str) -> List[Tuple[int, Dict[str, str]]]:
        """
        Return the /diagnostics reports of one status since the last clear().

        :param name: the status name.
        :return: (header stamp ns, key/values) in arrival order.
        """
        with self._lock:
            return list(self._diagnostics.get(name, []))


def wait_for(condition, timeout: float, what: str, processes: Sequence[NodeProcess]) -> None:
    """
    Wait until a condition holds, failing early when a node process dies.

    :param condition: callable returning a bool.
    :param timeout: seconds.
    :param what: what is awaited, for the error message.
    :param processes: the node processes that must stay alive.
    :raises BenchError: on timeout or a dead process.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            check_alive(process)
        if time.monotonic() > deadline:
            raise BenchError(f'{what}: not within {timeout:g} s')
        time.sleep(0.05)


def choose_task(obs: np.ndarray, task: Optional[str]) -> str:
    """
    Pick the goal's task.

    :param obs: (39,) the scene's observation.
    :param task: the requested task, or None for the first feasible preferred one.
    :return: the task name.
    :raises BenchError: when no task is feasible.
    """
    if task:
        return task
    feasible = feasible_tasks(obs)
    for name in PREFERRED_TASKS + tuple(feasible):
        if name in feasible:
            return name
    raise BenchError('no task is feasible from the seeded scene: try another --seed')


def measure_mode(probe: Probe, sim: NodeProcess, policy: NodeProcess, seconds: float,
                 period_s: float) -> Dict[str, Any]:
    """
    Wait until the policy answers observations for the goal, then record for a while.

    :param probe: the probe, whose goal is published.
    :param sim: the simulator process.
    :param policy: the freshly started policy process.
    :param seconds: measured time.
    :param period_s: the nominal control period.
    :return: the stream figures, and the nodes' diagnostics counters over the window.
    :raises BenchError: when the policy does not start answering.
    """
    policy_status = f'/{probe.namespace}/policy_node'
    sim_status = f'{probe.namespace}/sim_node: simulator'

    def pursuing() -> bool:
        reports = probe.diagnostics(policy_status)
        if not reports or not reports[-1][1].get('goal_id', '').startswith(GOAL_ID):
            return False
        observations, actions = probe.records()
        seen = {observation.stamp_ns for observation in observations}
        return any(action.stamp_ns in seen for action in actions)

    probe.clear()
    wait_for(pursuing, STARTUP_TIMEOUT_S, 'policy_node answering observations for the goal',
             (sim, policy))
    time.sleep(WARMUP_S)
    probe.clear()
    started = time.monotonic()
    time.sleep(seconds)
    observations, actions = probe.records()
    elapsed = time.monotonic() - started
    goals_sent = probe.goals_in_window
    for process in (sim, policy):
        check_alive(process)
    figures = {'seconds': elapsed, 'goals_sent': goals_sent,
               **stream_figures(observations, actions, period_s)}
    for key, status, counters in (('policy_diagnostics', policy_status, POLICY_COUNTERS),
                                  ('sim_diagnostics', sim_status, SIM_COUNTERS)):
        reports = probe.diagnostics(status)
        if len(reports) >= 2:
            (first_ns, first), (last_ns, last) = reports[0], reports[-1]
            figures[key] = {'span_s': (last_ns - first_ns) / 1e9,
                            **counter_changes(first, last, counters)}
            if key == 'policy_diagnostics':
                figures[key].update({name: last.get(name) for name in (
                    'inference_p50_ms', 'inference_p99_ms')})
        else:
            figures[key] = {}
    return figures


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """
    Hold Ctrl-C (SIGINT) during the block and raise KeyboardInterrupt after it, if one came.

    A process started in the block is registered for the cleanup before the interrupt can land
    between its start and its registration.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


class NodeProcesses:
    """The node processes of a run, each registered as it starts, all stopped on close."""

    def __init__(self, namespace: str, log_dir: Path):
        """
        Start with none.

        :param namespace: the graph's namespace, without a leading slash.
        :param log_dir: folder of the nodes' logs.
        """
        self._namespace = namespace
        self._log_dir = log_dir
        self.running: List[NodeProcess] = []

    def start(self, module: str, **parameters: Any) -> NodeProcess:
        """
        Start a node process.

        :param module: 'sim_node' or 'policy_node'.
        :param parameters: its parameters.
        :return: the process.
        """
        with sigint_deferred():
            process = NodeProcess(module, self._log_dir, self._namespace, **parameters)
            self.running.append(process)
        return process

    def stop(self, process: NodeProcess) -> None:
        """
        Stop one process.

        :param process: one of the running processes.
        """
        process.stop()
        self.running.remove(process)

    def close(self) -> None:
        """Stop every process still running, the latest first."""
        while self.running:
            self.stop(self.running[-1])

    def __enter__(self) -> 'NodeProcesses':
        """Use as a context manager."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Stop every process on leaving the context."""
        self.close()


def bench_cross_process(backend: str, model_dir: Optional[str], seconds: float, seed: int,
                        task: Optional[str], policy_modes: Sequence[str],
                        log_dir: Path) -> Dict[str, Any]:
    """
    Run sim_node and policy_node as processes and measure latency and jitter at a probe.

    :param backend: policy_node's backend, 'onnx' or 'scripted'.
    :param model_dir: the model for 'onnx'.
    :param seconds: measured time per policy mode.
    :param seed: the simulator's scene seed.
    :param task: the goal's task, or None to choose one feasible from the scene.
    :param policy_modes: policy_node modes to measure, in order.
    :param log_dir: folder of the nodes' logs.
    :return: the goals' tasks and, per policy mode, the figures of measure_mode.
    :raises BenchError: when a node does not start or no goal can be made.
    """
    namespace = f'{qos.NAMESPACE}_bench_{uuid.uuid4().hex[:8]}'
    period_s = 1.0 / layout.CONTROL_HZ
    probe = Probe(namespace)
    try:
        with NodeProcesses(namespace, log_dir) as processes:
            sim = processes.start('sim_node', mode='realtime',
                                  control_hz=float(layout.CONTROL_HZ), seed=seed)
            wait_for(lambda: probe.latest_observation() is not None, STARTUP_TIMEOUT_S,
                     'the first observation from sim_node', [sim])
            obs = probe.latest_observation()
            task = choose_task(obs, task)
            with GoalJudge(seed) as judge:
                try:
                    goals = [(task, judge.imagine_goal(task, obs))]
                except GoalError as error:
                    raise BenchError(f'no goal for {task}: {error}') from None
                reverse = REVERSE_TASKS.get(task)
                if backend == 'scripted' and reverse is not None:
                    with contextlib.suppress(GoalError):
                        goals.append((reverse, judge.imagine_goal(reverse, goals[0][1])))
            modes = {}
            for mode in policy_modes:
                # Every mode starts from the seeded scene, so the goals fit and modes compare.
                probe.reset_sim(seed, STARTUP_TIMEOUT_S)
                probe.start_goals(goals, cycle=backend == 'scripted')
                # The probe publishes each goal once, in place of the goal server.
                parameters = {'backend': backend, 'mode': mode, 'seed': seed,
                              'goal_publisher': probe.node.get_name(), 'goal_lease_s': 0.0}
                if backend == 'onnx':
                    parameters['model_dir'] = model_dir
                policy = processes.start('policy_node', **parameters)
                try:
                    modes[mode] = measure_mode(probe, sim, policy, seconds, period_s)
                finally:
                    processes.stop(policy)
    finally:
        probe.close()
    return {'tasks': [name for name, _ in goals], 'namespace': namespace, 'modes': modes}


# ---------------------------------------------------------------------------- whole run


def run_benchmark(backend: str = 'onnx', model_dir: Optional[str] = None, seconds: float = 20.0,
                  steps: int = 2000, seed: int = 0, task: Optional[str] = None,
                  policy_modes: Sequence[str] = POLICY_MODES) -> Dict[str, Any]:
    """
    Measure the three figures.

    :param backend: policy_node's backend, 'onnx' or 'scripted'.
    :param model_dir: the model; None takes the bundled default or the tiny test model.
    :param seconds: measured time per policy mode.
    :param steps: timed policy steps.
    :param seed: scene, motion and sampling seed.
    :param task: the goal's task, or None to choose one feasible from the scene.
    :param policy_modes: policy_node modes to measure.
    :return: machine, settings, 'policy_step' and 'cross_process' figures.
    :raises BenchError: when a node does not start, or the model cannot be used (with the onnx
        backend; with the scripted one the policy step is skipped with the reason).
    """
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='bench_runtime_') as scratch:
        scratch_dir = Path(scratch)
        resolved = None
        try:
            resolved, source = resolve_model(model_dir, scratch_dir)
            resolved = os.path.abspath(resolved)
            policy_step = {'model_source': source,
                           'model_dir': '(temporary)' if source == FIXTURE_SOURCE else resolved,
                           **bench_policy_step(resolved, steps, seed)}
        except (BenchError, ModelError) as error:
            if backend == 'onnx':
                raise BenchError(str(error)) from None
            policy_step = {'skipped': str(error)}
        log_dir = scratch_dir / 'logs'
        log_dir.mkdir()
        cross_process = bench_cross_process(backend, resolved, seconds, seed, task,
                                            policy_modes, log_dir)
    return {
        'machine': {'cpus': os.cpu_count(), 'load_average_before': list(load_before),
                    'load_average_after': list(os.getloadavg())},
        'settings': {'backend': backend, 'seconds_per_mode': seconds, 'policy_steps': steps,
                     'seed': seed, 'control_hz': layout.CONTROL_HZ,
                     'policy_modes': list(policy_modes)},
        'policy_step': policy_step,
        'cross_process': cross_process,
    }


def _numbers(entry: Optional[Dict[str, Any]], keys: Sequence[str]) -> str:
    """
    Format some values of a summary as 'a / b / c' in ms.

    :param entry: a summary dict (or None).
    :param keys: the keys to show.
    :return: the text, '-' for a missing value.
    """
    entry = entry or {}
    return ' / '.join('-' if entry.get(key) is None else f'{entry[key]:.2f}' for key in keys)


def format_report(report: Dict[str, Any]) -> str:
    """
    Render the figures as a short human-readable table.

    :param report: the result of run_benchmark.
    :return: the text.
    """
    machine, settings = report['machine'], report['settings']
    load = ' '.join(f'{value:.2f}' for value in machine['load_average_before'])
    load_after = ' '.join(f'{value:.2f}' for value in machine['load_average_after'])
    lines = [f'machine: {machine["cpus"]} CPUs, load average (1/5/15 min) {load} before, '
             f'{load_after} after', '']
    step = report['policy_step']
    if 'skipped' in step:
        lines.append(f'1. policy step: skipped ({step["skipped"]})')
    else:
        lines += [
            f'1. policy step: OnnxPolicy.act on {",".join(step["providers"])}, '
            f'{step["steps"]["n"]} steps; model: {step["model_source"]}, {step["method"]}, '
            f'replanning every {step["replan_every"]} steps',
            f'   {"":26}p50 / p99 / max (ms)']
        for key, label in (('steps', 'all steps'), ('replanning_steps', 'replanning steps'),
                           ('other_steps', 'other steps')):
            lines.append(f'   {label:26}{_numbers(step[key], ("p50_ms", "p99_ms", "max_ms"))}')
    cross = report['cross_process']
    modes = cross['modes']
    nominal_ms = 1000.0 / settings['control_hz']
    goals = ' <-> '.join(cross['tasks'])
    lines += ['', f'2-3. across processes: sim_node realtime {settings["control_hz"]} Hz, '
              f'policy_node {settings["backend"]} backend, probe; goal {goals}; '
              f'{settings["seconds_per_mode"]:g} s per policy mode',
              f'   {"":44}' + ''.join(f'{"policy " + mode:>26}' for mode in modes)]
    rows = [
        ('obs->action latency p50/p99/max ms', 'latency', ('p50_ms', 'p99_ms', 'max_ms')),
        ('  at DDS receipt p50/p99/max ms', 'latency_at_receipt',
         ('p50_ms', 'p99_ms', 'max_ms')),
        ('observation transport p50/p99 ms', 'observation_transport', ('p50_ms', 'p99_ms')),
        ('action period mean/std ms', 'action_period', ('mean_ms', 'std_ms')),
        (f'action |period-{nominal_ms:.1f}| p99/max ms', 'action_period',
         ('p99_abs_dev_ms', 'max_abs_dev_ms')),
        ('  at publisher: std / p99 |dev| ms', 'action_period_published',
         ('std_ms', 'p99_abs_dev_ms')),
        ('observation period mean/std ms', 'observation_period', ('mean_ms', 'std_ms')),
        (f'observation |period-{nominal_ms:.1f}| p99/max ms', 'observation_period',
         ('p99_abs_dev_ms', 'max_abs_dev_ms')),
        ('  at publisher: std / p99 |dev| ms', 'observation_period_published',
         ('std_ms', 'p99_abs_dev_ms')),
    ]
    for label, key, fields in rows:
        lines.append(f'   {label:44}' + ''.join(
            f'{_numbers(figures[key], fields):>26}' for figures in modes.values()))
    counts = ''.join(
        f'{figures["actions"]} / {figures["observations_answered"]} / '
        f'{figures["observations"]}'.rjust(26) for figures in modes.values())
    lines.append(f'   {"actions / obs answered / obs":44}{counts}')
    other = ''.join(
        f'{figures["repeated_answers"]} / {figures["actions_without_observation_stamp"]} / '
        f'{figures["sim_diagnostics"].get("ticks without a fresh action", "-")}'.rjust(26)
        for figures in modes.values())
    lines.append(f'   {"repeats / unstamped / sim ticks w/o action":44}{other}')
    inference = ''.join(
        ' / '.join(figures['policy_diagnostics'].get(key) or '-'
                   for key in ('inference_p50_ms', 'inference_p99_ms')).rjust(26)
        for figures in modes.values())
    lines.append(f'   {"policy_node step p50/p99 ms (its diagnostics)":44}{inference}')
    holds = ''.join(
        f'{figures["hold_actions"]} / {figures["goals_sent"]}'.rjust(26)
        for figures in modes.values())
    lines.append(f'   {"hold actions / goals sent":44}{holds}')
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """
    Parse the command line.

    :param argv: arguments without the program name (None: sys.argv[1:]).
    :return: the options.
    """
    parser = argparse.ArgumentParser(
        prog='python -m benchmarks.bench_runtime',
        description='Policy step latency, observation-to-action latency across processes and '
                    'the jitter of the 30 Hz action stream.')
    parser.formatter_class = HelpFormatter
    parser.add_argument('--backend', choices=BACKENDS, default='onnx',
                        help="policy_node's backend (default: onnx)")
    parser.add_argument('--model-dir', default=None,
                        help='model directory (default: the bundled model, else the tiny test '
                             'model of test/onnx_fixtures.py)')
    parser.add_argument('--seconds', type=float, default=20.0,
                        help='measured seconds per policy mode (default: 20)')
    parser.add_argument('--steps', type=int, default=2000,
                        help='timed policy steps (default: 2000)')
    parser.add_argument('--seed', type=int, default=0,
                        help='scene, motion and sampling seed (default: 0)')
    parser.add_argument('--task', default=None,
                        help='task of the goal (default: one feasible from the seeded scene)')
    parser.add_argument('--policy-modes', default=','.join(POLICY_MODES),
                        help='policy_node modes to measure, comma-separated '
                             '(default: realtime,lockstep)')
    parser.add_argument('--json', action='store_true', help='print JSON only')
    args = parser.parse_args(argv)
    args.policy_modes = [mode for mode in args.policy_modes.split(',') if mode]
    unknown = [mode for mode in args.policy_modes if mode not in POLICY_MODES]
    if unknown or not args.policy_modes:
        parser.error(f'--policy-modes takes {",".join(POLICY_MODES)}, got {unknown or "none"}')
    if not (math.isfinite(args.seconds) and args.seconds > 0.0):
        parser.error(f'--seconds must be a positive number, got {args.seconds}')
    if args.steps < 1:
        parser.error(f'--steps must be at least 1, got {args.steps}')
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    if args.model_dir and args.backend == 'scripted':
        parser.error('--model-dir is for the onnx backend')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the benchmark and print the figures.

    :param argv: arguments without the program name (None: sys.argv[1:]).
    :return: 0, 1 when the benchmark could not run (printed to stderr), 130 on Ctrl-C (every
        node process stopped).
    """
    args = parse_args(argv)
    try:
        # pybullet prints its banner to the C stdout, which must carry the report alone.
        with stdout_to_stderr():
            report = run_benchmark(args.backend, args.model_dir, args.seconds, args.steps,
                                   args.seed, args.task, args.policy_modes)
    except BenchError as error:
        print(f'bench_runtime: {error}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('bench_runtime: interrupted', file=sys.stderr)
        return 130
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


if __name__ == '__main__':
    sys.exit(main())
