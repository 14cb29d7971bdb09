"""Recording: ROS 2 message definitions, MCAP written from live raw subscriptions, video."""

import time

from geometry_msgs.msg import PoseStamped
import imageio.v2 as imageio
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.recording import (caption_image, is_hidden, McapRecorder, message_definition,
                                    qos_for_publishers, render_observations, split_type_name,
                                    TopicRecorder)
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker, MarkerArray


def read_back(path) -> dict:
    """
    Decode every message of an MCAP file.

    :param path: the file.
    :return: topic -> list of (schema name, decoded message).
    """
    messages = {}
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, channel, _, decoded in reader.iter_decoded_messages():
            messages.setdefault(channel.topic, []).append((schema.name, decoded))
    return messages


@pytest.mark.parametrize('type_name, sections', [
    ('play_lmp_interfaces/msg/Observation', ['std_msgs/Header', 'builtin_interfaces/Time']),
    ('play_lmp_interfaces/msg/EndEffectorAction', ['std_msgs/Header']),
    # Unqualified nested types (Marker[] in MarkerArray) resolve to the same package.
    ('visualization_msgs/msg/MarkerArray', ['visualization_msgs/Marker', 'geometry_msgs/Pose',
                                            'std_msgs/ColorRGBA', 'builtin_interfaces/Duration']),
    ('sensor_msgs/msg/JointState', ['std_msgs/Header']),
])
def test_message_definition_lists_every_nested_type_once(type_name, sections):
    """The definition starts with the type's own fields and adds each nested type once."""
    definition = message_definition(type_name)
    headers = [line[len('MSG: '):] for line in definition.splitlines() if line.startswith('MSG: ')]
    assert len(headers) == len(set(headers))
    assert set(sections) <= set(headers)
    assert not definition.startswith('MSG: ')


def test_type_name_errors_are_named():
    """Service types and unknown messages are refused with the name in the message."""
    assert split_type_name('std_msgs/msg/Header') == ('std_msgs', 'Header')
    with pytest.raises(ValueError, match='ResetSim'):
        split_type_name('play_lmp_interfaces/srv/ResetSim')
    with pytest.raises(LookupError, match='NoSuchType'):
        message_definition('std_msgs/msg/NoSuchType')


@pytest.mark.parametrize('offered, reliability, durability', [
    # Only latched, reliable publishers: the recorder gets the last sample on joining.
    ([(ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL)],
     ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL),
    # One volatile publisher: a transient-local request would not match it.
    ([(ReliabilityPolicy.RELIABLE, DurabilityPolicy.TRANSIENT_LOCAL),
      (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)],
     ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE),
    # One best-effort publisher: a reliable request would not match it.
    ([(ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE),
      (ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)],
     ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE),
])
def test_subscription_qos_matches_every_publisher(offered, reliability, durability):
    """The recorder's QoS is the strongest that every publisher still offers."""
    profiles = [QoSProfile(depth=1, reliability=r, durability=d) for r, d in offered]
    chosen = qos_for_publishers(profiles)
    assert (chosen.reliability, chosen.durability) == (reliability, durability)


def test_hidden_topics():
    """Action internals are hidden; ordinary topics are not."""
    assert is_hidden('/play_lmp/reach_goal/_action/feedback')
    assert not is_hidden('/play_lmp/observation')


def test_recorder_writes_serialized_messages_that_decode(tmp_path):
    """Bytes from rclpy's serializer, written with our definitions, decode to the same values."""
    obs = np.linspace(-1.0, 1.0, layout.OBS_DIM)
    stamp = PoseStamped().header.stamp
    action = np.array([0.5, -0.5, 0.0, 0.1, 0.0, -0.1, -1.0])
    path = tmp_path / 'unit.mcap'
    with McapRecorder(path, metadata={'seed': 3}) as recorder:
        recorder.add_topic('/play_lmp/observation', 'play_lmp_interfaces/msg/Observation')
        recorder.add_topic('/play_lmp/action', 'play_lmp_interfaces/msg/EndEffectorAction')
        for _ in range(3):
            recorder.write('/play_lmp/observation',
                           serialize_message(conversions.array_to_observation(obs, stamp)))
        recorder.write('/play_lmp/action', serialize_message(
            conversions.array_to_action(action, 'relative', stamp)))
        with pytest.raises(ValueError, match='Observation'):
            recorder.add_topic('/play_lmp/observation', 'sensor_msgs/msg/JointState')
        assert recorder.counts() == {'/play_lmp/observation': 3, '/play_lmp/action': 1}

    messages = read_back(path)
    assert len(messages['/play_lmp/observation']) == 3
    schema, decoded = messages['/play_lmp/observation'][0]
    assert schema == 'play_lmp_interfaces/msg/Observation'
    np.testing.assert_array_equal(list(decoded.robot_obs) + list(decoded.scene_obs), obs)
    _, decoded_action = messages['/play_lmp/action'][0]
    assert decoded_action.type == EndEffectorAction.RELATIVE
    np.testing.assert_array_equal(
        list(decoded_action.position) + list(decoded_action.orientation)
        + [decoded_action.gripper], action)


