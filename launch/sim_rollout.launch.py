"""
Launch the play table: simulator, goal server and policy, with rviz or a Foxglove bridge.

    ros2 launch play_lmp_ros sim_rollout.launch.py backend:=scripted mode:=lockstep
    ros2 action send_goal /play_lmp/reach_goal play_lmp_interfaces/action/ReachGoal "{task: ...}"

Each node reads its installed config/<node>.yaml (or the file given by its *_params argument),
keyed /**/<node> so that a second table under PushRosNamespace reads it too.  The three nodes are
required: when one exits (a bad model_dir, a crash) the whole launch shuts down rather than
leave a simulator and a goal server accepting goals nobody runs.  rviz2 starts only where it is
installed (a warning otherwise).  Where robot_state_publisher is installed, it publishes the
scene's URDF links on tf from sim_node's joint_states (sim_node then publishes only the TCP and
the blocks); elsewhere sim_node publishes the links itself.  Ctrl-C ends the goal server's
running goal aborted, so its client gets a result, then stops every node.
The arguments model_dir, backend, replan_every, plan_mode, mode and seed override those files only
when given: left empty they keep the file's value, so no default lives in two places.
"""

import os
from typing import Tuple

from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction, Shutdown
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from play_lmp_ros.core.sim.robot_description import robot_description
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.sim_node import SimNodeParams
import yaml

PACKAGE = 'play_lmp_ros'
NAMESPACE = 'play_lmp'
# The required nodes, each started by its console script of the same name.
PLAY_TABLE_NODES = ('sim_node', 'goal_server', 'policy_node')

# Launch argument -> (type, the nodes whose parameter of the same name it overrides).
OVERRIDES = {
    'model_dir': (str, ('policy_node',)),
    'backend': (str, ('policy_node',)),
    'replan_every': (int, ('policy_node',)),
    'plan_mode': (str, ('policy_node',)),
    'mode': (str, ('sim_node', 'policy_node')),
    'seed': (int, ('sim_node', 'policy_node')),
}


def _overrides(context, node_name: str) -> dict:
    """
    Collect the parameter overrides given on the command line for one node.

    :param context: the launch context.
    :param node_name: 'sim_node', 'goal_server' or 'policy_node'.
    :return: parameter name -> typed value, only for the arguments that were set.
    :raises ValueError: for a value that does not convert to the parameter's type.
    """
    values = {}
    for argument, (kind, nodes) in OVERRIDES.items():
        text = LaunchConfiguration(argument).perform(context)
        if node_name not in nodes or text == '':
            continue
        try:
            values[argument] = kind(text)
        except ValueError:
            raise ValueError(f'launch argument {argument} must be {kind.__name__}, '
                             f'got {text!r}') from None
    return values


def _parameters(context, node_name: str) -> list:
    """
    Return a node's parameters: its parameter file, then the overrides given as arguments.

    :param context: the launch context.
    :param node_name: 'sim_node', 'goal_server' or 'policy_node'.
    :return: the list for Node(parameters=...).
    """
    params_file = LaunchConfiguration(f'{node_name}_params').perform(context)
    return [params_file, _overrides(context, node_name)]


def sim_frames(params_file: str) -> Tuple[str, str]:
    """
    Read the world frame and the frame prefix that sim_node gets from its parameter file.

    :param params_file: the file given as sim_node_params.
    :return: (frame_id, frame_prefix), SimNodeParams' defaults where the file is silent.
    """
    frame_id, frame_prefix = SimNodeParams.frame_id, SimNodeParams.frame_prefix
    with open(params_file) as stream:
        document = yaml.safe_load(stream) or {}
    for key, section in document.items():
        if key.rstrip('/').split('/')[-1] in ('sim_node', '**') and isinstance(section, dict):
            values = section.get('ros__parameters') or {}
            frame_id = values.get('frame_id', frame_id)
            frame_prefix = values.get('frame_prefix', frame_prefix)
    return frame_id, frame_prefix


def robot_state_publisher_choice(wanted: str, frame_prefix: str) -> Tuple[bool, str]:
    """
    Decide whether robot_state_publisher publishes the URDF links.

    :param wanted: the robot_state_publisher argument, 'auto' or 'false'.
    :param frame_prefix: sim_node's frame prefix.
    :return: (start it, why not when not).
    """
    if wanted == 'false':
        return False, ''
    if frame_prefix:
        # Its frame_prefix would rename the root link too, cutting the robot off the world frame.
        return False, (f'frame_prefix {frame_prefix!r} is set: sim_node publishes the URDF links '
                       'itself instead of robot_state_publisher')
    try:
        get_package_share_directory('robot_state_publisher')
    except PackageNotFoundError:
        return False, ('robot_state_publisher is not installed: sim_node publishes the URDF '
                       'links on tf itself')
    return True, ''


