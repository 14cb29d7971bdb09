"""
The launch file and the rviz config.

``launch`` and ``launch_ros`` are not on PyPI, so the file is first checked statically: every
executable it starts is a console script of setup.py, every config file it names exists, it
declares the documented arguments, and each parameter it overrides exists in that node's YAML.
Where launch and launch_ros are importable (a full ROS install) it also runs for real: the three
nodes from the working tree, with a rollout attached to them.
"""

import ast
import importlib.util
import json
import os
from pathlib import Path
import sys

from play_lmp_ros import qos
from play_lmp_ros.goal_server_node import GoalServerNode
from play_lmp_ros.policy_node import PolicyNode
from play_lmp_ros.sim_node import SimNode
import pytest
import rclpy
from ros_harness import console_scripts, node_config
import yaml

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'sim_rollout.launch.py'
RVIZ_CONFIG = REPO / 'config' / 'play_lmp.rviz'
DOCUMENTED_ARGUMENTS = {'model_dir', 'backend', 'replan_every', 'mode', 'rviz', 'foxglove', 'seed',
                        'robot_state_publisher'}
PLAY_TABLE_NODES = {'sim_node', 'goal_server', 'policy_node'}
# Started where installed, from packages of their own.
OTHER_PACKAGES = {'rviz2', 'robot_state_publisher'}


def keyword(call: ast.Call, name: str):
    """
    Return a call's keyword argument node.

    :param call: the call.
    :param name: the keyword.
    :return: the value node, or None.
    """
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


def calls(tree: ast.AST, function: str) -> list:
    """
    Find every call of a function by its name.

    :param tree: parsed module.
    :param function: e.g. 'Node'.
    :return: the Call nodes.
    """
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == function]


@pytest.fixture(scope='module')
def launch_tree() -> ast.Module:
    """
    Parse the launch file.

    :return: its syntax tree.
    """
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def launch_constants(tree: ast.Module) -> dict:
    """
    Read the launch file's module-level constants.

    :param tree: its syntax tree.
    :return: name -> value, for every assignment of a literal.
    """
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            constants.update({target.id: value for target in node.targets
                              if isinstance(target, ast.Name)})
    return constants


def test_every_executable_is_a_console_script(launch_tree):
    """Each of our Node actions starts a console script whose module exists."""
    scripts = console_scripts()
    started = set(launch_constants(launch_tree)['PLAY_TABLE_NODES'])
    for call in calls(launch_tree, 'Node'):
        package = keyword(call, 'package')
        executable = keyword(call, 'executable')
        if isinstance(package, ast.Constant) and package.value in OTHER_PACKAGES:
            continue
        if isinstance(executable, ast.Name):   # the loop over PLAY_TABLE_NODES
            continue
        assert isinstance(executable, ast.Constant), f'line {call.lineno}: executable literal'
        started.add(executable.value)
    for executable in started:
        assert executable in scripts, f'{executable} is not in setup.py'
        module = scripts[executable].split(':')[0]
        assert (REPO / (module.replace('.', '/') + '.py')).is_file(), module
    assert started == PLAY_TABLE_NODES | {'foxglove_bridge'}


def test_namespace_matches_the_nodes(launch_tree):
    """The launch namespace is the one the nodes and the rviz config use."""
    constants = launch_constants(launch_tree)
    assert constants['NAMESPACE'] == qos.NAMESPACE
    assert constants['PACKAGE'] == 'play_lmp_ros'


