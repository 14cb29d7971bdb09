"""
Run goals on the play table from one command, without ``ros2 launch``.

    rollout --backend scripted --mode lockstep --tasks open_drawer,turn_on_led --out out/run
    rollout --goals config/rollout.yaml --record --video
    rollout --attach --tasks move_slider_left        # nodes started elsewhere (launch file)

By default the simulator, goal server and policy nodes run composed in this process (one rclpy
context, one executor spinning in a background thread) next to a client node, ``rollout``, whose
blocking calls wait in the main thread, in a namespace of their own (``/rollout_<6 hex digits>``,
printed at the start), so that rollouts never meet another play table in the same ROS domain.
``--namespace play_lmp`` puts them where the launch file and the rviz config expect them.  With
``--attach`` the client talks to nodes that already run, in this ROS domain and in ``--namespace``
(default ``play_lmp``, the launch file's).

The executor is single-threaded on purpose: no callback of these nodes blocks (the goal server's
execute callback awaits), the GIL would serialize them anyway, and stopping it is exact: once its
thread has returned no callback runs, so the nodes can be destroyed safely.  (rclpy's
MultiThreadedExecutor.shutdown does not wait for callbacks already handed to its thread pool, and
realtime runs then ended with callbacks running on destroyed nodes.)

Two play tables in one namespace would answer each other's resets, goals and actions, so a
composed rollout in a namespace someone chose (``--namespace``, or ``--ros-args -r __ns:=...``)
first watches the ROS graph for SECOND_TABLE_CHECK_S and refuses to start beside another
sim_node, goal_server, policy_node or rollout (exit code 1, naming them).  An attached rollout
refuses a namespace with two servers or a second rollout client.

The client resets the simulator with ``--seed`` (service ``reset``), then sends each goal in turn
through the ``reach_goal`` action, from wherever the previous goal left the table (as CALVIN's
chains do).  It prints one line per goal and one line with the successes and the files written;
the JSON summary goes to ``<out>/summary.json`` (and, with ``--json``, alone to stdout).  A
named task that is infeasible from the current state comes back aborted with the reason: that is
a result, not an error.

``--record`` writes every topic of the graph to ``<out>/rollout.mcap`` (ROS 2 CDR with message
definitions; open it in Foxglove or read it with mcap_ros2).  ``--video`` keeps every N-th
observation and, after the run, renders the static camera for each into ``<out>/rollout.mp4``
with a private simulator reset to that state, so it works with ``--attach`` too and never slows
the control loop.  ``--foxglove`` serves the run live on ws://127.0.0.1:8765.

Exit codes: 0 when the goals ran (whatever their outcome), 1 when the nodes could not be started or
reached, 2 for bad arguments (an unknown task gets the closest names), 130 on Ctrl-C (the active
goal is canceled and the summary of the goals so far is written).
"""

import argparse
import contextlib
from dataclasses import asdict, dataclass, field
import json
import math
import os
from pathlib import Path
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple
import uuid

import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from play_lmp_ros.foxglove_bridge import FoxgloveBridge, FoxgloveUnavailableError
from play_lmp_ros.goal_server import GoalServer
from play_lmp_ros.policy_node import PolicyNode
from play_lmp_ros.recording import McapRecorder, render_observations, TopicRecorder
from play_lmp_ros.sim_node import SimNode
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import GetParameters
import rclpy
from rclpy.action import ActionClient
from rclpy.client import Client
from rclpy.exceptions import InvalidNamespaceException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from rclpy.utilities import remove_ros_args
from rclpy.validate_namespace import validate_namespace
from tqdm import tqdm
import yaml

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_INTERRUPTED = 130

