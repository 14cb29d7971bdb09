"""
Live viewing without rviz: forward the play table's topics to a Foxglove WebSocket server.

Open the Foxglove app, "Open connection", ``ws://<host>:<port>`` (8765 by default).  The scene
markers arrive as ``foxglove.SceneUpdate``, the TCP pose as ``foxglove.PoseInFrame``, each
observation as JSON with one named field per dimension (plot them directly), and
``joint_states`` and ``robot_description`` as the original ROS 2 messages (CDR with their
``ros2msg`` definitions), so that the 3D panel draws the robot and moves it.

Two services let the Foxglove app drive the table (its Service Call panel, JSON): ``<ns>/reset``
with ``{"seed": 3}`` resets the simulator and answers ``{"success": ..., "message": ...}``;
``<ns>/reach_goal`` with ``{"task": "open_drawer", "timeout_s": 0}`` sends a ReachGoal goal and
answers once the goal server took it, ``{"accepted": true, "goal_id": ...}`` (the result is the
goal server's as always; watch it on the topics).  A bad request is answered with an error that
says why.

Clients may offer either WebSocket subprotocol name: ``foxglove.sdk.v1`` (the Foxglove app) or
the older ``foxglove.websocket.v1`` (Lichtblick and other ws-protocol clients).  The SDK's server
accepts only the first, so it listens on a private loopback port behind a
`subprotocol_relay.SubprotocolRelay` on the public one, which renames the older offer.

Needs the ``foxglove-sdk`` package from PyPI; without it the node refuses to start and says so.
On a full ROS install, the ``foxglove_bridge`` ROS package is the alternative: it forwards every
topic as is.
"""

from dataclasses import dataclass
import json
import sys
import threading
from typing import Any, Dict, List, Optional

from geometry_msgs.msg import PoseStamped
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.node_main import run_node
from play_lmp_ros.parameters import check, declare_parameters, parameter
from play_lmp_ros.recording import message_definition
from play_lmp_ros.subprotocol_relay import SubprotocolRelay
from rclpy.action import ActionClient
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

try:
    import foxglove
    from foxglove import channels as fox_channels
    from foxglove import messages as fox
except ImportError:
    foxglove = None

# How long a service call waits for the simulator or the goal server.
SERVICE_TIMEOUT_S = 10.0
RESET_REQUEST_SCHEMA = {
    'type': 'object', 'title': 'reset the play table to a seeded random scene',
    'properties': {'seed': {'type': 'integer', 'minimum': 0}}, 'required': ['seed']}
REACH_GOAL_REQUEST_SCHEMA = {
    'type': 'object', 'title': 'send a ReachGoal goal naming a task',
    'properties': {'task': {'type': 'string'}, 'timeout_s': {'type': 'number', 'minimum': 0}},
    'required': ['task']}
# rviz draws an ARROW marker's head 0.23 of its length long when the length comes from scale.x.
ARROW_HEAD_FRACTION = 0.23

OBSERVATION_JSON_SCHEMA = {
    'type': 'object',
    'title': 'play_lmp_ros observation (39-D, CALVIN layout)',
    'properties': {
        'frame_id': {'type': 'string'},
        **{name: {'type': 'number'} for name in layout.OBS_NAMES},
    },
}


class FoxgloveUnavailableError(RuntimeError):
    """Raised when the foxglove-sdk package is not installed."""


@dataclass(frozen=True)
class FoxgloveBridgeParams:
    """
    Validated parameters of the bridge.

    Each field is one parameter, with its description and range (see parameters.parameter);
    tools/node_parameter_docs.py writes the README table from them.
    """

    host: str = parameter(
        '127.0.0.1', 'address the WebSocket server binds to (`0.0.0.0`: every interface)')
    port: int = parameter(
        8765, 'TCP port of the WebSocket server; 0 picks a free one', 0, 65535)

    def __post_init__(self) -> None:
        """
        Check every value.

        :raises ValueError: naming the first bad parameter.
        """
        check('host', self.host, bool(self.host), 'not be empty')
        check('port', self.port, 0 <= self.port <= 65535, 'be in 0..65535')


def require_foxglove() -> None:
    """
    Check that foxglove-sdk is importable.

    :raises FoxgloveUnavailableError: with the install command.
    """
    if foxglove is None:
        raise FoxgloveUnavailableError(
            'live viewing needs the foxglove-sdk package: pip install foxglove-sdk')


