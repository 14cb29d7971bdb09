"""
Tests of the simulator node over real DDS: the node runs in its own process with real PyBullet.

A probe node in this process publishes actions, calls the reset service and listens to every
topic the simulator publishes.  Each test also gets a namespace of its own, with /diagnostics
remapped into it: ROS domains are few, and other test suites on the machine may run a simulator
on the same one.
"""

import contextlib
import subprocess
import sys
import time
from typing import Callable, Iterator, List
import uuid
import xml.etree.ElementTree as ElementTree

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import PoseStamped
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos, sim_node
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import panda as sim_panda, scene_geometry as geo
from play_lmp_ros.core.sim.robot_description import link_names, static_links
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from ros_harness import end_process, node_config
from rosgraph_msgs.msg import Clock as ClockMessage
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from transforms3d.euler import quat2euler
from visualization_msgs.msg import Marker, MarkerArray

TIMEOUT_S = 30.0
OPEN = layout.GRIPPER_OPEN
PLUS_X = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, OPEN)
MINUS_Z = (0.0, 0.0, -1.0, 0.0, 0.0, 0.0, OPEN)


def relative_action(values, kind: int = EndEffectorAction.RELATIVE) -> EndEffectorAction:
    """Build an EndEffectorAction (relative by default) without validation, bad values too."""
    msg = EndEffectorAction(type=kind)
    msg.position = np.asarray(values[:3], dtype=np.float64)
    msg.orientation = np.asarray(values[3:6], dtype=np.float64)
    msg.gripper = float(values[6])
    return msg


def absolute_action(values) -> EndEffectorAction:
    """Build an absolute EndEffectorAction without validation."""
    return relative_action(values, EndEffectorAction.ABSOLUTE)


@contextlib.contextmanager
def sim_process(namespace: str, *parameters: str) -> Iterator[subprocess.Popen]:
    """
    Run sim_node in a child process in a namespace with '-p' parameters, and always stop it.

    :param namespace: the node's namespace; /diagnostics is moved into it.
    :param parameters: 'name:=value' strings.
    :return: the process (as a context manager).
    """
    command = [sys.executable, '-m', 'play_lmp_ros.sim_node', '--ros-args',
               '-r', f'__ns:=/{namespace}']
    command += ['-r', f'{qos.DIAGNOSTICS_TOPIC}:=/{namespace}{qos.DIAGNOSTICS_TOPIC}']
    for parameter in parameters:
        command += ['-p', parameter]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        end_process(process)


