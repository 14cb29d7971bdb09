"""
Who publishes a topic: refuse data while a node other than the expected one publishes it.

rclpy does not tell a subscriber which publisher sent a message, so a node that must trust one
source (the policy: goals from the goal server, observations from the simulator; the goal
server: observations from the simulator) asks the ROS graph who publishes the topic and refuses
the topic's data while anyone else does.  This stops a stray or hostile publisher on an open
graph; SROS2 (signed participants and topic permissions) and localhost-only discovery are the
way to lock a graph down (see the README).
"""

import time
from typing import List

from rclpy.node import Node
from rclpy.subscription import Subscription

# What rmw reports as a publisher's node until that participant's discovery information (the
# node names) has arrived, shortly after its endpoints: such a publisher is not refused, or a
# latched goal or a lockstep observation received in that window would be lost for good.
UNKNOWN_NODE_NAME = '_NODE_NAME_UNKNOWN_'
# How long TrustedPublishers trusts its last answer while the publisher count stays the same:
# the longest a publisher whose node name arrives late, or one that replaced another between
# two messages, goes unnoticed.
RECHECK_S = 0.25


def foreign_publishers(node: Node, topic: str, expected_node: str) -> List[str]:
    """
    Name the publishers of a topic other than the expected node of the same namespace.

    :param node: the subscribing node (its namespace is the expected node's).
    :param topic: the topic name, relative to the node's namespace or absolute.
    :param expected_node: the only node allowed to publish it; '' allows every publisher.
    :return: fully qualified names of the other publishers, sorted (empty when none); a
        publisher whose node is not known yet is not among them (UNKNOWN_NODE_NAME).
    """
    if not expected_node:
        return []
    namespace = node.get_namespace()
    others = set()
    for info in node.get_publishers_info_by_topic(node.resolve_topic_name(topic)):
        if info.node_name == UNKNOWN_NODE_NAME:
            continue
        if info.node_name != expected_node or info.node_namespace != namespace:
            others.add(f'{info.node_namespace.rstrip("/")}/{info.node_name}')
    return sorted(others)


class TrustedPublishers:
    """
    foreign_publishers for one subscription, asked of the graph only when it may have changed.

    The graph query costs about 70 us, and the policy asks it twice per control step; the
    subscription's publisher count costs 2 us.  The answer is kept while that count stays the
    same, for at most RECHECK_S, and while the expected node stays the same.
    """

    def __init__(self, node: Node, subscription: Subscription):
        """
        Watch a subscription's publishers.

        :param node: the node that owns the subscription.
        :param subscription: the subscription whose publishers are judged.
        """
        self._node = node
        self._subscription = subscription
        self._key = None
        self._checked_at = 0.0
        self._others: List[str] = []

    def foreign(self, expected_node: str) -> List[str]:
        """
        Name the publishers other than the expected node (see foreign_publishers).

        :param expected_node: the only node allowed to publish; '' allows every publisher.
        :return: their fully qualified names, sorted.
        """
        key = (self._subscription.get_publisher_count(), expected_node)
        now = time.monotonic()
        if key != self._key or now - self._checked_at >= RECHECK_S:
            self._others = foreign_publishers(self._node, self._subscription.topic_name,
                                              expected_node)
            self._key, self._checked_at = key, now
        return self._others
