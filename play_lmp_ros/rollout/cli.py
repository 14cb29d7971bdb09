"""
Run goals on the play table from one command, without ``ros2 launch``.

    rollout --backend scripted --mode lockstep --tasks open_drawer,turn_on_led --out out/run
    rollout --goals config/rollout.yaml --record --video
    rollout --attach --tasks move_slider_left        # nodes started elsewhere (launch file)

By default the simulator, goal server and policy nodes run composed in this process (one rclpy
context, one executor spinning in a background thread) next to a client node, ``rollout``, whose
blocking calls wait in the main thread, in a namespace of their own (``/rollout_<6 hex digits>``,
printed at the start), so that rollouts never meet another play table in the same ROS domain.
``--namespace play_lmp`` puts them where the launch file and the rviz config expect them.  With
``--attach`` the client talks to nodes that already run, in this ROS domain and in ``--namespace``
(default ``play_lmp``, the launch file's).

The executor is single-threaded on purpose: no callback of these nodes blocks (the goal server's
execute callback awaits), the GIL would serialize them anyway, and stopping it is exact: once its
thread has returned no callback runs, so the nodes can be destroyed safely.  (rclpy's
MultiThreadedExecutor.shutdown does not wait for callbacks already handed to its thread pool, and
realtime runs then ended with callbacks running on destroyed nodes.)

Two play tables in one namespace would answer each other's resets, goals and actions, so a
composed rollout in a namespace someone chose (``--namespace``, or ``--ros-args -r __ns:=...``)
first watches the ROS graph for SECOND_TABLE_CHECK_S and refuses to start beside another
sim_node, goal_server, policy_node or rollout (exit code 1, naming them).  An attached rollout
refuses a namespace with two servers or a second rollout client.

The client resets the simulator with ``--seed`` (service ``reset``), then sends each goal in turn
through the ``reach_goal`` action, from wherever the previous goal left the table (as CALVIN's
chains do).  It prints one line per goal and one line with the successes and the files written;
the JSON summary goes to ``<out>/summary.json`` (and, with ``--json``, alone to stdout).  A
named task that is infeasible from the current state comes back aborted with the reason: that is
a result, not an error.

``--record`` writes every topic of the graph to ``<out>/rollout.mcap`` (ROS 2 CDR with message
definitions; open it in Foxglove or read it with mcap_ros2).  ``--video`` keeps every N-th
observation and, after the run, renders the static camera for each into ``<out>/rollout.mp4``
with a private simulator reset to that state, so it works with ``--attach`` too and never slows
the control loop.  ``--foxglove`` serves the run live on ws://127.0.0.1:8765.

Exit codes: 0 when the goals ran (whatever their outcome), 1 when the nodes could not be started or
reached, 2 for bad arguments (an unknown task gets the closest names), 130 on Ctrl-C (the active
goal is canceled and the summary of the goals so far is written).
"""

import argparse
import json
import math
from pathlib import Path
import sys
import tempfile
from typing import Any, Dict, List, Optional, Sequence, TextIO

from play_lmp_ros import qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import resolve_model_dir
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_ros.recording import render_observations
from play_lmp_ros.rollout.client import GoalInterrupted, GoalOutcome, RolloutClient, RolloutError
from play_lmp_ros.rollout.goals import GoalSpec, load_goals, parse_task_list
from play_lmp_ros.rollout.graph import MCAP_FILE, Rollout
from play_lmp_ros.rollout.options import DEFAULT_BACKEND, DEFAULT_MODE, RolloutOptions
from play_lmp_ros.rollout.summary import (
    describe_policy, format_line, stdout_for_json_only, summarize, summary_line)
from rclpy.exceptions import InvalidNamespaceException
from rclpy.utilities import remove_ros_args
from rclpy.validate_namespace import validate_namespace
from tqdm import tqdm

EXIT_OK = 0
EXIT_UNREACHABLE = 1
EXIT_INTERRUPTED = 130

