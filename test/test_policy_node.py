"""The policy node over DDS: ONNX and scripted backends, holds, diagnostics, start-up errors."""

import dataclasses
import os
import time
from typing import Optional

from builtin_interfaces.msg import Time
import numpy as np
from onnx_fixtures import NAN_GOAL_X, REPLAN_EVERY, write_model_dir
from play_lmp_interfaces.msg import EndEffectorAction, GoalState, Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.policy import CPU_PROVIDER, default_model_dir
from play_lmp_ros.core.skills import feasible_tasks
from play_lmp_ros.policy_node import main, PolicyNode, PolicyNodeParams
from play_lmp_ros.sim_node import SimNode
import pytest
import rclpy
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_harness import Graph, node_config, NodeProcess, Recorder, stop_all, wait_until
from subgoal_fixtures import train_tiny_subgoal, write_planned_model_dir
from visualization_msgs.msg import MarkerArray

SEED = 0
# Deep enough that a lockstep run at full speed loses nothing in the test's recorders.
RECORDER_QOS = QoSProfile(depth=10000, reliability=ReliabilityPolicy.RELIABLE)
HOLD_MOTION = np.zeros(layout.ACTION_DIM - 1)


class GoalPublisher:
    """
    Publish goals as the goal server would: from a node named goal_server, latched, renewed.

    The active goal is republished every HEARTBEAT_S, as the goal server does while a goal runs,
    until it is cleared or stop() is called.
    """

    HEARTBEAT_S = 0.1

    def __init__(self, graph: Graph, name: str = 'goal_server'):
        """
        Create the publisher on a node of its own.

        :param graph: the test's graph.
        :param name: the node's name (another name is a foreign publisher to the policy).
        """
        self._node = graph.add(rclpy.create_node(name, namespace=graph.namespace,
                                                 context=graph.context))
        self._publisher = self._node.create_publisher(GoalState, qos.GOAL_TOPIC, qos.GOAL_QOS)
        self._active: Optional[GoalState] = None
        self._timer = self._node.create_timer(self.HEARTBEAT_S, self._renew)

    def publish(self, state: np.ndarray, goal_id: str, task: str = '',
                active: bool = True, deadline: Optional[Time] = None) -> None:
        """
        Publish a goal.

        :param state: (39,) goal state.
        :param goal_id: goal identifier.
        :param task: task name or ''.
        :param active: False clears the goal.
        :param deadline: the goal's deadline on the node clock, or None.
        """
        message = conversions.array_to_goal_state(
            state, self._node.get_clock().now().to_msg(), goal_id, task, active,
            deadline=deadline)
        self._active = message if active else None
        self._publisher.publish(message)

    def stop(self) -> None:
        """Stop renewing the goal, as a dead goal server would."""
        self._timer.cancel()

    def _renew(self) -> None:
        if self._active is not None:
            self._publisher.publish(self._active)


def actions_of(recorder: Recorder, start: int = 0) -> np.ndarray:
    """
    Return the recorded actions as an array, checking each message.

    :param recorder: recorder of the action topic.
    :param start: index of the first message.
    :return: (N, 7) relative actions.
    """
    actions = []
    for msg in recorder.messages[start:]:
        action, action_type = conversions.action_to_array(msg)
        assert action_type == 'relative'
        actions.append(action)
    return np.array(actions).reshape(-1, layout.ACTION_DIM)


def is_hold(action: np.ndarray) -> bool:
    """
    Return whether an action is a hold: no motion.

    :param action: (7,) relative action.
    :return: True for zero motion.
    """
    return bool(np.all(action[:6] == HOLD_MOTION))


def test_config_file_lists_every_parameter_with_its_default(ros_domain):
    """config/policy_node.yaml sets exactly the declared parameters, to their defaults."""
    listed = node_config('policy_node')
    defaults = {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(PolicyNodeParams()).items()}
    assert listed == defaults
    with Graph() as graph:
        # The default onnx backend needs a model; the scripted one shows what is declared.
        node = graph.start(PolicyNode, backend='scripted')
        declared = {name: node.get_parameter(name).value for name in listed}
        assert declared == {**listed, 'backend': 'scripted'}


