"""The ReachGoal server with the real simulator and policy nodes, over DDS."""

import math
import signal
import threading
import time

from action_msgs.msg import GoalStatus
from action_msgs.srv import CancelGoal
import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_interfaces.msg import EndEffectorAction, Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalJudge, state_reached
from play_lmp_ros.core.skills import feasible_tasks, make_skill
from play_lmp_ros.goal_server_node import (
    GoalServerNode, GoalServerParams, main, OUTCOME_PREEMPTED, OUTCOME_REJECTED, OUTCOME_SHUTDOWN)
from play_lmp_ros.policy_node import PolicyNode
from play_lmp_ros.sim_node import SimNode
import pytest
import rclpy
from rclpy.action import ActionClient
from rclpy.exceptions import ParameterException
from rclpy.time import Time
from ros_harness import Graph, node_config, NodeProcess, Recorder, stop_all, wait_until

SEED = 0
RESULT_TIMEOUT_S = 60.0
# A realtime goal lasts a few seconds; these tests act on it once its feedback shows progress.
PROGRESS_STEPS = 5


def task_kinds(tasks):
    """
    Pick tasks of different kinds (the first word of the name, e.g. open / push / turn).

    :param tasks: task names.
    :return: the first task of each kind.
    """
    kinds = {}
    for task in tasks:
        kinds.setdefault(task.split('_')[0], task)
    return list(kinds.values())


def test_config_file_lists_every_parameter_with_its_default(ros_domain):
    """config/goal_server.yaml sets exactly the declared parameters, to their defaults."""
    listed = node_config('goal_server')
    with Graph() as graph:
        server = graph.start(GoalServerNode)
        declared = {name: server.get_parameter(name).value
                    for name in GoalServerParams.__dataclass_fields__}
    assert listed == declared


@pytest.mark.parametrize('name, value, message', [
    ('feedback_hz', 1.0, 'feedback_hz'),           # below the 5 Hz the contract asks for
    ('default_timeout_s', -1.0, 'default_timeout_s'),
    ('observation_timeout_s', math.nan, 'observation_timeout_s'),
    ('max_steps', 0, 'max_steps'),
])
def test_bad_parameters_are_refused_by_name(ros_domain, name, value, message):
    """A bad parameter value stops the node with an error naming the parameter."""
    with Graph() as graph:
        with pytest.raises((ValueError, ParameterException), match=message):
            graph.start(GoalServerNode, **{name: value})


def test_bad_parameter_exits_with_code_1(ros_domain, capsys):
    """main() prints the problem on stderr and returns 1."""
    assert main(['goal_server', '--ros-args', '-p', 'check_every:=0']) == 1
    assert 'check_every' in capsys.readouterr().err


def test_named_tasks_round_trip_between_processes(ros_domain, tmp_path):
    """Sim, goal server and scripted policy as processes reach three tasks of different kinds."""
    with Graph() as graph:
        lockstep = {'mode': 'lockstep'}
        processes = {
            'sim': NodeProcess('sim_node', tmp_path, graph.namespace, **lockstep),
            'goal_server': NodeProcess('goal_server', tmp_path, graph.namespace),
            'policy': NodeProcess('policy_node', tmp_path, graph.namespace, backend='scripted',
                                  **lockstep),
        }
        try:
            tasks = task_kinds(feasible_tasks(
                graph.reset_until_seen(SEED, ['goal_server', 'policy_node'])))
            assert len(tasks) >= 3, f'seed {SEED} offers too few kinds of tasks: {tasks}'
            for task in tasks[:3]:
                graph.reset(SEED)
                run = graph.send_goal(task=task)
                assert run.handle.accepted, task
                response = run.result(RESULT_TIMEOUT_S)
                result = response.result
                assert (response.status, result.outcome) == (
                    GoalStatus.STATUS_SUCCEEDED, 'succeeded'), (task, result.outcome)
                assert result.success and task in result.tasks_completed
                assert 0 < result.steps < GoalServerParams().max_steps
                assert graph.terminal_statuses(run.goal_id) == [GoalStatus.STATUS_SUCCEEDED]
                wait_until(lambda: graph.goal_phases(run.goal_id) == [True, False], 10.0,
                           'goal published then cleared')
                messages = graph.goal_messages(run.goal_id)
                started, cleared = messages[0], messages[-1]
                assert (started.active, cleared.active) == (True, False)
                assert started.task == task
            for process in processes.values():
                assert process.alive(), process.output()
        finally:
            stop_all(processes)


