"""
The rollout command end to end, its goal files, and the Foxglove bridge it can start.

The end-to-end runs start ``python -m play_lmp_ros.rollout`` in a subprocess: the composed nodes
run real PyBullet, real DDS and the scripted policy; the outputs are read back with mcap's reader.
"""

import json
import os
from pathlib import Path
import subprocess
import sys
import time

from foxglove_client import FoxgloveClient
from geometry_msgs.msg import PoseStamped
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import numpy as np
from play_lmp_interfaces.msg import Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_ros.foxglove_bridge_node import (FoxgloveBridgeNode, marker_array_to_scene_update,
                                               observation_to_json)
from play_lmp_ros.goal_server_node import GoalServerNode
from play_lmp_ros.rollout.goals import GoalSpec, load_goals, parse_goal_entry, parse_task_list
from play_lmp_ros.sim_node import SimNode
from play_lmp_ros.subprotocol_relay import SDK_SUBPROTOCOL, WEBSOCKET_SUBPROTOCOL
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_harness import Graph, NodeProcess, stop_all, wait_until
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker, MarkerArray

REPO = Path(__file__).resolve().parents[1]
SEED = 0
# Tasks on different parts of the table, so that one does not make the next infeasible.
TASK_FAMILIES = (('open_drawer', 'close_drawer'), ('turn_on_led', 'turn_off_led'),
                 ('move_slider_left', 'move_slider_right'),
                 ('turn_on_lightbulb', 'turn_off_lightbulb'))
PROCESS_TIMEOUT_S = 240.0


def feasible_tasks_for_seed(seed: int, count: int) -> list:
    """
    Pick tasks on different parts of the table that are feasible in a seed's scene.

    :param seed: the scene seed.
    :param count: how many.
    :return: task names.
    """
    with PlayTableSim(seed=seed) as sim:
        obs = sim.reset_random(seed)
    picked = []
    for family in TASK_FAMILIES:
        feasible = [task for task in family if infeasibility(task, obs) is None]
        if feasible:
            picked.append(feasible[0])
    assert len(picked) >= count, f'seed {seed}: only {picked} are feasible'
    return picked[:count]


def run_rollout(arguments: list, timeout_s: float = PROCESS_TIMEOUT_S):
    """
    Run the rollout command in a subprocess, killing it if it hangs.

    :param arguments: command line arguments.
    :param timeout_s: how long it may take.
    :return: the completed process (stdout and stderr as text).
    """
    process = subprocess.Popen([sys.executable, '-m', 'play_lmp_ros.rollout', *arguments],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=REPO, env={**os.environ, 'PYTHONPATH': os.pathsep.join(
                                   [str(REPO), os.environ.get('PYTHONPATH', '')])})
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def read_mcap_log_times(path: Path) -> dict:
    """
    Decode an MCAP file and collect each topic's log times.

    :param path: the file.
    :return: topic -> log times (ns), in file order.
    """
    times = {}
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages():
            assert decoded is not None
            times.setdefault(channel.topic, []).append(message.log_time)
    return times


