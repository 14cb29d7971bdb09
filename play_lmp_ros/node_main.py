"""
The `main` shared by the package's nodes: start, spin until Ctrl-C, exit with a clear code.

SIGINT and SIGTERM stop the spin while the context is still up (rclpy's own handlers, which shut
the context down at once, are off, and the signal only sets a flag that the spin checks between
callbacks, so that no callback is cut short): a node with an ``end_for_shutdown()`` method then
ends its work (the goal server aborts its goal) and the executor runs SHUTDOWN_FLUSH_S longer,
so that results and last messages reach their clients before the node is destroyed.
"""

import signal
import sys
import time
from typing import Callable, Tuple, Type

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

# Seconds the executor keeps running after end_for_shutdown, to deliver what it produced.
SHUTDOWN_FLUSH_S = 0.5
# The longest the spin waits before it looks at the stop flag again.
STOP_CHECK_S = 0.1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopFlag:
    """Set by SIGINT or SIGTERM; a second signal while stopping raises KeyboardInterrupt."""

    def __init__(self):
        """Start unset."""
        self.set = False

    def __call__(self, signum, frame) -> None:
        """Handle a stop signal."""
        if self.set:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        self.set = True


def _end_gracefully(node: Node, executor: SingleThreadedExecutor) -> None:
    """Let the node end its work and the executor deliver it, while the context is up."""
    end = getattr(node, 'end_for_shutdown', None)
    if end is None or not node.context.ok():
        return
    end()
    deadline = time.monotonic() + SHUTDOWN_FLUSH_S
    while time.monotonic() < deadline and node.context.ok():
        executor.spin_once(timeout_sec=STOP_CHECK_S / 2)


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
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = _StopFlag()
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, stop)
    try:
        node = make_node()
    except (ValueError, ParameterException, *startup_errors) as error:
        print(f'{prefix}: {error}', file=sys.stderr)
        rclpy.try_shutdown()
        return 1
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.set and node.context.ok():
            executor.spin_once(timeout_sec=STOP_CHECK_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        try:
            _end_gracefully(node, executor)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass   # a second Ctrl-C: stop at once
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
