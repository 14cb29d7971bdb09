"""
How well the scripted experts take over from the states a student policy reaches.

    python -m play_lmp_training.evaluate_experts --episodes 3 --seed 7 [--model DIR]
        [--takeover 30,60,120] [--tasks a,b] [--workers 2]

For every task, imagined episodes are made exactly as the goal server makes goals.  The student
(an exported model, the bundled default unless --model) runs each episode up to the last
takeover step.  Where it has not reached the goal by then, the simulator is reset to each state
it was in at a takeover step and the task's Expert (core.skills.experts) drives from there for
up to EXPERT_MAX_STEPS, judged by CALVIN's oracle against the episode's start, as the student
was.  This is the measure DAgger needs: whether the labeller knows what to do in the states
that the student visits.
The table (per task: takeovers, expert successes, states the expert had no action for) is
printed and written to --out as Markdown and JSON.
"""

import argparse
import json
import logging
from pathlib import Path
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import default_model_dir
from play_lmp_ros.core.scene_info import SceneInfo
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills.experts import Expert, ExpertError, run_expert
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from play_lmp_training.evaluation.episodes import Episode, single_episodes, SOURCE_IMAGINED
from play_lmp_training.evaluation.pool import pool_map
from play_lmp_training.evaluation.rollouts import (
    DETERMINISTIC, make_policy, MODEL, PolicySpec, SINGLE_MAX_STEPS)
from play_lmp_training.evaluation.summaries import wilson_interval

logger = logging.getLogger(__name__)
EXPERT_MAX_STEPS = 360
_WORKER: dict = {}


def student_states(policy, episode: Episode, sim: PlayTableSim, takeovers: Sequence[int],
                   oracle: TaskOracle
                   ) -> Tuple[Optional[int], Dict[int, np.ndarray], SceneInfo]:
    """
    Run the student through one episode and keep its states at the takeover steps.

    :param policy: the student (core.policies.Policy).
    :param episode: the episode.
    :param sim: the simulator.
    :param takeovers: steps at which the expert would take over.
    :param oracle: CALVIN's oracle.
    :return: the step at which the student reached the goal (or None), the (39,) states at
        the takeover steps before it, and the start's snapshot that the task is judged against.
    """
    sim.reset(episode.start[:layout.ROBOT_OBS_DIM], episode.start[layout.ROBOT_OBS_DIM:])
    start_info = sim.scene_info()
    obs = sim.observe()
    states: Dict[int, np.ndarray] = {}
    if policy.reset(obs, episode.goal, episode.task) is not None:
        return None, states, start_info
    for step in range(1, max(takeovers) + 1):
        if step - 1 in takeovers:
            states[step - 1] = obs.copy()
        obs = sim.step(policy.act(obs, episode.goal))
        if step % 2 == 0 and oracle.check(episode.task, start_info, sim.scene_info()):
            return step, states, start_info
    states[max(takeovers)] = obs.copy()
    return None, states, start_info


def _init_worker(model_dir: str, seed: int) -> None:
    """Load the student once per worker process."""
    _WORKER['policy'] = make_policy(PolicySpec('student', MODEL, model_dir, DETERMINISTIC), seed)
    _WORKER['seed'] = seed


def _episode_job(job: Tuple[int, Episode, Tuple[int, ...]]) -> dict:
    """Run one episode's student, then the takeovers of a failed one, in fresh simulators."""
    index, episode, takeovers = job
    oracle = TaskOracle()
    policy = _WORKER['policy']
    policy.reseed(_WORKER['seed'] + index)
    with PlayTableSim(seed=_WORKER['seed']) as sim:
        reached, states, start_info = student_states(policy, episode, sim, takeovers, oracle)
    rows = []
    for step, state in sorted(states.items()) if reached is None else ():
        row = {'index': index, 'task': episode.task, 'takeover': step, 'success': False,
               'reason': ''}
        with PlayTableSim(seed=_WORKER['seed']) as sim:
            sim.reset(state[:layout.ROBOT_OBS_DIM], state[layout.ROBOT_OBS_DIM:])
            try:
                expert = Expert(episode.task, episode.start, seed=index)
                done = run_expert(sim, expert, oracle, start_info, EXPERT_MAX_STEPS)
                row['success'] = done is not None
                row['reason'] = '' if done is not None else f'timeout in {expert.phase}'
            except ExpertError as error:
                row['reason'] = f'no action: {error}'
        rows.append(row)
    return {'index': index, 'task': episode.task, 'student_reached': reached, 'takeovers': rows}