@pytest.mark.slow
def test_scripted_lockstep_rollout_records_everything(ros_domain, tmp_path):
    """Three feasible tasks: summary, MCAP with the control loop, and a video."""
    tasks = feasible_tasks_for_seed(SEED, 3)
    out = tmp_path / 'run'
    done = run_rollout(['--backend', 'scripted', '--mode', 'lockstep', '--seed', str(SEED),
                        '--tasks', ','.join(tasks), '--out', str(out), '--record', '--video'])
    assert done.returncode == 0, done.stderr[-3000:]

    summary = json.loads((out / 'summary.json').read_text())
    assert [result['task'] for result in summary['results']] == tasks
    assert summary['goals'] == 3 and summary['successes'] >= 2
    assert summary['backend'] == 'scripted' and summary['mode'] == 'lockstep'
    assert summary['success_rate'] == pytest.approx(summary['successes'] / 3)
    goal_lines = [line for line in done.stdout.splitlines() if line.startswith('[')]
    assert [line.split()[1] for line in goal_lines] == tasks

    # A namespace of its own, said on stderr and in the summary.
    namespace = summary['namespace']
    assert namespace.startswith('/rollout_') and f'play table in {namespace}' in done.stderr
    log_times = read_mcap_log_times(out / 'rollout.mcap')
    counts = {topic: len(times) for topic, times in log_times.items()}
    steps = sum(result['steps'] for result in summary['results'])
    assert counts[f'{namespace}/observation'] >= steps
    assert counts[f'{namespace}/action'] >= steps - 3
    assert counts[f'{namespace}/goal'] >= 1
    # Logged on the simulator's /clock, so the file replays at real speed: the observations
    # span one control period per step, though lockstep ran them several times faster.
    observed = log_times[f'{namespace}/observation']
    span_s = (max(observed) - min(observed)) / 1e9
    simulated_s = (counts[f'{namespace}/observation'] - 1) / layout.CONTROL_HZ
    assert abs(span_s - simulated_s) <= 0.1 * simulated_s, (span_s, simulated_s)

    video = Path(summary['files']['video'])
    assert video.parent == out and video.stat().st_size > 0


