"""The play_lmp_interfaces types: their fields and a round trip over DDS between processes."""

import subprocess
import sys
import textwrap
import time

import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_interfaces.srv import ResetSim
import rclpy
from rclpy.executors import SingleThreadedExecutor
from ros_harness import end_process

# A second process that turns every Observation it receives into a GoalState carrying the same
# 39 numbers, so the test sees both message types cross the DDS boundary.
ECHO_NODE = textwrap.dedent("""
    import rclpy
    from rclpy.node import Node
    from play_lmp_interfaces.msg import GoalState, Observation

    class Echo(Node):
        def __init__(self):
            super().__init__('interface_echo')
            self._pub = self.create_publisher(GoalState, 'echo/goal', 10)
            self.create_subscription(Observation, 'echo/observation', self._on_obs, 10)

        def _on_obs(self, msg):
            out = GoalState()
            out.header = msg.header
            out.task = 'open_drawer'
            out.state = list(msg.robot_obs) + list(msg.scene_obs)
            out.active = True
            self._pub.publish(out)

    rclpy.init()
    node = Echo()
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
""")


def test_fixed_size_fields_match_the_layout():
    """
    The message fields have the layout's fixed sizes.

    The generated Python classes do not enforce these sizes (a wrong-length list even
    serializes), so play_lmp_ros.conversions validates every array before it is sent.
    """
    assert Observation.get_fields_and_field_types()['robot_obs'] == 'double[15]'
    assert Observation.get_fields_and_field_types()['scene_obs'] == 'double[24]'
    assert GoalState.get_fields_and_field_types()['state'] == 'double[39]'
    action_fields = EndEffectorAction.get_fields_and_field_types()
    assert (action_fields['position'], action_fields['orientation']) == ('double[3]', 'double[3]')
    assert len(Observation().robot_obs) == 15 and len(GoalState().state) == 39


def test_action_message_constants_and_reach_goal_parts():
    """The action type has goal, result and feedback parts with the documented fields."""
    assert (EndEffectorAction.RELATIVE, EndEffectorAction.ABSOLUTE) == (0, 1)
    goal = ReachGoal.Goal(task='open_drawer', timeout_s=10.0)
    goal.goal_state = [0.5] * 39
    result = ReachGoal.Result(success=True, outcome='succeeded', steps=12, elapsed_s=0.4)
    result.tasks_completed = ['open_drawer']
    feedback = ReachGoal.Feedback(step=3, replans=1, distance_to_goal=0.2)
    assert goal.task == 'open_drawer' and len(goal.goal_state) == 39
    assert result.outcome == 'succeeded' and feedback.replans == 1


def test_reset_state_is_bounded_and_reach_goal_fields_are_not():
    """
    ResetSim.state is float64[<=39]; ReachGoal's task and goal_state stay unbounded.

    With every field bounded, the reset request is a bounded DDS type: rclpy refuses to send a
    longer one (RCLError, see test_sim_node), and Fast DDS drops a longer one on reception
    before the server reads it (measured with an unbounded client: 40 and 10,000,000 values
    never reached the server, which went on serving).  The action's goal service gets no such
    protection from bounds (a 1,000,000-character task and 100,000 values still arrived), and
    a bounded action client drops a too-long goal without raising, leaving its caller waiting,
    so the goal server checks those lengths itself.
    """
    assert ResetSim.Request.get_fields_and_field_types()['state'] == 'sequence<double, 39>'
    goal_fields = ReachGoal.Goal.get_fields_and_field_types()
    assert (goal_fields['task'], goal_fields['goal_state']) == ('string', 'sequence<double>')


def test_observation_round_trip_over_dds_between_processes(ros_domain):
    """Publish an Observation here, get it back as a GoalState from a separate process."""
    echo = subprocess.Popen([sys.executable, '-c', ECHO_NODE])
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('interface_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received = []
    publisher = node.create_publisher(Observation, 'echo/observation', 10)
    node.create_subscription(GoalState, 'echo/goal', received.append, 10)
    sent = Observation()
    sent.robot_obs = np.linspace(-1.0, 1.0, 15)
    sent.scene_obs = np.arange(24, dtype=np.float64) * 0.01
    try:
        deadline = time.monotonic() + 20.0
        while not received and time.monotonic() < deadline and echo.poll() is None:
            publisher.publish(sent)
            executor.spin_once(timeout_sec=0.1)
        assert echo.poll() is None, f'echo process exited with code {echo.returncode}'
        assert received, 'no GoalState came back over DDS within 20 s'
        state = np.asarray(received[0].state)
        np.testing.assert_array_equal(state[:15], sent.robot_obs)
        np.testing.assert_array_equal(state[15:], sent.scene_obs)
        assert received[0].task == 'open_drawer' and received[0].active
    finally:
        end_process(echo)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
