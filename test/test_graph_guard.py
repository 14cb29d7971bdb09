"""graph_guard over real DDS: foreign publishers are named, and the cached guard sees changes."""

import time

from play_lmp_ros import graph_guard
from play_lmp_ros.graph_guard import foreign_publishers, TrustedPublishers
import rclpy
from ros_harness import wait_until
from std_msgs.msg import String

TOPIC = 'guarded'


def test_a_new_publisher_is_named_at_once_and_a_cached_answer_expires(ros_domain, monkeypatch):
    """The cache holds while nothing changes; a new publisher or another expected node asks."""
    context = rclpy.Context()
    rclpy.init(context=context)
    nodes = [rclpy.create_node(name, namespace='guard_test', context=context)
             for name in ('listener', 'trusted', 'intruder')]
    listener, trusted, intruder = nodes
    try:
        subscription = listener.create_subscription(String, TOPIC, lambda _: None, 10)
        guard = TrustedPublishers(listener, subscription)
        trusted.create_publisher(String, TOPIC, 10)
        wait_until(lambda: not foreign_publishers(listener, TOPIC, 'trusted')
                   and subscription.get_publisher_count() == 1, 10.0, 'the trusted publisher')
        assert guard.foreign('trusted') == []
        assert guard.foreign('someone_else') == ['/guard_test/trusted']
        assert guard.foreign('') == []

        queries = []
        monkeypatch.setattr(graph_guard, 'foreign_publishers',
                            lambda *args: queries.append(args) or foreign_publishers(*args))
        assert guard.foreign('trusted') == [] and len(queries) == 1
        assert guard.foreign('trusted') == [] and len(queries) == 1   # cached
        intruder.create_publisher(String, TOPIC, 10)
        wait_until(lambda: subscription.get_publisher_count() == 2, 10.0, 'the intruder')
        wait_until(lambda: guard.foreign('trusted') == ['/guard_test/intruder'], 10.0,
                   'the intruder named')
        asked = len(queries)
        time.sleep(graph_guard.RECHECK_S + 0.05)
        assert guard.foreign('trusted') == ['/guard_test/intruder'] and len(queries) == asked + 1
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