class SkillDriver:
    """A stand-in policy in lockstep: answers each observation with a scripted skill's action."""

    def __init__(self, graph: Graph):
        """
        Subscribe to observations and publish actions from the graph's client node.

        :param graph: the test's graph.
        """
        self._lock = threading.Lock()
        self._skill = None
        self._publisher = graph.client.create_publisher(
            EndEffectorAction, qos.ACTION_TOPIC, qos.CONTROL_QOS)
        self._clock = graph.client.get_clock()
        graph.client.create_subscription(
            Observation, qos.OBSERVATION_TOPIC, self._on_observation, qos.CONTROL_QOS)

    def drive(self, task: str, obs: np.ndarray) -> None:
        """
        Start a skill from an observation and send its first action.

        :param task: the task.
        :param obs: (39,) the current observation.
        """
        with self._lock:
            self._skill = make_skill(task, obs, np.random.default_rng(SEED))
        self._act(obs)

    def _on_observation(self, msg: Observation) -> None:
        self._act(conversions.observation_to_array(msg))

    def _act(self, obs: np.ndarray) -> None:
        with self._lock:
            if self._skill is None or self._skill.done:
                return
            action = self._skill.act(obs)
        self._publisher.publish(
            conversions.array_to_action(action, 'relative', self._clock.now().to_msg()))


def test_explicit_goal_state_is_reached(ros_domain):
    """A 39-D goal imagined from the current state succeeds once the robot gets there."""
    with Graph() as graph:
        graph.start(SimNode, mode='lockstep')
        graph.start(GoalServerNode)
        driver = SkillDriver(graph)
        obs = graph.reset(SEED)
        task = task_kinds(feasible_tasks(obs))[0]
        with GoalJudge(seed=SEED) as judge:
            goal = judge.imagine_goal(task, obs)
        assert not state_reached(obs, goal)
        run = graph.send_goal(goal_state=goal.tolist())
        assert run.handle.accepted
        wait_until(lambda: graph.goal_messages(run.goal_id), 10.0, 'goal published')
        published = graph.goal_messages(run.goal_id)[0]
        np.testing.assert_array_equal(conversions.goal_state_to_array(published), goal)
        assert published.task == '' and published.active
        driver.drive(task, obs)
        response = run.result(RESULT_TIMEOUT_S)
        assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.outcome
        assert response.result.outcome == 'succeeded' and response.result.success
        assert task in response.result.tasks_completed


BURST_GOALS = 200


def test_a_burst_of_goals_is_answered_in_full(ros_domain):
    """200 goals sent at once, every other one malformed: all answered, the malformed ones why."""
    with Graph() as graph:
        graph.start(GoalServerNode)
        client = ActionClient(graph.client, ReachGoal, qos.REACH_GOAL_ACTION,
                              **qos.ACTION_SERVICE_PROFILES)
        assert client.wait_for_server(timeout_sec=10.0)
        goal = [0.1] * layout.OBS_DIM
        futures = [client.send_goal_async(ReachGoal.Goal(
            goal_state=goal if index % 2 == 0 else goal[:-1])) for index in range(BURST_GOALS)]
        wait_until(lambda: all(future.done() for future in futures), 60.0,
                   f'answers to all {BURST_GOALS} goals of a burst')
        handles = [future.result() for future in futures]
        assert all(handle.accepted for handle in handles)
        results = [handle.get_result_async() for handle in handles[1::2]]
        wait_until(lambda: all(future.done() for future in results), 60.0,
                   'the results of the malformed goals')
        assert all(future.result().status == GoalStatus.STATUS_ABORTED
                   and future.result().result.outcome.startswith(OUTCOME_REJECTED)
                   for future in results)
        client.destroy()


