"""
The rollout command: run goals on the play table from one process, without ``ros2 launch``.

goals parses the goal list (--tasks, a goals file), client is the client node that resets the
simulator and sends the goals, graph composes (or attaches to) the play table's nodes, options
holds what the command line decides, summary sums the run up, and cli is the command itself
(``rollout``, ``python -m play_lmp_ros.rollout``).
"""