SUMMARY_FILE = 'summary.json'
VIDEO_FILE = 'rollout.mp4'


def normalize_namespace(text: str) -> str:
    """
    Check a namespace given on the command line and make it absolute.

    :param text: e.g. 'play_lmp', '/lab/table_b'.
    :return: e.g. '/play_lmp'.
    :raises ValueError: naming what ROS refuses in it.
    """
    namespace = '/' + text.strip().strip('/')
    try:
        validate_namespace(namespace)
    except InvalidNamespaceException as error:
        raise ValueError(f'--namespace {text!r} is not a ROS namespace: '
                         f'{str(error).splitlines()[0].rstrip(":")}') from None
    return namespace


def run(options: RolloutOptions, summary_out: Optional[TextIO] = None) -> int:
    """
    Run a rollout: start or reach the nodes, reset, send every goal, write the summary.

    :param options: the command line's choices.
    :param summary_out: where the JSON summary is printed (--json); None prints one summary
        line with the files instead.
    :return: the exit code.
    """
    goal_lines = sys.stderr if options.json_only else sys.stdout
    options.out.mkdir(parents=True, exist_ok=True)
    outcomes: List[GoalOutcome] = []
    files: Dict[str, str] = {}
    interrupted = False
    policy: Dict[str, Any] = {}
    namespace = ''
    try:
        with Rollout(options) as rollout:
            client = rollout.client
            namespace = client.get_namespace()
            if not options.attach:
                print(f'play table in {client.get_namespace()}', file=sys.stderr)
            if rollout.foxglove_port is not None:
                print(f'Foxglove: open ws://127.0.0.1:{rollout.foxglove_port}', file=sys.stderr)
                if options.foxglove_wait_s > 0:
                    print(f'waiting up to {options.foxglove_wait_s:g} s for a Foxglove client',
                          file=sys.stderr, flush=True)
                    seen = rollout.wait_for_foxglove(options.foxglove_wait_s)
                    print('Foxglove client connected' if seen else
                          'no Foxglove client came: running the goals anyway', file=sys.stderr)
            policy = describe_policy(client)
            client.reset(options.seed, options.wait_s)
            for index, spec in enumerate(options.goals, start=1):
                rollout.check_one_table()
                try:
                    outcome = _run_one(client, spec, options, index)
                except GoalInterrupted as stop:
                    outcome, interrupted = stop.outcome, True
                outcomes.append(outcome)
                print(format_line(index, len(options.goals), outcome), file=goal_lines,
                      flush=True)
                if interrupted:
                    break
            frames, captions = client.video_frames()
            if rollout.mcap_path is not None:
                files['mcap'] = str(rollout.mcap_path)
    except RolloutError as error:
        print(f'rollout: {error}', file=sys.stderr)
        return EXIT_UNREACHABLE
    if options.video:
        fps = layout.CONTROL_HZ / options.video_every
        path, count = render_observations(frames, options.out / VIDEO_FILE, fps,
                                          options.video_size, options.seed, captions)
        files['video'] = str(path)
        print(f'video: {count} frames in {path}', file=sys.stderr)
    files['summary'] = str(options.out / SUMMARY_FILE)
    summary = summarize(outcomes, policy, options, files, interrupted, namespace)
    text = json.dumps(summary, indent=2)
    (options.out / SUMMARY_FILE).write_text(text + '\n')
    if summary_out is not None:
        print(text, file=summary_out, flush=True)
    else:
        print(summary_line(summary), flush=True)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _run_one(client: RolloutClient, spec: GoalSpec, options: RolloutOptions,
             index: int) -> GoalOutcome:
    """
    Run one goal with a progress bar on stderr (shown on a terminal only).

    :param client: the client node.
    :param spec: the goal.
    :param options: the run's options.
    :param index: 1-based goal number.
    :return: the outcome.
    """
    with tqdm(desc=f'[{index}/{len(options.goals)}] {spec.label}', unit='step', leave=False,
              file=sys.stderr, disable=None) as bar:
        def on_feedback(feedback) -> None:
            bar.n = int(feedback.step)
            bar.set_postfix(distance=f'{feedback.distance_to_goal:.3f}', refresh=True)

        caption = f'[{index}/{len(options.goals)}] {spec.label}'
        client.set_caption(caption, count_steps=True)
        outcome = client.run_goal(spec, options.timeout_s, on_feedback)
        client.end_caption(f'{caption}: {outcome.outcome}')
        return outcome


