"""
Topic names and QoS profiles shared by the nodes, the rollout and the tests.

The control loop (observation, action) is reliable so that lockstep mode, where the simulator
steps once per action and the policy acts once per observation, never loses a step; depth 1
would drop a message under load, so a small queue is kept.  The goal is transient-local so that a
policy started late still gets the active goal.  Visualization topics use the depths rviz expects.
"""

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)

NAMESPACE = 'play_lmp'

OBSERVATION_TOPIC = 'observation'
ACTION_TOPIC = 'action'
GOAL_TOPIC = 'goal'
TCP_POSE_TOPIC = 'tcp_pose'
MARKERS_TOPIC = 'markers'
SUBGOAL_MARKERS_TOPIC = 'subgoal_markers'
RESET_SERVICE = 'reset'
REACH_GOAL_ACTION = 'reach_goal'
# Relative, like every topic of one table, so that two namespaced tables do not mix their
# joints; /tf is global by convention and kept apart by the frames' prefix instead.
JOINT_STATES_TOPIC = 'joint_states'
TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'
# Sim time, global like rclpy's own subscription to it.
CLOCK_TOPIC = '/clock'
# The URDF of the scene's robot, as robot_state_publisher names it.
ROBOT_DESCRIPTION_TOPIC = 'robot_description'
DIAGNOSTICS_TOPIC = '/diagnostics'

CONTROL_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=5,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# The last sample only, kept for subscribers that join late.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)

GOAL_QOS = LATCHED_QOS

VISUALIZATION_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)

# Latched, so that a recorder or a node that starts late gets the time at once; it serves rclpy's
# best-effort, volatile clock subscription too.
CLOCK_QOS = LATCHED_QOS
# Latched and published once, as robot_state_publisher does.
ROBOT_DESCRIPTION_QOS = LATCHED_QOS
# As tf2's StaticTransformBroadcaster: every static frame in one latched message.
TF_STATIC_QOS = LATCHED_QOS
# Latched so that rviz opened late still draws the scene before the next change.
MARKERS_QOS = LATCHED_QOS

# The ReachGoal action's goal, result and cancel services, on the server and on the package's
# own clients.  rclpy's default keeps 10 requests, and a burst of goals while the executor is busy
# lost every request past them without a word; this depth answers a burst of this many.
ACTION_SERVICE_DEPTH = 1000
ACTION_SERVICE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=ACTION_SERVICE_DEPTH,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
# Keyword arguments of rclpy's ActionServer and ActionClient that give all three services it.
ACTION_SERVICE_PROFILES = {
    f'{service}_service_qos_profile': ACTION_SERVICE_QOS
    for service in ('goal', 'result', 'cancel')}

DIAGNOSTICS_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10,
    reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
