"""
The rollout's client node: reset the simulator and send ReachGoal goals, one at a time.

Its blocking calls wait in the calling thread while an executor spins the node in another; it
also keeps every N-th observation for the video, watches the ROS graph for a second play table,
and reads other nodes' parameters.
"""

from dataclasses import dataclass, field
import os
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos
from play_lmp_ros.rollout.goals import GoalSpec
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
from rclpy.action import ActionClient
from rclpy.client import Client
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future

# Waiting for a goal's result: the goal's own limit plus this margin, after which the client
# cancels it and records that no result came.
RESULT_MARGIN_S = 60.0
# The goal server's wall-clock limit when it cannot be asked (attach mode, parameter service down).
FALLBACK_TIMEOUT_S = 300.0
# After Ctrl-C: how long to wait for the cancel to be accepted, then for the goal's last result.
CANCEL_WAIT_S = 5.0
# The goal server sends feedback at 5 Hz or more from acceptance to the end; this long without
# any means it is gone (kill -9: DDS itself takes 20 s to say so), and the goal ends unanswered.
SERVER_SILENCE_S = 3.0
# How often the wait for a result checks for that silence.
SILENCE_CHECK_S = 0.25
# The nodes of a play table, and the client of another rollout: two of them in one namespace
# would answer each other's resets, goals and actions.
PLAY_TABLE_NODE_NAMES = ('sim_node', 'goal_server', 'policy_node', 'rollout')
# Deep queue for the video's observation stream: lockstep mode publishes in bursts.
VIDEO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                       reliability=ReliabilityPolicy.RELIABLE)


class RolloutError(RuntimeError):
    """Raised when the nodes cannot be started or reached; the rollout exits with code 1."""


@dataclass
class GoalOutcome:
    """
    What one goal came to.

    :param task: the task name, or 'state'.
    :param success: the goal server judged it reached.
    :param outcome: 'succeeded', 'timeout', 'canceled...', 'aborted: <reason>', 'rejected: ...'
        or 'no result: ...'.
    :param steps: observations the goal server judged.
    :param elapsed_s: the goal's time in the goal server (s).
    :param tasks_completed: every task the oracle saw achieved during the goal.
    """

    task: str
    success: bool
    outcome: str
    steps: int = 0
    elapsed_s: float = 0.0
    tasks_completed: List[str] = field(default_factory=list)


class GoalInterrupted(Exception):
    """Raised when Ctrl-C stopped a goal, after canceling it; carries the goal's outcome."""

    def __init__(self, outcome: GoalOutcome):
        """
        Carry the interrupted goal's outcome.

        :param outcome: what the goal server reported after the cancel, or what is known.
        """
        super().__init__(outcome.outcome)
        self.outcome = outcome


