"""
Run-time parameter changes over the ROS parameter services, as `ros2 param set` makes them.

A live parameter's change is validated like a start-up value and takes effect; every other
parameter is read-only, so a set never says "successful" and changes nothing.
"""

from play_lmp_interfaces.msg import Observation
from play_lmp_ros import conversions, qos
from play_lmp_ros.goal_server_node import GoalServerNode
from play_lmp_ros.policy_node import PolicyNode
from play_lmp_ros.sim_node import SimNode
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_harness import Graph, Recorder, wait_future, wait_until

TIMEOUT_S = 20.0


def set_parameter(graph: Graph, node_name: str, name: str, value):
    """
    Set one parameter of a node of the graph through its parameter service.

    :param graph: the test's graph.
    :param node_name: e.g. 'sim_node'.
    :param name: the parameter.
    :param value: its new value.
    :return: the SetParametersResult.
    """
    client = AsyncParameterClient(graph.client, graph.node_name(node_name))
    assert client.wait_for_services(timeout_sec=TIMEOUT_S), f'no parameter services on {node_name}'
    future = client.set_parameters([Parameter(name, value=value)])
    (result,) = wait_future(future, TIMEOUT_S, f'set {name}').results
    return result


@pytest.mark.parametrize('node_class, extra, live, value, read_only, bad, reason', [
    (SimNode, {}, 'marker_every', 5, ('mode', 'lockstep'), ('diagnostics_hz', 0.0),
     'diagnostics_hz'),
    (GoalServerNode, {}, 'max_steps', 90, ('seed', 3), ('feedback_hz', 1.0), 'feedback_hz'),
    (PolicyNode, {'backend': 'scripted'}, 'goal_lease_s', 2.5, ('model_dir', '/elsewhere'),
     ('stale_periods', -1.0), 'stale_periods'),
])
def test_live_parameters_change_and_the_others_are_read_only(ros_domain, node_class, extra,
                                                             live, value, read_only, bad, reason):
    """A live parameter is accepted and in use; a read-only one and a bad value are refused."""
    with Graph() as graph:
        node = graph.start(node_class, **extra)
        name = node.get_name()
        result = set_parameter(graph, name, live, value)
        assert result.successful, result.reason
        assert getattr(node.params, live) == value and node.get_parameter(live).value == value

        before = getattr(node.params, read_only[0])
        result = set_parameter(graph, name, *read_only)
        assert not result.successful and 'read-only' in result.reason, result.reason
        assert getattr(node.params, read_only[0]) == before

        before = getattr(node.params, bad[0])
        result = set_parameter(graph, name, *bad)
        assert not result.successful and reason in result.reason, result.reason
        assert getattr(node.params, bad[0]) == before
        assert node.get_parameter(bad[0]).value == before


def stamp_s(msg: Observation) -> float:
    """Return an observation's stamp in seconds."""
    return conversions.stamp_ns(msg.header.stamp) * 1e-9


def test_control_hz_set_at_run_time_retimes_the_realtime_simulator(ros_domain):
    """Realtime sim at 30 Hz, then control_hz 10 Hz: no more than 10 observations a second."""
    with Graph() as graph:
        graph.start(SimNode, mode='realtime')
        observations = Recorder(graph.client, Observation, qos.OBSERVATION_TOPIC,
                                qos.CONTROL_QOS)

        def count_over(seconds: float) -> int:
            start = len(observations.messages)
            wait_until(lambda: len(observations.messages) > start, TIMEOUT_S, 'an observation')
            begin = stamp_s(observations.messages[start])
            wait_until(lambda: stamp_s(observations.messages[-1]) - begin >= seconds, TIMEOUT_S,
                       f'{seconds} s of observations')
            return sum(1 for msg in observations.messages[start:]
                       if stamp_s(msg) - begin < seconds)

        at_30 = count_over(2.0)
        result = set_parameter(graph, 'sim_node', 'control_hz', 10.0)
        assert result.successful, result.reason
        count_over(0.5)   # the tick already scheduled at the old period
        at_10 = count_over(2.0)
        print(f'observations in 2 s of stamps: {at_30} at 30 Hz, {at_10} at 10 Hz')
        # A loaded machine drops ticks but never adds them: 20, plus one at each edge.
        assert at_10 <= 22, at_10
