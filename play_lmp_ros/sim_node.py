"""
The simulator node: owns the play table simulator, steps it with validated actions, publishes it.

Modes (parameter ``mode``):

- ``realtime``: a timer at ``control_hz`` steps the simulator once per tick with the latest valid
  action and publishes the observation.  An action is applied once, never repeated: a tick with
  no fresh action steps with the hold action (zero relative motion, last gripper command).  When
  no valid action came for ``action_timeout_periods`` control periods the node is holding, and
  says so in /diagnostics.
- ``lockstep``: every valid action steps the simulator exactly once and the new observation is
  published at once; nothing steps on a timer, so a run is deterministic and as fast as its
  client.  An invalid action is not applied and the unchanged observation is published again,
  so a lockstep client is never left waiting.

In both modes a reset (service ``reset``) publishes the new observation; a reset state outside
the physical ranges (layout.check_robot_state, layout.check_scene_state) is refused, the
simulator unchanged.  Every action is validated (sizes, NaN, relative motion in [-1, 1], an
absolute TCP position inside layout.TCP_WORKSPACE_M, gripper exactly -1 or +1); a rejected one is
never applied, is logged at most once per second and is counted in /diagnostics.  Error texts
about what a client sent are cut to conversions.MAX_REASON_CHARS in logs, /diagnostics and the
reset response.

The visualization topics (``joint_states``, ``tcp_pose``, ``markers``, /tf) are published only
while something subscribes to them, so that a fast lockstep evaluation does not pay for them; /tf
only where tf2_msgs is importable (it is not on PyPI).
"""

from dataclasses import dataclass, replace
import functools
import sys
import time
from typing import List, Optional, Sequence, Tuple

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TransformStamped
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_interfaces.srv import ResetSim
from play_lmp_ros import conversions, markers, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import BACKENDS, make_sim
from play_lmp_ros.core.sim.robot_description import robot_description, static_links
from play_lmp_ros.node_main import run_node
from play_lmp_ros.parameters import (accept_live_changes, check, check_at_least, check_one_of,
                                     check_positive, declare_parameters, parameter)
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.time import Time as RosTime
from rosgraph_msgs.msg import Clock as ClockMessage
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from transforms3d.euler import euler2quat
from visualization_msgs.msg import MarkerArray

try:
    from tf2_msgs.msg import TFMessage
except ImportError:
    # tf2_msgs ships with full ROS installs only; without it the node simply has no /tf.
    TFMessage = None

NODE_NAME = 'sim_node'
MODES = ('realtime', 'lockstep')

# Joint names as in pybullet_data's franka_panda/panda.urdf and the play table URDF, so that a
# robot_state_publisher given those files can draw the robot and the table from joint_states.
ARM_JOINT_NAMES = tuple(f'panda_joint{i}' for i in range(1, 8))
FINGER_JOINT_NAMES = ('panda_finger_joint1', 'panda_finger_joint2')
TABLE_JOINT_NAMES = ('base__slide', 'base__drawer', 'base__button', 'base__switch')
JOINT_NAMES = ARM_JOINT_NAMES + FINGER_JOINT_NAMES + TABLE_JOINT_NAMES
TCP_FRAME = 'tcp'
# Simulated time per step: one control period of the simulator's physics (layout.CONTROL_HZ),
# whatever rate the realtime timer runs at.
SIM_STEP_NS = round(1e9 / layout.CONTROL_HZ)
BLOCK_FRAMES = layout.BLOCK_NAMES