DEFAULT_BACKEND = 'onnx'
DEFAULT_MODE = 'lockstep'
SUMMARY_FILE = 'summary.json'
MCAP_FILE = 'rollout.mcap'
VIDEO_FILE = 'rollout.mp4'
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
# How long a composed rollout looks for another play table in its namespace before it starts
# its own: a new process discovers the loopback's nodes in 0.0-0.1 s, once in six in about 1 s.
SECOND_TABLE_CHECK_S = 2.5
# Hex digits of a composed rollout's own namespace: 16.7 million of them.
PRIVATE_NAMESPACE_DIGITS = 6
# The nodes of a play table, and the client of another rollout: two of them in one namespace
# would answer each other's resets, goals and actions.
PLAY_TABLE_NODE_NAMES = ('sim_node', 'goal_server', 'policy_node', 'rollout')
# Deep queue for the video's observation stream: lockstep mode publishes in bursts.
VIDEO_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=200,
                       reliability=ReliabilityPolicy.RELIABLE)


class RolloutError(RuntimeError):
    """Raised when the nodes cannot be started or reached; the rollout exits with code 1."""


class GoalInterrupted(Exception):
    """Raised when Ctrl-C stopped a goal, after canceling it; carries the goal's outcome."""

    def __init__(self, outcome: 'GoalOutcome'):
        """
        Carry the interrupted goal's outcome.

        :param outcome: what the goal server reported after the cancel, or what is known.
        """
        super().__init__(outcome.outcome)
        self.outcome = outcome


@dataclass(frozen=True)
class GoalSpec:
    """
    One goal of the rollout.

    :param task: one of the 34 task names, or '' for a state goal.
    :param state: (39,) goal state in the observation layout when task is ''.
    :param timeout_s: wall-clock limit (s); 0 uses --timeout, then the server's default.
    """

    task: str = ''
    state: Optional[Tuple[float, ...]] = None
    timeout_s: float = 0.0

    @property
    def label(self) -> str:
        """Return the task name, or 'state' for an explicit goal state."""
        return self.task or 'state'


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


def unknown_task_message(name: str) -> str:
    """
    Describe an unknown task name with the closest known ones.

    :param name: the name given.
    :return: the message.
    """
    try:
        TaskOracle().require_known([name])
    except ValueError as error:
        return f'{error} (the 34 tasks: rollout --list-tasks)'
    return ''


def parse_task_list(text: str) -> List[GoalSpec]:
    """
    Parse --tasks: comma-separated task names.

    :param text: e.g. 'open_drawer,turn_on_led'.
    :return: one goal per name, in order.
    :raises ValueError: for an empty list or an unknown name (with the closest names).
    """
    names = [name.strip() for name in text.split(',') if name.strip()]
    if not names:
        raise ValueError('--tasks needs at least one task name')
    for name in names:
        if name not in TASK_NAMES:
            raise ValueError(unknown_task_message(name))
    return [GoalSpec(task=name) for name in names]


def parse_goal_entry(entry: Any, where: str) -> GoalSpec:
    """
    Parse one entry of a goals file.

    :param entry: {task: name, timeout_s: s} or {state: [39 floats], timeout_s: s}.
    :param where: the entry's position, for messages.
    :return: the goal.
    :raises ValueError: naming the entry and the problem.
    """
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: expected a mapping with task or state, got {entry!r}')
    unknown = set(entry) - {'task', 'state', 'timeout_s'}
    if unknown:
        raise ValueError(f'{where}: unknown keys {sorted(unknown)} (allowed: task, state, '
                         'timeout_s)')
    if ('task' in entry) == ('state' in entry):
        raise ValueError(f'{where}: give exactly one of task and state')
    timeout_s = entry.get('timeout_s', 0.0)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not (
            math.isfinite(timeout_s) and timeout_s >= 0.0):
        raise ValueError(f'{where}: timeout_s must be a number >= 0, got {timeout_s!r}')
    if 'task' in entry:
        task = entry['task']
        if not isinstance(task, str) or task not in TASK_NAMES:
            raise ValueError(f'{where}: {unknown_task_message(str(task))}')
        return GoalSpec(task=task, timeout_s=float(timeout_s))
    try:
        state = layout.check_vector(entry['state'], layout.OBS_DIM, 'state')
    except (TypeError, ValueError) as error:
        raise ValueError(f'{where}: {error}') from None
    return GoalSpec(state=tuple(float(v) for v in state), timeout_s=float(timeout_s))


