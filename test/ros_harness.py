"""
Helpers for the node tests: nodes composed in one process, or started as separate processes.

Both talk over real DDS in the test's own ROS domain (the ros_domain fixture sets it in the
environment, which rclpy.init and child processes read).  Other suites may draw the same domain,
so every graph also runs in a namespace of its own, with /diagnostics moved into it.
NodeProcess also starts the nodes of the runtime benchmark (benchmarks/bench_runtime.py).
"""

import ast
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Optional
import uuid

from action_msgs.msg import GoalStatus, GoalStatusArray
from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import GoalState
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
TERMINAL_STATUSES = (GoalStatus.STATUS_SUCCEEDED, GoalStatus.STATUS_ABORTED,
                     GoalStatus.STATUS_CANCELED)
DISCOVERY_TIMEOUT_S = 30.0
# Latched like the goal and status topics, but deep enough that a quick succession (a goal cleared
# then a newer one published) is recorded whole.
RECORDER_LATCHED_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                  durability=DurabilityPolicy.TRANSIENT_LOCAL)


def diagnostics_topic(namespace: str) -> str:
    """
    Return where a graph's nodes publish /diagnostics.

    :param namespace: the graph's namespace, without a leading slash.
    :return: the remapped topic.
    """
    return f'/{namespace}{qos.DIAGNOSTICS_TOPIC}'


def node_config(node_name: str) -> dict:
    """
    Read a node's installed parameter file, config/<node_name>.yaml.

    :param node_name: 'sim_node', 'goal_server' or 'policy_node'.
    :return: its ros__parameters.
    :raises AssertionError: unless the file has one section, keyed for the node in any namespace.
    """
    document = yaml.safe_load((REPO_ROOT / 'config' / f'{node_name}.yaml').read_text())
    assert list(document) == [f'/**/{node_name}'], list(document)
    return document[f'/**/{node_name}']['ros__parameters']


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """
    Poll a condition until it holds.

    :param predicate: the condition.
    :param timeout: seconds to wait at most.
    :param what: what is awaited, for the failure message.
    :raises AssertionError: when the condition does not hold in time.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f'{what}: not within {timeout:g} s')
        time.sleep(0.02)


def wait_future(future, timeout: float, what: str):
    """
    Wait for an rclpy future completed by the executor thread.

    :param future: the future.
    :param timeout: seconds to wait at most.
    :param what: what is awaited, for the failure message.
    :return: the future's result.
    :raises AssertionError: when the future is not done in time.
    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(timeout):
        raise AssertionError(f'{what}: not done within {timeout:g} s')
    return future.result()


class Recorder:
    """Keep every message of a topic, thread-safe."""

    def __init__(self, node: Node, msg_type, topic: str, qos_profile):
        """
        Subscribe.

        :param node: the node that subscribes.
        :param msg_type: message class.
        :param topic: topic name.
        :param qos_profile: QoS of the subscription.
        """
        self._lock = threading.Lock()
        self._messages: List = []
        node.create_subscription(msg_type, topic, self._on_message, qos_profile)

    def _on_message(self, msg) -> None:
        with self._lock:
            self._messages.append(msg)

    @property
    def messages(self) -> List:
        """Return a copy of the messages received so far."""
        with self._lock:
            return list(self._messages)