@dataclass(frozen=True)
class SimNodeParams:
    """
    The simulator node's parameters, validated.

    Each field is one parameter, with its description, range and live status (see
    parameters.parameter); tools/node_parameter_docs.py writes the README table and
    config/sim_node.yaml from them.
    """

    mode: str = parameter(
        'realtime', '`realtime`: step on a timer at `control_hz` with the latest valid action; '
        '`lockstep`: step exactly once per received action (deterministic, fast evaluation)')
    control_hz: float = parameter(
        float(layout.CONTROL_HZ), 'control rate of the realtime timer (Hz)', 0.1, 1000.0,
        live=True)
    seed: int = parameter(
        0, 'seed of the first random scene (the scene of a reset with this seed)', 0)
    backend: str = parameter(
        'pybullet', "simulator backend: `pybullet` (the project's play table) or `calvin_env` "
        '(needs `calvin_env` installed)')
    frame_id: str = parameter(
        'world', 'world frame of every published pose, marker and transform')
    frame_prefix: str = parameter(
        '', 'put before the `/tf` child frames (`tcp`, the blocks), so that two tables in one '
        'graph do not share frame names (`table_b/`)')
    publish_links: bool = parameter(
        True, "publish the robot description's links on tf: the fixed ones (table base, Panda "
        'base, lamps, plank) once on `/tf_static`, the moving ones on `/tf` at every step; '
        '`false` where `robot_state_publisher` publishes them from `joint_states` (the launch '
        'file does that where it is installed)')
    publish_markers: bool = parameter(
        True, 'publish the scene and goal `MarkerArray` on `markers`')
    marker_every: int = parameter(
        3, 'steps between two scene marker updates', 1, 100000, live=True)
    action_timeout_periods: float = parameter(
        2.0, 'realtime: control periods without a valid action after which the robot is '
        'holding (reported on `/diagnostics`)', 0.1, 100000.0, live=True)
    diagnostics_hz: float = parameter(
        1.0, 'rate of `/diagnostics` (Hz)', 0.01, 100.0, live=True)

    def __post_init__(self):
        """
        Check every value.

        :raises ValueError: naming the first bad parameter.
        """
        check_one_of(self, 'mode', MODES)
        check_positive(self, 'control_hz', 'action_timeout_periods', 'diagnostics_hz')
        check_at_least(self, 0, 'seed')
        check_one_of(self, 'backend', BACKENDS)
        check('frame_id', self.frame_id, bool(self.frame_id), 'not be empty')
        for name in ('frame_id', 'frame_prefix'):
            value = getattr(self, name)
            check(name, value, not value.startswith('/')
                  and not any(char.isspace() for char in value),
                  'not start with / or hold white space (tf2 frame names)')
        check_at_least(self, 1, 'marker_every')

    @property
    def control_period_s(self) -> float:
        """
        Return the control period.

        :return: 1 / control_hz (s).
        """
        return 1.0 / self.control_hz


@dataclass
class SimStatistics:
    """
    What the simulator node has done since it started, as reported in /diagnostics.

    :param steps: simulator steps.
    :param rejected_actions: invalid actions, never applied.
    :param last_rejection: why the last one was rejected, empty if none was.
    :param held_steps: realtime: steps with the hold action after the action timeout;
        lockstep: rejected actions answered without a step.
    :param ticks_without_action: realtime: ticks within the timeout that had no fresh action
        (they step with the hold action too); a sign of a late or slower publisher.
    :param replaced_actions: realtime: valid actions replaced by a newer one before a tick
        used them.
    :param holding: realtime: no valid action within the timeout.
    :param sim_error: why the last step failed, empty when the simulator is healthy.
    """

    steps: int = 0
    rejected_actions: int = 0
    last_rejection: str = ''
    held_steps: int = 0
    ticks_without_action: int = 0
    replaced_actions: int = 0
    holding: bool = False
    sim_error: str = ''


def joint_state(observation: np.ndarray, stamp: Time) -> JointState:
    """
    Build the joint_states message of an observation.

    :param observation: (39,) observation.
    :param stamp: header stamp.
    :return: JOINT_NAMES with their positions: 7 arm joints (rad), each finger at half the
        gripper width (m), slide, drawer, button, switch (m).
    """
    scene = observation[layout.ROBOT_OBS_DIM:]
    finger = observation[layout.GRIPPER_WIDTH] / 2.0
    positions = np.concatenate([
        observation[layout.ARM_JOINTS], [finger, finger],
        scene[[layout.SLIDER, layout.DRAWER, layout.BUTTON, layout.SWITCH]]])
    msg = JointState(name=list(JOINT_NAMES), position=positions.tolist())
    msg.header.stamp = stamp
    return msg


def tcp_pose(observation: np.ndarray, stamp: Time, frame_id: str) -> PoseStamped:
    """
    Build the TCP pose message of an observation.

    :param observation: (39,) observation.
    :param stamp: header stamp.
    :param frame_id: world frame.
    :return: the TCP position and its orientation (from the 'sxyz' euler angles).
    """
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    position = observation[layout.TCP_POS]
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position.tolist()
    w, x, y, z = (float(value) for value in euler2quat(*observation[layout.TCP_ORN], 'sxyz'))
    orientation = msg.pose.orientation
    orientation.w, orientation.x, orientation.y, orientation.z = w, x, y, z
    return msg