def _play_table_nodes(context) -> list:
    """
    Build the three play-table nodes, and robot_state_publisher where it is used.

    :param context: the launch context.
    :return: the Node (and LogInfo) actions.
    """
    common = {
        'package': PACKAGE, 'namespace': NAMESPACE, 'output': 'screen', 'emulate_tty': True,
        'arguments': ['--ros-args', '--log-level',
                      LaunchConfiguration('log_level').perform(context)],
    }
    frame_id, frame_prefix = sim_frames(LaunchConfiguration('sim_node_params').perform(context))
    use_publisher, reason = robot_state_publisher_choice(
        LaunchConfiguration('robot_state_publisher').perform(context), frame_prefix)
    actions = []
    for name in PLAY_TABLE_NODES:
        parameters = _parameters(context, name)
        if name == 'sim_node' and use_publisher:
            parameters.append({'publish_links': False})
        actions.append(Node(
            executable=name, name=name, parameters=parameters,
            on_exit=Shutdown(reason=f'{name} exited; the play table needs all three nodes'),
            **common))
    if use_publisher:
        # In the namespace: it reads that table's joint_states.  It publishes the global /tf
        # and /tf_static, and robot_description beside sim_node's identical latched one.
        actions.append(Node(
            package='robot_state_publisher', executable='robot_state_publisher',
            name='robot_state_publisher', namespace=NAMESPACE, output='screen',
            parameters=[{'robot_description': robot_description(frame_id)}]))
    elif reason:
        actions.append(LogInfo(msg=reason))
    return actions


def _rviz(context) -> list:
    """
    Start rviz2 with the package's config where rviz2 is installed, else warn.

    :param context: the launch context.
    :return: the rviz2 Node action, or a warning.
    """
    try:
        get_package_share_directory('rviz2')
    except PackageNotFoundError:
        return [LogInfo(msg='rviz2 is not installed: starting without it (rviz:=false hides '
                            'this message; the markers and TF are published all the same)')]
    config = os.path.join(get_package_share_directory(PACKAGE), 'config', 'play_lmp.rviz')
    return [Node(package='rviz2', executable='rviz2', name='rviz2', output='screen',
                 arguments=['-d', config])]


def generate_launch_description() -> LaunchDescription:
    """
    Describe the play-table launch.

    :return: the launch description.
    """
    config = os.path.join(get_package_share_directory(PACKAGE), 'config')
    arguments = [
        DeclareLaunchArgument(
            'backend', default_value='', choices=['', 'onnx', 'scripted'],
            description="Policy backend: 'onnx' (an exported model) or 'scripted' (the "
                        "scripted skills); empty keeps policy_node.yaml's value."),
        DeclareLaunchArgument(
            'model_dir', default_value='',
            description='Folder with planner.onnx and actor.onnx; empty keeps '
                        "policy_node.yaml's value (the bundled model)."),
        DeclareLaunchArgument(
            'replan_every', default_value='',
            description='Replan every this many control steps; empty keeps the value of '
                        'policy_node.yaml.'),
        DeclareLaunchArgument(
            'plan_mode', default_value='',
            choices=['', *PLAN_MODES],
            description='Subgoal planning at each replan (models with subgoal.onnx); empty '
                        "keeps policy_node.yaml's value (the model's default)."),
        DeclareLaunchArgument(
            'mode', default_value='', choices=['', 'realtime', 'lockstep'],
            description="'realtime' (sim and policy on 30 Hz timers) or 'lockstep' (one sim "
                        'step per action, one action per observation); empty keeps the files.'),
        DeclareLaunchArgument(
            'seed', default_value='',
            description='Seed of the simulator and of the policy sampling; empty keeps the '
                        'files.'),
        DeclareLaunchArgument(
            'rviz', default_value='true', choices=['true', 'false'],
            description='Start rviz2 with config/play_lmp.rviz (where rviz2 is installed).'),
        DeclareLaunchArgument(
            'robot_state_publisher', default_value='auto', choices=['auto', 'false'],
            description="'auto': robot_state_publisher publishes the URDF links on tf from "
                        "joint_states where it is installed; 'false': sim_node publishes "
                        'them itself.'),
        DeclareLaunchArgument(
            'foxglove', default_value='false', choices=['true', 'false'],
            description='Start the Foxglove WebSocket bridge (port 8765; needs foxglove-sdk).'),
        DeclareLaunchArgument(
            'log_level', default_value='info',
            choices=['debug', 'info', 'warn', 'error', 'fatal'],
            description='Log level of the play-table nodes.'),
        DeclareLaunchArgument(
            'sim_node_params', default_value=os.path.join(config, 'sim_node.yaml'),
            description='Parameter file of sim_node.'),
        DeclareLaunchArgument(
            'goal_server_params', default_value=os.path.join(config, 'goal_server.yaml'),
            description='Parameter file of goal_server.'),
        DeclareLaunchArgument(
            'policy_node_params', default_value=os.path.join(config, 'policy_node.yaml'),
            description='Parameter file of policy_node.'),
    ]
    return LaunchDescription(arguments + [
        OpaqueFunction(function=_play_table_nodes),
        OpaqueFunction(function=_rviz, condition=IfCondition(LaunchConfiguration('rviz'))),
        Node(package=PACKAGE, executable='foxglove_bridge', name='foxglove_bridge',
             namespace=NAMESPACE, output='screen',
             condition=IfCondition(LaunchConfiguration('foxglove'))),
    ])