@pytest.mark.parametrize('name, value, message', [
    ('mode', 'sometimes', "mode must be one of \\['realtime', 'lockstep'\\]"),
    ('control_hz', -5.0, 'control_hz must be a positive number, got -5.0'),
    ('backend', 'torch', 'backend must be one of'),
    ('stale_periods', 0.0, 'stale_periods must be a positive number'),
    ('replan_every', -1, 'replan_every must be >= 0'),
    ('control_hz', 30, "control_hz.*of type 'INTEGER', expecting type 'DOUBLE'"),
    ('model_dri', 'x', "unknown parameter 'model_dri' \\(did you mean 'model_dir'\\?\\)"),
])
def test_bad_parameters_are_refused_by_name(ros_domain, name, value, message):
    """A bad parameter value stops the node with an error naming the parameter."""
    with Graph() as graph:
        with pytest.raises((ValueError, ParameterException), match=message):
            graph.start(PolicyNode, **{'backend': 'scripted', name: value})


def test_bad_parameter_exits_with_code_1(ros_domain, capsys):
    """main() prints the problem on one stderr line and returns 1."""
    assert main(['policy_node', '--ros-args', '-p', 'backend:=scripted',
                 '-p', 'mode:=sometimes']) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('policy_node: parameter mode must be one of') and '\n' not in err


def model_problems(tmp_path):
    """
    Build broken model directories and the words their error must contain.

    :param tmp_path: the test's temporary directory.
    :return: [(model_dir, expected words)].
    """
    def model_dir(name: str, **options) -> str:
        folder = tmp_path / name
        folder.mkdir()
        return str(write_model_dir(folder, **options))

    corrupt = model_dir('corrupt')
    with open(os.path.join(corrupt, 'actor.onnx'), 'wb') as actor:
        actor.write(b'this is not an ONNX model')
    problems = [
        (str(tmp_path / 'missing'), ['model directory', 'missing', 'does not exist']),
        (corrupt, ['actor.onnx', 'is not a valid ONNX model']),
        (model_dir('layout', layout_hash='0123456789abcdef'),
         ['actor.onnx', 'observation layout 0123456789abcdef']),
        (model_dir('obs40', obs_dim=layout.OBS_DIM + 1), ['planner.onnx', 'obs has shape']),
        (model_dir('no_key', replan_every=None),
         ['actor.onnx', "lacks the required keys ['replan_every']"]),
        (model_dir('nan', nan='always'), ['actor.onnx', 'test step', 'non-finite']),
    ]
    if not os.path.isdir(default_model_dir()):
        problems.append(('', ['no model_dir given', 'backend:=scripted']))
    return problems


def test_unusable_model_exits_with_code_1_naming_the_problem(ros_domain, tmp_path):
    """Missing, corrupt or mismatched models stop the process at once with a one-line reason."""
    (tmp_path / 'logs').mkdir()
    problems = model_problems(tmp_path)
    processes = {
        model_dir: NodeProcess('policy_node', tmp_path / 'logs', 'play_lmp_test_model',
                               backend='onnx', model_dir=model_dir)
        for model_dir, _ in problems}
    try:
        for model_dir, words in problems:
            process = processes[model_dir]
            assert process.wait(timeout=60.0) == 1, process.output()
            lines = [line for line in process.output().splitlines()
                     if line.startswith('policy_node: ')]
            assert len(lines) == 1, process.output()
            for word in words:
                assert word in lines[0], (word, lines[0])
    finally:
        stop_all(processes)


def lockstep_onnx_graph(graph: Graph, model_dir) -> Recorder:
    """
    Start a lockstep sim and a lockstep ONNX policy, and record the actions.

    :param graph: the test's graph.
    :param model_dir: the model directory.
    :return: the action recorder.
    """
    graph.start(SimNode, mode='lockstep')
    graph.start(PolicyNode, backend='onnx', model_dir=str(model_dir), mode='lockstep',
                diagnostics_hz=5.0)
    return Recorder(graph.client, EndEffectorAction, qos.ACTION_TOPIC, RECORDER_QOS)