def test_two_rollouts_in_one_domain_each_reach_their_goals(ros_domain, tmp_path):
    """Two composed rollouts at once, as they come: each in a namespace of its own."""
    tasks = feasible_tasks_for_seed(SEED, 4)
    names = ('run_a', 'run_b')
    processes = [subprocess.Popen(
        [sys.executable, '-m', 'play_lmp_ros.rollout', '--backend', 'scripted', '--seed',
         str(SEED), '--tasks', ','.join(tasks), '--out', str(tmp_path / name)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=REPO) for name in names]
    try:
        outputs = [process.communicate(timeout=PROCESS_TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    summaries = []
    for name, process, (_, stderr) in zip(names, processes, outputs):
        assert process.returncode == 0, f'{name}: {stderr[-3000:]}'
        summaries.append(json.loads((tmp_path / name / 'summary.json').read_text()))
        outcomes = [result['outcome'] for result in summaries[-1]['results']]
        # Sharing one namespace, two such runs scored 1/4 and 0/4, one outcome empty.
        assert outcomes == ['succeeded'] * len(tasks), f'{name}: {outcomes}'
    assert summaries[0]['namespace'] != summaries[1]['namespace']


@pytest.mark.slow
def test_realtime_rollout_with_foxglove_and_json(ros_domain, tmp_path):
    """Realtime mode with the live bridge: stdout is exactly one JSON document."""
    pytest.importorskip('foxglove')
    (task,) = feasible_tasks_for_seed(SEED, 1)
    done = run_rollout(['--backend', 'scripted', '--mode', 'realtime', '--tasks', task,
                        '--out', str(tmp_path), '--foxglove', '--foxglove-port', '0', '--json'])
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary['mode'] == 'realtime' and summary['goals'] == 1
    assert summary['results'][0]['task'] == task
    assert 'Foxglove: open ws://127.0.0.1:' in done.stderr


def test_foxglove_wait_holds_the_goals_until_the_app_subscribes(ros_domain, tmp_path):
    """--foxglove-wait: a lockstep run starts its goals only once a client watches."""
    pytest.importorskip('foxglove')
    (task,) = feasible_tasks_for_seed(SEED, 1)
    process = subprocess.Popen(
        [sys.executable, '-m', 'play_lmp_ros.rollout', '--backend', 'scripted', '--tasks', task,
         '--out', str(tmp_path), '--foxglove', '--foxglove-port', '0', '--foxglove-wait', '60'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    client = None
    try:
        port = namespace = None
        for line in process.stderr:
            if line.startswith('play table in '):
                namespace = line.split()[-1]
            if line.startswith('Foxglove: open ws://127.0.0.1:'):
                port = int(line.rsplit(':', 1)[1])
            if line.startswith('waiting up to 60 s'):
                break
        assert port is not None, 'no Foxglove URL printed'
        time.sleep(1.0)
        assert process.poll() is None and not (tmp_path / 'summary.json').exists()
        client = FoxgloveClient(port)
        client.read_until(lambda _: f'{namespace}/observation' in client.channels)
        client.subscribe(f'{namespace}/observation')
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if client is not None:
            client.close()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    assert 'Foxglove client connected' in stderr
    assert json.loads((tmp_path / 'summary.json').read_text())['goals'] == 1


def test_unknown_task_exits_2_with_close_matches(tmp_path):
    """A typo is refused before anything starts, with the names it resembles."""
    done = run_rollout(['--tasks', 'open_drawer,open_drawr', '--out', str(tmp_path)], 60.0)
    assert done.returncode == 2
    assert "unknown task 'open_drawr'" in done.stderr
    assert 'open_drawer' in done.stderr.split("'open_drawr'")[1]
    assert not (tmp_path / 'summary.json').exists()


def test_an_unwritable_out_folder_exits_2_naming_it(tmp_path):
    """--out on a file: refused before anything starts, with one line, not a traceback."""
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    done = run_rollout(['--tasks', 'open_drawer', '--out', str(blocker / 'run')], 60.0)
    assert done.returncode == 2
    assert f'--out {blocker / "run"} is not a writable folder' in done.stderr
    assert 'Traceback' not in done.stderr


def test_a_bad_namespace_exits_2_naming_it(tmp_path):
    """--namespace is checked with ROS's own rules before anything starts."""
    done = run_rollout(['--tasks', 'open_drawer', '--namespace', 'lab/2nd', '--out',
                        str(tmp_path)], 60.0)
    assert done.returncode == 2
    assert "--namespace 'lab/2nd' is not a ROS namespace" in done.stderr
    assert 'starts with a number' in done.stderr


def test_attach_without_nodes_exits_1(ros_domain, tmp_path):
    """--attach with nothing running says what is missing."""
    done = run_rollout(['--attach', '--tasks', 'open_drawer', '--wait', '2',
                        '--out', str(tmp_path)], 60.0)
    assert done.returncode == 1
    assert 'no reset service /play_lmp/reset' in done.stderr


def test_a_rollout_beside_a_running_table_refuses_and_runs_in_its_own_namespace(
        ros_domain, tmp_path):
    """Two play tables in one namespace would mix resets and goals: the second one refuses."""
    with Graph() as graph:
        sim = NodeProcess('sim_node', tmp_path, graph.namespace, mode='lockstep')
        try:
            graph.reset(SEED)
            common = ['--backend', 'scripted', '--tasks', 'turn_on_led', '--seed', '0']
            done = run_rollout([*common, '--out', str(tmp_path / 'refused'), '--namespace',
                                graph.namespace], 120.0)
            assert done.returncode == 1, done.stderr
            assert (f'another play table or rollout runs in /{graph.namespace}' in done.stderr
                    and f'/{graph.namespace}/sim_node' in done.stderr), done.stderr
            done = run_rollout([*common, '--out', str(tmp_path / 'own'), '--ros-args',
                                '-r', f'__ns:=/{graph.namespace}_b'], 120.0)
            assert done.returncode == 0, done.stderr
            summary = json.loads((tmp_path / 'own' / 'summary.json').read_text())
            assert summary['goals'] == 1
        finally:
            sim.stop()


def test_example_goal_file_is_valid():
    """config/rollout.yaml parses: named tasks and one 39-D state."""
    goals = load_goals(REPO / 'config' / 'rollout.yaml')
    assert [goal.task for goal in goals if goal.task]
    states = [goal for goal in goals if goal.state is not None]
    assert len(states) == 1 and len(states[0].state) == layout.OBS_DIM


@pytest.mark.parametrize('entry, message', [
    # Both kinds of goal in one entry.
    ({'task': 'open_drawer', 'state': [0.0] * 39}, 'exactly one of task and state'),
    # Neither.
    ({'timeout_s': 3}, 'exactly one of task and state'),
    # A typo in a key.
    ({'task': 'open_drawer', 'timeout': 3}, "unknown keys ['timeout']"),
    # A typo in a task, with the closest name.
    ({'task': 'turn_on_lightbul'}, 'turn_on_lightbulb'),
    # A state of the wrong length.
    ({'state': [0.0] * 38}, '39'),
    # A non-finite state.
    ({'state': [float('nan')] * 39}, 'state'),
    # A negative timeout.
    ({'task': 'open_drawer', 'timeout_s': -1}, 'timeout_s must be a number >= 0'),
    # Not a mapping at all.
    ('open_drawer', 'expected a mapping'),
])
def test_bad_goal_entries_are_named(entry, message):
    """Each malformed entry raises ValueError naming the entry and the problem."""
    with pytest.raises(ValueError, match='goals\\[4\\]') as error:
        parse_goal_entry(entry, 'goals[4]')
    assert message in str(error.value)


def test_goal_file_errors(tmp_path):
    """A missing file, bad YAML and an empty list are refused with the file's name."""
    with pytest.raises(ValueError, match='cannot read'):
        load_goals(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('goals: [task: open_drawer\n')
    with pytest.raises(ValueError, match='not valid YAML'):
        load_goals(bad)
    bad.write_text('goals: []\n')
    with pytest.raises(ValueError, match='non-empty list'):
        load_goals(bad)


def test_task_list():
    """Commas and spaces separate names; an empty list is refused."""
    assert parse_task_list(' open_drawer, turn_on_led ') == [
        GoalSpec(task='open_drawer'), GoalSpec(task='turn_on_led')]
    with pytest.raises(ValueError, match='at least one'):
        parse_task_list(' , ')


# The Foxglove bridge (rollout --foxglove, or the foxglove_bridge node).


def decode_foxglove(message) -> object:
    """
    Decode a Foxglove protobuf message with its own schema.

    :param message: e.g. a foxglove.messages.SceneUpdate.
    :return: the protobuf message.
    """
    schema = type(message).get_schema()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(bytes(schema.data)).file:
        pool.Add(file)
    message_class = message_factory.GetMessageClass(pool.FindMessageTypeByName(schema.name))
    return message_class.FromString(message.encode())


def test_markers_become_a_scene_update():
    """Shapes keep pose, size and colour; deletes and unsupported types map as rviz would."""
    pytest.importorskip('foxglove')
    cube = Marker(ns='scene', id=3, type=Marker.CUBE, action=Marker.ADD)
    cube.header.frame_id = 'world'
    cube.pose.position.x, cube.pose.orientation.w = 0.25, 1.0
    cube.scale.x, cube.scale.y, cube.scale.z = 0.1, 0.2, 0.3
    cube.color.r, cube.color.a = 1.0, 0.5
    text = Marker(ns='labels', id=1, type=Marker.TEXT_VIEW_FACING, text='drawer')
    text.scale.z = 0.05
    mesh = Marker(ns='robot', id=2, type=Marker.MESH_RESOURCE)
    gone = Marker(ns='goal', id=7, action=Marker.DELETE)
    clear = Marker(action=Marker.DELETEALL)
    update = decode_foxglove(marker_array_to_scene_update(
        MarkerArray(markers=[cube, text, mesh, gone, clear])))
    assert [entity.id for entity in update.entities] == ['scene/3', 'labels/1']
    (box,) = update.entities[0].cubes
    assert update.entities[0].frame_id == 'world'
    assert (box.pose.position.x, box.size.y, box.color.a) == pytest.approx((0.25, 0.2, 0.5))
    assert update.entities[1].texts[0].text == 'drawer'
    assert [(deletion.id, deletion.type) for deletion in update.deletions] == [
        ('goal/7', 0), ('', 1)]


def test_observation_becomes_named_json():
    """Every dimension gets its layout name."""
    pytest.importorskip('foxglove')
    obs = np.arange(layout.OBS_DIM, dtype=float)
    stamp = PoseStamped().header.stamp
    payload = observation_to_json(conversions.array_to_observation(obs, stamp))
    assert payload['frame_id'] == 'world'
    assert [payload[name] for name in layout.OBS_NAMES] == list(obs)
    json.dumps(payload)


def test_bridge_serves_and_forwards(ros_domain, tmp_path):
    """A WebSocket client sees the channels; every forwarded message lands in a sink."""
    foxglove = pytest.importorskip('foxglove')
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    bridge = FoxgloveBridgeNode(context=context, parameter_overrides=[Parameter('port', value=0)])
    talker = Node('talker', namespace=qos.NAMESPACE, context=context)
    sink_path = tmp_path / 'bridge.mcap'
    sink = foxglove.open_mcap(sink_path, context=bridge.foxglove_context)
    try:
        client = FoxgloveClient(bridge.port)
        topics = {'/play_lmp/markers', '/play_lmp/tcp_pose', '/play_lmp/observation',
                  '/play_lmp/joint_states', '/play_lmp/robot_description'}
        try:
            assert client.upgraded, client.handshake
            client.read_until(lambda _: topics <= set(client.channels))
            assert topics <= set(client.channels)
        finally:
            client.close()

        publishers = [
            (talker.create_publisher(MarkerArray, qos.MARKERS_TOPIC, qos.MARKERS_QOS),
             MarkerArray(markers=[Marker(ns='scene', id=1, type=Marker.SPHERE)])),
            (talker.create_publisher(PoseStamped, qos.TCP_POSE_TOPIC, qos.VISUALIZATION_QOS),
             PoseStamped()),
            (talker.create_publisher(JointState, qos.JOINT_STATES_TOPIC, qos.VISUALIZATION_QOS),
             JointState(name=['panda_joint1'], position=[0.5])),
            (talker.create_publisher(Observation, qos.OBSERVATION_TOPIC, qos.CONTROL_QOS),
             conversions.array_to_observation(np.zeros(layout.OBS_DIM),
                                              PoseStamped().header.stamp)),
        ]
        executor.add_node(bridge)
        executor.add_node(talker)
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and any(
                publisher.get_subscription_count() == 0 for publisher, _ in publishers):
            executor.spin_once(timeout_sec=0.1)
        # Publish for a while rather than once: delivery needs no exact timing then.
        for _ in range(10):
            for publisher, message in publishers:
                publisher.publish(message)
            for _ in range(5):
                executor.spin_once(timeout_sec=0.02)
    finally:
        sink.close()
        executor.shutdown()
        talker.destroy_node()
        bridge.destroy_node()
        rclpy.try_shutdown(context=context)

    schemas = {}
    with open(sink_path, 'rb') as stream:
        for schema, channel, _ in make_reader(stream).iter_messages():
            schemas[channel.topic] = (schema.name if schema else None, channel.message_encoding)
    assert schemas['/play_lmp/markers'] == ('foxglove.SceneUpdate', 'protobuf')
    assert schemas['/play_lmp/tcp_pose'] == ('foxglove.PoseInFrame', 'protobuf')
    assert schemas['/play_lmp/observation'][1] == 'json'
    assert schemas['/play_lmp/joint_states'] == ('sensor_msgs/msg/JointState', 'cdr')


@pytest.mark.parametrize('subprotocol', [SDK_SUBPROTOCOL, WEBSOCKET_SUBPROTOCOL])
def test_bridge_speaks_both_subprotocol_names(ros_domain, subprotocol):
    """The Foxglove app's name and the older ws-protocol clients' name both connect."""
    pytest.importorskip('foxglove')
    context = rclpy.Context()
    rclpy.init(context=context)
    bridge = FoxgloveBridgeNode(context=context, parameter_overrides=[Parameter('port', value=0)])
    try:
        client = FoxgloveClient(bridge.port, subprotocol=subprotocol)
        try:
            assert client.upgraded, client.handshake
            assert f'sec-websocket-protocol: {subprotocol}' in client.handshake.lower()
            client.read_until(lambda _: '/play_lmp/observation' in client.channels)
            assert '/play_lmp/observation' in client.channels
        finally:
            client.close()
        refused = FoxgloveClient(bridge.port, subprotocol='mqtt')
        try:
            assert not refused.upgraded
            assert ' 400 ' in refused.handshake.splitlines()[0], refused.handshake
        finally:
            refused.close()
    finally:
        bridge.destroy_node()
        rclpy.try_shutdown(context=context)


def test_bridge_services_reset_and_send_goals_and_see_clients(ros_domain):
    """From a Foxglove client: reset, a goal the goal server takes, bad requests refused."""
    pytest.importorskip('foxglove')
    with Graph() as graph:
        graph.start(SimNode, mode='lockstep')
        graph.start(GoalServerNode)
        bridge = graph.start(FoxgloveBridgeNode, port=0)
        client = FoxgloveClient(bridge.port)
        try:
            assert client.upgraded, client.handshake
            reset, goal = f'/{graph.namespace}/reset', f'/{graph.namespace}/reach_goal'
            client.read_until(lambda _: {reset, goal} <= set(client.services)
                              and f'/{graph.namespace}/observation' in client.channels)
            ok, answer = client.call(reset, {'seed': 3}, call_id=1)
            assert ok and answer['success'], answer
            task = feasible_tasks_for_seed(3, 1)[0]
            ok, answer = client.call(goal, {'task': task}, call_id=2)
            assert ok and answer['accepted'] and len(answer['goal_id']) == 32, answer
            wait_until(lambda: any(msg.task == task and msg.goal_id == answer['goal_id']
                                   for msg in graph.goals.messages), 20.0,
                       'the goal published by the goal server')
            ok, failure = client.call(reset, {'seed': -1}, call_id=3)
            assert not ok and 'seed must be at least 0' in failure['message'], failure
            ok, failure = client.call(goal, {'task': 'open_drawer', 'speed': 2}, call_id=4)
            assert not ok and "unknown ['speed']" in failure['message'], failure
            assert not bridge.wait_for_client(0.1)
            client.subscribe(f'/{graph.namespace}/observation')
            assert bridge.wait_for_client(10.0)
        finally:
            client.close()


def test_a_killed_goal_server_ends_the_goal_unanswered_within_seconds(ros_domain, tmp_path):
    """A kill -9 of the goal server mid-goal: rollout notices the silence and reports it."""
    with Graph() as graph:
        processes = {
            'sim': NodeProcess('sim_node', tmp_path, graph.namespace, mode='realtime'),
            'goal_server': NodeProcess('goal_server', tmp_path, graph.namespace),
        }
        try:
            obs = graph.reset_until_seen(SEED, ['goal_server'])
            task = next(task for task in TASK_NAMES if not infeasibility(task, obs))
            rollout = subprocess.Popen(
                [sys.executable, '-m', 'play_lmp_ros.rollout', '--attach', '--tasks', task,
                 '--timeout', '60', '--out', str(tmp_path / 'out'), '--ros-args',
                 '-r', f'__ns:=/{graph.namespace}'],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
            try:
                wait_until(lambda: graph.diagnostics_values('goal_server').get('phase')
                           == 'running', 60.0, 'the rollout goal running')
                killed_at = time.monotonic()
                processes['goal_server'].kill()
                output, _ = rollout.communicate(timeout=60.0)
                seconds = time.monotonic() - killed_at
            finally:
                if rollout.poll() is None:
                    rollout.kill()
            print(f'goal server killed -> rollout reports it: {seconds:.1f} s')
            assert 'the goal server went silent' in output, output
            assert seconds < 30.0   # DDS alone: 20 s to notice, and no result ever
        finally:
            stop_all(processes)
