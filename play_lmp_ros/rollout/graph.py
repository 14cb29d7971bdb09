"""
The ROS graph of one rollout: its nodes composed in this process, or reached where they run.

Rollout is a context manager that starts one rclpy context, the simulator, goal server and
policy nodes (unless attaching), the client, the MCAP recorder and the Foxglove bridge, with a
single-threaded executor spinning in a background thread, and stops them in reverse order.
"""

from pathlib import Path
import threading
from typing import List, Optional
import uuid

from play_lmp_ros import qos
from play_lmp_ros.foxglove_bridge_node import FoxgloveBridgeNode, FoxgloveUnavailableError
from play_lmp_ros.goal_server_node import GoalServerNode
from play_lmp_ros.policy_node import PolicyNode
from play_lmp_ros.recording import McapRecorder, TopicRecorder
from play_lmp_ros.rollout.client import RolloutClient, RolloutError
from play_lmp_ros.rollout.options import RolloutOptions
from play_lmp_ros.sim_node import SimNode
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

MCAP_FILE = 'rollout.mcap'
# How long a composed rollout looks for another play table in its namespace before it starts
# its own: a new process discovers the loopback's nodes in 0.0-0.1 s, once in six in about 1 s,
# and a test run once missed one for 2.5 s.
SECOND_TABLE_CHECK_S = 5.0
# Hex digits of a composed rollout's own namespace: 16.7 million of them.
PRIVATE_NAMESPACE_DIGITS = 6


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
        self._bridge: Optional[FoxgloveBridgeNode] = None
        self._namespace = options.namespace or (
            f'/{qos.NAMESPACE}' if options.attach else private_namespace())
        # Whether someone else may know the namespace (decided once the client exists).
        self._shared_namespace = True

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
        self._shared_namespace = options.attach or not generated
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
        self.check_one_table()
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
            ('goal_server', GoalServerNode, [Parameter('seed', value=options.seed)]),
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
            bridge = FoxgloveBridgeNode(context=self._context, namespace=self._namespace,
                                        parameter_overrides=[port])
        except (FoxgloveUnavailableError, ValueError, ParameterException,
                RuntimeError) as error:
            raise RolloutError(f'cannot start the Foxglove bridge: {error}') from None
        self.foxglove_port = bridge.port
        self._bridge = bridge
        return bridge

    def check_one_table(self) -> None:
        """
        Make sure no second play table or rollout shares this rollout's namespace.

        A namespace of the rollout's own (generated) needs no check.

        :raises RolloutError: naming the nodes seen twice.
        """
        if self._shared_namespace:
            self.client.check_one_server()

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


def private_namespace() -> str:
    """
    Make a namespace for one composed rollout, unlikely to meet any other in a ROS domain.

    :return: e.g. '/rollout_3fa2c1'.
    """
    return f'/rollout_{uuid.uuid4().hex[:PRIVATE_NAMESPACE_DIGITS]}'