def test_onnx_policy_answers_each_observation_with_a_finite_action(ros_domain, tmp_path):
    """Lockstep: one valid action per observation while the goal is active, none after."""
    with Graph() as graph:
        actions = lockstep_onnx_graph(graph, write_model_dir(tmp_path))
        observations = Recorder(graph.client, Observation, qos.OBSERVATION_TOPIC, RECORDER_QOS)
        goals = GoalPublisher(graph)
        goal = np.random.default_rng(SEED).uniform(-0.5, 0.5, layout.OBS_DIM)
        goals.publish(goal, 'goal-1')
        wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id') == 'goal-1',
                   10.0, 'the policy took the goal')
        graph.reset(SEED)
        wait_until(lambda: len(actions.messages) >= 4 * REPLAN_EVERY, 30.0, 'actions')
        goals.publish(goal, 'goal-1', active=False)
        wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id') == '', 10.0,
                   'goal cleared')
        # The lockstep loop has stopped: the last observation goes unanswered, and stays so.
        wait_until(lambda: len(observations.messages) == len(actions.messages) + 1, 10.0,
                   'one action per observation, the last unanswered')
        count = len(actions.messages)
        time.sleep(0.5)
        assert (len(actions.messages), len(observations.messages)) == (count, count + 1)
        taken = actions_of(actions)
        assert np.all(np.isfinite(taken)) and not all(is_hold(action) for action in taken)
        values = graph.diagnostics_values('policy_node')
        assert values['backend'] == 'onnx' and CPU_PROVIDER in values['providers']
        assert float(values['inference_p50_ms']) > 0.0
        assert float(values['inference_p99_ms']) >= float(values['inference_p50_ms'])
        assert int(values['replans']) >= count // REPLAN_EVERY
        assert values['held_non_finite_output'] == '0'


def test_nan_model_holds_and_counts_it(ros_domain, tmp_path):
    """A model that outputs NaN at run time holds (still one action per observation)."""
    with Graph() as graph:
        actions = lockstep_onnx_graph(graph, write_model_dir(tmp_path, nan='far_goal'))
        goals = GoalPublisher(graph)
        goal = graph.reset(SEED)
        goal[0] = NAN_GOAL_X + 1.0
        goals.publish(goal, 'goal-nan')
        wait_until(lambda: int(graph.diagnostics_values('policy_node').get(
            'held_non_finite_output', '0')) >= 10, 30.0, 'non-finite holds counted')
        taken = actions_of(actions)
        assert len(taken) >= 10
        assert all(is_hold(action) for action in taken)
        assert np.all(taken[:, 6] == layout.GRIPPER_OPEN)
        status = next(status for array in reversed(graph.diagnostics.messages)
                      for status in array.status
                      if status.name == graph.node_name('policy_node'))
        assert status.message == 'holding: non_finite_output'
        goals.publish(np.zeros(layout.OBS_DIM), 'goal-nan', active=False)


def test_subgoal_model_plans_reports_and_draws_its_subgoal(ros_domain, tiny_play, tmp_path):
    """A model with subgoal graphs: plan mode, replan time and subgoal on /diagnostics, ghost."""
    model_dir = write_planned_model_dir(
        tmp_path, train_tiny_subgoal(tiny_play, tmp_path / 'subgoal_run'), tiny_play)
    with Graph() as graph:
        graph.start(SimNode, mode='lockstep')
        graph.start(PolicyNode, backend='onnx', model_dir=str(model_dir), mode='lockstep',
                    plan_mode='collocation', diagnostics_hz=5.0)
        actions = Recorder(graph.client, EndEffectorAction, qos.ACTION_TOPIC, RECORDER_QOS)
        ghosts = Recorder(graph.client, MarkerArray, qos.SUBGOAL_MARKERS_TOPIC, qos.MARKERS_QOS)
        goal = np.random.default_rng(SEED).uniform(-0.5, 0.5, layout.OBS_DIM)
        GoalPublisher(graph).publish(goal, 'goal-sub')
        graph.reset(SEED)
        wait_until(lambda: len(actions.messages) >= 3 * REPLAN_EVERY, 30.0, 'actions')
        wait_until(lambda: graph.diagnostics_values('policy_node').get('replan_p50_ms'), 10.0,
                   'replan latency on /diagnostics')
        values = graph.diagnostics_values('policy_node')
        assert values['plan_mode'] == 'collocation'
        assert float(values['replan_p99_ms']) >= float(values['replan_p50_ms']) > 0.0
        assert values['subgoal_failures'] == '0' and values['goal_handed_over'] == 'false'
        subgoal = np.array([float(value) for value in values['subgoal'].split(',')])
        assert subgoal.shape == (layout.OBS_DIM,) and np.all(np.isfinite(subgoal))
        wait_until(lambda: ghosts.messages, 10.0, 'the subgoal ghost')
        namespaces = {marker.ns for marker in ghosts.messages[-1].markers}
        assert namespaces and all(name.startswith('subgoal/') for name in namespaces)