def load_goals(path: Path) -> List[GoalSpec]:
    """
    Read a goals file: ``goals: [{task: open_drawer, timeout_s: 20}, {state: [39 floats]}]``.

    :param path: the YAML file.
    :return: the goals, in order.
    :raises ValueError: for a missing or malformed file, naming the file and the entry.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ValueError(f'cannot read the goals file {path}: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise ValueError(f'the goals file {path} is not valid YAML: {error}') from None
    if not isinstance(document, dict) or not isinstance(document.get('goals'), list) or not (
            document['goals']):
        raise ValueError(f'the goals file {path} must hold a non-empty list under "goals:"')
    return [parse_goal_entry(entry, f'{path}: goals[{index}]')
            for index, entry in enumerate(document['goals'])]


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
        Make sure an attached rollout talks to exactly one play table and is its only client.

        :raises RolloutError: naming the duplicated nodes.
        """
        others = self.play_table_neighbours()
        duplicated = sorted({name for name in others if others.count(name) > 1}
                            | {name for name in others if name.endswith('/rollout')})
        if duplicated:
            raise RolloutError(
                f'{", ".join(duplicated)} run more than once in {self.get_namespace()}: the '
                'goals, resets and results of two tables or two rollouts would mix')

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


@dataclass
class RolloutOptions:
    """
    Everything the command line decides.

    :param goals: the goals, in order.
    :param backend: policy backend for composed nodes ('onnx' or 'scripted').
    :param model_dir: model folder for the onnx backend; '' is the bundled model.
    :param mode: 'lockstep' or 'realtime', for composed nodes.
    :param seed: scene seed of the reset, and seed of the composed nodes.
    :param timeout_s: default per-goal timeout (s); 0 is the goal server's default.
    :param replan_every: policy replanning period for composed nodes; None keeps its default.
    :param plan_mode: subgoal plan mode of the composed policy; None keeps the model's.
    :param attach: use running nodes instead of composing them.
    :param out: output folder.
    :param record: write <out>/rollout.mcap.
    :param video: write <out>/rollout.mp4 (or .gif without ffmpeg).
    :param video_every: keep every this many-th observation for the video.
    :param video_size: video side in pixels; None is the camera's 200.
    :param foxglove: serve the run on a Foxglove WebSocket.
    :param foxglove_port: its port.
    :param foxglove_wait_s: with foxglove, wait this long for a client before the first goal.
    :param wait_s: how long to wait for nodes to appear.
    :param json_only: stdout carries only the JSON summary (goal lines go to stderr).
    :param ros_args: arguments for rclpy.init (everything from --ros-args on).
    :param namespace: the nodes' namespace; '' gives composed nodes a new one of their own
        (private_namespace()) and attaches to 'play_lmp'.
    """

    goals: List[GoalSpec]
    backend: str = DEFAULT_BACKEND
    model_dir: str = ''
    mode: str = DEFAULT_MODE
    seed: int = 0
    timeout_s: float = 0.0
    replan_every: Optional[int] = None
    plan_mode: Optional[str] = None
    attach: bool = False
    out: Path = Path('out/rollout')
    record: bool = False
    video: bool = False
    video_every: int = 3
    video_size: Optional[int] = None
    foxglove: bool = False
    foxglove_port: int = 8765
    foxglove_wait_s: float = 0.0
    wait_s: float = 30.0
    json_only: bool = False
    ros_args: List[str] = field(default_factory=list)
    namespace: str = ''