class Probe:
    """A test node in a private context: publishes actions, resets, records what comes back."""

    def __init__(self, namespace: str):
        """Create the node, its subscriptions, the action publisher and the reset client."""
        self.namespace = namespace
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('sim_probe', namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.observations: List[Observation] = []
        self.diagnostics: List[DiagnosticArray] = []
        self.node.create_subscription(
            Observation, qos.OBSERVATION_TOPIC, self.observations.append, qos.CONTROL_QOS)
        self.node.create_subscription(
            DiagnosticArray, self.moved(qos.DIAGNOSTICS_TOPIC), self.diagnostics.append,
            qos.DIAGNOSTICS_QOS)
        self.actions = self.node.create_publisher(
            EndEffectorAction, qos.ACTION_TOPIC, qos.CONTROL_QOS)
        self.reset_client = self.node.create_client(ResetSim, qos.RESET_SERVICE)

    def moved(self, absolute_topic: str) -> str:
        """Return where sim_process moved an absolute topic."""
        return f'/{self.namespace}{absolute_topic}'

    def subscribe(self, msg_type, topic: str, qos_profile) -> list:
        """
        Record a topic.

        :return: the list the messages are appended to.
        """
        received = []
        self.node.create_subscription(msg_type, topic, received.append, qos_profile)
        return received

    def wait_for(self, condition: Callable[[], bool], what: str,
                 timeout: float = TIMEOUT_S) -> None:
        """Spin until condition() holds, or fail naming what was awaited."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f'timed out after {timeout} s waiting for {what}'
            self.executor.spin_once(timeout_sec=0.05)

    def spin_for(self, seconds: float) -> None:
        """Spin for a while, collecting messages."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def connect(self) -> None:
        """Wait until the simulator's service and both control topics are matched."""
        assert self.reset_client.wait_for_service(timeout_sec=TIMEOUT_S), 'no reset service'
        observation_sub = next(sub for sub in self.node.subscriptions
                               if sub.topic_name.endswith('/' + qos.OBSERVATION_TOPIC))
        self.wait_for(lambda: self.actions.get_subscription_count() > 0
                      and observation_sub.get_publisher_count() > 0, 'the control topics')

    def reset(self, seed: int = 0, state=None) -> ResetSim.Response:
        """Call the reset service and wait for its answer (and, on success, the observation)."""
        request = ResetSim.Request(use_state=state is not None, seed=seed)
        if state is not None:
            request.state = np.asarray(state, dtype=np.float64)
        count = len(self.observations)
        future = self.reset_client.call_async(request)
        self.wait_for(future.done, 'the reset response')
        response = future.result()
        if response.success:
            # The start-up observation may still be in flight: wait for the reset's own one.
            expected = conversions.observation_to_array(response.observation)
            self.wait_for(lambda: len(self.observations) > count
                          and np.array_equal(self.latest(), expected),
                          'the observation after reset')
        return response

    def step(self, msg: EndEffectorAction) -> np.ndarray:
        """Publish one action and return the one observation that answers it (lockstep)."""
        count = len(self.observations)
        self.actions.publish(msg)
        self.wait_for(lambda: len(self.observations) > count, 'the observation after an action')
        assert len(self.observations) == count + 1, 'one action gave more than one observation'
        return conversions.observation_to_array(self.observations[-1])

    def latest(self) -> np.ndarray:
        """Return the last observation received."""
        return conversions.observation_to_array(self.observations[-1])

    def close(self) -> None:
        """Destroy the node and shut the private context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def namespace(ros_domain) -> str:
    """Give the test a namespace of its own on its private ROS domain."""
    return f'sim_test_{uuid.uuid4().hex[:12]}'


@pytest.fixture
def probe(namespace) -> Iterator[Probe]:
    """Give the test a probe node in its namespace."""
    node = Probe(namespace)
    try:
        yield node
    finally:
        node.close()


def status_values(array: DiagnosticArray) -> dict:
    """Return the key/value pairs of the simulator's diagnostic status."""
    (status,) = array.status
    return {pair.key: pair.value for pair in status.values}


def run_lockstep_episode(probe: Probe) -> np.ndarray:
    """Reset to seed 3, then move +x for 8 steps and -z for 8; return the 16 observations."""
    assert probe.reset(seed=3).success
    return np.array([probe.step(relative_action(action))
                     for action in [PLUS_X] * 8 + [MINUS_Z] * 8])


def test_lockstep_one_observation_per_action_deterministic_across_runs(namespace):
    """Each action gives exactly one observation, the TCP follows it, two runs agree exactly."""
    episodes = []
    for _ in range(2):
        with sim_process(namespace, 'mode:=lockstep', 'seed:=1') as process:
            probe = Probe(namespace)
            try:
                probe.connect()
                episodes.append(run_lockstep_episode(probe))
                count = len(probe.observations)
                probe.spin_for(1.0)
                assert len(probe.observations) == count, 'lockstep published without an action'
                assert process.poll() is None, process.stderr.read().decode()
            finally:
                probe.close()
    first, second = episodes
    np.testing.assert_array_equal(first, second)
    tcp = first[:, layout.TCP_POS]
    assert tcp[7, 0] - tcp[0, 0] > 0.05, 'TCP did not move along +x'
    assert tcp[15, 2] - tcp[8, 2] < -0.05, 'TCP did not move along -z'
    assert abs(tcp[7, 1] - tcp[0, 1]) < 0.02 and abs(tcp[7, 2] - tcp[0, 2]) < 0.02


def test_sim_time_lockstep_one_period_per_step_on_clock_and_stamps(probe):
    """With use_sim_time, /clock and every observation stamp advance one period per step."""
    clocks = probe.subscribe(ClockMessage, qos.CLOCK_TOPIC, qos.CLOCK_QOS)
    with sim_process(probe.namespace, 'mode:=lockstep', 'use_sim_time:=true') as process:
        probe.connect()
        probe.wait_for(lambda: clocks, 'the latched /clock')
        episode_start = len(probe.observations)
        run_lockstep_episode(probe)
        stamps = [conversions.stamp_ns(msg.header.stamp)
                  for msg in probe.observations[episode_start:]]
        # A reset does not step: its observation carries the time of the last step.
        assert np.all(np.diff(stamps[1:]) == sim_node.SIM_STEP_NS), np.diff(stamps)
        probe.wait_for(lambda: conversions.stamp_ns(clocks[-1].clock) == stamps[-1],
                       'the last /clock')
        assert process.poll() is None


def test_sim_time_realtime_keeps_stepping(probe):
    """use_sim_time on the realtime simulator: its timer runs on the steady clock, not frozen."""
    with sim_process(probe.namespace, 'mode:=realtime', 'use_sim_time:=true') as process:
        probe.connect()
        probe.spin_for(1.0)
        stamps = [conversions.stamp_ns(msg.header.stamp) for msg in probe.observations]
        assert len(stamps) >= 10, 'the realtime simulator stopped on sim time'
        assert np.all(np.diff(stamps) == sim_node.SIM_STEP_NS)
        assert process.poll() is None


def test_reset_service_seeded_given_and_malformed_states(probe):
    """Seeded resets repeat, a given state comes back, malformed states leave the sim alone."""
    with sim_process(probe.namespace, 'mode:=lockstep') as process:
        probe.connect()
        first = probe.reset(seed=7)
        published = probe.latest()
        second = probe.reset(seed=7)
        assert first.success and second.success and first.message == ''
        np.testing.assert_array_equal(conversions.observation_to_array(first.observation),
                                      conversions.observation_to_array(second.observation))
        np.testing.assert_array_equal(published, probe.latest())
        other = conversions.observation_to_array(probe.reset(seed=8).observation)
        assert not np.allclose(other, published), 'different seeds gave the same scene'

        target = published.copy()
        target[layout.ROBOT_OBS_DIM + layout.SLIDER] = 0.2
        target[layout.ROBOT_OBS_DIM + layout.DRAWER] = 0.1
        given = probe.reset(state=target)
        assert given.success, given.message
        np.testing.assert_allclose(
            conversions.observation_to_array(given.observation), target, atol=1e-6)
        np.testing.assert_allclose(probe.latest(), target, atol=1e-6)

        nan_state = target.copy()
        nan_state[20] = float('nan')
        half_light = target.copy()
        half_light[layout.ROBOT_OBS_DIM + layout.LIGHTBULB] = 0.5
        # Physically impossible states: each names the dimension, its value and its range.
        switch_past_stop, block_under_floor, arm_past_limit, far_block = (
            target.copy() for _ in range(4))
        switch_past_stop[layout.OBS_NAMES.index('switch')] = 0.5
        block_under_floor[layout.OBS_NAMES.index('red_block_z')] = -5.0
        arm_past_limit[layout.OBS_NAMES.index('arm_joint_4')] = 1.0
        far_block[layout.OBS_NAMES.index('blue_block_x')] = 1e300
        for state, seed, reason in (
                (target[:38], 0, '39 values'), (nan_state, 0, 'non-finite'),
                (half_light, 0, 'lightbulb'), (None, -1, 'seed'),
                (switch_past_stop, 0, 'switch = 0.5 m outside -0.15..0.238 m'),
                (block_under_floor, 0, 'red_block_z = -5 m outside 0..2 m'),
                (arm_past_limit, 0, 'arm_joint_4 = 1 rad outside'),
                (far_block, 0, 'blue_block_x = 1e+300 m outside')):
            before = len(probe.observations)
            refused = probe.reset(seed=seed, state=state)
            assert not refused.success and reason in refused.message, refused.message
            assert len(probe.observations) == before, 'a refused reset published an observation'
            np.testing.assert_array_equal(
                conversions.observation_to_array(refused.observation), probe.latest())
        # ResetSim.state is bounded (float64[<=39]): a longer request never leaves the client.
        before = len(probe.observations)
        with pytest.raises(RuntimeError, match='failed to send request'):  # rclpy's RCLError
            probe.reset(state=np.zeros(layout.OBS_DIM + 1))
        assert len(probe.observations) == before
        after = probe.step(relative_action(np.zeros(6).tolist() + [OPEN]))
        np.testing.assert_allclose(after[layout.ROBOT_OBS_DIM:layout.ROBOT_OBS_DIM + 4],
                                   target[layout.ROBOT_OBS_DIM:layout.ROBOT_OBS_DIM + 4],
                                   atol=1e-3)
        assert process.poll() is None, process.stderr.read().decode()


def test_absolute_actions_outside_the_workspace_are_rejected_the_state_unchanged(probe):
    """(10, 10, 10) and 1e300 are refused naming the coordinate and box; one inside moves."""
    with sim_process(probe.namespace, 'mode:=lockstep', 'diagnostics_hz:=5.0') as process:
        probe.connect()
        assert probe.reset(seed=2).success
        before = probe.latest()
        down = before[layout.TCP_ORN].tolist()
        for position in ((10.0, 10.0, 10.0), (0.0, -0.1, 1e300)):
            np.testing.assert_array_equal(probe.step(absolute_action([*position, *down, OPEN])),
                                          before)

        def reports_both() -> bool:
            return bool(probe.diagnostics) and \
                status_values(probe.diagnostics[-1])['rejected actions'] == '2'

        probe.wait_for(reports_both, 'diagnostics counting the rejections')
        last = status_values(probe.diagnostics[-1])['last rejection']
        assert 'z = 1e+300 m lies outside the TCP workspace (x -0.5..0.5' in last, last
        inside = before[layout.TCP_POS] + (0.05, 0.0, 0.0)
        moved = probe.step(absolute_action([*inside, *down, OPEN]))
        assert moved[0] - before[0] > 0.005, 'a valid absolute action did not move the TCP'
        assert process.poll() is None, process.stderr.read().decode()


def test_bad_actions_are_rejected_the_robot_holds_and_diagnostics_count_them(probe):
    """NaN, out-of-range, a bad gripper or type: not applied, answered, counted; then go on."""
    with sim_process(probe.namespace, 'mode:=lockstep', 'diagnostics_hz:=5.0') as process:
        probe.connect()
        assert probe.reset(seed=2).success
        before = probe.latest()
        unknown_type = relative_action(PLUS_X)
        unknown_type.type = 7
        bad = [relative_action((float('nan'), 0, 0, 0, 0, 0, OPEN)),
               relative_action((1.5, 0, 0, 0, 0, 0, OPEN)),
               relative_action((1.0, 0, 0, 0, 0, 0, 0.3)),
               unknown_type]
        for msg in bad:
            held = probe.step(msg)
            np.testing.assert_array_equal(held, before)
        assert process.poll() is None, process.stderr.read().decode()
        moved = probe.step(relative_action(PLUS_X))
        assert moved[0] - before[0] > 0.005, 'a valid action after the bad ones did not move'

        def reports_rejections() -> bool:
            return bool(probe.diagnostics) and \
                status_values(probe.diagnostics[-1])['rejected actions'] == str(len(bad))

        probe.diagnostics.clear()
        probe.wait_for(reports_rejections, 'diagnostics counting the rejections')
        values = status_values(probe.diagnostics[-1])
        assert values['mode'] == 'lockstep' and values['held steps'] == str(len(bad))
        assert 'type' in values['last rejection']
        assert int(values['steps']) == 1


def test_realtime_rate_hold_and_visualization_topics(probe):
    """At about 30 Hz the robot holds without actions; joint states, pose and markers agree."""
    joint_states = probe.subscribe(
        JointState, qos.JOINT_STATES_TOPIC, qos.VISUALIZATION_QOS)
    poses = probe.subscribe(PoseStamped, qos.TCP_POSE_TOPIC, qos.VISUALIZATION_QOS)
    marker_arrays = probe.subscribe(MarkerArray, qos.MARKERS_TOPIC, qos.MARKERS_QOS)
    goal_pub = probe.node.create_publisher(GoalState, qos.GOAL_TOPIC, qos.GOAL_QOS)
    with sim_process(probe.namespace, 'mode:=realtime', 'diagnostics_hz:=4.0',
                     'seed:=4') as process:
        probe.connect()
        probe.wait_for(lambda: joint_states and poses and marker_arrays, 'visualization topics')
        probe.observations.clear()
        start = time.monotonic()
        probe.spin_for(3.0)
        elapsed = time.monotonic() - start
        assert len(probe.observations) > 10 * elapsed, (
            f'{len(probe.observations)} observations in {elapsed:.1f} s')
        tcp = np.array([conversions.observation_to_array(msg)[layout.TCP_POS]
                        for msg in probe.observations])
        assert np.max(np.linalg.norm(tcp - tcp[0], axis=1)) < 1e-3, 'robot moved without actions'
        holding = status_values(probe.diagnostics[-1])
        assert holding['holding'] == 'True' and int(holding['held steps']) > 0
        assert probe.diagnostics[-1].status[0].level == DiagnosticStatus.WARN

        by_stamp = {(msg.header.stamp.sec, msg.header.stamp.nanosec):
                    conversions.observation_to_array(msg) for msg in probe.observations}
        joint_msg = next(msg for msg in reversed(joint_states)
                         if (msg.header.stamp.sec, msg.header.stamp.nanosec) in by_stamp)
        observation = by_stamp[(joint_msg.header.stamp.sec, joint_msg.header.stamp.nanosec)]
        assert list(joint_msg.name) == list(sim_node.JOINT_NAMES) and len(joint_msg.position) == 13
        np.testing.assert_allclose(joint_msg.position[:7], observation[layout.ARM_JOINTS])
        pose = poses[-1]
        assert pose.header.frame_id == 'world'
        orientation = pose.pose.orientation
        np.testing.assert_allclose(
            quat2euler((orientation.w, orientation.x, orientation.y, orientation.z), 'sxyz'),
            observation[layout.TCP_ORN], atol=1e-3)
        scene = marker_arrays[-1].markers
        assert all(marker.header.frame_id == 'world' for marker in scene)
        assert {marker.action for marker in scene if marker.ns.startswith('goal/')} == \
            {Marker.DELETE}

        goal = observation.copy()
        goal[layout.ROBOT_OBS_DIM + layout.DRAWER] = 0.2
        goal_pub.publish(conversions.array_to_goal_state(goal, probe.node.get_clock().now()
                                                         .to_msg(), task='open_drawer'))
        probe.wait_for(lambda: any(marker.ns == 'goal/drawer' and marker.action == Marker.ADD
                                   for marker in marker_arrays[-1].markers), 'goal markers')
        ghosts = [marker for marker in marker_arrays[-1].markers if marker.ns.startswith('goal/')]
        assert ghosts and all(marker.color.a < 1.0 for marker in ghosts)
        assert process.poll() is None, process.stderr.read().decode()


def test_in_process_wrong_length_actions_are_rejected(namespace):
    """
    Actions whose arrays have the wrong length are rejected and answered, never applied.

    Fixed-size arrays cannot carry a wrong length over DDS (the type support cuts or pads
    them), so these messages are handed to the node's action subscription callback directly.
    """
    context = rclpy.Context()
    rclpy.init(context=context)
    node = sim_node.SimNode(context=context, namespace=namespace, parameter_overrides=[
        Parameter('mode', value='lockstep'), Parameter('seed', value=5),
        Parameter('publish_markers', value=False)])
    listener = rclpy.create_node('listener', namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(listener)
    received = []
    listener.create_subscription(
        Observation, qos.OBSERVATION_TOPIC, received.append, qos.CONTROL_QOS)
    try:
        assert node.get_namespace() == f'/{namespace}' and node.get_name() == 'sim_node'
        assert node.params == sim_node.SimNodeParams(
            mode='lockstep', seed=5, publish_markers=False)
        action_sub = next(sub for sub in node.subscriptions
                          if sub.topic_name == f'/{namespace}/{qos.ACTION_TOPIC}')
        short_position = relative_action(PLUS_X)
        short_position.position = np.array([0.1, 0.2])
        long_orientation = relative_action(PLUS_X)
        long_orientation.orientation = np.zeros(4)
        deadline = time.monotonic() + TIMEOUT_S
        while not received:
            assert time.monotonic() < deadline, 'the listener never matched the node'
            action_sub.callback(short_position)
            executor.spin_once(timeout_sec=0.1)
        action_sub.callback(long_orientation)
        statistics = node.statistics
        assert statistics.steps == 0 and statistics.rejected_actions >= 2
        assert 'orientation must have 3 values, got 4' in statistics.last_rejection
        action_sub.callback(relative_action(PLUS_X))
        assert node.statistics.steps == 1
    finally:
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_robot_description_is_latched_and_tf_carries_every_link(probe):
    """A late subscriber gets the URDF and the fixed links; /tf has the moving ones, prefixed."""
    pytest.importorskip('tf2_msgs')
    from tf2_msgs.msg import TFMessage

    frames = probe.subscribe(TFMessage, qos.TF_TOPIC, qos.VISUALIZATION_QOS)
    with sim_process(probe.namespace, 'mode:=realtime', 'frame_prefix:=table_b/') as process:
        probe.connect()
        probe.spin_for(0.5)
        descriptions = probe.subscribe(String, qos.ROBOT_DESCRIPTION_TOPIC,
                                       qos.ROBOT_DESCRIPTION_QOS)
        fixed = probe.subscribe(TFMessage, qos.TF_STATIC_TOPIC, qos.TF_STATIC_QOS)
        probe.wait_for(lambda: descriptions and frames and fixed,
                       'the robot description, /tf and /tf_static')
        links = link_names(descriptions[-1].data)
        static = set(static_links(descriptions[-1].data))
        children = {transform.child_frame_id for transform in frames[-1].transforms}
        static_children = {transform.child_frame_id for transform in fixed[-1].transforms}
        # The root link is the world frame itself; every other link is a frame of its own,
        # on /tf_static when it can never move, on /tf otherwise.
        assert links[0] == 'world'
        assert static_children == {f'table_b/{link}' for link in static}
        assert {f'table_b/{link}' for link in links[1:] if link not in static} <= children
        assert not children & static_children
        assert {'table_b/tcp', *(f'table_b/{name}' for name in layout.BLOCK_NAMES)} <= children
        assert {transform.header.frame_id for transform in frames[-1].transforms} == {'world'}
        assert process.poll() is None


def test_without_links_tf_carries_the_tcp_and_blocks_only(probe):
    """publish_links:=false leaves the URDF's links to robot_state_publisher."""
    pytest.importorskip('tf2_msgs')
    from tf2_msgs.msg import TFMessage

    frames = probe.subscribe(TFMessage, qos.TF_TOPIC, qos.VISUALIZATION_QOS)
    with sim_process(probe.namespace, 'mode:=realtime', 'publish_links:=false') as process:
        probe.connect()
        probe.wait_for(lambda: frames, '/tf')
        children = {transform.child_frame_id for transform in frames[-1].transforms}
        assert children == {'tcp', *layout.BLOCK_NAMES}
        assert not probe.node.count_publishers(qos.TF_STATIC_TOPIC)
        assert process.poll() is None


@pytest.mark.parametrize('overrides, named', [
    ({'mode': 'fast'}, 'mode'),                      # not a mode
    ({'control_hz': float('nan')}, 'control_hz'),    # NaN rate
    ({'control_hz': 0.0}, 'control_hz'),             # zero rate
    ({'seed': -1}, 'seed'),                          # numpy seeds are non-negative
    ({'backend': 'bullet'}, 'backend'),              # unknown backend
    ({'frame_id': ''}, 'frame_id'),                  # no frame
    ({'frame_prefix': '/table_b/'}, 'frame_prefix'),  # tf2 frames have no leading /
    ({'marker_every': 0}, 'marker_every'),           # would never draw
    ({'action_timeout_periods': -1.0}, 'action_timeout_periods'),  # negative timeout
    ({'diagnostics_hz': float('inf')}, 'diagnostics_hz'),          # infinite rate
])
def test_bad_parameters_raise_value_error_naming_them(ros_domain, overrides, named):
    """Every bad value is refused with a ValueError that names its parameter."""
    with pytest.raises(ValueError, match=named):
        sim_node.SimNodeParams(**overrides)


def test_start_up_error_exits_1_with_a_message(ros_domain):
    """A bad parameter stops the executable with exit code 1 and a clear message."""
    result = subprocess.run(
        [sys.executable, '-m', 'play_lmp_ros.sim_node', '--ros-args', '-p', 'backend:=bullet'],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'sim_node: cannot start: parameter backend must be one of' in result.stderr


def test_config_file_lists_every_parameter_with_its_default(ros_domain):
    """config/sim_node.yaml holds every parameter, each at its default."""
    values = node_config('sim_node')
    assert sim_node.SimNodeParams(**values) == sim_node.SimNodeParams()
    assert set(values) == set(sim_node.SimNodeParams.__dataclass_fields__)


def test_joint_names_match_the_urdfs_and_messages_match_the_observation(ros_domain):
    """/joint_states names exist in the Panda and table URDFs; the TCP pose round-trips."""
    panda = sim_panda.urdf_tree()
    table = ElementTree.parse(geo.TABLE_URDF).getroot()
    movable = {joint.get('name') for root in (panda, table) for joint in root.findall('joint')
               if joint.get('type') != 'fixed'}
    assert set(sim_node.JOINT_NAMES) == movable
    observation = np.linspace(-0.5, 0.5, layout.OBS_DIM)
    stamp = Time(sec=3)
    joints = sim_node.joint_state(observation, stamp)
    assert joints.position[7] == joints.position[8] == observation[layout.GRIPPER_WIDTH] / 2
    np.testing.assert_allclose(
        joints.position[9:], observation[layout.ROBOT_OBS_DIM:layout.ROBOT_OBS_DIM + 4])
    pose = sim_node.tcp_pose(observation, stamp, 'map')
    orientation = pose.pose.orientation
    assert pose.header.frame_id == 'map' and pose.header.stamp.sec == 3
    np.testing.assert_allclose(
        quat2euler((orientation.w, orientation.x, orientation.y, orientation.z), 'sxyz'),
        observation[layout.TCP_ORN], atol=1e-9)
    frames = sim_node.transforms(observation, stamp, 'map')
    assert [frame.child_frame_id for frame in frames] == ['tcp', *layout.BLOCK_NAMES]
    prefixed = sim_node.transforms(observation, stamp, 'map', 'table_b/')
    assert [frame.child_frame_id for frame in prefixed] == [
        'table_b/tcp', *(f'table_b/{name}' for name in layout.BLOCK_NAMES)]
    pink = observation[layout.ROBOT_OBS_DIM:][layout.block_slice(2)]
    assert frames[3].transform.translation.x == pink[0]