def build_parser() -> argparse.ArgumentParser:
    """
    Build the command line parser.

    :return: the parser.
    """
    parser = argparse.ArgumentParser(
        prog='rollout', description=__doc__.strip().splitlines()[0],
        epilog='ROS arguments go after --ros-args (e.g. --ros-args --params-file my.yaml '
               'configures the composed nodes by name).')
    parser.formatter_class = HelpFormatter
    goals = parser.add_mutually_exclusive_group(required=True)
    goals.add_argument('--tasks', help='comma-separated task names, e.g. '
                                       'open_drawer,turn_on_led')
    goals.add_argument('--goals', type=Path,
                       help='YAML file: goals: [{task: open_drawer, timeout_s: 20}, '
                            '{state: [39 floats]}]')
    goals.add_argument('--list-tasks', action='store_true', help='print the 34 task names')
    parser.add_argument('--backend', choices=('onnx', 'scripted'),
                        help=f'policy backend of the composed nodes (default {DEFAULT_BACKEND})')
    parser.add_argument('--model-dir', help='folder with actor.onnx (and planner.onnx), or the '
                                            'name of a bundled model such as play_lmp '
                                            '(default: the bundled default)')
    parser.add_argument('--mode', choices=('lockstep', 'realtime'),
                        help=f'mode of the composed nodes (default {DEFAULT_MODE})')
    parser.add_argument('--replan-every', type=int,
                        help="policy replanning period in steps (default: the model's)")
    parser.add_argument('--plan-mode', choices=PLAN_MODES,
                        help="subgoal planning of the composed policy (default: the model's)")
    parser.add_argument('--seed', type=int, default=0, help='scene seed of the reset (default 0)')
    parser.add_argument('--timeout', type=float, default=0.0,
                        help="per-goal timeout in s (default 0: the goal server's)")
    parser.add_argument('--attach', action='store_true',
                        help='use nodes that already run instead of composing them')
    parser.add_argument('--namespace',
                        help='namespace of the nodes (default: composed, a new /rollout_<hex> of '
                             f'their own; attached, {qos.NAMESPACE})')
    parser.add_argument('--out', type=Path, default=Path('out/rollout'),
                        help='output folder (default out/rollout)')
    parser.add_argument('--record', action='store_true', help=f'write <out>/{MCAP_FILE}')
    parser.add_argument('--video', action='store_true',
                        help=f'write <out>/{VIDEO_FILE} (.gif without imageio-ffmpeg)')
    parser.add_argument('--video-every', type=int, default=3,
                        help='one video frame every N observations (default 3: 10 fps)')
    parser.add_argument('--video-size', type=int, help='video side in pixels (default 200)')
    parser.add_argument('--foxglove', action='store_true',
                        help='serve the run live to Foxglove (needs foxglove-sdk)')
    parser.add_argument('--foxglove-wait', type=float, default=0.0,
                        help='with --foxglove, wait up to this many seconds for the Foxglove '
                             'app to connect before the first goal (a lockstep run is over in '
                             'seconds)')
    parser.add_argument('--foxglove-port', type=int, default=8765,
                        help='port of the Foxglove WebSocket (default 8765; 0: any free port)')
    parser.add_argument('--wait', type=float, default=30.0,
                        help='seconds to wait for the nodes (default 30)')
    parser.add_argument('--json', action='store_true',
                        help='stdout carries only the JSON summary; goal lines go to stderr '
                             '(default: goal lines and one summary line)')
    return parser