def test_scripted_realtime_holds_without_a_task_and_acts_with_one(ros_domain):
    """Realtime: holds with no goal and for an explicit state goal, acts for a task goal."""
    with Graph() as graph:
        graph.start(SimNode, mode='realtime')
        graph.start(PolicyNode, backend='scripted', mode='realtime', diagnostics_hz=5.0)
        actions = Recorder(graph.client, EndEffectorAction, qos.ACTION_TOPIC, RECORDER_QOS)
        goals = GoalPublisher(graph)
        obs = graph.reset(SEED)

        def held(reason: str) -> int:
            return int(graph.diagnostics_values('policy_node').get(f'held_{reason}', '0'))

        wait_until(lambda: held('no_goal') >= 5, 20.0, 'holds without a goal')
        goals.publish(obs, 'explicit')
        wait_until(lambda: held('no_skill') >= 5, 20.0, 'holds for an explicit goal')
        start = len(actions.messages)
        task = feasible_tasks(obs)[0]
        goals.publish(obs, 'named', task=task)
        wait_until(lambda: any(not is_hold(action) for action in actions_of(actions, start)),
                   20.0, 'the skill acts')
        held_before = actions_of(actions)[:start]
        assert len(held_before) > 0 and all(is_hold(action) for action in held_before)
        assert np.all(held_before[:, 6] == layout.GRIPPER_OPEN)
        goals.publish(obs, 'named', task=task, active=False)


def test_realtime_hold_keeps_the_gripper_of_a_reset(ros_domain):
    """
    Realtime, no goal: after a reset the hold keeps the reset's gripper, closed or open.

    A hold that kept the policy's own last command would open a gripper just reset closed (or
    close one just reset open) within one control period.
    """
    with Graph() as graph:
        actions = scripted_realtime_graph(graph)
        observations = Recorder(graph.client, Observation, qos.OBSERVATION_TOPIC, RECORDER_QOS)
        closed = graph.reset(SEED).copy()
        closed[layout.GRIPPER_ACTION] = layout.GRIPPER_CLOSE
        closed[layout.GRIPPER_WIDTH] = layout.GRIPPER_WIDTH_RANGE[0]
        for gripper, state in ((layout.GRIPPER_CLOSE, closed), (layout.GRIPPER_OPEN, None)):
            graph.reset(SEED, state=state)
            start, seen = len(actions.messages), len(observations.messages)
            wait_until(lambda: len(actions.messages) >= start + 20, 20.0, '20 holds')
            # The first few may answer an observation from before the reset.
            late = actions_of(actions, start)[5:]
            assert all(is_hold(action) for action in late)
            assert np.all(late[:, 6] == gripper), late[:, 6]
            reported = [conversions.observation_to_array(msg)[layout.GRIPPER_ACTION]
                        for msg in observations.messages[seen:]][5:]
            assert reported and np.all(np.array(reported) == gripper), reported


def test_simulator_restart_policy_keeps_running_and_acts_again(ros_domain, tmp_path):
    """Kill the realtime sim mid-run and start it again: the policy holds, then acts again."""
    with Graph() as graph:
        model_dir = write_model_dir(tmp_path)
        realtime = {'mode': 'realtime'}
        processes = {
            'sim': NodeProcess('sim_node', tmp_path, graph.namespace, **realtime),
            'policy': NodeProcess('policy_node', tmp_path, graph.namespace, backend='onnx',
                                  model_dir=str(model_dir), diagnostics_hz=5.0, **realtime),
        }
        try:
            actions = Recorder(graph.client, EndEffectorAction, qos.ACTION_TOPIC,
                               RECORDER_QOS)
            GoalPublisher(graph).publish(graph.reset(SEED), 'goal-restart')

            def acting_since(start: int) -> bool:
                return any(not is_hold(action) for action in actions_of(actions, start))

            def stale_holds() -> int:
                return int(graph.diagnostics_values('policy_node').get(
                    'held_stale_observation', '0'))

            wait_until(lambda: acting_since(0), 30.0, 'the policy acts')
            processes['sim'].kill()
            wait_until(lambda: stale_holds() >= 10, 20.0, 'stale holds after the sim died')
            held_from = len(actions.messages)
            processes['sim'] = NodeProcess('sim_node', tmp_path, graph.namespace, **realtime)
            wait_until(lambda: acting_since(held_from), 30.0, 'the policy acts again')
            assert processes['policy'].alive(), processes['policy'].output()
            gap = actions_of(actions)[held_from - 5:held_from]
            assert all(is_hold(action) for action in gap), 'no hold while the sim was down'
        finally:
            stop_all(processes)