def test_topic_recorder_records_a_live_graph(ros_domain, tmp_path):
    """Raw subscriptions found by discovery record every topic, latched goal included."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    talker = Node('talker', namespace=qos.NAMESPACE, context=context)
    listener = Node('recorder', namespace=qos.NAMESPACE, context=context)
    path = tmp_path / 'live.mcap'
    recorder = McapRecorder(path)
    topic_recorder = None
    try:
        goal_pub = talker.create_publisher(GoalState, qos.GOAL_TOPIC, qos.GOAL_QOS)
        obs_pub = talker.create_publisher(Observation, qos.OBSERVATION_TOPIC, qos.CONTROL_QOS)
        markers_pub = talker.create_publisher(MarkerArray, qos.MARKERS_TOPIC, qos.MARKERS_QOS)
        joints_pub = talker.create_publisher(JointState, qos.JOINT_STATES_TOPIC,
                                             qos.VISUALIZATION_QOS)
        goal = np.full(layout.OBS_DIM, 0.25)
        stamp = talker.get_clock().now().to_msg()
        # Published before the recorder exists: only transient-local delivery can record it.
        goal_pub.publish(conversions.array_to_goal_state(goal, stamp, task='open_drawer'))
        executor.add_node(talker)
        executor.add_node(listener)

        topic_recorder = TopicRecorder(listener, recorder, discovery_period_s=0.1)
        wanted = ['/play_lmp/goal', '/play_lmp/observation', '/play_lmp/markers',
                  '/play_lmp/joint_states']
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and (
                not set(wanted) <= set(topic_recorder.topics)
                or topic_recorder.wait_for_topics(wanted, 0.0)):
            executor.spin_once(timeout_sec=0.1)
        assert topic_recorder.wait_for_topics(wanted, 0.0) == []

        marker = Marker(ns='table', id=1, type=Marker.CUBE)
        marker.scale.x = 0.5
        joints = JointState(name=['panda_joint1'], position=[0.3])
        for index in range(5):
            obs = np.full(layout.OBS_DIM, float(index))
            obs_pub.publish(conversions.array_to_observation(obs, stamp))
        markers_pub.publish(MarkerArray(markers=[marker]))
        joints_pub.publish(joints)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            counts = recorder.counts()
            if all(counts.get(topic, 0) >= need for topic, need in zip(wanted, (1, 5, 1, 1))):
                break
            executor.spin_once(timeout_sec=0.1)
    finally:
        if topic_recorder is not None:
            topic_recorder.close()
        recorder.close()
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown(context=context)

    messages = read_back(path)
    assert set(wanted) <= set(messages)
    assert '/parameter_events' not in messages
    observed = [decoded.robot_obs[0] for _, decoded in messages['/play_lmp/observation']]
    assert observed == [0.0, 1.0, 2.0, 3.0, 4.0]
    (schema, goal_msg), = messages['/play_lmp/goal']
    assert schema == 'play_lmp_interfaces/msg/GoalState'
    assert goal_msg.task == 'open_drawer' and list(goal_msg.state) == [0.25] * layout.OBS_DIM
    (_, markers_msg), = messages['/play_lmp/markers']
    assert markers_msg.markers[0].ns == 'table' and markers_msg.markers[0].scale.x == 0.5
    (_, joints_msg), = messages['/play_lmp/joint_states']
    assert list(joints_msg.name) == ['panda_joint1']


def test_video_of_observations(tmp_path):
    """Each observation becomes one frame of the static camera."""
    with PlayTableSim(seed=0) as sim:
        observations = [sim.reset_random(seed) for seed in range(3)]
    path, frames = render_observations(observations, tmp_path / 'clip.mp4', fps=10.0, size=64)
    assert frames == 3
    assert path.exists() and path.stat().st_size > 0
    with imageio.get_reader(path, format='ffmpeg') as reader:
        assert reader.count_frames() == 3
    with pytest.raises(ValueError, match='observation'):
        render_observations([np.zeros(5)], tmp_path / 'bad.mp4', fps=10.0, size=16)
    with pytest.raises(ValueError, match='2 captions for 3 observations'):
        render_observations(observations, tmp_path / 'bad.mp4', fps=10.0, captions=['a', 'b'])


def test_a_caption_is_written_on_a_dark_band_at_the_top():
    """The caption band covers the top rows only; an over-long caption still fits."""
    image = np.full((64, 120, 3), 200, dtype=np.uint8)
    captioned = caption_image(image, '[1/2] open_drawer: succeeded ' * 4)
    assert captioned.shape == image.shape and captioned.dtype == np.uint8
    band = captioned[:10]
    assert np.any(band == 0) and np.any(band > 200)    # dark band, light text
    np.testing.assert_array_equal(captioned[30:], image[30:])
    assert caption_image(image, '') is image