def parse_options(argv: Sequence[str]) -> RolloutOptions:
    """
    Parse and check the command line; exits with code 2 on a bad argument.

    :param argv: arguments without the program name, ROS arguments included.
    :return: the options.
    """
    parser = build_parser()
    ros_args = list(argv[argv.index('--ros-args'):]) if '--ros-args' in argv else []
    args = parser.parse_args(remove_ros_args(['rollout', *argv])[1:])
    if args.list_tasks:
        print('\n'.join(TASK_NAMES))
        raise SystemExit(EXIT_OK)
    try:
        goals = parse_task_list(args.tasks) if args.tasks is not None else load_goals(args.goals)
    except ValueError as error:
        parser.error(str(error))
    for name, value, low in (('--video-every', args.video_every, 1), ('--wait', args.wait, 0),
                             ('--timeout', args.timeout, 0)):
        if not (math.isfinite(value) and value >= low):
            parser.error(f'{name} must be >= {low}, got {value}')
    if args.replan_every is not None and args.replan_every < 0:
        parser.error(f'--replan-every must be >= 0, got {args.replan_every}')
    if args.video_size is not None and args.video_size < 16:
        parser.error(f'--video-size must be >= 16 pixels, got {args.video_size}')
    if not (math.isfinite(args.foxglove_wait) and args.foxglove_wait >= 0):
        parser.error(f'--foxglove-wait must be a number of seconds >= 0, got {args.foxglove_wait}')
    if args.foxglove_wait > 0 and not args.foxglove:
        parser.error('--foxglove-wait needs --foxglove')
    if not 0 <= args.foxglove_port <= 65535:
        parser.error(f'--foxglove-port must be in 0..65535, got {args.foxglove_port}')
    try:
        namespace = '' if args.namespace is None else normalize_namespace(args.namespace)
    except ValueError as error:
        parser.error(str(error))
    if args.model_dir:
        args.model_dir = resolve_model_dir(args.model_dir)
        if not Path(args.model_dir).is_dir():
            parser.error(f'--model-dir {args.model_dir} is not a folder nor a bundled model')
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=args.out).close()
    except OSError as error:
        parser.error(f'--out {args.out} is not a writable folder: {error.strerror or error}')
    node_options = {'--backend': args.backend, '--model-dir': args.model_dir,
                    '--mode': args.mode, '--replan-every': args.replan_every,
                    '--plan-mode': args.plan_mode}
    if args.attach:
        ignored = [name for name, value in node_options.items() if value is not None]
        if ignored:
            print(f'rollout: {", ".join(ignored)} ignored with --attach: the running nodes '
                  'keep their parameters', file=sys.stderr)
    return RolloutOptions(
        goals=goals, backend=args.backend or DEFAULT_BACKEND, model_dir=args.model_dir or '',
        mode=args.mode or DEFAULT_MODE, seed=args.seed, timeout_s=args.timeout,
        replan_every=args.replan_every, plan_mode=args.plan_mode, attach=args.attach,
        out=args.out, record=args.record,
        video=args.video, video_every=args.video_every, video_size=args.video_size,
        foxglove=args.foxglove, foxglove_port=args.foxglove_port,
        foxglove_wait_s=args.foxglove_wait, wait_s=args.wait,
        json_only=args.json, ros_args=ros_args, namespace=namespace)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """
    Run the rollout command.

    :param argv: arguments without the program name (sys.argv[1:] when None).
    :return: the exit code (see the module docstring).
    """
    options = parse_options(list(sys.argv[1:] if argv is None else argv))
    try:
        if options.json_only:
            with stdout_for_json_only() as summary_out:
                return run(options, summary_out)
        return run(options)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == '__main__':
    sys.exit(main())