@pytest.mark.parametrize('stop_signal', [signal.SIGINT, signal.SIGTERM])
def test_a_goal_server_stopped_mid_goal_gives_its_client_a_result(ros_domain, tmp_path,
                                                                  stop_signal):
    """Ctrl-C or SIGTERM of the server process: the goal ends aborted, and the client hears it."""
    with Graph() as graph:
        server = NodeProcess('goal_server', tmp_path, graph.namespace)
        try:
            run = graph.send_goal(goal_state=[0.1] * layout.OBS_DIM)
            assert run.handle.accepted
            assert not run.done()   # asks for the result before the signal
            server.process.send_signal(stop_signal)
            response = run.result(10.0)
            assert response.status == GoalStatus.STATUS_ABORTED
            assert response.result.outcome == OUTCOME_SHUTDOWN
            assert server.process.wait(timeout=10.0) == 0
        finally:
            server.stop()


@pytest.mark.parametrize('fields, reason', [
    ({'goal_state': [0.1] * 38}, 'must have 39 values, got 38'),
    ({'goal_state': [0.1] * 20 + [math.nan] + [0.1] * 18}, 'non-finite'),
    ({'task': 'open_drawr'}, 'open_drawer'),     # the close match is named
    ({}, 'neither a task name nor a goal_state'),
    ({'task': 'open_drawer', 'timeout_s': -1.0}, 'timeout_s'),
])
def test_malformed_goals_end_rejected_with_the_reason(ros_domain, fields, reason):
    """
    A malformed goal ends at once, aborted, its outcome 'rejected: <reason>'.

    A ROS 2 action's rejection carries no reason, so the goal is accepted and ended with one;
    the goal already running goes on.  The reason is on /diagnostics too.
    """
    with Graph() as graph:
        graph.start(GoalServerNode, observation_timeout_s=60.0)
        running = graph.send_goal(goal_state=[0.1] * layout.OBS_DIM)
        run = graph.send_goal(**fields)
        response = run.result(10.0)
        assert response.status == GoalStatus.STATUS_ABORTED
        outcome = response.result.outcome
        assert outcome.startswith(OUTCOME_REJECTED) and reason in outcome, outcome
        assert not running.done()
        wait_until(
            lambda: reason in graph.diagnostics_values('goal_server').get('last_rejection', ''),
            10.0, f'rejection reason {reason!r} on /diagnostics')
        assert graph.diagnostics_values('goal_server')['goals_rejected'] == '1'


def realtime_graph(graph: Graph, **server_parameters) -> np.ndarray:
    """
    Start a realtime sim, the goal server and a scripted realtime policy, and reset the scene.

    :param graph: the test's graph.
    :param server_parameters: goal server parameter overrides.
    :return: (39,) the observation after the reset.
    """
    graph.start(SimNode, mode='realtime')
    graph.start(GoalServerNode, **server_parameters)
    graph.start(PolicyNode, backend='scripted', mode='realtime')
    return graph.reset(SEED)


def wait_for_progress(run) -> None:
    """
    Wait until a goal's feedback shows it running.

    :param run: the goal.
    """
    wait_until(lambda: run.done() or (run.feedback and run.feedback[-1].step >= PROGRESS_STEPS),
               30.0, f'feedback step {PROGRESS_STEPS}')
    assert not run.done(), f'the goal ended early: {run.result(1.0).result.outcome}'


def test_cancel_ends_the_goal_once(ros_domain):
    """A canceled goal ends canceled, once, and the policy is told to hold."""
    with Graph() as graph:
        task = task_kinds(feasible_tasks(realtime_graph(graph)))[0]
        run = graph.send_goal(task=task)
        wait_for_progress(run)
        feedback = run.feedback[-1]
        assert feedback.replans == 0 and feedback.distance_to_goal > 0.0
        cancel = run.handle.cancel_goal_async()
        response = run.result(RESULT_TIMEOUT_S)
        wait_until(cancel.done, 10.0, 'cancel response')
        assert cancel.result().return_code == CancelGoal.Response.ERROR_NONE
        assert (response.status, response.result.outcome) == (
            GoalStatus.STATUS_CANCELED, 'canceled')
        assert not response.result.success and response.result.steps >= PROGRESS_STEPS
        wait_until(lambda: graph.goal_phases(run.goal_id) == [True, False], 10.0,
                   'goal cleared')
        assert graph.terminal_statuses(run.goal_id) == [GoalStatus.STATUS_CANCELED]