def test_referenced_config_files_exist(launch_tree):
    """Every .yaml and .rviz file the launch file names is in config/ (and so installed)."""
    names = {node.value for node in ast.walk(launch_tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and node.value.endswith(('.yaml', '.rviz'))}
    assert names >= {f'{node}.yaml' for node in PLAY_TABLE_NODES} | {'play_lmp.rviz'}
    for name in names:
        assert (REPO / 'config' / name).is_file(), f'config/{name} is missing'


def test_declares_the_documented_arguments(launch_tree):
    """The arguments of the README exist, with a description each."""
    declared = {}
    for call in calls(launch_tree, 'DeclareLaunchArgument'):
        name = call.args[0]
        assert isinstance(name, ast.Constant)
        declared[name.value] = keyword(call, 'description')
    assert DOCUMENTED_ARGUMENTS <= set(declared)
    assert all(description is not None for description in declared.values())


def test_overridden_parameters_exist_in_the_node_configs(launch_tree):
    """An argument only overrides parameters that the target node's YAML declares."""
    overrides = next(node.value for node in launch_tree.body if isinstance(node, ast.Assign)
                     and getattr(node.targets[0], 'id', None) == 'OVERRIDES')
    checked = 0
    for key, value in zip(overrides.keys, overrides.values):
        for node_name in ast.literal_eval(value.elts[1]):
            document = yaml.safe_load((REPO / 'config' / f'{node_name}.yaml').read_text())
            (section,) = document.values()
            assert key.value in section['ros__parameters'], f'{node_name}: {key.value}'
            checked += 1
    assert checked >= len(DOCUMENTED_ARGUMENTS) - 2


@pytest.mark.parametrize('node_name, parameter, value', [
    ('sim_node', 'seed', 7), ('goal_server', 'feedback_hz', 7.0), ('policy_node', 'seed', 7)])
def test_a_parameter_file_applies_in_any_namespace(ros_domain, tmp_path, node_name, parameter,
                                                   value):
    """Each config file is keyed /**/<node>, so a second table under its own namespace reads it."""
    document = {f'/**/{node_name}': {'ros__parameters': {**node_config(node_name),
                                                         parameter: value}}}
    params_file = tmp_path / f'{node_name}.yaml'
    params_file.write_text(yaml.safe_dump(document))
    node_class = {'sim_node': SimNode, 'goal_server': GoalServerNode, 'policy_node': PolicyNode}
    context = rclpy.Context()
    rclpy.init(args=['--ros-args', '--params-file', str(params_file)], context=context)
    try:
        for namespace in (qos.NAMESPACE, 'table_b', 'lab/table_c'):
            node = node_class[node_name](context=context, namespace=namespace)
            try:
                assert node.get_parameter(parameter).value == value, namespace
            finally:
                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_rviz_config_shows_the_play_table():
    """Fixed frame world, the robot model, scene and subgoal markers, the TCP pose and TF."""
    config = yaml.safe_load(RVIZ_CONFIG.read_text())['Visualization Manager']
    assert config['Global Options']['Fixed Frame'] == 'world'
    displays = {display['Class']: display for display in config['Displays']}
    marker_topics = {display['Topic']['Value']: display['Topic']
                     for display in config['Displays']
                     if display['Class'] == 'rviz_default_plugins/MarkerArray'}
    assert set(marker_topics) == {f'/{qos.NAMESPACE}/{qos.MARKERS_TOPIC}',
                                  f'/{qos.NAMESPACE}/{qos.SUBGOAL_MARKERS_TOPIC}'}
    # The markers are latched: a volatile rviz subscription would miss the static scene.
    assert all(topic['Durability Policy'] == 'Transient Local'
               for topic in marker_topics.values())
    assert displays['rviz_default_plugins/Pose']['Topic']['Value'] == (
        f'/{qos.NAMESPACE}/{qos.TCP_POSE_TOPIC}')
    assert 'rviz_default_plugins/TF' in displays
    robot = displays['rviz_default_plugins/RobotModel']
    assert robot['Description Source'] == 'Topic'
    assert robot['Description Topic']['Value'] == f'/{qos.NAMESPACE}/{qos.ROBOT_DESCRIPTION_TOPIC}'
    assert robot['Description Topic']['Durability Policy'] == 'Transient Local'
    focal = config['Views']['Current']['Focal Point']
    assert -0.6 <= focal['X'] <= 0.5 and -0.4 <= focal['Y'] <= 0.3 and 0.3 <= focal['Z'] <= 1.0


def make_source_prefix(prefix: Path) -> None:
    """
    Make an ament prefix whose play_lmp_ros runs the working tree, so no build is needed.

    :param prefix: an empty folder.
    """
    index = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'play_lmp_ros').write_text('')
    share = prefix / 'share' / 'play_lmp_ros'
    (share / 'config').mkdir(parents=True)
    for config in (REPO / 'config').glob('*.*'):
        (share / 'config' / config.name).write_bytes(config.read_bytes())
    (share / 'package.xml').write_bytes((REPO / 'package.xml').read_bytes())
    scripts = prefix / 'lib' / 'play_lmp_ros'
    scripts.mkdir(parents=True)
    for name, target in console_scripts().items():
        module, function = target.split(':')
        script = scripts / name
        script.write_text(f'#!{sys.executable}\nimport sys\nfrom {module} import {function}\n'
                          f'sys.exit({function}())\n')
        script.chmod(0o755)