class Rollout:
    """
    The composed (or attached) ROS graph of one rollout, its recorder and its client.

    Use as a context manager: entering starts everything, leaving stops it in reverse order.
    """

    def __init__(self, options: RolloutOptions):
        """
        Prepare; nothing starts before __enter__.

        :param options: the command line's choices.
        """
        self.options = options
        self._context = rclpy.Context()
        self._executor: Optional[SingleThreadedExecutor] = None
        self._thread: Optional[threading.Thread] = None
        self._nodes: List[Node] = []
        self.client: Optional[RolloutClient] = None
        self._mcap: Optional[McapRecorder] = None
        self._topic_recorder: Optional[TopicRecorder] = None
        self.foxglove_port: Optional[int] = None
        self._bridge: Optional[FoxgloveBridge] = None
        self._namespace = options.namespace or (
            f'/{qos.NAMESPACE}' if options.attach else private_namespace())

    def __enter__(self) -> 'Rollout':
        """
        Start the nodes (unless attaching), the client, the recorder and the bridge.

        :return: self.
        :raises RolloutError: when a node cannot start or the graph cannot be reached.
        """
        options = self.options
        rclpy.init(args=['rollout', *options.ros_args], context=self._context)
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        options = self.options
        self._executor = SingleThreadedExecutor(context=self._context)
        self.client = RolloutClient(video_every=options.video_every if options.video else 0,
                                    context=self._context, namespace=self._namespace)
        self._nodes.append(self.client)
        # Remapping (-r __ns:=...) wins over the namespace given here; a generated namespace
        # that survived needs no look around, since no one else knows it.
        generated = not options.namespace and self.client.get_namespace() == self._namespace
        if not options.attach:
            if not generated:
                self.client.check_alone(SECOND_TABLE_CHECK_S)
            self._nodes.extend(self._compose())
        if options.foxglove:
            self._nodes.append(self._foxglove_bridge())
        if options.record:
            self._mcap = McapRecorder(options.out / MCAP_FILE, metadata={
                'goals': ','.join(goal.label for goal in options.goals),
                'seed': options.seed, 'attach': options.attach})
            self._topic_recorder = TopicRecorder(self.client, self._mcap)
        for node in self._nodes:
            self._executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, name='rollout-executor', daemon=True)
        self._thread.start()
        self.client.wait_for_nodes(options.wait_s)
        if options.attach:
            self.client.check_one_server()
        if self._topic_recorder is not None:
            control_topics = [self.client.resolve_topic_name(qos.OBSERVATION_TOPIC),
                              self.client.resolve_topic_name(qos.ACTION_TOPIC)]
            missing = self._topic_recorder.wait_for_topics(control_topics, options.wait_s)
            if missing:
                self.client.get_logger().warning(
                    f'recording started without {", ".join(missing)}: no publisher yet')

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except ExternalShutdownException:
            pass

    def _compose(self) -> List[Node]:
        """
        Create the simulator, goal server and policy nodes in this process.

        :return: the nodes.
        :raises RolloutError: when one cannot start (bad parameter, bad model).
        """
        options = self.options
        policy = [Parameter('backend', value=options.backend),
                  Parameter('model_dir', value=options.model_dir),
                  Parameter('mode', value=options.mode),
                  Parameter('seed', value=options.seed)]
        if options.replan_every is not None:
            policy.append(Parameter('replan_every', value=options.replan_every))
        if options.plan_mode is not None:
            policy.append(Parameter('plan_mode', value=options.plan_mode))
        recipes = (
            ('sim_node', SimNode, [Parameter('mode', value=options.mode),
                                   Parameter('seed', value=options.seed)]),
            ('goal_server', GoalServer, [Parameter('seed', value=options.seed)]),
            ('policy_node', PolicyNode, policy),
        )
        nodes: List[Node] = []
        for name, node_class, overrides in recipes:
            try:
                nodes.append(node_class(context=self._context, parameter_overrides=overrides,
                                        namespace=self._namespace))
            except (ValueError, ParameterException, ImportError) as error:
                for node in nodes:
                    node.destroy_node()
                raise RolloutError(f'cannot start {name}: {error}') from None
        return nodes

    def _foxglove_bridge(self) -> Node:
        try:
            port = Parameter('port', value=self.options.foxglove_port)
            bridge = FoxgloveBridge(context=self._context, namespace=self._namespace,
                                    parameter_overrides=[port])
        except (FoxgloveUnavailableError, ValueError, ParameterException,
                RuntimeError) as error:
            raise RolloutError(f'cannot start the Foxglove bridge: {error}') from None
        self.foxglove_port = bridge.port
        self._bridge = bridge
        return bridge

    def wait_for_foxglove(self, timeout_s: float) -> bool:
        """
        Wait until a Foxglove client subscribes to a channel of the bridge.

        :param timeout_s: how long to wait at most.
        :return: whether one did (False without a bridge).
        """
        return self._bridge is not None and self._bridge.wait_for_client(timeout_s)

    def __exit__(self, *exc_info) -> None:
        """Stop recording, the executor and the nodes, and shut the context down."""
        if self._topic_recorder is not None:
            self._topic_recorder.close()
            self._topic_recorder = None
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=5.0)
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        for node in reversed(self._nodes):
            node.destroy_node()
        self._nodes.clear()
        if self._mcap is not None:
            self._mcap.close()
        rclpy.try_shutdown(context=self._context)

    @property
    def mcap_path(self) -> Optional[Path]:
        """Return the MCAP file being written, or None."""
        return None if self._mcap is None else self._mcap.path