def ros_type_name(msg_type) -> str:
    """
    Return a message class's ROS 2 type name.

    :param msg_type: e.g. sensor_msgs.msg.JointState.
    :return: e.g. 'sensor_msgs/msg/JointState'.
    """
    return f'{msg_type.__module__.split(".")[0]}/msg/{msg_type.__name__}'


def parse_request(payload: bytes, schema: Dict[str, Any]) -> Dict[str, Any]:
    """
    Read a JSON service request and check it against its (flat) schema.

    :param payload: the request's bytes.
    :param schema: RESET_REQUEST_SCHEMA or REACH_GOAL_REQUEST_SCHEMA.
    :return: the request's fields.
    :raises ValueError: naming what is wrong.
    """
    try:
        request = json.loads(bytes(payload).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'the request is not JSON: {error}') from None
    if not isinstance(request, dict):
        raise ValueError(f'the request must be a JSON object, got {type(request).__name__}')
    properties = schema['properties']
    unknown = sorted(set(request) - set(properties))
    missing = sorted(set(schema['required']) - set(request))
    if unknown or missing:
        raise ValueError(f'fields {list(properties)} expected (required {schema["required"]}); '
                         f'unknown {unknown}, missing {missing}')
    kinds = {'integer': (int,), 'number': (int, float), 'string': (str,)}
    for name, value in request.items():
        spec = properties[name]
        if isinstance(value, bool) or not isinstance(value, kinds[spec['type']]):
            raise ValueError(f'{name} must be a JSON {spec["type"]}, got {value!r}')
        if 'minimum' in spec and value < spec['minimum']:
            raise ValueError(f'{name} must be at least {spec["minimum"]}, got {value}')
    return request