@pytest.fixture
def source_prefix(tmp_path, monkeypatch) -> Path:
    """
    Put a source prefix (make_source_prefix) first on AMENT_PREFIX_PATH, the tree on PYTHONPATH.

    :return: the prefix.
    """
    prefix = tmp_path / 'prefix'
    make_source_prefix(prefix)
    monkeypatch.setenv('AMENT_PREFIX_PATH',
                       os.pathsep.join([str(prefix), os.environ.get('AMENT_PREFIX_PATH', '')]))
    monkeypatch.setenv('PYTHONPATH',
                       os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
    return prefix


@pytest.mark.slow
def test_launch_runs_the_nodes_for_a_rollout(ros_domain, tmp_path, source_prefix):
    """Launched with rviz:=false, the nodes serve a rollout that attaches to them."""
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from launch import LaunchDescription, LaunchService
    from launch.actions import (EmitEvent, ExecuteProcess, IncludeLaunchDescription,
                                RegisterEventHandler, TimerAction)
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    out = tmp_path / 'rollout'
    rollout = ExecuteProcess(
        cmd=[sys.executable, '-m', 'play_lmp_ros.rollout', '--attach', '--tasks',
             'turn_on_lightbulb,turn_off_lightbulb', '--seed', '0', '--out', str(out),
             '--wait', '60', '--json'],
        name='rollout', output='screen')
    exit_codes = []

    def on_rollout_exit(event, context) -> list:
        exit_codes.append(event.returncode)
        return [EmitEvent(event=Shutdown(reason='rollout finished'))]

    description = LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
            launch_arguments={'rviz': 'false', 'backend': 'scripted', 'mode': 'lockstep',
                              'seed': '0'}.items()),
        rollout,
        RegisterEventHandler(OnProcessExit(target_action=rollout, on_exit=on_rollout_exit)),
        TimerAction(period=120.0, actions=[EmitEvent(event=Shutdown(reason='timed out'))]),
    ])
    service = LaunchService(argv=[])
    service.include_launch_description(description)
    assert service.run() == 0
    assert exit_codes == [0]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['attached'] and summary['backend'] == 'scripted'
    assert summary['goals'] == 2 and summary['successes'] >= 1


@pytest.mark.slow
def test_launch_shuts_down_when_a_required_node_dies(ros_domain, tmp_path, source_prefix):
    """
    A policy_node that cannot start (no model) ends the whole launch, not just itself.

    Where rviz2 is absent the default rviz:=true only warns: the launch starts without it, and
    ends with code 0 (it used to fail with "package 'rviz2' not found" and orphan the nodes).
    """
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    from launch import LaunchDescription, LaunchService
    from launch.actions import EmitEvent, IncludeLaunchDescription, RegisterEventHandler
    from launch.actions import TimerAction
    from launch.event_handlers import OnShutdown
    from launch.events import Shutdown
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    try:
        get_package_share_directory('rviz2')
        rviz_installed = True
    except PackageNotFoundError:
        rviz_installed = False
    reasons = []
    description = LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
            launch_arguments={'rviz': 'false' if rviz_installed else 'true',
                              'model_dir': str(tmp_path / 'no_model')}.items()),
        RegisterEventHandler(OnShutdown(
            on_shutdown=lambda event, context: reasons.append(event.reason))),
        TimerAction(period=90.0, actions=[EmitEvent(event=Shutdown(reason='timed out'))]),
    ])
    service = LaunchService(argv=[])
    service.include_launch_description(description)
    assert service.run() == 0
    assert reasons and reasons[0].startswith('policy_node exited'), reasons