def test_goal_server_stopped_mid_goal_policy_holds(ros_domain, tmp_path):
    """Ctrl-C on the goal server ends it cleanly; the policy drops the orphaned goal and holds."""
    with Graph() as graph:
        graph.start(SimNode, mode='realtime')
        graph.start(PolicyNode, backend='scripted', mode='realtime', diagnostics_hz=5.0)
        server = NodeProcess('goal_server', tmp_path, graph.namespace)
        try:
            run = graph.send_goal(task=feasible_tasks(graph.reset(SEED))[0])
            wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id')
                       == run.goal_id, 20.0, 'the policy took the goal')
            assert server.interrupt() == 0, server.output()
            wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id') == '',
                       20.0, 'the policy dropped the goal')
        finally:
            server.stop()


def scripted_realtime_graph(graph: Graph) -> Recorder:
    """
    Start a realtime sim and a realtime scripted policy, and record the actions.

    :param graph: the test's graph.
    :return: the action recorder.
    """
    graph.start(SimNode, mode='realtime')
    graph.start(PolicyNode, backend='scripted', mode='realtime', diagnostics_hz=5.0)
    return Recorder(graph.client, EndEffectorAction, qos.ACTION_TOPIC, RECORDER_QOS)


def held(graph: Graph, reason: str) -> int:
    """Return the policy's count of holds for a reason, from its diagnostics."""
    return int(graph.diagnostics_values('policy_node').get(f'held_{reason}', '0'))


def test_killed_goal_server_stops_motion_within_its_lease(ros_domain, tmp_path):
    """A kill -9 of the goal server mid-goal: the goal is not renewed, and the policy holds."""
    with Graph() as graph:
        actions = scripted_realtime_graph(graph)
        server = NodeProcess('goal_server', tmp_path, graph.namespace)
        try:
            run = graph.send_goal(task=feasible_tasks(graph.reset(SEED))[0])
            wait_until(lambda: any(not is_hold(action) for action in actions_of(actions)),
                       20.0, 'the policy acts for the goal')
            wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id')
                       == run.goal_id, 10.0, 'the policy reports the goal')
            killed_at = time.monotonic()
            server.kill()
            wait_until(lambda: held(graph, 'goal_lease_expired') >= 1, 10.0,
                       'a hold for the expired lease')
            # DDS alone would notice the dead server after 20 s (Fast DDS).
            seconds = time.monotonic() - killed_at
            print(f'goal server killed -> policy holding: {seconds:.2f} s')
            assert seconds < 10.0
            start = len(actions.messages)
            wait_until(lambda: len(actions.messages) >= start + 10, 10.0, 'more actions')
            assert all(is_hold(action) for action in actions_of(actions, start))
        finally:
            server.stop()


def test_spoofed_clears_foreign_goals_and_passed_deadlines_do_not_drive(ros_domain):
    """A clear with another id, a GoalState from another node and a past deadline: holds."""
    with Graph() as graph:
        actions = scripted_realtime_graph(graph)
        goals = GoalPublisher(graph)
        obs = graph.reset(SEED)
        task = feasible_tasks(obs)[0]
        goals.publish(obs, 'live', task=task)
        wait_until(lambda: graph.diagnostics_values('policy_node').get('goal_id') == 'live',
                   10.0, 'the policy took the goal')
        goals.publish(obs, '', active=False)   # a clear for no goal in particular
        time.sleep(0.5)
        assert graph.diagnostics_values('policy_node')['goal_id'] == 'live'
        intruder = GoalPublisher(graph, name='intruder')
        intruder.publish(obs, 'fake', task=task)
        wait_until(lambda: held(graph, 'foreign_publisher') >= 1, 10.0,
                   'the goal dropped while a foreign node publishes goals')
        assert graph.diagnostics_values('policy_node')['goal_id'] == ''
        start = len(actions.messages)
        wait_until(lambda: len(actions.messages) >= start + 10, 10.0, 'more actions')
        assert all(is_hold(action) for action in actions_of(actions, start))
        graph.remove(intruder._node)
        wait_until(lambda: not graph.client.get_publishers_info_by_topic(
            f'/{graph.namespace}/goal') or all(
                info.node_name == 'goal_server' for info in
                graph.client.get_publishers_info_by_topic(f'/{graph.namespace}/goal')),
            10.0, 'the intruder gone')
        clock = graph.client.get_clock()
        deadline = (clock.now() + Duration(seconds=0.5)).to_msg()
        goals.publish(obs, 'short', task=task, deadline=deadline)
        wait_until(lambda: held(graph, 'goal_deadline_passed') >= 1, 10.0,
                   'a hold once the deadline passed')
        assert graph.diagnostics_values('policy_node')['goal_id'] == ''