def wait_for_future(future: Future, timeout_s: float) -> bool:
    """
    Block the calling thread until a future completes; the executor runs in another thread.

    :param future: the future.
    :param timeout_s: how long to wait.
    :return: True when it completed in time.
    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return done.wait(timeout_s)


class RolloutClient(Node):
    """
    The rollout's client node: resets the simulator and sends ReachGoal goals, one at a time.

    Uses (relative to its namespace): service ``reset``, action ``reach_goal``, and, when
    video frames are kept, topic ``observation``.
    """

    def __init__(self, video_every: int = 0, **kwargs):
        """
        Create the clients.

        :param video_every: keep every this many-th observation for the video; 0 keeps none.
        :param kwargs: passed to rclpy.node.Node; the namespace defaults to 'play_lmp'.
        """
        kwargs.setdefault('namespace', qos.NAMESPACE)
        super().__init__('rollout', **kwargs)
        self._reset_client = self.create_client(ResetSim, qos.RESET_SERVICE)
        self._action_client = ActionClient(self, ReachGoal, qos.REACH_GOAL_ACTION,
                                           **qos.ACTION_SERVICE_PROFILES)
        self._parameter_clients: Dict[str, Client] = {}
        self._video_every = video_every
        self._frames: List[np.ndarray] = []
        self._captions: List[str] = []
        self._caption = ''
        self._caption_counts = False
        self._caption_steps = 0
        self._caption_start = 0
        self._received = 0
        self._frames_lock = threading.Lock()
        if video_every > 0:
            self.create_subscription(Observation, qos.OBSERVATION_TOPIC, self._on_observation,
                                     VIDEO_QOS)

    def _on_observation(self, msg: Observation) -> None:
        try:
            obs = conversions.observation_to_array(msg)
        except ValueError as error:
            self.get_logger().warning(f'observation left out of the video: {error}',
                                      throttle_duration_sec=1.0)
            return
        with self._frames_lock:
            if self._caption_counts:
                self._caption_steps += 1
            if self._received % self._video_every == 0:
                self._frames.append(obs)
                self._captions.append(f'{self._caption}  step {self._caption_steps}'
                                      if self._caption_counts else self._caption)
            self._received += 1

    def set_caption(self, text: str, count_steps: bool = False) -> None:
        """
        Caption the next video frames.

        :param text: e.g. '[1/3] open_drawer'.
        :param count_steps: add ' step N', N the observations since this call.
        """
        with self._frames_lock:
            self._caption, self._caption_counts, self._caption_steps = text, count_steps, 0
            self._caption_start = len(self._frames)

    def end_caption(self, text: str) -> None:
        """
        Caption the last frame since set_caption, and the next ones, with a goal's outcome.

        :param text: e.g. '[1/3] open_drawer: succeeded'.
        """
        with self._frames_lock:
            if len(self._captions) > self._caption_start:
                self._captions[-1] = text
            self._caption, self._caption_counts = text, False

    def video_frames(self) -> Tuple[List[np.ndarray], List[str]]:
        """
        Return the observations kept for the video so far, with their captions.

        :return: (39,) observations in arrival order, and one caption for each.
        """
        with self._frames_lock:
            return list(self._frames), list(self._captions)

    def play_table_neighbours(self) -> List[str]:
        """
        Return the other play-table nodes (and rollout clients) in this client's namespace.

        :return: their fully qualified names, sorted; this client itself is left out.
        """
        namespace = self.get_namespace()
        found = sorted(f'{namespace.rstrip("/")}/{name}'
                       for name, node_namespace in self.get_node_names_and_namespaces()
                       if node_namespace == namespace and name in PLAY_TABLE_NODE_NAMES)
        found.remove(self.get_fully_qualified_name())
        return found

    def check_alone(self, timeout_s: float) -> None:
        """
        Make sure no other play table or rollout runs in this namespace, for up to timeout_s.

        :param timeout_s: how long to watch the ROS graph.
        :raises RolloutError: naming the nodes found and the ways out.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            others = self.play_table_neighbours()
            if others:
                raise RolloutError(
                    f'another play table or rollout runs in {self.get_namespace()} '
                    f'(ROS_DOMAIN_ID {os.environ.get("ROS_DOMAIN_ID", "0")}): '
                    f'{", ".join(others)}. Use it with --attach, or give this rollout a '
                    'namespace of its own: --namespace table_b, or none to get a new one')
            if time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def check_one_server(self) -> None:
        """
        Make sure the rollout talks to exactly one play table and is its only client.

        Composed, its own nodes are among those counted: a second table shows as names seen
        twice.  Discovery of another process's nodes can take seconds on a loaded machine, so
        this runs again before each goal.

        :raises RolloutError: naming the duplicated nodes.
        """
        others = self.play_table_neighbours()
        duplicated = sorted({name for name in others if others.count(name) > 1}
                            | {name for name in others if name.endswith('/rollout')})
        if duplicated:
            raise RolloutError(
                f'another play table or rollout runs in {self.get_namespace()} '
                f'(ROS_DOMAIN_ID {os.environ.get("ROS_DOMAIN_ID", "0")}): '
                f'{", ".join(duplicated)} run more than once, so the goals, resets and results '
                'of two tables or two rollouts would mix')

    def wait_for_nodes(self, timeout_s: float) -> None:
        """
        Wait for the reset service and the ReachGoal action server.

        :param timeout_s: how long to wait.
        :raises RolloutError: naming what did not appear.
        """
        deadline = time.monotonic() + timeout_s
        if not self._reset_client.wait_for_service(timeout_sec=timeout_s):
            raise RolloutError(
                f'no reset service {self.resolve_service_name(qos.RESET_SERVICE)} after '
                f'{timeout_s:g} s: is sim_node running in ROS_DOMAIN_ID '
                f'{os.environ.get("ROS_DOMAIN_ID", "0")}?')
        remaining = max(0.1, deadline - time.monotonic())
        if not self._action_client.wait_for_server(timeout_sec=remaining):
            raise RolloutError(
                f'no ReachGoal action server {self.resolve_service_name(qos.REACH_GOAL_ACTION)}'
                f' after {timeout_s:g} s: is goal_server running?')

    def reset(self, seed: int, timeout_s: float) -> np.ndarray:
        """
        Reset the simulator to the random scene of a seed.

        :param seed: the scene's seed.
        :param timeout_s: how long to wait for the answer.
        :return: (39,) the observation after the reset.
        :raises RolloutError: when the service does not answer or refuses.
        """
        future = self._reset_client.call_async(ResetSim.Request(use_state=False, seed=seed))
        if not wait_for_future(future, timeout_s):
            raise RolloutError(f'the reset service did not answer within {timeout_s:g} s')
        response = future.result()
        if not response.success:
            raise RolloutError(f'the simulator refused the reset: {response.message}')
        return conversions.observation_to_array(response.observation)

    def remote_parameters(self, node_name: str, names: Sequence[str],
                          timeout_s: float = 5.0) -> Dict[str, Any]:
        """
        Read parameters of another node through its parameter services.

        :param node_name: the node's name, in this node's namespace.
        :param names: parameter names.
        :param timeout_s: how long to wait.
        :return: name -> value for the parameters that could be read (empty when the node does
            not answer).
        """
        client = self._parameter_clients.get(node_name)
        if client is None:
            client = self.create_client(GetParameters, f'{node_name}/get_parameters')
            self._parameter_clients[node_name] = client
        if not client.wait_for_service(timeout_sec=timeout_s):
            return {}
        future = client.call_async(GetParameters.Request(names=list(names)))
        if not wait_for_future(future, timeout_s) or future.result() is None:
            return {}
        return {name: parameter_value_to_python(value)
                for name, value in zip(names, future.result().values)
                if value.type != ParameterType.PARAMETER_NOT_SET}

    def run_goal(self, spec: GoalSpec, default_timeout_s: float,
                 on_feedback: Optional[Callable[[Any], None]] = None,
                 accept_timeout_s: float = 30.0) -> GoalOutcome:
        """
        Send one goal and wait for its result.

        :param spec: the goal.
        :param default_timeout_s: timeout_s sent when the goal has none (0: the server's).
        :param on_feedback: called with each ReachGoal.Feedback, from an executor thread.
        :param accept_timeout_s: how long to wait for the server to accept or reject.
        :return: the outcome.
        :raises RolloutError: when the action server does not answer.
        :raises GoalInterrupted: on Ctrl-C, after canceling the goal.
        """
        goal = ReachGoal.Goal()
        goal.task = spec.task
        goal.goal_state = list(spec.state) if spec.state is not None else []
        goal.timeout_s = float(spec.timeout_s or default_timeout_s)

        heard = [time.monotonic()]

        def feedback(message) -> None:
            heard[0] = time.monotonic()
            if on_feedback is not None:
                on_feedback(message.feedback)

        send_future = self._action_client.send_goal_async(goal, feedback_callback=feedback)
        if not wait_for_future(send_future, accept_timeout_s):
            raise RolloutError(f'the ReachGoal server did not answer {spec.label} within '
                               f'{accept_timeout_s:g} s')
        handle = send_future.result()
        if not handle.accepted:
            return GoalOutcome(spec.label, False,
                               'rejected: the goal server refused the goal (see its log)')
        heard[0] = time.monotonic()
        result_future = handle.get_result_async()
        limit_s = (goal.timeout_s or self._server_timeout_s()) + RESULT_MARGIN_S
        try:
            finished, silent_s = self._wait_for_result(result_future, limit_s, heard)
        except KeyboardInterrupt:
            wait_for_future(handle.cancel_goal_async(), CANCEL_WAIT_S)
            if wait_for_future(result_future, CANCEL_WAIT_S):
                outcome = self._outcome(spec, result_future.result().result)
                outcome.outcome = f'interrupted: {outcome.outcome}'
            else:
                outcome = GoalOutcome(spec.label, False, 'interrupted: cancel requested')
            raise GoalInterrupted(outcome) from None
        if not finished and silent_s >= SERVER_SILENCE_S:
            return GoalOutcome(spec.label, False,
                               f'no result: the goal server went silent (no feedback for '
                               f'{silent_s:.1f} s)')
        if not finished:
            wait_for_future(handle.cancel_goal_async(), CANCEL_WAIT_S)
            return GoalOutcome(spec.label, False,
                               f'no result: none within {limit_s:g} s, canceled')
        return self._outcome(spec, result_future.result().result)

    @staticmethod
    def _wait_for_result(result_future: Future, limit_s: float,
                         heard: List[float]) -> Tuple[bool, float]:
        """
        Wait for a goal's result until the limit, or until the server has been silent too long.

        :param result_future: the goal's result future.
        :param limit_s: the longest wait.
        :param heard: [monotonic time of the server's last feedback], updated by the callback.
        :return: whether the result came, and how long the server had been silent then.
        """
        done = threading.Event()
        result_future.add_done_callback(lambda _: done.set())
        give_up_at = time.monotonic() + limit_s
        while True:
            now = time.monotonic()
            if done.wait(min(SILENCE_CHECK_S, max(0.0, give_up_at - now))):
                return True, 0.0
            now = time.monotonic()
            silent_s = now - heard[0]
            if silent_s >= SERVER_SILENCE_S or now >= give_up_at:
                return False, silent_s

    @staticmethod
    def _outcome(spec: GoalSpec, result: ReachGoal.Result) -> GoalOutcome:
        return GoalOutcome(spec.label, bool(result.success), result.outcome, int(result.steps),
                           float(result.elapsed_s), list(result.tasks_completed))

    def _server_timeout_s(self) -> float:
        values = self.remote_parameters('goal_server', ['default_timeout_s'])
        return float(values.get('default_timeout_s', FALLBACK_TIMEOUT_S))