def test_newer_goal_preempts_the_active_one(ros_domain):
    """The old goal ends once as preempted; the new goal runs to success."""
    with Graph() as graph:
        observations = Recorder(graph.client, Observation, qos.OBSERVATION_TOPIC,
                                qos.CONTROL_QOS)
        first_task = task_kinds(feasible_tasks(realtime_graph(graph)))[0]
        first = graph.send_goal(task=first_task)
        wait_for_progress(first)
        now = conversions.observation_to_array(observations.messages[-1])
        second_task = next(task for task in task_kinds(feasible_tasks(now))
                           if task.split('_')[0] != first_task.split('_')[0])
        second = graph.send_goal(task=second_task)
        assert second.handle.accepted
        old = first.result(RESULT_TIMEOUT_S)
        assert old.status == GoalStatus.STATUS_ABORTED
        assert old.result.outcome == OUTCOME_PREEMPTED and not old.result.success
        new = second.result(RESULT_TIMEOUT_S)
        assert (new.status, new.result.outcome) == (GoalStatus.STATUS_SUCCEEDED, 'succeeded')
        assert second_task in new.result.tasks_completed
        assert graph.terminal_statuses(first.goal_id) == [GoalStatus.STATUS_ABORTED]
        assert graph.terminal_statuses(second.goal_id) == [GoalStatus.STATUS_SUCCEEDED]
        assert graph.goal_phases(first.goal_id) == [True, False]
        wait_until(lambda: graph.goal_phases(second.goal_id) == [True, False], 10.0,
                   'goal cleared')


@pytest.mark.parametrize('goal_timeout_s, server_parameters', [
    (0.5, {}),                    # the goal's own wall-clock limit
    (0.0, {'max_steps': 5}),      # the server's observation budget
])
def test_timeout(ros_domain, goal_timeout_s, server_parameters):
    """A goal that runs out of time or steps ends 'timeout', aborted, once."""
    with Graph() as graph:
        graph.start(SimNode, mode='realtime')
        graph.start(GoalServerNode, **server_parameters)
        task = task_kinds(feasible_tasks(graph.reset(SEED)))[0]
        run = graph.send_goal(task=task, timeout_s=goal_timeout_s)
        response = run.result(RESULT_TIMEOUT_S)
        assert (response.status, response.result.outcome) == (
            GoalStatus.STATUS_ABORTED, 'timeout')
        assert not response.result.success
        if 'max_steps' in server_parameters:
            assert response.result.steps == server_parameters['max_steps']
        assert graph.terminal_statuses(run.goal_id) == [GoalStatus.STATUS_ABORTED]


def test_goals_that_cannot_be_made_end_aborted_with_the_reason(ros_domain):
    """No observation, or a task infeasible from the scene: accepted, then aborted with why."""
    with Graph() as graph:
        graph.start(GoalServerNode, observation_timeout_s=0.5)
        run = graph.send_goal(task='open_drawer')
        assert run.handle.accepted
        response = run.result(RESULT_TIMEOUT_S)
        assert response.status == GoalStatus.STATUS_ABORTED
        assert response.result.outcome.startswith('aborted: no observation for ')
        assert 'simulator or policy not running?' in response.result.outcome

        graph.start(SimNode, mode='lockstep')
        obs = graph.reset(SEED)
        infeasible = next(task for task in ('open_drawer', 'close_drawer')
                          if task not in feasible_tasks(obs))
        run = graph.send_goal(task=infeasible)
        response = run.result(RESULT_TIMEOUT_S)
        assert response.status == GoalStatus.STATUS_ABORTED
        assert response.result.outcome.startswith(
            f'aborted: {infeasible} is not feasible from the current state')
        assert graph.goal_messages(run.goal_id) == []