def _wait(future, what: str):
    """Wait for a future completed by the node's executor (from the SDK's thread)."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(SERVICE_TIMEOUT_S):
        raise RuntimeError(f'no answer from {what} within {SERVICE_TIMEOUT_S:g} s')
    return future.result()


def _stamp(header) -> 'fox.Timestamp':
    return fox.Timestamp(header.stamp.sec, header.stamp.nanosec)


def _pose(pose) -> 'fox.Pose':
    return fox.Pose(
        position=fox.Vector3(x=pose.position.x, y=pose.position.y, z=pose.position.z),
        orientation=fox.Quaternion(x=pose.orientation.x, y=pose.orientation.y,
                                   z=pose.orientation.z, w=pose.orientation.w))


def _color(color) -> 'fox.Color':
    return fox.Color(r=color.r, g=color.g, b=color.b, a=color.a)


def _points(marker: Marker) -> List['fox.Point3']:
    return [fox.Point3(x=p.x, y=p.y, z=p.z) for p in marker.points]


def marker_entity_id(marker: Marker) -> str:
    """
    Return the Foxglove entity id of a marker: rviz identifies markers by namespace and id.

    :param marker: the marker.
    :return: '<ns>/<id>'.
    """
    return f'{marker.ns}/{marker.id}'


def marker_to_entity(marker: Marker) -> Optional['fox.SceneEntity']:
    """
    Convert an ADD marker to a scene entity.

    :param marker: a marker of type CUBE, SPHERE, CYLINDER, ARROW, LINE_STRIP, LINE_LIST,
        CUBE_LIST, SPHERE_LIST, POINTS, TEXT_VIEW_FACING or TRIANGLE_LIST.
    :return: the entity, or None for a type without a Foxglove primitive (MESH_RESOURCE,
        ARROW_STRIP).
    """
    scale = fox.Vector3(x=marker.scale.x, y=marker.scale.y, z=marker.scale.z)
    color = _color(marker.color)
    pose = _pose(marker.pose)
    colors = [_color(c) for c in marker.colors]
    primitives: Dict[str, list] = {}
    if marker.type == Marker.CUBE:
        primitives['cubes'] = [fox.CubePrimitive(pose=pose, size=scale, color=color)]
    elif marker.type == Marker.SPHERE:
        primitives['spheres'] = [fox.SpherePrimitive(pose=pose, size=scale, color=color)]
    elif marker.type == Marker.CYLINDER:
        primitives['cylinders'] = [fox.CylinderPrimitive(
            pose=pose, size=scale, bottom_scale=1.0, top_scale=1.0, color=color)]
    elif marker.type == Marker.ARROW and not marker.points:
        primitives['arrows'] = [fox.ArrowPrimitive(
            pose=pose, shaft_length=marker.scale.x * (1.0 - ARROW_HEAD_FRACTION),
            shaft_diameter=marker.scale.y, head_length=marker.scale.x * ARROW_HEAD_FRACTION,
            head_diameter=marker.scale.z, color=color)]
    elif marker.type in (Marker.LINE_STRIP, Marker.LINE_LIST) or (
            marker.type == Marker.ARROW and marker.points):
        line_type = (fox.LinePrimitiveLineType.LineList if marker.type == Marker.LINE_LIST
                     else fox.LinePrimitiveLineType.LineStrip)
        primitives['lines'] = [fox.LinePrimitive(
            type=line_type, pose=pose, thickness=marker.scale.x, points=_points(marker),
            color=color, colors=colors)]
    elif marker.type in (Marker.CUBE_LIST, Marker.SPHERE_LIST, Marker.POINTS):
        kind = 'cubes' if marker.type == Marker.CUBE_LIST else 'spheres'
        make = fox.CubePrimitive if kind == 'cubes' else fox.SpherePrimitive
        primitives[kind] = [
            make(pose=fox.Pose(position=fox.Vector3(x=p.x, y=p.y, z=p.z)), size=scale,
                 color=colors[i] if i < len(colors) else color)
            for i, p in enumerate(marker.points)]
    elif marker.type == Marker.TEXT_VIEW_FACING:
        primitives['texts'] = [fox.TextPrimitive(
            pose=pose, billboard=True, font_size=marker.scale.z, color=color, text=marker.text)]
    elif marker.type == Marker.TRIANGLE_LIST:
        primitives['triangles'] = [fox.TriangleListPrimitive(
            pose=pose, points=_points(marker), color=color, colors=colors)]
    else:
        return None
    return fox.SceneEntity(
        timestamp=_stamp(marker.header), frame_id=marker.header.frame_id,
        id=marker_entity_id(marker),
        lifetime=fox.Duration(marker.lifetime.sec, marker.lifetime.nanosec),
        frame_locked=marker.frame_locked, **primitives)


def marker_array_to_scene_update(msg: MarkerArray) -> 'fox.SceneUpdate':
    """
    Convert a MarkerArray to a SceneUpdate, with rviz's add, delete and delete-all semantics.

    Markers of a type without a Foxglove primitive are left out.

    :param msg: the markers.
    :return: the update.
    """
    entities, deletions = [], []
    for marker in msg.markers:
        if marker.action == Marker.DELETEALL:
            deletions.append(fox.SceneEntityDeletion(
                timestamp=_stamp(marker.header), type=fox.SceneEntityDeletionType.All))
        elif marker.action == Marker.DELETE:
            deletions.append(fox.SceneEntityDeletion(
                timestamp=_stamp(marker.header), type=fox.SceneEntityDeletionType.MatchingId,
                id=marker_entity_id(marker)))
        else:
            entity = marker_to_entity(marker)
            if entity is not None:
                entities.append(entity)
    return fox.SceneUpdate(deletions=deletions, entities=entities)


def pose_stamped_to_pose_in_frame(msg: PoseStamped) -> 'fox.PoseInFrame':
    """
    Convert a PoseStamped to a PoseInFrame.

    :param msg: the pose.
    :return: the same pose, stamp and frame.
    """
    return fox.PoseInFrame(timestamp=_stamp(msg.header), frame_id=msg.header.frame_id,
                           pose=_pose(msg.pose))


def observation_to_json(msg: Observation) -> Dict[str, object]:
    """
    Convert an Observation to a JSON object with one named field per dimension.

    :param msg: the observation.
    :return: {'frame_id': ..., 'tcp_x': ..., ...} in OBSERVATION_JSON_SCHEMA.
    :raises ValueError: for a malformed observation.
    """
    obs = conversions.observation_to_array(msg)
    return {'frame_id': msg.header.frame_id,
            **{name: float(value) for name, value in zip(layout.OBS_NAMES, obs)}}


def _log_time_ns(header) -> Optional[int]:
    stamp = conversions.stamp_ns(header.stamp)
    return stamp if stamp > 0 else None


class FoxgloveBridgeNode(Node):
    """
    Forward markers, TCP pose, observations and joint states to a Foxglove WebSocket server.

    Parameters: FoxgloveBridgeParams (the bound port, when 0 picks one, is `port`).
    Subscribes (relative to the namespace): markers, tcp_pose, observation and joint_states.
    """

    def __init__(self, **kwargs):
        """
        Start the server and subscribe.

        :param kwargs: passed to rclpy.node.Node (namespace, parameter_overrides, context...);
            the namespace defaults to 'play_lmp'.
        :raises FoxgloveUnavailableError: without foxglove-sdk.
        :raises ValueError: for a bad parameter, naming it.
        :raises RuntimeError: when the address cannot be listened on.
        """
        kwargs.setdefault('namespace', qos.NAMESPACE)
        super().__init__('foxglove_bridge', **kwargs)
        self.params = declare_parameters(self, FoxgloveBridgeParams())
        require_foxglove()
        self._reset_client = self.create_client(ResetSim, qos.RESET_SERVICE)
        self._goal_client = ActionClient(self, ReachGoal, qos.REACH_GOAL_ACTION,
                                         **qos.ACTION_SERVICE_PROFILES)
        self._client_seen = threading.Event()

        # A private context: channels of one bridge never leak into another in the same process.
        self._fox_context = foxglove.Context()
        self._server = foxglove.start_server(
            name='play_lmp_ros', host='127.0.0.1', port=0,
            context=self._fox_context, capabilities=[foxglove.Capability.Services],
            supported_encodings=['json'], server_listener=_ClientWatch(self._client_seen),
            services=[
                _json_service(self.resolve_service_name(qos.RESET_SERVICE),
                              RESET_REQUEST_SCHEMA, self._reset),
                _json_service(self.resolve_service_name(qos.REACH_GOAL_ACTION),
                              REACH_GOAL_REQUEST_SCHEMA, self._reach_goal)])
        try:
            self._relay = SubprotocolRelay(self.params.host, self.params.port, self._server.port)
        except OSError as error:
            self._server.stop()
            raise RuntimeError(f'cannot listen on {self.params.host}:{self.params.port}: '
                               f'{error}') from None
        markers_topic = self.resolve_topic_name(qos.MARKERS_TOPIC)
        pose_topic = self.resolve_topic_name(qos.TCP_POSE_TOPIC)
        observation_topic = self.resolve_topic_name(qos.OBSERVATION_TOPIC)
        self._markers = fox_channels.SceneUpdateChannel(markers_topic, context=self._fox_context)
        self._pose = fox_channels.PoseInFrameChannel(pose_topic, context=self._fox_context)
        self._observation = foxglove.Channel(
            observation_topic, schema=OBSERVATION_JSON_SCHEMA, message_encoding='json',
            context=self._fox_context)
        # Forwarded as they are (CDR with their ros2msg definitions): Foxglove's 3D panel draws
        # the robot description's URDF and moves it with the joint states.
        for msg_type, topic, profile in (
                (JointState, qos.JOINT_STATES_TOPIC, qos.VISUALIZATION_QOS),
                (String, qos.ROBOT_DESCRIPTION_TOPIC, qos.ROBOT_DESCRIPTION_QOS)):
            self._forward_raw(msg_type, topic, profile)

        self.create_subscription(MarkerArray, qos.MARKERS_TOPIC, self._on_markers,
                                 qos.MARKERS_QOS)
        self.create_subscription(PoseStamped, qos.TCP_POSE_TOPIC, self._on_pose,
                                 qos.VISUALIZATION_QOS)
        self.create_subscription(Observation, qos.OBSERVATION_TOPIC, self._on_observation,
                                 qos.CONTROL_QOS)
        self.get_logger().info(
            f'Foxglove WebSocket server on ws://{self.params.host}:{self.port}')

    @property
    def port(self) -> int:
        """Return the TCP port clients connect to."""
        return self._relay.port

    def wait_for_client(self, timeout_s: float) -> bool:
        """
        Wait until a Foxglove client subscribes to one of the channels.

        :param timeout_s: how long to wait at most.
        :return: whether a client did.
        """
        return self._client_seen.wait(timeout_s)

    def _reset(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Serve the reset service: reset the simulator to a seeded scene."""
        if not self._reset_client.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S):
            raise RuntimeError(f'no reset service {self._reset_client.srv_name}')
        response = _wait(self._reset_client.call_async(ResetSim.Request(seed=request['seed'])),
                         'the simulator')
        return {'success': bool(response.success), 'message': response.message}

    def _reach_goal(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """Serve the reach_goal service: send the goal, answer once the goal server took it."""
        if not self._goal_client.wait_for_server(timeout_sec=SERVICE_TIMEOUT_S):
            raise RuntimeError('no ReachGoal action server')
        goal = ReachGoal.Goal(task=request['task'], timeout_s=float(request.get('timeout_s', 0)))
        handle = _wait(self._goal_client.send_goal_async(goal), 'the goal server')
        return {'accepted': bool(handle.accepted), 'goal_id': bytes(handle.goal_id.uuid).hex()}

    @property
    def foxglove_context(self) -> 'foxglove.Context':
        """
        Return the Foxglove context the channels log to (an MCAP sink can join it).

        Not named ``context``: that is rclpy's Node.context, which rclpy itself reads.
        """
        return self._fox_context

    def _on_markers(self, msg: MarkerArray) -> None:
        self._markers.log(marker_array_to_scene_update(msg))

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose.log(pose_stamped_to_pose_in_frame(msg), log_time=_log_time_ns(msg.header))

    def _on_observation(self, msg: Observation) -> None:
        try:
            payload = observation_to_json(msg)
        except ValueError as error:
            self.get_logger().warning(f'observation not forwarded: {error}',
                                      throttle_duration_sec=1.0)
            return
        self._observation.log(payload, log_time=_log_time_ns(msg.header))

    def _forward_raw(self, msg_type, topic: str, profile) -> None:
        """
        Forward a topic's messages unchanged, as CDR with the ROS 2 message definition.

        :param msg_type: the message class.
        :param topic: the topic, relative to the namespace.
        :param profile: the QoS to subscribe with.
        """
        type_name = ros_type_name(msg_type)
        channel = foxglove.Channel(
            self.resolve_topic_name(topic), message_encoding='cdr', context=self._fox_context,
            schema=foxglove.Schema(name=type_name, encoding='ros2msg',
                                   data=message_definition(type_name).encode()))
        self.create_subscription(msg_type, topic, lambda data: channel.log(bytes(data)),
                                 profile, raw=True)

    def destroy_node(self) -> None:
        """Stop the relay and the server, then destroy the node."""
        self._relay.stop()
        self._server.stop()
        super().destroy_node()


def _json_service(name: str, schema: Dict[str, Any], serve) -> 'foxglove.Service':
    """
    Build a Foxglove service with JSON requests and responses.

    :param name: the service name (the ROS name it stands for).
    :param schema: the request's JSON schema (see parse_request).
    :param serve: takes the request's fields, returns the response's; its exceptions reach the
        client as the call's error message.
    :return: the service.
    """
    def handler(request: 'foxglove.ServiceRequest') -> bytes:
        return json.dumps(serve(parse_request(request.payload, schema))).encode()

    message_schema = foxglove.MessageSchema(encoding='json', schema=foxglove.Schema(
        name=schema['title'], encoding='jsonschema', data=json.dumps(schema).encode()))
    return foxglove.Service(name, schema=foxglove.ServiceSchema(name, request=message_schema),
                            handler=handler)


if foxglove is not None:
    class _ClientWatch(foxglove.ServerListener):
        """Set an event when a client subscribes to a channel: someone is watching."""

        def __init__(self, seen: threading.Event):
            """Keep the event."""
            self._seen = seen

        def on_subscribe(self, client, channel) -> None:
            """Note that a client subscribed."""
            self._seen.set()


def main(args=None) -> int:
    """
    Run the bridge until Ctrl-C or shutdown.

    :param args: command line arguments for rclpy (None: sys.argv).
    :return: 0, or 1 after a start-up error (no foxglove-sdk, bad parameter, port taken).
    """
    return run_node(FoxgloveBridgeNode, 'foxglove_bridge: cannot start',
                    (FoxgloveUnavailableError, RuntimeError), args=args)


if __name__ == '__main__':
    sys.exit(main())