def describe_policy(client: RolloutClient) -> Dict[str, Any]:
    """
    Ask the policy node which backend and model it runs.

    :param client: the client node.
    :return: {'backend': ..., 'model': ..., 'mode': ...}; values None when it does not answer.
    """
    values = client.remote_parameters('policy_node', ['backend', 'model_dir', 'mode'])
    backend = values.get('backend')
    model = values.get('model_dir')
    if backend == 'onnx' and not model:
        model = 'bundled'
    elif backend == 'scripted':
        model = None
    return {'backend': backend, 'model': model, 'mode': values.get('mode')}


def format_line(index: int, total: int, outcome: GoalOutcome) -> str:
    """
    Format one goal's line.

    :param index: 1-based goal number.
    :param total: number of goals.
    :param outcome: its outcome.
    :return: e.g. '[2/3] open_drawer  succeeded  71 steps  2.4 s'.
    """
    width = len(str(total))
    return (f'[{index:>{width}}/{total}] {outcome.task:<26} {outcome.outcome:<40} '
            f'{outcome.steps:>4} steps {outcome.elapsed_s:6.1f} s')


def summarize(outcomes: List[GoalOutcome], policy: Dict[str, Any],
              options: RolloutOptions, files: Dict[str, str],
              interrupted: bool = False, namespace: str = '') -> Dict[str, Any]:
    """
    Build the JSON summary.

    :param outcomes: the goals' outcomes so far.
    :param policy: describe_policy's answer.
    :param options: the run's options.
    :param files: written files by kind.
    :param interrupted: the run was stopped before its last goal.
    :param namespace: the play table's namespace.
    :return: the summary.
    """
    successes = sum(outcome.success for outcome in outcomes)
    return {
        'goals': len(outcomes),
        'successes': successes,
        'success_rate': successes / len(outcomes) if outcomes else 0.0,
        'backend': policy.get('backend'),
        'model': policy.get('model'),
        'mode': policy.get('mode'),
        'seed': options.seed,
        'attached': options.attach,
        'namespace': namespace,
        'interrupted': interrupted,
        'results': [asdict(outcome) for outcome in outcomes],
        'files': files,
    }


def summary_line(summary: Dict[str, Any]) -> str:
    """
    Sum a run up in one line: the successes and the files written.

    :param summary: summarize()'s answer.
    :return: e.g. '3/4 goals succeeded; summary: out/rollout/summary.json, video: ...'.
    """
    files = ', '.join(f'{kind}: {path}' for kind, path in sorted(
        summary['files'].items(), key=lambda item: item[0] != 'summary'))
    interrupted = ' (interrupted)' if summary['interrupted'] else ''
    return f'{summary["successes"]}/{summary["goals"]} goals succeeded{interrupted}; {files}'


