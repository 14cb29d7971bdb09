"""The `main` shared by the package's nodes: start, spin until Ctrl-C, exit with a clear code."""

import sys
from typing import Callable, Tuple, Type

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], prefix: str,
             startup_errors: Tuple[Type[BaseException], ...] = (), args=None) -> int:
    """
    Initialize rclpy, build a node and spin it until Ctrl-C or shutdown.

    :param make_node: builds the node (reads and validates its parameters).
    :param prefix: printed before a start-up error, e.g. 'goal_server'.
    :param startup_errors: errors besides ValueError and ParameterException that mean the node
        cannot start.
    :param args: command-line arguments for rclpy (sys.argv when None).
    :return: 0, or 1 after a start-up error (printed to stderr as '<prefix>: <error>').
    """
    rclpy.init(args=args)
    try:
        node = make_node()
    except (ValueError, ParameterException, *startup_errors) as error:
        print(f'{prefix}: {error}', file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
