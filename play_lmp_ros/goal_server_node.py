"""
The ReachGoal action server: turn a task name or a 39-D state into a goal, publish it, judge it.

A goal is one of CALVIN's 34 task names or an explicit 39-D goal state.  For a task name the goal
state is made from the current observation by running the scripted skill in a scratch copy of
the simulator (core.goals.GoalJudge.imagine_goal), so it is a state the robot can reach.  The
goal is published on ``goal`` (transient-local) for the policy; success is CALVIN's oracle between
the start state and the current observation for a task, and core.goals.state_reached for an
explicit state.

The server follows rclpy's single-goal pattern: a newer goal preempts the active one.  Each goal
runs as a small state machine driven by the observation subscription and a timer (pending ->
starting -> running -> done); the execute callback only awaits the goal's end, so the node works
under any executor and never sleeps.  A task's goal state is made on a worker thread (about 70 ms
of scratch simulation), so the executor keeps answering goal, cancel and result requests
meanwhile.  While a goal runs, its GoalState is republished at feedback_hz with the goal's
deadline: the policy drops a goal it stops hearing about (a dead server) or whose deadline
passed.  Only observations of the observation_publisher node are judged: while another node
publishes observations, new goals are rejected and the running one ends aborted.

Every goal ends exactly once, in ``_finish``: with a status (succeeded, aborted or canceled), a
result whose outcome is one of 'succeeded', 'timeout', 'canceled', 'canceled: preempted by a
newer goal', 'aborted: <reason>' or 'rejected: <reason>', and, when the goal was published, a
GoalState with active false and the same goal_id so the policy holds.  A malformed goal (an
unknown task, a goal state of the wrong length, a bad timeout) is accepted and ends at once,
aborted with 'rejected: <reason>', because a ROS 2 action's rejection carries no reason; it does
not preempt the running goal.

Feedback ``replans`` is always 0: replanning happens inside the policy node, which reports it on
/diagnostics; the ROS contract has no topic that carries it to this server.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import functools
import math
import sys
import threading
import time
from typing import Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import GoalState, Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.conversions import truncated
from play_lmp_ros.core.goals import (
    check_goal_state, DEFAULT_MAX_STEPS, GoalError, GoalJudge, scene_distance, state_reached)
from play_lmp_ros.core.scene_info import SceneInfo
from play_lmp_ros.graph_guard import foreign_publishers
from play_lmp_ros.node_main import run_node
from play_lmp_ros.parameters import (accept_live_changes, check, check_at_least,
                                     check_positive, declare_parameters, parameter)
from rclpy.action import ActionServer, CancelResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.exceptions import InvalidHandle, ParameterException
from rclpy.node import Node
from rclpy.task import Future

# The action contract asks for feedback at 5 Hz or more.
MIN_FEEDBACK_HZ = 5.0
MAX_RATE_HZ = 1000.0

OUTCOME_SUCCEEDED = 'succeeded'
OUTCOME_TIMEOUT = 'timeout'
OUTCOME_CANCELED = 'canceled'
OUTCOME_PREEMPTED = 'canceled: preempted by a newer goal'
OUTCOME_SHUTDOWN = 'aborted: the goal server shut down'
# A malformed goal is accepted and at once aborted with this prefix and the reason, because a
# ROS 2 action's rejection carries no reason: this way `ros2 action send_goal` and every client
# see why.  It never preempts the running goal.
OUTCOME_REJECTED = 'rejected: '

# How long a finished goal's result is kept for a client that asks late (s).  rclpy's default of
# 900 s keeps every goal of the last 15 minutes in memory; clients ask when the goal is accepted.
RESULT_RETENTION_S = 60

# Goal phases.
PENDING = 'pending'      # accepted, waiting for an observation to start from
STARTING = 'starting'    # making the goal state
RUNNING = 'running'      # goal published, judging observations
DONE = 'done'            # terminal state set

# Terminal statuses asked of _finish.
SUCCEED = 'succeed'
ABORT = 'abort'
CANCEL = 'cancel'


@dataclass(frozen=True)
class GoalServerParams:
    """
    Validated goal_server parameters.

    Each field is one parameter, with its description, range and live status (see
    parameters.parameter); tools/node_parameter_docs.py writes the README table and
    config/goal_server.yaml from them.  seed is read-only: the judge's scratch simulator is
    seeded once.
    """

    feedback_hz: float = parameter(
        10.0, 'ReachGoal feedback rate while a goal runs (Hz); timeouts, cancel requests and a '
        'silent simulator are noticed at this rate too', MIN_FEEDBACK_HZ, MAX_RATE_HZ, live=True)
    check_every: int = parameter(
        2, 'judge success (the oracle for a task, the state distance for an explicit goal) '
        'every this many observations', 1, 1000, live=True)
    default_timeout_s: float = parameter(
        30.0, 'wall-clock limit of a goal sent with `timeout_s` 0 (s)', live=True)
    max_steps: int = parameter(
        DEFAULT_MAX_STEPS, 'observation budget of a goal; past it the outcome is `timeout`', 1,
        1_000_000, live=True)
    observation_timeout_s: float = parameter(
        3.0, 'abort the goal after this long without an observation (s): the simulator or the '
        'policy is down', live=True)
    diagnostics_hz: float = parameter(
        1.0, 'rate of `/diagnostics` (Hz); a rejected goal is also reported at once', live=True)
    seed: int = parameter(
        0, "seed of the scripted skills that make a task's goal state in the scratch simulator")
    observation_publisher: str = parameter(
        'sim_node', 'the only node (in the namespace) whose observations are judged; while '
        'another node publishes observations, goals are rejected and the running one ends '
        "aborted; `''` judges any publisher's", live=True)

    def __post_init__(self):
        """
        Check every value.

        :raises ValueError: naming the parameter and its bad value.
        """
        check('feedback_hz', self.feedback_hz,
              MIN_FEEDBACK_HZ <= self.feedback_hz <= MAX_RATE_HZ,
              f'be in [{MIN_FEEDBACK_HZ}, {MAX_RATE_HZ}]')
        check_at_least(self, 1, 'check_every', 'max_steps')
        check_positive(self, 'default_timeout_s', 'observation_timeout_s', 'diagnostics_hz')
        check_at_least(self, 0, 'seed')


class _GoalRun:
    """One accepted goal, from acceptance to its single terminal state."""

    def __init__(self, handle: ServerGoalHandle, timeout_s: float,
                 refusal: Optional[str] = None):
        """
        Record an accepted goal.

        :param handle: the action server's goal handle.
        :param timeout_s: its wall-clock limit (s).
        :param refusal: why the goal is malformed; it then ends at once, outcome 'rejected: ...'.
        """
        request = handle.request
        self.handle = handle
        self.goal_id = bytes(handle.goal_id.uuid).hex()
        self.refusal = refusal
        self.task: str = truncated(request.task) if refusal else request.task
        # (39,) goal state: given for an explicit goal, made at start for a task.
        self.goal_state: Optional[np.ndarray] = (
            None if request.task or refusal else check_goal_state(request.goal_state))
        self.timeout_s = timeout_s
        self.accepted_at = time.monotonic()
        self.phase = PENDING
        self.start_info: Optional[SceneInfo] = None
        # The GoalState the policy gets, republished while the goal runs.
        self.message: Optional[GoalState] = None
        self.latest_obs: Optional[np.ndarray] = None
        self.last_obs_at = self.accepted_at
        self.steps = 0
        self.tasks_completed: List[str] = []
        self.done = Future()

    def describe(self) -> str:
        """
        Name the goal for logs.

        :return: e.g. "goal 1f2e... (open_drawer)".
        """
        return f'goal {self.goal_id} ({truncated(self.task) or "explicit state"})'


class GoalServerNode(Node):
    """The ReachGoal action server of the play table."""

    def __init__(self, **kwargs):
        """
        Declare parameters, create the judge, the action server, topics and timers.

        :param kwargs: passed to rclpy.node.Node (namespace defaults to 'play_lmp').
        :raises ValueError: on an invalid parameter value (ParameterException on a wrong type).
        """
        kwargs.setdefault('namespace', qos.NAMESPACE)
        super().__init__('goal_server', **kwargs)
        try:
            self._params = declare_parameters(self, GoalServerParams())
        except (ValueError, ParameterException):
            super().destroy_node()
            raise
        # _lock guards the goal bookkeeping; _judge_lock the judge's scratch simulator, which
        # the execute coroutine and the callbacks may use from different executor threads.
        self._lock = threading.Lock()
        self._judge_lock = threading.Lock()
        self._judge = GoalJudge(seed=self._params.seed)
        # One worker makes goal states in order; a preempted goal's job returns at once.
        self._goal_maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix='goal_maker')
        self._run: Optional[_GoalRun] = None
        self._accepted_runs: Dict[str, _GoalRun] = {}
        self._latest_obs: Optional[np.ndarray] = None
        self._latest_obs_at: Optional[float] = None
        self._last_rejection = ''
        self._counts = {'accepted': 0, 'rejected': 0, 'succeeded': 0, 'timeout': 0,
                        'canceled': 0, 'aborted': 0}

        self._goal_pub = self.create_publisher(GoalState, qos.GOAL_TOPIC, qos.GOAL_QOS)
        self._diagnostics_pub = self.create_publisher(
            DiagnosticArray, qos.DIAGNOSTICS_TOPIC, qos.DIAGNOSTICS_QOS)
        self.create_subscription(
            Observation, qos.OBSERVATION_TOPIC, self._on_observation, qos.CONTROL_QOS)
        self._action_server = ActionServer(
            self, ReachGoal, qos.REACH_GOAL_ACTION,
            execute_callback=self._execute,
            handle_accepted_callback=self._on_accepted,
            cancel_callback=self._on_cancel_request,
            result_timeout=RESULT_RETENTION_S,
            **qos.ACTION_SERVICE_PROFILES)
        # Watchdogs (timeouts, a silent simulator) on the steady clock, also on sim time: a
        # stopped simulator stops the simulated clock too.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._on_sim_time = bool(self.get_parameter('use_sim_time').value)
        self._tick_timer = self.create_timer(1.0 / self._params.feedback_hz, self._on_tick,
                                             clock=steady)
        self._diagnostics_timer = self.create_timer(1.0 / self._params.diagnostics_hz,
                                                    self._publish_diagnostics, clock=steady)
        accept_live_changes(self, lambda: self._params,
                            functools.partial(setattr, self, '_params'),
                            {'feedback_hz': self._tick_timer,
                             'diagnostics_hz': self._diagnostics_timer})
        self.get_logger().info(
            f'ReachGoal server ready on {self._action_server_name()}: feedback '
            f'{self._params.feedback_hz:g} Hz, timeout {self._params.default_timeout_s:g} s, '
            f'{self._params.max_steps} steps')

    def _action_server_name(self) -> str:
        """
        Return the resolved name of the action.

        :return: e.g. '/play_lmp/reach_goal'.
        """
        return self.resolve_service_name(qos.REACH_GOAL_ACTION)

    @property
    def params(self) -> GoalServerParams:
        """Return the parameters the node runs with."""
        return self._params

    def end_for_shutdown(self) -> None:
        """End the active goal aborted, so that its client gets a result before the node goes."""
        with self._lock:
            run = self._run
        if run is not None:
            self._finish(run, OUTCOME_SHUTDOWN, ABORT)

    def destroy_node(self) -> None:
        """End the active goal (so the policy holds), then release the judge and the node."""
        # When the context is already down (a shutdown from outside) nothing can be published;
        # the policy then notices that the goal's publisher is gone.
        if self.context.ok():
            try:
                self.end_for_shutdown()
            except (RuntimeError, InvalidHandle) as error:
                # Ctrl-C can shut the context down between the check and the abort (rclpy
                # raises its RCLError, a RuntimeError): the goal ends with the process anyway.
                self.get_logger().debug(f'goal not aborted at shutdown: {error}')
        self._goal_maker.shutdown(wait=True, cancel_futures=True)
        self._judge.close()
        super().destroy_node()

    # Action server callbacks.

    def _refusal(self, request: ReachGoal.Goal) -> Optional[str]:
        """
        Check a goal, logging the reason when it is malformed.

        :param request: the goal.
        :return: the reason, or None for a well-formed goal.
        """
        try:
            self._check_request(request)
        except GoalError as error:
            reason = truncated(str(error), conversions.MAX_REASON_CHARS)
            self.get_logger().warning(f'rejected a ReachGoal goal: {reason}')
            with self._lock:
                self._last_rejection = reason
            return reason
        return None

    def _check_request(self, request: ReachGoal.Goal) -> None:
        """
        Check a goal request's form (not whether it can be reached from here).

        :param request: the goal.
        :raises GoalError: naming the problem.
        """
        others = self._foreign_observation_publishers()
        if others:
            raise GoalError(self._foreign_message(others))
        if not (math.isfinite(request.timeout_s) and request.timeout_s >= 0.0):
            raise GoalError(f'timeout_s must be a finite number >= 0 (0: the server default '
                            f'{self._params.default_timeout_s:g} s), got {request.timeout_s}')
        if request.task:
            self._judge.check_task(request.task)
        elif len(request.goal_state) == 0:
            raise GoalError('the goal has neither a task name nor a goal_state: give one of '
                            'the 34 task names or a 39-D goal_state')
        else:
            check_goal_state(request.goal_state)

    def _foreign_observation_publishers(self) -> List[str]:
        """Name the publishers of observations other than the trusted simulator node."""
        return foreign_publishers(self, qos.OBSERVATION_TOPIC,
                                  self._params.observation_publisher)

    def _foreign_message(self, others: List[str]) -> str:
        """Explain that observations cannot be trusted while other nodes publish them."""
        return (f'observations are published by {truncated(", ".join(others))}, not only by '
                f'{self._params.observation_publisher}: they cannot be judged')

    def _on_accepted(self, handle: ServerGoalHandle) -> None:
        """
        Make the new goal the active one, preempting the previous goal, and start executing it.

        :param handle: the accepted goal.
        """
        refusal = self._refusal(handle.request)
        if refusal is not None:
            # Ended by _execute with the reason; the running goal goes on.
            run = _GoalRun(handle, 0.0, refusal)
            with self._lock:
                self._accepted_runs[run.goal_id] = run
            handle.execute()
            return
        timeout_s = handle.request.timeout_s or self._params.default_timeout_s
        run = _GoalRun(handle, timeout_s)
        with self._lock:
            previous = self._run
            self._run = run
            self._accepted_runs[run.goal_id] = run
            self._counts['accepted'] += 1
        if previous is not None:
            self._finish(previous, OUTCOME_PREEMPTED, CANCEL)
        self.get_logger().info(f'accepted {run.describe()}, timeout {timeout_s:g} s')
        handle.execute()

    def _on_cancel_request(self, handle: ServerGoalHandle) -> CancelResponse:
        """
        Accept every cancel request; the next timer tick ends the goal as canceled.

        :param handle: the goal to cancel.
        :return: ACCEPT.
        """
        self.get_logger().info(f'cancel requested for goal {bytes(handle.goal_id.uuid).hex()}')
        return CancelResponse.ACCEPT

    async def _execute(self, handle: ServerGoalHandle) -> ReachGoal.Result:
        """
        Start the goal if an observation is at hand, then await its end.

        :param handle: the goal.
        :return: its result.
        """
        with self._lock:
            run = self._accepted_runs.pop(bytes(handle.goal_id.uuid).hex())
            latest = self._latest_obs
        if run.refusal is not None:
            self._finish(run, OUTCOME_REJECTED + run.refusal, ABORT)
            self._publish_diagnostics(
                DiagnosticStatus.WARN, f'rejected a ReachGoal goal: {run.refusal}')
        elif latest is not None:
            self._start(run, latest)
        return await run.done

    # The goal state machine.

    def _start(self, run: _GoalRun, obs: np.ndarray) -> None:
        """
        Hand a pending goal to the goal-making worker.

        :param run: a pending goal.
        :param obs: (39,) the observation the goal starts from.
        """
        with self._lock:
            if run.phase != PENDING:
                return
            run.phase = STARTING
        try:
            self._goal_maker.submit(self._make_goal, run, obs)
        except RuntimeError:   # the node is shutting down: the goal ends with it
            self._finish(run, OUTCOME_SHUTDOWN, ABORT)

    def _make_goal(self, run: _GoalRun, obs: np.ndarray) -> None:
        """
        Make the goal state from an observation and publish it, or end the goal aborted.

        Runs on the goal-making worker.

        :param run: a starting goal.
        :param obs: (39,) the observation the goal starts from.
        """
        with self._lock:
            if run.phase != STARTING:
                return
        try:
            with self._judge_lock:
                start_info = self._judge.scene_info(obs)
                goal_state = (self._judge.imagine_goal(run.task, obs) if run.task
                              else run.goal_state)
        except GoalError as error:
            self._finish(run, f'aborted: {error}', ABORT)
            return
        except Exception as error:  # a failed simulation must end the goal, not the worker
            self._finish(run, f'aborted: making the goal state failed: {error}', ABORT)
            return
        now = time.monotonic()
        with self._lock:
            # A newer goal or a shutdown may have ended this one while its state was made.
            if run.phase != STARTING:
                return
            run.goal_state = goal_state
            run.start_info = start_info
            run.latest_obs = obs
            run.last_obs_at = now
            run.phase = RUNNING
            clock_now = self.get_clock().now()
            deadline = None
            if not self._on_sim_time:
                # On sim time the timeout (steady clock) and the stamps (simulated) run at
                # different rates: no deadline then, the lease still ends a goal of a dead server.
                left_s = max(0.0, run.timeout_s - (now - run.accepted_at))
                deadline = (clock_now + Duration(nanoseconds=int(left_s * 1e9))).to_msg()
            run.message = conversions.array_to_goal_state(
                goal_state, clock_now.to_msg(), run.goal_id, run.task, True, deadline=deadline)
            self._goal_pub.publish(run.message)
        self.get_logger().info(
            f'{run.describe()} started, distance to goal {scene_distance(obs, goal_state):.3f}')

    def _on_observation(self, msg: Observation) -> None:
        """
        Keep the latest observation; start a pending goal or judge the running one.

        :param msg: the observation.
        """
        others = self._foreign_observation_publishers()
        if others:
            message = self._foreign_message(others)
            self.get_logger().warning(message, throttle_duration_sec=5.0)
            with self._lock:
                run = self._run
            if run is not None:
                self._finish(run, f'aborted: {message}', ABORT)
            return
        try:
            obs = conversions.observation_to_array(msg)
        except ValueError as error:
            self.get_logger().warning(f'ignoring a malformed observation: {error}',
                                      throttle_duration_sec=5.0)
            return
        now = time.monotonic()
        with self._lock:
            self._latest_obs = obs
            self._latest_obs_at = now
            run = self._run
        if run is None:
            return
        if run.phase == PENDING:
            self._start(run, obs)
        elif run.phase == RUNNING:
            self._progress(run, obs, now)

    def _progress(self, run: _GoalRun, obs: np.ndarray, now: float) -> None:
        """
        Count an observation of a running goal and judge it every check_every observations.

        :param run: the running goal.
        :param obs: (39,) the new observation.
        :param now: its arrival time (monotonic s).
        """
        with self._lock:
            if run.phase != RUNNING:
                return
            run.steps += 1
            run.latest_obs = obs
            run.last_obs_at = now
            steps = run.steps
        if run.handle.is_cancel_requested:
            self._finish(run, OUTCOME_CANCELED, CANCEL)
            return
        out_of_steps = steps >= self._params.max_steps
        if steps % self._params.check_every == 0 or out_of_steps:
            with self._judge_lock:
                achieved = self._judge.tasks_achieved(run.start_info, obs)
                if run.task:
                    reached = self._judge.task_achieved(run.task, run.start_info, obs)
                else:
                    reached = state_reached(obs, run.goal_state)
            with self._lock:
                run.tasks_completed += [task for task in achieved
                                        if task not in run.tasks_completed]
            if reached:
                self._finish(run, OUTCOME_SUCCEEDED, SUCCEED)
                return
        if out_of_steps:
            self._finish(run, OUTCOME_TIMEOUT, ABORT)

    def _on_tick(self) -> None:
        """Notice cancel requests, timeouts and a silent simulator; publish feedback."""
        with self._lock:
            run = self._run
        if run is None:
            return
        now = time.monotonic()
        if run.handle.is_cancel_requested:
            self._finish(run, OUTCOME_CANCELED, CANCEL)
        elif now - run.accepted_at >= run.timeout_s:
            self._finish(run, OUTCOME_TIMEOUT, ABORT)
        else:
            silent_s = now - (run.last_obs_at if run.phase == RUNNING else run.accepted_at)
            if run.phase != STARTING and silent_s >= self._params.observation_timeout_s:
                self._finish(run, f'aborted: no observation for {silent_s:.1f} s (simulator '
                                  'or policy not running?)', ABORT)
            else:
                self._publish_feedback(run)

    def _publish_feedback(self, run: _GoalRun) -> None:
        """
        Send a goal's feedback, and renew a running goal's GoalState.

        :param run: the active goal.
        """
        with self._lock:
            if run.phase == DONE:
                return
            running = run.phase == RUNNING
            # Before the goal state exists (waiting for an observation, or making it) the
            # feedback still comes, so that a client can tell a live server from a dead one.
            feedback = ReachGoal.Feedback(
                step=run.steps, replans=0,
                distance_to_goal=(scene_distance(run.latest_obs, run.goal_state) if running
                                  else math.nan),
                tasks_completed=list(run.tasks_completed))
            if running:
                # The heartbeat: the policy drops a goal it stops hearing about.
                run.message.header.stamp = self.get_clock().now().to_msg()
                self._goal_pub.publish(run.message)
        run.handle.publish_feedback(feedback)

    def _finish(self, run: _GoalRun, outcome: str, status: str) -> None:
        """
        End a goal exactly once: terminal status, result, goal cleared for the policy.

        A second call for the same goal does nothing, so racing endings (success on the last
        observation against a timeout tick, a preemption) leave one terminal state.

        :param run: the goal.
        :param outcome: the result's outcome text.
        :param status: SUCCEED, ABORT or CANCEL; CANCEL becomes an abort unless the client asked
            to cancel (a preempted goal was not canceled by its client).
        """
        with self._lock:
            if run.phase == DONE:
                return
            published = run.phase == RUNNING
            run.phase = DONE
            if self._run is run:
                self._run = None
            result = ReachGoal.Result(
                success=status == SUCCEED, outcome=outcome, steps=run.steps,
                elapsed_s=time.monotonic() - run.accepted_at,
                tasks_completed=list(run.tasks_completed))
            if run.handle.is_active:
                if status == SUCCEED:
                    run.handle.succeed()
                elif status == CANCEL and run.handle.is_cancel_requested:
                    run.handle.canceled()
                else:
                    run.handle.abort()
            if published:
                self._goal_pub.publish(conversions.array_to_goal_state(
                    run.goal_state, self.get_clock().now().to_msg(), run.goal_id, run.task,
                    False))
            self._counts[outcome.split(':')[0]] += 1
        self.get_logger().info(
            f'{run.describe()} ended: {outcome} after {result.steps} observations, '
            f'{result.elapsed_s:.1f} s')
        run.done.set_result(result)
        # The execute coroutine awaiting run.done resumes when the executor next wakes.
        executor = self.executor
        if executor is not None:
            executor.wake()

    def _publish_diagnostics(self, level: Optional[bytes] = None,
                             message: Optional[str] = None) -> None:
        """
        Publish the server's status on /diagnostics.

        :param level: status level; OK by default.
        :param message: status message; by default what the server is doing.
        """
        with self._lock:
            run = self._run
            values = {
                'goal_id': run.goal_id if run else '',
                'task': truncated(run.task) if run else '',
                'phase': run.phase if run else 'idle',
                'steps': str(run.steps) if run else '0',
                'last_rejection': self._last_rejection,
                **{f'goals_{name}': str(count) for name, count in self._counts.items()},
            }
            age = ('' if self._latest_obs_at is None
                   else f'{1000.0 * (time.monotonic() - self._latest_obs_at):.0f}')
        values['observation_age_ms'] = age
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if level is None else level,
            name=self.get_fully_qualified_name(), hardware_id=qos.NAMESPACE,
            message=message or (f'running {run.describe()}' if run else 'idle'),
            values=[KeyValue(key=key, value=value) for key, value in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)


def main(args=None) -> int:
    """
    Run the goal server until Ctrl-C or shutdown.

    :param args: command-line arguments for rclpy (sys.argv when None).
    :return: the exit code: 0, or 1 on a start-up error (printed to stderr).
    """
    return run_node(GoalServerNode, 'goal_server', args=args)


if __name__ == '__main__':
    sys.exit(main())