def _transform(stamp: Time, frame_id: str, child: str, position,
               quaternion_xyzw) -> TransformStamped:
    """Build one transform from the world frame."""
    transform = TransformStamped(child_frame_id=child)
    transform.header.stamp = stamp
    transform.header.frame_id = frame_id
    translation = transform.transform.translation
    translation.x, translation.y, translation.z = (float(value) for value in position)
    rotation = transform.transform.rotation
    rotation.x, rotation.y, rotation.z, rotation.w = (float(value) for value in quaternion_xyzw)
    return transform


def transforms(observation: np.ndarray, stamp: Time, frame_id: str, frame_prefix: str = '',
               links: Sequence[Tuple[str, np.ndarray, np.ndarray]] = ()
               ) -> List[TransformStamped]:
    """
    Build the transforms from the world frame to the TCP, each block and each URDF link.

    Every frame hangs straight from the world frame: the simulator knows each link's pose, so
    the tree needs no joint-by-joint chain, and the links of core.sim.robot_description all
    appear, which rviz's RobotModel needs.

    :param observation: (39,) observation.
    :param stamp: header stamp.
    :param frame_id: world frame (parent of every transform).
    :param frame_prefix: put before each child frame.
    :param links: (name, (3,) position, (4,) quaternion x y z w) of the URDF links, as the
        simulator's link_poses() gives them.
    :return: TransformStamped to TCP_FRAME, each of BLOCK_FRAMES, then each link, prefixed.
    """
    scene = observation[layout.ROBOT_OBS_DIM:]
    poses = [(TCP_FRAME, observation[layout.TCP_POS], observation[layout.TCP_ORN])]
    for block_index, name in enumerate(BLOCK_FRAMES):
        pose = scene[layout.block_slice(block_index)]
        poses.append((name, pose[:3], pose[3:]))
    result = []
    for child, position, euler in poses:
        w, x, y, z = euler2quat(*euler, 'sxyz')
        result.append(_transform(stamp, frame_id, frame_prefix + child, position, (x, y, z, w)))
    for name, position, quaternion in links:
        # The Panda's tcp link is TCP_FRAME, already sent from the observation.
        if name != TCP_FRAME:
            result.append(_transform(stamp, frame_id, frame_prefix + name, position, quaternion))
    return result