def summarize(episodes: List[dict], tasks: Sequence[str]) -> Dict[str, dict]:
    """
    Count the student's failures, the takeovers from them and the expert's successes per task.

    :param episodes: one _episode_job result per episode.
    :param tasks: the tasks, in report order.
    :return: task -> episodes, student_failures, takeovers, successes, success_rate, interval,
        no_action.
    """
    summary = {}
    for task in list(tasks) + ['all']:
        mine = [e for e in episodes if task in ('all', e['task'])]
        rows = [row for e in mine for row in e['takeovers']]
        won = sum(r['success'] for r in rows)
        summary[task] = {
            'episodes': len(mine),
            'student_failures': sum(e['student_reached'] is None for e in mine),
            'takeovers': len(rows), 'successes': won,
            'success_rate': round(won / len(rows), 3) if rows else None,
            'interval': [round(v, 3) for v in wilson_interval(won, len(rows))] if rows else None,
            'no_action': sum(r['reason'].startswith('no action') for r in rows)}
    return summary


def markdown(summary: Dict[str, dict], settings: dict) -> str:
    """
    Format the summary as a Markdown table.

    :param summary: from summarize.
    :param settings: the run's settings, printed above the table.
    :return: the report.
    """
    lines = ['# Experts taking over from student states', '',
             f'Settings: {json.dumps(settings)}', '',
             '| task | episodes | student not there by the last takeover | takeovers | '
             'expert successes | '
             'rate [95% CI] | no action |',
             '|---|---:|---:|---:|---:|---:|---:|']
    for task, row in summary.items():
        rate = '-'
        if row['takeovers']:
            low, high = row['interval']
            rate = f'{row["success_rate"]:.0%} [{low:.0%}-{high:.0%}]'
        lines.append(f'| {task} | {row["episodes"]} | {row["student_failures"]} | '
                     f'{row["takeovers"]} | {row["successes"]} | {rate} | {row["no_action"]} |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the takeover evaluation from the command line.

    :param argv: arguments, sys.argv[1:] when None.
    :return: process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', default=None,
                        help='exported student model directory (default: the bundled default)')
    parser.add_argument('--episodes', type=int, default=3, help='imagined episodes per task')
    parser.add_argument('--seed', type=int, default=7, help='seed of the episodes')
    parser.add_argument('--takeover', default='30,60,120',
                        help='student steps after which the expert takes over, comma-separated')
    parser.add_argument('--tasks', default='', help='comma-separated task names (default: all)')
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--out', type=Path, default=Path('docs/results'), help='output folder')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    tasks = [t for t in args.tasks.split(',') if t] or list(TASK_NAMES)
    try:
        takeovers = tuple(sorted({int(t) for t in args.takeover.split(',') if t}))
    except ValueError:
        takeovers = ()
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if (unknown or args.episodes < 1 or not takeovers or takeovers[0] < 0
            or takeovers[-1] > SINGLE_MAX_STEPS):
        print(f'error: unknown tasks {unknown}, --episodes below 1 or --takeover not steps in '
              f'0..{SINGLE_MAX_STEPS}', file=sys.stderr)
        return 2
    model_dir = args.model or str(default_model_dir())
    episodes = single_episodes(SOURCE_IMAGINED, args.episodes, args.seed, tasks,
                               workers=args.workers, progress=not args.no_progress)
    jobs = [(index, episode, takeovers) for index, episode in enumerate(episodes)]
    per_episode = pool_map(_episode_job, jobs, args.workers, 'takeovers', not args.no_progress,
                           _init_worker, (model_dir, args.seed))
    summary = summarize(per_episode, tasks)
    settings = {'model': Path(model_dir).name, 'episodes_per_task': args.episodes,
                'seed': args.seed, 'takeover_steps': list(takeovers),
                'expert_max_steps': EXPERT_MAX_STEPS}
    report = markdown(summary, settings)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'expert_takeover.md').write_text(report + '\n')
    (args.out / 'expert_takeover.json').write_text(json.dumps(
        {'settings': settings, 'summary': summary, 'episodes': per_episode}, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