def test_rviz_is_started_only_where_installed(monkeypatch, tmp_path):
    """The rviz action is rviz2 with the package's config, or a warning where rviz2 is absent."""
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    from launch import LaunchContext
    from launch.actions import LogInfo
    from launch_ros.actions import Node
    import runpy

    prefix = tmp_path / 'prefix'
    make_source_prefix(prefix)
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    rviz = runpy.run_path(str(LAUNCH_FILE))['_rviz']
    (warning,) = rviz(LaunchContext())
    assert isinstance(warning, LogInfo) and 'rviz2 is not installed' in warning.msg[0].text
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'rviz2').write_text('')
    (prefix / 'share' / 'rviz2').mkdir()
    (viewer,) = rviz(LaunchContext())
    assert isinstance(viewer, Node) and viewer.node_package == 'rviz2'


def test_the_foxglove_layout_is_the_one_its_script_writes():
    """config/play_lmp.foxglove.json is generated: it matches tools/make_foxglove_layout.py."""
    pytest.importorskip('foxglove.layouts')
    sys.path.insert(0, str(REPO / 'tools'))
    try:
        import make_foxglove_layout
    finally:
        sys.path.pop(0)
    assert make_foxglove_layout.main(['--check']) == 0
    layout = json.loads(make_foxglove_layout.LAYOUT_FILE.read_text())
    text = json.dumps(layout)
    for name in (qos.MARKERS_TOPIC, qos.ROBOT_DESCRIPTION_TOPIC, qos.JOINT_STATES_TOPIC,
                 qos.RESET_SERVICE, qos.REACH_GOAL_ACTION):
        assert f'/{qos.NAMESPACE}/{name}' in text, name


@pytest.fixture
def launch_module():
    """Import the launch file as a module (needs launch and launch_ros)."""
    pytest.importorskip('launch')
    pytest.importorskip('launch_ros')
    spec = importlib.util.spec_from_file_location('sim_rollout_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_launch_reads_the_frames_sim_node_gets(launch_module, tmp_path):
    """The URDF handed to robot_state_publisher is rooted where sim_node's poses are."""
    assert launch_module.sim_frames(str(REPO / 'config' / 'sim_node.yaml')) == ('world', '')
    custom = tmp_path / 'sim.yaml'
    custom.write_text(yaml.safe_dump({'/table_b/sim_node': {'ros__parameters': {
        'frame_id': 'map', 'frame_prefix': 'table_b/'}}}))
    assert launch_module.sim_frames(str(custom)) == ('map', 'table_b/')
    custom.write_text(yaml.safe_dump({'/**': {'ros__parameters': {'seed': 3}}}))
    assert launch_module.sim_frames(str(custom)) == ('world', '')


def test_robot_state_publisher_runs_only_where_the_ament_index_has_it(launch_module, tmp_path,
                                                                      monkeypatch):
    """Absent, prefixed frames or turned off: sim_node keeps the links, and the log says why."""
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
    choice = launch_module.robot_state_publisher_choice
    assert choice('false', '') == (False, '')
    started, reason = choice('auto', 'table_b/')
    assert not started and "frame_prefix 'table_b/' is set" in reason
    try:
        get_package_share_directory('robot_state_publisher')
    except PackageNotFoundError:
        started, reason = choice('auto', '')
        assert not started and 'robot_state_publisher is not installed' in reason
        # Registered in an ament prefix the way colcon installs a package: found, and used.
        index = tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages'
        index.mkdir(parents=True)
        (index / 'robot_state_publisher').write_text('')
        (tmp_path / 'share' / 'robot_state_publisher').mkdir()
        monkeypatch.setenv('AMENT_PREFIX_PATH', os.pathsep.join(
            [str(tmp_path), os.environ.get('AMENT_PREFIX_PATH', '')]))
    assert choice('auto', '') == (True, '')