class Graph:
    """
    The nodes of one test in a private rclpy context, spun by one executor thread.

    It also owns a client node (namespace play_lmp) with a ReachGoal action client and a ResetSim
    client, and records the goal topic, the action's status topic and /diagnostics.
    """

    def __init__(self):
        """Start the context, the executor thread and the client node."""
        self.namespace = f'{qos.NAMESPACE}_test_{uuid.uuid4().hex[:8]}'
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        # One thread runs every callback, so once it has joined nothing runs while the nodes are
        # destroyed (a thread pool's callbacks could still be running then).
        self.executor = SingleThreadedExecutor(context=self.context)
        self._nodes: List[Node] = []
        self.client = self.add(rclpy.create_node(
            'test_client', namespace=self.namespace, context=self.context))
        self.reach_goal = ActionClient(self.client, ReachGoal, qos.REACH_GOAL_ACTION)
        self.reset_client = self.client.create_client(ResetSim, qos.RESET_SERVICE)
        self.goals = Recorder(self.client, GoalState, qos.GOAL_TOPIC, RECORDER_LATCHED_QOS)
        self.statuses = Recorder(
            self.client, GoalStatusArray, f'{qos.REACH_GOAL_ACTION}/_action/status',
            RECORDER_LATCHED_QOS)
        self.diagnostics = Recorder(self.client, DiagnosticArray,
                                    diagnostics_topic(self.namespace), qos.DIAGNOSTICS_QOS)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def add(self, node: Node) -> Node:
        """
        Spin a node with the others; it is destroyed on close.

        :param node: a node created in self.context.
        :return: the node.
        """
        self._nodes.append(node)
        self.executor.add_node(node)
        return node

    def start(self, node_class, **parameters) -> Node:
        """
        Create one of the package's nodes in this graph.

        :param node_class: SimNode, GoalServerNode or PolicyNode.
        :param parameters: parameter overrides.
        :return: the node.
        """
        overrides = [Parameter(name, value=value) for name, value in parameters.items()]
        remap = ['--ros-args',
                 '-r', f'{qos.DIAGNOSTICS_TOPIC}:={diagnostics_topic(self.namespace)}']
        return self.add(node_class(context=self.context, namespace=self.namespace,
                                   cli_args=remap, parameter_overrides=overrides))

    def node_name(self, name: str) -> str:
        """
        Return the fully qualified name of a node of this graph (its diagnostics status name).

        :param name: e.g. 'policy_node'.
        :return: e.g. '/play_lmp_test_1a2b3c4d/policy_node'.
        """
        return f'/{self.namespace}/{name}'

    def remove(self, node: Node) -> None:
        """
        Stop spinning a node and destroy it.

        :param node: a node of this graph.
        """
        self.executor.remove_node(node)
        self._nodes.remove(node)
        node.destroy_node()

    def close(self) -> None:
        """Stop the executor and destroy every node and the context."""
        self.executor.shutdown(timeout_sec=10.0)
        self._thread.join(timeout=10.0)
        for node in reversed(self._nodes):
            node.destroy_node()
        rclpy.shutdown(context=self.context)

    def __enter__(self) -> 'Graph':
        """Use as a context manager."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close on leaving the context."""
        self.close()

    def reset(self, seed: int, timeout: float = DISCOVERY_TIMEOUT_S,
              state: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Reset the simulator to a seeded random scene, or to an explicit state.

        :param seed: scene seed.
        :param timeout: seconds to wait for the service and the answer.
        :param state: (39,) state to reset to instead of the seeded scene.
        :return: (39,) the observation after the reset.
        """
        assert self.reset_client.wait_for_service(timeout_sec=timeout), 'no reset service'
        request = ResetSim.Request(seed=seed, use_state=state is not None)
        if state is not None:
            request.state = [float(value) for value in state]
        response = wait_future(self.reset_client.call_async(request), timeout, 'reset')
        assert response.success, response.message
        return conversions.observation_to_array(response.observation)

    def reset_until_seen(self, seed: int, node_names: List[str],
                         attempts: int = 5) -> np.ndarray:
        """
        Reset the simulator until the named nodes say on /diagnostics that they got an observation.

        Nodes in other processes may still be discovering the simulator when the first reset's
        observation goes out; in lockstep mode nothing else would reach them.

        :param seed: scene seed.
        :param node_names: names of the nodes that must see the observation, e.g. 'policy_node'.
        :param attempts: resets to try.
        :return: (39,) the observation after the last reset.
        :raises AssertionError: when some node never reports an observation.
        """
        for _ in range(attempts):
            obs = self.reset(seed)
            try:
                wait_until(lambda: all(self.diagnostics_values(name).get('observation_age_ms')
                                       for name in node_names), 3.0, 'observation seen')
                return obs
            except AssertionError:
                continue
        raise AssertionError(f'{node_names} never reported an observation after {attempts} '
                             'resets')

    def send_goal(self, timeout: float = DISCOVERY_TIMEOUT_S, **fields) -> 'GoalRun':
        """
        Send a ReachGoal goal and wait for its acceptance or rejection.

        :param timeout: seconds to wait for the server and the answer.
        :param fields: ReachGoal.Goal fields (task, goal_state, timeout_s).
        :return: the goal and its feedback.
        """
        assert self.reach_goal.wait_for_server(timeout_sec=timeout), 'no ReachGoal server'
        run = GoalRun()
        run.handle = wait_future(
            self.reach_goal.send_goal_async(ReachGoal.Goal(**fields),
                                            feedback_callback=run.on_feedback),
            timeout, 'goal response')
        return run

    def terminal_statuses(self, goal_id: str) -> List[int]:
        """
        List the distinct terminal statuses the status topic reported for a goal.

        :param goal_id: the goal's UUID hex.
        :return: the statuses, in order of first appearance.
        """
        seen: List[int] = []
        for array in self.statuses.messages:
            for status in array.status_list:
                if (bytes(status.goal_info.goal_id.uuid).hex() == goal_id
                        and status.status in TERMINAL_STATUSES
                        and status.status not in seen):
                    seen.append(status.status)
        return seen

    def diagnostics_values(self, name: str) -> Dict[str, str]:
        """
        Return the key/values of the latest /diagnostics status of a node of this graph.

        :param name: the node's name, e.g. 'policy_node'.
        :return: key -> value, empty when none arrived yet.
        """
        for array in reversed(self.diagnostics.messages):
            for status in array.status:
                if status.name == self.node_name(name):
                    return {value.key: value.value for value in status.values}
        return {}

    def goal_messages(self, goal_id: str) -> List[GoalState]:
        """
        List the GoalState messages published for a goal.

        :param goal_id: the goal's UUID hex.
        :return: the messages in order.
        """
        return [msg for msg in self.goals.messages if msg.goal_id == goal_id]

    def goal_phases(self, goal_id: str) -> List[bool]:
        """
        List a goal's published active flags, each run of repeats (the renewals) as one.

        :param goal_id: the goal's UUID hex.
        :return: e.g. [True, False]: published (and renewed), then cleared.
        """
        phases: List[bool] = []
        for msg in self.goal_messages(goal_id):
            if not phases or phases[-1] != msg.active:
                phases.append(msg.active)
        return phases


class GoalRun:
    """A sent ReachGoal goal with its feedback."""

    def __init__(self):
        """Start empty; send_goal fills in the handle."""
        self.handle = None
        self._result = None
        self._lock = threading.Lock()
        self._feedback: List[ReachGoal.Feedback] = []

    def on_feedback(self, msg) -> None:
        """
        Keep a feedback message.

        :param msg: the feedback message.
        """
        with self._lock:
            self._feedback.append(msg.feedback)

    @property
    def feedback(self) -> List:
        """Return a copy of the feedback received so far."""
        with self._lock:
            return list(self._feedback)

    @property
    def goal_id(self) -> str:
        """Return the goal's UUID hex."""
        return bytes(self.handle.goal_id.uuid).hex()

    def done(self) -> bool:
        """
        Return whether the goal has ended (its result is available).

        :return: True once the result arrived.
        """
        return self._result_future().done()

    def _result_future(self):
        if self._result is None:
            self._result = self.handle.get_result_async()
        return self._result

    def result(self, timeout: float):
        """
        Wait for the result.

        :param timeout: seconds to wait at most.
        :return: the GetResult response: status and result.
        """
        return wait_future(self._result_future(), timeout, 'goal result')


def parameter_argument(name: str, value) -> str:
    """
    Format one parameter for the --ros-args command line.

    :param name: parameter name.
    :param value: bool, int, float, str or list of str.
    :return: 'name:=value'.
    """
    if isinstance(value, bool):
        text = 'true' if value else 'false'
    elif isinstance(value, (list, tuple)):
        text = '[' + ', '.join(str(item) for item in value) + ']'
    elif isinstance(value, str) and value == '':
        text = "''"
    else:
        text = str(value)
    return f'{name}:={text}'


def console_scripts() -> dict:
    """
    Read setup.py's console scripts without running it.

    :return: script name -> 'module:function'.
    """
    tree = ast.parse((REPO_ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = ast.literal_eval(value)
                    return dict(tuple(part.strip() for part in entry.split('=', 1))
                                for entry in entries)
    raise AssertionError('setup.py declares no console_scripts')


class NodeProcess:
    """One of the package's nodes run as `python -m <its console script's module>`, from here."""

    def __init__(self, executable: str, log_dir: Path, namespace: str, **parameters):
        """
        Start the process; its output goes to a log file.

        :param executable: the node's console script: 'sim_node', 'goal_server', 'policy_node'
            or 'foxglove_bridge'.
        :param log_dir: folder of the log file.
        :param namespace: the graph's namespace (/diagnostics is moved into it too).
        :param parameters: parameters given with -p.
        """
        self.executable = executable
        module = console_scripts()[executable].split(':')[0]
        arguments = [sys.executable, '-m', module, '--ros-args',
                     '-r', f'__ns:=/{namespace}',
                     '-r', f'{qos.DIAGNOSTICS_TOPIC}:={diagnostics_topic(namespace)}']
        for name, value in parameters.items():
            arguments += ['-p', parameter_argument(name, value)]
        index = len(list(log_dir.glob(f'{executable}*.log')))
        self.log_path = log_dir / f'{executable}{index}.log'
        self._log = open(self.log_path, 'w')
        self.process = subprocess.Popen(arguments, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """
        Return what the process printed so far.

        :return: its stdout and stderr.
        """
        self._log.flush()
        return self.log_path.read_text()

    def alive(self) -> bool:
        """
        Return whether the process still runs.

        :return: True while it runs.
        """
        return self.process.poll() is None

    def wait(self, timeout: float) -> int:
        """
        Wait for the process to exit by itself.

        :param timeout: seconds to wait at most.
        :return: its exit code.
        """
        return self.process.wait(timeout=timeout)

    def interrupt(self, timeout: float = 30.0) -> int:
        """
        Press Ctrl-C (SIGINT) and wait for the process to exit.

        :param timeout: seconds to wait at most.
        :return: its exit code.
        """
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would end it."""
        self.process.kill()
        self.process.wait(timeout=10.0)

    def stop(self) -> Optional[int]:
        """
        End the process with SIGTERM (SIGKILL if it lingers) and close its log.

        :return: its exit code.
        """
        end_process(self.process)
        self._log.close()
        return self.process.returncode


def end_process(process: subprocess.Popen, timeout: float = 10.0) -> Optional[int]:
    """
    End a child process with SIGTERM, and with SIGKILL if it lingers.

    A loaded machine can keep a node in DDS tear-down for seconds; a test's clean-up must not
    fail on that, so a process still there after the grace period is killed.

    :param process: the child process (already ended is fine).
    :param timeout: seconds of grace after SIGTERM.
    :return: its exit code.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
    return process.returncode


def stop_all(processes: Dict[str, NodeProcess]) -> None:
    """
    Stop every process of a test.

    :param processes: the processes.
    """
    for process in processes.values():
        process.stop()