class SimNode(Node):
    """Own the play table simulator: step it with validated actions and publish its state."""

    def __init__(self, **kwargs):
        """
        Declare the parameters, build the simulator and the ROS interfaces.

        :param kwargs: passed to rclpy.node.Node (namespace defaults to 'play_lmp').
        :raises ValueError: on a bad parameter value.
        :raises rclpy.exceptions.ParameterException: on a parameter of the wrong type or range.
        :raises ImportError: for the calvin_env backend when calvin_env is not installed.
        """
        kwargs.setdefault('namespace', qos.NAMESPACE)
        super().__init__(NODE_NAME, **kwargs)
        self._params = declare_parameters(self, SimNodeParams())
        self._sim = make_sim(self._params.backend, seed=self._params.seed)
        self._clock_epoch_ns = time.time_ns()
        self._use_sim_time = bool(self.get_parameter('use_sim_time').value)
        self._stats = SimStatistics()
        self._observation = self._sim.observe()
        self._goal_markers = markers.goal_markers(None, self._now(), self._params.frame_id)
        self._pending: Optional[Tuple[np.ndarray, str]] = None
        self._last_action_time = time.monotonic()
        self._steps_since_markers = 0
        self._report_time = time.monotonic()
        self._report_steps = 0
        self._report_rejected = 0

        try:
            self._create_interfaces()
        except BaseException:
            self._sim.close()
            raise
        self._publish_state(markers_due=True)
        self.get_logger().info(
            f'{self._params.backend} simulator in {self._params.mode} mode'
            + (f' at {self._params.control_hz:g} Hz' if self._params.mode == 'realtime' else '')
            + f', seed {self._params.seed}')

    def _create_interfaces(self) -> None:
        self._observation_pub = self.create_publisher(
            Observation, qos.OBSERVATION_TOPIC, qos.CONTROL_QOS)
        self._joint_state_pub = self.create_publisher(
            JointState, qos.JOINT_STATES_TOPIC, qos.VISUALIZATION_QOS)
        self._tcp_pose_pub = self.create_publisher(
            PoseStamped, qos.TCP_POSE_TOPIC, qos.VISUALIZATION_QOS)
        self._markers_pub = None
        if self._params.publish_markers:
            self._markers_pub = self.create_publisher(
                MarkerArray, qos.MARKERS_TOPIC, qos.MARKERS_QOS)
        self._tf_pub = None
        if TFMessage is None:
            self.get_logger().info('tf2_msgs is not importable: /tf is off')
        else:
            self._tf_pub = self.create_publisher(TFMessage, qos.TF_TOPIC, qos.VISUALIZATION_QOS)
        self._diagnostics_pub = self.create_publisher(
            DiagnosticArray, qos.DIAGNOSTICS_TOPIC, qos.DIAGNOSTICS_QOS)
        self._clock_pub = self.create_publisher(ClockMessage, qos.CLOCK_TOPIC, qos.CLOCK_QOS)
        # The scene's robot for rviz's RobotModel and Foxglove, once, latched.
        description_pub = self.create_publisher(
            String, qos.ROBOT_DESCRIPTION_TOPIC, qos.ROBOT_DESCRIPTION_QOS)
        description = robot_description(self._params.frame_id)
        description_pub.publish(String(data=description))
        self._static_links = frozenset(static_links(description))
        if self._tf_pub is not None and self._params.publish_links:
            self._tf_static_pub = self.create_publisher(
                TFMessage, qos.TF_STATIC_TOPIC, qos.TF_STATIC_QOS)
            self._tf_static_pub.publish(TFMessage(transforms=[
                _transform(self._now(), self._params.frame_id, self._params.frame_prefix + name,
                           position, quaternion)
                for name, position, quaternion in self._link_poses()
                if name in self._static_links]))

        self.create_subscription(
            EndEffectorAction, qos.ACTION_TOPIC, self._on_action, qos.CONTROL_QOS)
        self.create_subscription(GoalState, qos.GOAL_TOPIC, self._on_goal, qos.GOAL_QOS)
        self.create_service(ResetSim, qos.RESET_SERVICE, self._on_reset)
        # The simulator is the time source: on sim time (use_sim_time) its timers would wait
        # for a /clock that only they advance.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._control_timer = None
        if self._params.mode == 'realtime':
            self._control_timer = self.create_timer(self._params.control_period_s,
                                                    self._on_control_tick, clock=steady)
        self._diagnostics_timer = self.create_timer(1.0 / self._params.diagnostics_hz,
                                                    self._on_diagnostics_tick, clock=steady)
        accept_live_changes(self, lambda: self._params,
                            functools.partial(setattr, self, '_params'),
                            {'control_hz': self._control_timer,
                             'diagnostics_hz': self._diagnostics_timer})

    @property
    def statistics(self) -> SimStatistics:
        """
        Return what the node has done so far.

        :return: a copy of the counters.
        """
        return replace(self._stats)

    def destroy_node(self) -> None:
        """Destroy the ROS interfaces, then close the simulator."""
        try:
            super().destroy_node()
        finally:
            self._sim.close()

    # ------------------------------------------------------------------ callbacks

    def _on_action(self, msg: EndEffectorAction) -> None:
        try:
            action, action_type = conversions.action_to_array(msg)
            if action_type == 'absolute':
                action = layout.check_absolute_action(action, layout.TCP_WORKSPACE_M)
        except ValueError as error:
            self._reject(str(error))
            return
        if self._params.mode == 'lockstep':
            self._step(action, action_type)
        else:
            if self._pending is not None:
                self._stats.replaced_actions += 1
            self._pending = (action, action_type)
            self._last_action_time = time.monotonic()

    def _on_control_tick(self) -> None:
        if self._pending is not None:
            action, action_type = self._pending
            self._pending = None
            self._set_holding(False)
            self._step(action, action_type)
            return
        timed_out = (time.monotonic() - self._last_action_time
                     > self._params.action_timeout_periods * self._params.control_period_s)
        self._set_holding(timed_out)
        if timed_out:
            self._stats.held_steps += 1
        else:
            self._stats.ticks_without_action += 1
        self._step(layout.hold_action(layout.gripper_command_of(self._observation)), 'relative')

    def _on_goal(self, msg: GoalState) -> None:
        goal = None
        if msg.active:
            try:
                goal = conversions.goal_state_to_array(msg)
            except ValueError as error:
                reason = conversions.truncated(str(error), conversions.MAX_REASON_CHARS)
                self.get_logger().warning(
                    f'ignored a goal that cannot be drawn: {reason}', throttle_duration_sec=1.0)
                return
        stamp = self._now()
        self._goal_markers = markers.goal_markers(goal, stamp, self._params.frame_id)
        self._publish_markers(stamp)

    @property
    def params(self) -> SimNodeParams:
        """
        Return the node's parameters.

        :return: the validated parameters now in use (read at start-up, live ones as changed).
        """
        return self._params

    def _on_reset(self, request: ResetSim.Request,
                  response: ResetSim.Response) -> ResetSim.Response:
        try:
            if request.use_state:
                # The length first: a huge state is refused before it is copied.
                if len(request.state) != layout.OBS_DIM:
                    raise ValueError(f'ResetSim.state must have {layout.OBS_DIM} values, got '
                                     f'{len(request.state)}')
                state = layout.check_vector(request.state, layout.OBS_DIM, 'ResetSim.state')
                observation = self._sim.reset(
                    state[:layout.ROBOT_OBS_DIM], state[layout.ROBOT_OBS_DIM:])
            else:
                if request.seed < 0:
                    raise ValueError(f'ResetSim.seed must be >= 0, got {request.seed}')
                observation = self._sim.reset_random(int(request.seed))
            observation = layout.check_vector(observation, layout.OBS_DIM, 'observation')
        except ValueError as error:
            message = 'reset refused: ' + conversions.truncated(
                str(error), conversions.MAX_REASON_CHARS)
            self.get_logger().warning(message, throttle_duration_sec=1.0)
            response.success = False
            response.message = message
            response.observation = conversions.array_to_observation(
                self._observation, self._now(), self._params.frame_id)
            return response
        self._observation = observation
        self._pending = None
        self._stats.sim_error = ''
        self._last_action_time = time.monotonic()
        stamp = self._publish_state(markers_due=True)
        response.success = True
        response.observation = conversions.array_to_observation(
            observation, stamp, self._params.frame_id)
        return response

    def _on_diagnostics_tick(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._report_time, 1e-9)
        stats = self._stats
        rate = (stats.steps - self._report_steps) / elapsed
        rejecting = stats.rejected_actions > self._report_rejected
        self._report_time, self._report_steps = now, stats.steps
        self._report_rejected = stats.rejected_actions
        status = DiagnosticStatus(
            name=f'{self.get_fully_qualified_name().lstrip("/")}: simulator',
            hardware_id=self._params.backend)
        if stats.sim_error:
            status.level = DiagnosticStatus.ERROR
            status.message = f'simulator failed, reset it: {stats.sim_error}'
        elif rejecting:
            status.level = DiagnosticStatus.WARN
            status.message = f'rejecting actions: {stats.last_rejection}'
        elif stats.holding:
            status.level = DiagnosticStatus.WARN
            status.message = (
                f'holding: no valid action for {self._params.action_timeout_periods:g} periods')
        else:
            status.level = DiagnosticStatus.OK
            status.message = 'stepping'
        values = {
            'mode': self._params.mode,
            'steps': str(stats.steps),
            'step rate (Hz)': f'{rate:.1f}',
            'rejected actions': str(stats.rejected_actions),
            'last rejection': stats.last_rejection,
            'held steps': str(stats.held_steps),
            'ticks without a fresh action': str(stats.ticks_without_action),
            'actions replaced before use': str(stats.replaced_actions),
            'holding': str(stats.holding),
        }
        status.values = [KeyValue(key=key, value=value) for key, value in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._now()
        self._diagnostics_pub.publish(array)

    # ------------------------------------------------------------------ helpers

    def _moving_link_poses(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        """Return the poses of the links that go on /tf: none where another node publishes."""
        if not self._params.publish_links:
            return []
        return [pose for pose in self._link_poses() if pose[0] not in self._static_links]

    def _link_poses(self) -> List[Tuple[str, np.ndarray, np.ndarray]]:
        """Return the URDF links' poses where the backend knows them (the pybullet one)."""
        link_poses = getattr(self._sim, 'link_poses', None)
        return [] if link_poses is None else link_poses()

    def sim_time_ns(self) -> int:
        """
        Return the simulated time: the wall time the node started, plus one period per step.

        :return: nanoseconds since the epoch.
        """
        return self._clock_epoch_ns + self._stats.steps * SIM_STEP_NS

    def _now(self) -> Time:
        if self._use_sim_time:
            return self._sim_time()
        return self.get_clock().now().to_msg()

    def _sim_time(self) -> Time:
        return RosTime(nanoseconds=self.sim_time_ns()).to_msg()

    def _reject(self, reason: str) -> None:
        reason = conversions.truncated(reason, conversions.MAX_REASON_CHARS)
        self._stats.rejected_actions += 1
        self._stats.last_rejection = reason
        self.get_logger().warning(
            f'rejected an action, holding: {reason}', throttle_duration_sec=1.0)
        if self._params.mode == 'lockstep':
            # The robot holds: no step, and the client gets the unchanged observation back.
            self._stats.held_steps += 1
            self._publish_state(markers_due=False)
        else:
            # A valid action still waiting would outlive the rejected one that followed it.
            self._pending = None

    def _set_holding(self, holding: bool) -> None:
        if holding != self._stats.holding:
            self.get_logger().info(
                'no valid action within the timeout: holding' if holding else 'actions resumed')
        self._stats.holding = holding

    def _step(self, action: np.ndarray, action_type: str) -> None:
        try:
            observation = layout.check_vector(
                self._sim.step(action, action_type), layout.OBS_DIM, 'observation')
        except ValueError as error:
            # Only a broken simulation gets here (the action was validated): report and wait
            # for a reset instead of publishing garbage.
            self._stats.sim_error = str(error)
            self.get_logger().error(
                f'simulator step failed, reset it: {error}', throttle_duration_sec=1.0)
            if self._params.mode == 'lockstep':
                self._publish_state(markers_due=False)
            return
        self._observation = observation
        self._stats.steps += 1
        self._steps_since_markers += 1
        self._publish_state(markers_due=self._steps_since_markers >= self._params.marker_every)

    def _publish_state(self, markers_due: bool) -> Time:
        sim_time = self._sim_time()
        self._clock_pub.publish(ClockMessage(clock=sim_time))
        stamp = sim_time if self._use_sim_time else self.get_clock().now().to_msg()
        observation = self._observation
        frame_id = self._params.frame_id
        self._observation_pub.publish(
            conversions.array_to_observation(observation, stamp, frame_id))
        if self._joint_state_pub.get_subscription_count():
            self._joint_state_pub.publish(joint_state(observation, stamp))
        if self._tcp_pose_pub.get_subscription_count():
            self._tcp_pose_pub.publish(tcp_pose(observation, stamp, frame_id))
        if self._tf_pub is not None and self._tf_pub.get_subscription_count():
            self._tf_pub.publish(TFMessage(transforms=transforms(
                observation, stamp, frame_id, self._params.frame_prefix,
                self._moving_link_poses())))
        if markers_due:
            self._publish_markers(stamp)
        return stamp

    def _publish_markers(self, stamp: Time) -> None:
        if self._markers_pub is None or not self._markers_pub.get_subscription_count():
            return
        self._steps_since_markers = 0
        array = markers.scene_markers(self._observation, stamp, self._params.frame_id)
        for marker in self._goal_markers.markers:
            marker.header.stamp = stamp
        # One array holds the scene and the goal: the topic keeps only the last array for a
        # late subscriber, and while no goal is active its DELETE markers clear any ghost.
        array.markers += self._goal_markers.markers
        self._markers_pub.publish(array)


def main(args=None) -> int:
    """
    Run the simulator node until Ctrl-C or shutdown.

    :param args: command line arguments for rclpy (None: sys.argv).
    :return: 0, or 1 after a start-up error (bad parameter, missing backend).
    """
    return run_node(SimNode, f'{NODE_NAME}: cannot start', (ImportError,), args=args)


if __name__ == '__main__':
    sys.exit(main())
