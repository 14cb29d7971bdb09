"""
Soak the goal server: send many ReachGoal goals and print its memory per 1,000 goals.

The goal server and a realtime simulator run in this process (real nodes, real DDS between the
client and them); each goal is an explicit goal state, accepted, started and then canceled, so
every goal goes through the whole state machine to one terminal state.  The resident memory of
the process is printed every --every goals; a bounded server shows a flat line after warm-up.

    python tools/soak_goals.py --goals 1000
"""

import argparse
import sys
import threading
import time
from typing import List, Optional

import numpy as np
from play_lmp_interfaces.action import ReachGoal
from play_lmp_ros import qos
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.goal_server_node import GoalServerNode
from play_lmp_ros.sim_node import SimNode
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import MultiThreadedExecutor
from tqdm import tqdm

NAMESPACE = 'play_lmp_soak'
WAIT_S = 30.0


def resident_mib() -> float:
    """Return this process's resident memory (MiB), from /proc."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError('no VmRSS in /proc/self/status')


def wait(future, what: str) -> object:
    """Wait for an rclpy future spun by the executor thread; return its result."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(WAIT_S):
        raise RuntimeError(f'{what}: no answer within {WAIT_S:g} s')
    return future.result()


def soak(goals: int, every: int) -> List[float]:
    """
    Send goals one after another, each canceled once running; sample memory every few.

    :param goals: how many goals.
    :param every: sample memory after this many goals.
    :return: the samples (MiB), the first before any goal.
    """
    rclpy.init()
    executor = MultiThreadedExecutor(num_threads=2)
    nodes = [GoalServerNode(namespace=NAMESPACE), SimNode(namespace=NAMESPACE),
             rclpy.create_node('soak_client', namespace=NAMESPACE)]
    for node in nodes:
        executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    client = ActionClient(nodes[2], ReachGoal, qos.REACH_GOAL_ACTION,
                          **qos.ACTION_SERVICE_PROFILES)
    samples = []
    try:
        if not client.wait_for_server(timeout_sec=WAIT_S):
            raise RuntimeError('no ReachGoal server')
        state = np.full(39, 0.1).tolist()
        samples.append(resident_mib())
        outcomes = {}
        for index in tqdm(range(1, goals + 1), desc='goals', unit='goal'):
            handle = wait(client.send_goal_async(ReachGoal.Goal(goal_state=state)), 'goal')
            result = handle.get_result_async()
            wait(handle.cancel_goal_async(), 'cancel')
            outcome = wait(result, 'result').result.outcome
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if index % every == 0:
                samples.append(resident_mib())
        print(f'outcomes: {outcomes}')
    finally:
        client.destroy()
        executor.shutdown(timeout_sec=5.0)
        for node in nodes:
            node.destroy_node()
        rclpy.shutdown()
    return samples


def main(argv: Optional[List[str]] = None) -> int:
    """Run the soak and print memory against goals; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--goals', type=int, default=1000, help='goals to send')
    parser.add_argument('--every', type=int, default=200, help='goals between two memory readings')
    args = parser.parse_args(argv)
    started = time.monotonic()
    samples = soak(args.goals, args.every)
    for index, value in enumerate(samples):
        print(f'after {index * args.every:5d} goals: {value:7.1f} MiB')
    warm = samples[1] if len(samples) > 2 else samples[0]
    growth = (samples[-1] - warm) / max(1, args.goals - args.every) * 1000.0
    print(f'growth after the first {args.every} goals: {growth:+.1f} MiB per 1,000 goals '
          f'({time.monotonic() - started:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
