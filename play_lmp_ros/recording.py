"""
Record a run: ROS 2 topics to MCAP, the static camera to a video.

MCAP files hold the raw CDR bytes exactly as they arrived over DDS (nothing is re-serialized), each
channel carrying its full ROS 2 message definition (schema encoding ``ros2msg``), the way rosbag2
writes them; Foxglove, ``ros2 bag`` on a full ROS install and ``mcap_ros2.reader`` all decode them.
Message definitions come from the ``.msg`` files that every ROS 2 message package installs under
``share/<package>/msg``, found through the ament index or next to the package's Python module
(the PyPI wheels install them into the environment prefix, outside the ament index).

Videos are rendered after the run from the recorded observations by a private PlayTableSim reset
to each state (resets are exact), so they show what the static camera saw, work against nodes in
other processes, and never slow the control loop down.
"""

import functools
import importlib
from pathlib import Path
import re
import threading
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
import imageio.v2 as imageio
from mcap.writer import CompressionType, Writer
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from rosgraph_msgs.msg import Clock

DEFINITION_SEPARATOR = '=' * 80
PRIMITIVE_TYPES = frozenset((
    'bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32',
    'uint32', 'int64', 'uint64', 'string', 'wstring'))
# Topics every ROS 2 graph carries that say nothing about a rollout.
DEFAULT_EXCLUDED_TOPICS = ('/parameter_events',)


def split_type_name(type_name: str) -> Tuple[str, str]:
    """
    Split a ROS 2 message type name into package and message name.

    :param type_name: 'pkg/msg/Name' (ROS 2 form) or 'pkg/Name' (as written in .msg files).
    :return: (package, name).
    :raises ValueError: for anything else, e.g. a service or action type.
    """
    parts = type_name.split('/')
    if (len(parts) == 3 and parts[1] == 'msg') or len(parts) == 2:
        return parts[0], parts[-1]
    raise ValueError(f"not a message type name: {type_name!r} (expected 'package/msg/Name')")


@functools.lru_cache(maxsize=None)
def msg_file_text(type_name: str) -> str:
    """
    Return the text of a message type's installed .msg file.

    :param type_name: 'pkg/msg/Name' or 'pkg/Name'.
    :return: the file's text.
    :raises LookupError: when no .msg file can be found for the type.
    """
    package, name = split_type_name(type_name)
    candidates: List[Path] = []
    try:
        candidates.append(Path(get_package_share_directory(package)) / 'msg' / f'{name}.msg')
    except PackageNotFoundError:
        pass
    try:
        module_file = importlib.import_module(package).__file__
    except ImportError:
        module_file = None
    if module_file is not None:
        # <prefix>/lib/pythonX.Y/site-packages/<package>/__init__.py -> <prefix>/share/...
        candidates.extend(parent / 'share' / package / 'msg' / f'{name}.msg'
                          for parent in Path(module_file).parents)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text()
    raise LookupError(f'no message definition for {type_name}: share/{package}/msg/{name}.msg '
                      'is neither in the ament index nor next to the Python package')


def _field_types(package: str, text: str) -> List[str]:
    """
    List the non-primitive field types of a .msg text, as 'pkg/Name'.

    :param package: the package the text belongs to (for unqualified types).
    :param text: .msg text.
    :return: type names in order of first use, without duplicates.
    """
    found: List[str] = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        field_type = line.split()[0]
        base = re.sub(r'\[.*\]$', '', field_type)
        base = re.sub(r'<=\d+$', '', base)
        if base in PRIMITIVE_TYPES:
            continue
        qualified = base if '/' in base else f'{package}/{base}'
        if qualified not in found:
            found.append(qualified)
    return found


@functools.lru_cache(maxsize=None)
def message_definition(type_name: str) -> str:
    """
    Return the full ROS 2 message definition of a type, as rosbag2 stores it in MCAP.

    The type's own .msg text comes first, then every type it uses, depth first, each after a line
    of 80 '=' and a 'MSG: pkg/Name' line.

    :param type_name: 'pkg/msg/Name', e.g. 'play_lmp_interfaces/msg/Observation'.
    :return: the concatenated definition.
    :raises LookupError: when a .msg file (the type's or a nested type's) cannot be found.
    :raises ValueError: for a name that is not a message type.
    """
    package, name = split_type_name(type_name)
    root = msg_file_text(type_name)
    sections: List[str] = [root.rstrip('\n')]
    seen = {f'{package}/{name}'}
    pending = _field_types(package, root)
    while pending:
        nested = pending.pop(0)
        if nested in seen:
            continue
        seen.add(nested)
        text = msg_file_text(nested)
        sections.append(f'{DEFINITION_SEPARATOR}\nMSG: {nested}\n{text.rstrip()}')
        nested_package = nested.split('/')[0]
        pending = _field_types(nested_package, text) + pending
    return '\n'.join(sections) + '\n'