@contextlib.contextmanager
def stdout_for_json_only() -> Iterator[TextIO]:
    """
    Send everything written to file descriptor 1 to stderr, C libraries included.

    pybullet prints to the C stdout; with --json, stdout must carry the summary alone.

    :return: a text stream on the original stdout, for the summary.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(os.dup(saved), 'w') as original:
            yield original
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def private_namespace() -> str:
    """
    Make a namespace for one composed rollout, unlikely to meet any other in a ROS domain.

    :return: e.g. '/rollout_3fa2c1'.
    """
    return f'/rollout_{uuid.uuid4().hex[:PRIVATE_NAMESPACE_DIGITS]}'


def normalize_namespace(text: str) -> str:
    """
    Check a namespace given on the command line and make it absolute.

    :param text: e.g. 'play_lmp', '/lab/table_b'.
    :return: e.g. '/play_lmp'.
    :raises ValueError: naming what ROS refuses in it.
    """
    namespace = '/' + text.strip().strip('/')
    try:
        validate_namespace(namespace)
    except InvalidNamespaceException as error:
        raise ValueError(f'--namespace {text!r} is not a ROS namespace: '
                         f'{str(error).splitlines()[0].rstrip(":")}') from None
    return namespace


def run(options: RolloutOptions, summary_out: Optional[TextIO] = None) -> int:
    """
    Run a rollout: start or reach the nodes, reset, send every goal, write the summary.

    :param options: the command line's choices.
    :param summary_out: where the JSON summary is printed (--json); None prints one summary
        line with the files instead.
    :return: the exit code.
    """
    goal_lines = sys.stderr if options.json_only else sys.stdout
    options.out.mkdir(parents=True, exist_ok=True)
    outcomes: List[GoalOutcome] = []
    files: Dict[str, str] = {}
    interrupted = False
    policy: Dict[str, Any] = {}
    namespace = ''
    try:
        with Rollout(options) as rollout:
            client = rollout.client
            namespace = client.get_namespace()
            if not options.attach:
                print(f'play table in {client.get_namespace()}', file=sys.stderr)
            if rollout.foxglove_port is not None:
                print(f'Foxglove: open ws://127.0.0.1:{rollout.foxglove_port}', file=sys.stderr)
                if options.foxglove_wait_s > 0:
                    print(f'waiting up to {options.foxglove_wait_s:g} s for a Foxglove client',
                          file=sys.stderr, flush=True)
                    seen = rollout.wait_for_foxglove(options.foxglove_wait_s)
                    print('Foxglove client connected' if seen else
                          'no Foxglove client came: running the goals anyway', file=sys.stderr)
            policy = describe_policy(client)
            client.reset(options.seed, options.wait_s)
            for index, spec in enumerate(options.goals, start=1):
                try:
                    outcome = _run_one(client, spec, options, index)
                except GoalInterrupted as stop:
                    outcome, interrupted = stop.outcome, True
                outcomes.append(outcome)
                print(format_line(index, len(options.goals), outcome), file=goal_lines,
                      flush=True)
                if interrupted:
                    break
            frames, captions = client.video_frames()
            if rollout.mcap_path is not None:
                files['mcap'] = str(rollout.mcap_path)
    except RolloutError as error:
        print(f'rollout: {error}', file=sys.stderr)
        return EXIT_UNREACHABLE
    if options.video:
        fps = layout.CONTROL_HZ / options.video_every
        path, count = render_observations(frames, options.out / VIDEO_FILE, fps,
                                          options.video_size, options.seed, captions)
        files['video'] = str(path)
        print(f'video: {count} frames in {path}', file=sys.stderr)
    files['summary'] = str(options.out / SUMMARY_FILE)
    summary = summarize(outcomes, policy, options, files, interrupted, namespace)
    text = json.dumps(summary, indent=2)
    (options.out / SUMMARY_FILE).write_text(text + '\n')
    if summary_out is not None:
        print(text, file=summary_out, flush=True)
    else:
        print(summary_line(summary), flush=True)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _run_one(client: RolloutClient, spec: GoalSpec, options: RolloutOptions,
             index: int) -> GoalOutcome:
    """
    Run one goal with a progress bar on stderr (shown on a terminal only).

    :param client: the client node.
    :param spec: the goal.
    :param options: the run's options.
    :param index: 1-based goal number.
    :return: the outcome.
    """
    with tqdm(desc=f'[{index}/{len(options.goals)}] {spec.label}', unit='step', leave=False,
              file=sys.stderr, disable=None) as bar:
        def on_feedback(feedback) -> None:
            bar.n = int(feedback.step)
            bar.set_postfix(distance=f'{feedback.distance_to_goal:.3f}', refresh=True)

        caption = f'[{index}/{len(options.goals)}] {spec.label}'
        client.set_caption(caption, count_steps=True)
        outcome = client.run_goal(spec, options.timeout_s, on_feedback)
        client.end_caption(f'{caption}: {outcome.outcome}')
        return outcome


def build_parser() -> argparse.ArgumentParser:
    """
    Build the command line parser.

    :return: the parser.
    """
    parser = argparse.ArgumentParser(
        prog='rollout', description=__doc__.strip().splitlines()[0],
        epilog='ROS arguments go after --ros-args (e.g. --ros-args --params-file my.yaml '
               'configures the composed nodes by name).')
    parser.formatter_class = HelpFormatter
    goals = parser.add_mutually_exclusive_group(required=True)
    goals.add_argument('--tasks', help='comma-separated task names, e.g. '
                                       'open_drawer,turn_on_led')
    goals.add_argument('--goals', type=Path,
                       help='YAML file: goals: [{task: open_drawer, timeout_s: 20}, '
                            '{state: [39 floats]}]')
    goals.add_argument('--list-tasks', action='store_true', help='print the 34 task names')
    parser.add_argument('--backend', choices=('onnx', 'scripted'),
                        help=f'policy backend of the composed nodes (default {DEFAULT_BACKEND})')
    parser.add_argument('--model-dir', help='folder with planner.onnx and actor.onnx (default: '
                                            'the bundled model)')
    parser.add_argument('--mode', choices=('lockstep', 'realtime'),
                        help=f'mode of the composed nodes (default {DEFAULT_MODE})')
    parser.add_argument('--replan-every', type=int,
                        help="policy replanning period in steps (default: the model's)")
    parser.add_argument('--plan-mode', choices=PLAN_MODES,
                        help="subgoal planning of the composed policy (default: the model's)")
    parser.add_argument('--seed', type=int, default=0, help='scene seed of the reset (default 0)')
    parser.add_argument('--timeout', type=float, default=0.0,
                        help="per-goal timeout in s (default 0: the goal server's)")
    parser.add_argument('--attach', action='store_true',
                        help='use nodes that already run instead of composing them')
    parser.add_argument('--namespace',
                        help='namespace of the nodes (default: composed, a new /rollout_<hex> of '
                             f'their own; attached, {qos.NAMESPACE})')
    parser.add_argument('--out', type=Path, default=Path('out/rollout'),
                        help='output folder (default out/rollout)')
    parser.add_argument('--record', action='store_true', help=f'write <out>/{MCAP_FILE}')
    parser.add_argument('--video', action='store_true',
                        help=f'write <out>/{VIDEO_FILE} (.gif without imageio-ffmpeg)')
    parser.add_argument('--video-every', type=int, default=3,
                        help='one video frame every N observations (default 3: 10 fps)')
    parser.add_argument('--video-size', type=int, help='video side in pixels (default 200)')
    parser.add_argument('--foxglove', action='store_true',
                        help='serve the run live to Foxglove (needs foxglove-sdk)')
    parser.add_argument('--foxglove-wait', type=float, default=0.0,
                        help='with --foxglove, wait up to this many seconds for the Foxglove '
                             'app to connect before the first goal (a lockstep run is over in '
                             'seconds)')
    parser.add_argument('--foxglove-port', type=int, default=8765,
                        help='port of the Foxglove WebSocket (default 8765; 0: any free port)')
    parser.add_argument('--wait', type=float, default=30.0,
                        help='seconds to wait for the nodes (default 30)')
    parser.add_argument('--json', action='store_true',
                        help='stdout carries only the JSON summary; goal lines go to stderr '
                             '(default: goal lines and one summary line)')
    return parser


def parse_options(argv: Sequence[str]) -> RolloutOptions:
    """
    Parse and check the command line; exits with code 2 on a bad argument.

    :param argv: arguments without the program name, ROS arguments included.
    :return: the options.
    """
    parser = build_parser()
    ros_args = list(argv[argv.index('--ros-args'):]) if '--ros-args' in argv else []
    args = parser.parse_args(remove_ros_args(['rollout', *argv])[1:])
    if args.list_tasks:
        print('\n'.join(TASK_NAMES))
        raise SystemExit(EXIT_OK)
    try:
        goals = parse_task_list(args.tasks) if args.tasks is not None else load_goals(args.goals)
    except ValueError as error:
        parser.error(str(error))
    for name, value, low in (('--video-every', args.video_every, 1), ('--wait', args.wait, 0),
                             ('--timeout', args.timeout, 0)):
        if not (math.isfinite(value) and value >= low):
            parser.error(f'{name} must be >= {low}, got {value}')
    if args.replan_every is not None and args.replan_every < 0:
        parser.error(f'--replan-every must be >= 0, got {args.replan_every}')
    if args.video_size is not None and args.video_size < 16:
        parser.error(f'--video-size must be >= 16 pixels, got {args.video_size}')
    if not (math.isfinite(args.foxglove_wait) and args.foxglove_wait >= 0):
        parser.error(f'--foxglove-wait must be a number of seconds >= 0, got {args.foxglove_wait}')
    if args.foxglove_wait > 0 and not args.foxglove:
        parser.error('--foxglove-wait needs --foxglove')
    if not 0 <= args.foxglove_port <= 65535:
        parser.error(f'--foxglove-port must be in 0..65535, got {args.foxglove_port}')
    try:
        namespace = '' if args.namespace is None else normalize_namespace(args.namespace)
    except ValueError as error:
        parser.error(str(error))
    if args.model_dir and not Path(args.model_dir).is_dir():
        parser.error(f'--model-dir {args.model_dir} is not a folder')
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=args.out).close()
    except OSError as error:
        parser.error(f'--out {args.out} is not a writable folder: {error.strerror or error}')
    node_options = {'--backend': args.backend, '--model-dir': args.model_dir,
                    '--mode': args.mode, '--replan-every': args.replan_every,
                    '--plan-mode': args.plan_mode}
    if args.attach:
        ignored = [name for name, value in node_options.items() if value is not None]
        if ignored:
            print(f'rollout: {", ".join(ignored)} ignored with --attach: the running nodes '
                  'keep their parameters', file=sys.stderr)
    return RolloutOptions(
        goals=goals, backend=args.backend or DEFAULT_BACKEND, model_dir=args.model_dir or '',
        mode=args.mode or DEFAULT_MODE, seed=args.seed, timeout_s=args.timeout,
        replan_every=args.replan_every, plan_mode=args.plan_mode, attach=args.attach,
        out=args.out, record=args.record,
        video=args.video, video_every=args.video_every, video_size=args.video_size,
        foxglove=args.foxglove, foxglove_port=args.foxglove_port,
        foxglove_wait_s=args.foxglove_wait, wait_s=args.wait,
        json_only=args.json, ros_args=ros_args, namespace=namespace)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the rollout command.

    :param argv: arguments without the program name (sys.argv[1:] when None).
    :return: the exit code (see the module docstring).
    """
    options = parse_options(list(sys.argv[1:] if argv is None else argv))
    try:
        if options.json_only:
            with stdout_for_json_only() as summary_out:
                return run(options, summary_out)
        return run(options)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    sys.exit(main())