def test_policy_killed_mid_goal_times_out_and_the_sim_holds(ros_domain, tmp_path):
    """With the policy gone the goal ends 'timeout' and the realtime simulator holds still."""
    with Graph() as graph:
        realtime = {'mode': 'realtime'}
        processes = {
            'sim': NodeProcess('sim_node', tmp_path, graph.namespace, **realtime),
            'goal_server': NodeProcess('goal_server', tmp_path, graph.namespace),
            'policy': NodeProcess('policy_node', tmp_path, graph.namespace, backend='scripted',
                                  **realtime),
        }
        try:
            observations = Recorder(graph.client, Observation, qos.OBSERVATION_TOPIC,
                                    qos.CONTROL_QOS)
            task = task_kinds(feasible_tasks(graph.reset(SEED)))[0]
            run = graph.send_goal(task=task, timeout_s=6.0)
            wait_for_progress(run)
            processes['policy'].kill()
            response = run.result(RESULT_TIMEOUT_S)
            assert (response.status, response.result.outcome) == (
                GoalStatus.STATUS_ABORTED, 'timeout'), response.result.outcome
            assert not response.result.success
            seen = len(observations.messages)
            wait_until(lambda: len(observations.messages) >= seen + 15, 10.0,
                       'observations after the goal')
            tcp = np.array([conversions.observation_to_array(msg)[layout.TCP_POS]
                            for msg in observations.messages[seen:]])
            assert np.ptp(tcp, axis=0).max() < 1e-3, 'the simulator did not hold still'
            assert processes['sim'].alive() and processes['goal_server'].alive()
        finally:
            stop_all(processes)


def test_a_running_goal_is_renewed_with_its_deadline(ros_domain):
    """The active GoalState is republished while the goal runs, each with the goal's deadline."""
    with Graph() as graph:
        graph.start(GoalServerNode, feedback_hz=10.0)
        run = graph.send_goal(goal_state=[0.1] * layout.OBS_DIM, timeout_s=1.5)
        assert run.handle.accepted
        # No simulator: the goal waits for an observation and publishes nothing.
        time.sleep(0.3)
        assert graph.goal_messages(run.goal_id) == []
        sim = graph.start(SimNode, mode='realtime')
        wait_until(lambda: len(graph.goal_messages(run.goal_id)) >= 5, 10.0, 'renewals')
        response = run.result(RESULT_TIMEOUT_S)
        assert response.result.outcome == 'timeout'
        messages = graph.goal_messages(run.goal_id)
        deadlines = {(msg.deadline.sec, msg.deadline.nanosec) for msg in messages[:-1]}
        assert len(deadlines) == 1 and deadlines != {(0, 0)}
        first = Time.from_msg(messages[0].header.stamp)
        deadline = Time.from_msg(messages[0].deadline)
        assert 0.0 < (deadline - first).nanoseconds / 1e9 <= 1.5
        graph.remove(sim)


def test_observations_from_another_node_are_not_judged(ros_domain):
    """While a node other than sim_node publishes observations, goals are refused and aborted."""
    with Graph() as graph:
        graph.start(GoalServerNode)
        graph.start(SimNode, mode='realtime')
        graph.reset(SEED)
        run = graph.send_goal(goal_state=[0.1] * layout.OBS_DIM)
        wait_until(lambda: graph.goal_messages(run.goal_id), 10.0, 'goal published')
        spoofer = graph.add(rclpy.create_node('spoofer', namespace=graph.namespace,
                                              context=graph.context))
        publisher = spoofer.create_publisher(Observation, qos.OBSERVATION_TOPIC,
                                             qos.CONTROL_QOS)
        response = run.result(RESULT_TIMEOUT_S)
        assert response.status == GoalStatus.STATUS_ABORTED
        assert 'spoofer' in response.result.outcome and 'sim_node' in response.result.outcome
        refused = graph.send_goal(goal_state=[0.1] * layout.OBS_DIM)
        assert 'spoofer' in refused.result(RESULT_TIMEOUT_S).result.outcome
        wait_until(lambda: 'spoofer' in graph.diagnostics_values('goal_server').get(
            'last_rejection', ''), 10.0, 'the reason on /diagnostics')
        spoofer.destroy_publisher(publisher)