class McapRecorder:
    """
    Write serialized ROS 2 messages to an MCAP file (profile ros2, CDR, zstd chunks).

    Thread-safe: subscriptions served by a multi-threaded executor may write concurrently.
    """

    def __init__(self, path: Path, metadata: Optional[Dict[str, str]] = None):
        """
        Create the file and start the MCAP stream.

        :param path: the .mcap file; its folder must exist; an existing file is replaced.
        :param metadata: key/value strings stored as an MCAP metadata record named 'rollout'.
        """
        self.path = Path(path)
        self._stream = open(self.path, 'wb')
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile='ros2', library='play_lmp_ros')
        if metadata:
            self._writer.add_metadata('rollout', {str(k): str(v) for k, v in metadata.items()})
        self._schemas: Dict[str, int] = {}
        self._channels: Dict[str, int] = {}
        self._channel_types: Dict[str, str] = {}
        self._sequence: Dict[str, int] = {}
        self._counts: Dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False

    def add_topic(self, topic: str, type_name: str) -> None:
        """
        Register a topic and its type, before its first message.

        :param topic: fully qualified topic name.
        :param type_name: 'pkg/msg/Name'.
        :raises LookupError: when the type's definition cannot be found.
        :raises ValueError: when the topic is already registered with another type.
        """
        definition = message_definition(type_name)
        with self._lock:
            if topic in self._channels:
                registered = self._channel_types[topic]
                if registered != type_name:
                    raise ValueError(f'topic {topic} is recorded as {registered}, not {type_name}')
                return
            if type_name not in self._schemas:
                self._schemas[type_name] = self._writer.register_schema(
                    name=type_name, encoding='ros2msg', data=definition.encode())
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding='cdr', schema_id=self._schemas[type_name])
            self._channel_types[topic] = type_name
            self._sequence[topic] = 0
            self._counts[topic] = 0

    def write(self, topic: str, data: bytes, log_time_ns: Optional[int] = None) -> None:
        """
        Append one serialized message; ignored once the recorder is closed.

        :param topic: a registered topic.
        :param data: the CDR bytes, as received with a raw subscription.
        :param log_time_ns: receive time (ns since the epoch); now when omitted.
        :raises KeyError: for a topic that was never registered.
        """
        stamp = time.time_ns() if log_time_ns is None else int(log_time_ns)
        with self._lock:
            if self._closed:
                return
            channel = self._channels[topic]
            self._writer.add_message(channel_id=channel, log_time=stamp, publish_time=stamp,
                                     data=bytes(data), sequence=self._sequence[topic])
            self._sequence[topic] += 1
            self._counts[topic] += 1

    def counts(self) -> Dict[str, int]:
        """
        Return how many messages each topic got so far.

        :return: topic -> message count.
        """
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        """Finish the MCAP stream (summary, index) and close the file; safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._writer.finish()
            self._stream.close()

    def __enter__(self) -> 'McapRecorder':
        """Use as a context manager."""
        return self

    def __exit__(self, *exc_info) -> None:
        """Close on leaving the context."""
        self.close()


def qos_for_publishers(publisher_qos: Sequence[QoSProfile], depth: int = 100) -> QoSProfile:
    """
    Choose a subscription QoS that matches every publisher and gets latched samples.

    As rosbag2 does: transient-local only when every publisher offers it (so late joiners get
    the last goal and markers), reliable only when every publisher offers it (a reliable
    subscription never matches a best-effort publisher).

    :param publisher_qos: the QoS of each publisher on the topic.
    :param depth: queue depth; deep, so that bursts in lockstep mode are not dropped.
    :return: the profile.
    """
    reliable = bool(publisher_qos) and all(
        qos.reliability == ReliabilityPolicy.RELIABLE for qos in publisher_qos)
    latched = bool(publisher_qos) and all(
        qos.durability == DurabilityPolicy.TRANSIENT_LOCAL for qos in publisher_qos)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=(DurabilityPolicy.TRANSIENT_LOCAL if latched
                    else DurabilityPolicy.VOLATILE))


def is_hidden(topic: str) -> bool:
    """
    Whether a topic is hidden in ROS 2 (a name token starts with '_', e.g. action internals).

    :param topic: fully qualified topic name.
    :return: True for hidden topics.
    """
    return any(token.startswith('_') for token in topic.split('/') if token)


class TopicRecorder:
    """
    Record topics of a ROS graph into an McapRecorder, through raw subscriptions on a node.

    Topics are discovered from the graph on a timer, so publishers that appear later are picked
    up; each topic is subscribed once it has a publisher, with a QoS that matches its publishers.
    Topics whose message definition is not installed are skipped with one warning.

    Messages are logged at the latest simulated time on /clock once one arrived (the wall time
    before), as ``ros2 bag record --use-sim-time`` does: a lockstep run, which simulates several
    times faster than real time, then replays at real speed in Foxglove.
    """

    def __init__(self, node: Node, recorder: McapRecorder,
                 topics: Optional[Iterable[str]] = None,
                 exclude: Iterable[str] = DEFAULT_EXCLUDED_TOPICS,
                 discovery_period_s: float = 0.5):
        """
        Start recording.

        :param node: the node that owns the subscriptions; it must be spun by an executor.
        :param recorder: the file to write into.
        :param topics: fully qualified topics to record; None records every visible topic.
        :param exclude: fully qualified topics never recorded.
        :param discovery_period_s: how often the graph is searched for new topics.
        """
        self._node = node
        self._recorder = recorder
        self._wanted = None if topics is None else set(topics)
        self._exclude = set(exclude)
        self._subscriptions: Dict[str, Subscription] = {}
        self._skipped: Dict[str, str] = {}
        self._lock = threading.Lock()
        self._sim_time_ns: Optional[int] = None
        self._clock_sub = node.create_subscription(Clock, qos.CLOCK_TOPIC, self._on_clock,
                                                   qos.CLOCK_QOS)
        self.discover()
        self._timer = node.create_timer(discovery_period_s, self.discover)

    def _on_clock(self, msg: Clock) -> None:
        self._sim_time_ns = conversions.stamp_ns(msg.clock)

    @property
    def topics(self) -> List[str]:
        """Topics subscribed so far, sorted."""
        with self._lock:
            return sorted(self._subscriptions)

    def discover(self) -> None:
        """Subscribe to every wanted topic that has appeared in the graph since the last call."""
        for topic, types in self._node.get_topic_names_and_types():
            with self._lock:
                known = topic in self._subscriptions or topic in self._skipped
            if known or topic in self._exclude or is_hidden(topic):
                continue
            if self._wanted is not None and topic not in self._wanted:
                continue
            publishers = self._node.get_publishers_info_by_topic(topic)
            if not publishers:
                continue
            self._subscribe(topic, types, [info.qos_profile for info in publishers])

    def _subscribe(self, topic: str, types: List[str], publisher_qos: List[QoSProfile]) -> None:
        if len(types) != 1:
            self._skip(topic, f'it carries several types: {", ".join(types)}')
            return
        try:
            self._recorder.add_topic(topic, types[0])
            message_class = _message_class(types[0])
        except (LookupError, ValueError, ImportError, AttributeError) as error:
            self._skip(topic, str(error))
            return

        def on_message(data: bytes, topic: str = topic) -> None:
            self._recorder.write(topic, data, self._sim_time_ns)

        subscription = self._node.create_subscription(
            message_class, topic, on_message, qos_for_publishers(publisher_qos), raw=True)
        with self._lock:
            self._subscriptions[topic] = subscription

    def _skip(self, topic: str, reason: str) -> None:
        with self._lock:
            self._skipped[topic] = reason
        self._node.get_logger().warning(f'not recording {topic}: {reason}')

    def wait_for_topics(self, topics: Iterable[str], timeout_s: float) -> List[str]:
        """
        Wait until the given topics are subscribed and matched to at least one publisher.

        :param topics: fully qualified topic names.
        :param timeout_s: how long to wait.
        :return: the topics still not recorded when the time ran out (empty on success).
        """
        deadline = time.monotonic() + timeout_s
        missing = list(topics)
        while True:
            with self._lock:
                missing = [topic for topic in missing
                           if topic not in self._subscriptions
                           or self._subscriptions[topic].get_publisher_count() == 0]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.05)

    def close(self) -> None:
        """Stop discovery and drop the subscriptions (the recorder stays open)."""
        self._node.destroy_timer(self._timer)
        self._node.destroy_subscription(self._clock_sub)
        with self._lock:
            subscriptions, self._subscriptions = self._subscriptions, {}
        for subscription in subscriptions.values():
            self._node.destroy_subscription(subscription)


def _message_class(type_name: str) -> type:
    """
    Import the Python class of a message type.

    :param type_name: 'pkg/msg/Name'.
    :return: the class.
    :raises ImportError: when the package's Python module is not installed.
    """
    package, name = split_type_name(type_name)
    return getattr(importlib.import_module(f'{package}.msg'), name)


class VideoWriter:
    """
    Write RGB frames to an MP4 (H.264 through imageio-ffmpeg) or, without ffmpeg, a GIF.

    The path's suffix is replaced by the format actually written; see `path`.
    """

    def __init__(self, path: Path, fps: float):
        """
        Open the video.

        :param path: requested file; '.mp4' is written when imageio-ffmpeg is installed, else
            the same name with '.gif'.
        :param fps: frames per second of the video.
        :raises ValueError: for fps not above 0.
        """
        if not fps > 0:
            raise ValueError(f'video fps must be above 0, got {fps}')
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            self.path = Path(path).with_suffix('.gif')
            self._writer = imageio.get_writer(self.path, mode='I', duration=1000.0 / fps,
                                              loop=0)
        else:
            self.path = Path(path).with_suffix('.mp4')
            # macro_block_size 2: H.264 with yuv420p needs even sides, nothing more.
            self._writer = imageio.get_writer(self.path, fps=fps, codec='libx264',
                                              quality=7, macro_block_size=2)
        self.frames = 0

    def add(self, image: np.ndarray) -> None:
        """
        Append one frame.

        :param image: (H, W, 3) uint8 RGB; every frame must have the same size.
        :raises ValueError: for another shape or dtype.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'a video frame must be (H, W, 3) uint8, got {image.shape} '
                             f'{image.dtype}')
        self._writer.append_data(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()


def caption_image(image: np.ndarray, text: str) -> np.ndarray:
    """
    Write a caption over the top of an image, on a dark band so it reads on any scene.

    :param image: (H, W, 3) uint8.
    :param text: one line; cut with '...' where it is wider than the image.
    :return: a captioned copy.
    """
    if not text:
        return image
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    while len(text) > 4 and draw.textlength(text, font=font) > canvas.width - 6:
        text = text[:-4] + '...'
    height = int(font.getbbox('Ag')[3]) + 6
    draw.rectangle((0, 0, canvas.width, height), fill=(0, 0, 0))
    draw.text((3, 3), text, fill=(255, 255, 255), font=font)
    return np.asarray(canvas)


def render_observations(observations: Sequence[np.ndarray], path: Path, fps: float,
                        size: Optional[int] = None, seed: int = 0,
                        captions: Optional[Sequence[str]] = None) -> Tuple[Path, int]:
    """
    Render the static camera for each observation into a video.

    :param observations: (39,) states, in order.
    :param path: requested video file (see VideoWriter for the suffix).
    :param fps: frames per second of the video.
    :param size: image side in pixels; the camera's default (200) when omitted.
    :param seed: seed of the private simulator (irrelevant to the images).
    :param captions: one line per observation written over its frame (task, step, outcome).
    :return: the file written and its number of frames.
    :raises ValueError: for a malformed observation or fps, or captions of another count.
    """
    if captions is not None and len(captions) != len(observations):
        raise ValueError(f'{len(captions)} captions for {len(observations)} observations')
    # Imported here: pybullet is heavy, and the MCAP side (also used by the Foxglove bridge)
    # does not need it.
    from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim

    writer = VideoWriter(path, fps)
    try:
        with PlayTableSim(seed=seed) as sim:
            for index, obs in enumerate(observations):
                obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
                sim.reset(obs[:layout.ROBOT_OBS_DIM], obs[layout.ROBOT_OBS_DIM:])
                frame = sim.render('static', size)
                writer.add(frame if captions is None else caption_image(frame, captions[index]))
    finally:
        writer.close()
    return writer.path, writer.frames
