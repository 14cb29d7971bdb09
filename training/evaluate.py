"""
Evaluate a goal-conditioned policy on the play table with CALVIN's oracle and protocols.

    python -m training.evaluate --model <dir> [--model <dir> ...] --protocol single|chain \
        [--data data/play] [--episodes N] [--workers W] [--out DIR]

The policy runs through play_lmp_ros.core (OnnxPolicy, PlayTableSim, TaskOracle): the code the ROS
policy node runs.

- single: for each of the 34 tasks, episodes whose start and goal states come from held-out
  validation windows in which the oracle detects exactly that task (CALVIN's training-time rollout
  protocol); a task with fewer such windows than --episodes is topped up with imagined episodes (a
  random scene where the task is feasible, its goal made by the scripted skill in a scratch copy),
  and the report says how many of each.  Up to 240 steps; success when the oracle detects the task
  between the start and the current state.
- chain: CALVIN's long-horizon protocol with state goals: 5-task chains from random start scenes
  (the task sequence is fixed beforehand by running the skills in a scratch simulator); each
  subtask's goal is made from the robot's current state by the scripted skill in a scratch copy,
  360 steps per subtask; success rates for 1..5 tasks in a row and the average length.

Each model gets <out>/<name>/results.json; <out>/<protocol>.md, .json and .png hold the table and
the bar chart, one column or bar per model.  Episodes are seeded by their index, so results do not
depend on --workers.
"""

import argparse
from dataclasses import dataclass
import json
import multiprocessing
import os
from pathlib import Path
import sys
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.policy import ModelError, NonFiniteOutputError, OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from tqdm import tqdm
from training.calvin_dataset import load_split, read_language

SINGLE_MAX_STEPS = 240
CHAIN_MAX_STEPS = 360
CHAIN_LENGTH = 5
IMAGINE_TRIES = 400
SOURCE_VALIDATION = 'validation'
SOURCE_IMAGINED = 'imagined'


@dataclass(frozen=True)
class Episode:
    """
    One single-protocol episode.

    :param task: the task to achieve.
    :param start: (39,) start state.
    :param goal: (39,) goal state.
    :param source: 'validation' (a held-out window) or 'imagined' (scripted in a scratch sim).
    """

    task: str
    start: np.ndarray
    goal: np.ndarray
    source: str


@dataclass(frozen=True)
class Chain:
    """
    One chain-protocol sequence.

    :param start: (39,) start state.
    :param tasks: the CHAIN_LENGTH task names, in order.
    """

    start: np.ndarray
    tasks: Tuple[str, ...]


def validation_episodes(split_dir: Path, judge: GoalJudge) -> Dict[str, List[Episode]]:
    """
    Collect the annotated windows of a split in which the oracle detects exactly their task.

    :param split_dir: a CALVIN split with lang_annotations/auto_lang_ann.npy.
    :param judge: rebuilds oracle snapshots from states.
    :return: task -> episodes, in annotation order.
    :raises ValueError: when the split has no language annotations.
    """
    annotations = read_language(split_dir)
    if annotations is None:
        raise ValueError(f'{split_dir} has no lang_annotations/auto_lang_ann.npy: the single '
                         f'protocol needs task-annotated windows')
    split = load_split(split_dir, progress=False)
    rows = split.rows_of_frames(annotations.frame_ranges)
    episodes: Dict[str, List[Episode]] = {}
    for task, (first, last) in zip(annotations.tasks, rows):
        start = np.asarray(split.obs[first], dtype=np.float64)
        goal = np.asarray(split.obs[last], dtype=np.float64)
        start[layout.GRIPPER_ACTION] = np.sign(start[layout.GRIPPER_ACTION]) or 1.0
        if judge.tasks_achieved(judge.scene_info(start), goal) == [task]:
            episodes.setdefault(task, []).append(Episode(task, start, goal, SOURCE_VALIDATION))
    return episodes


def imagined_episodes(task: str, count: int, seed: int, judge: GoalJudge,
                      sim: PlayTableSim) -> List[Episode]:
    """
    Make episodes for a task from random scenes where it is feasible.

    :param task: the task.
    :param count: how many to make.
    :param seed: base seed of the scenes.
    :param judge: makes goals in its scratch simulator.
    :param sim: draws the random start scenes.
    :return: up to count episodes (fewer if the task is rarely feasible).
    """
    episodes = []
    for attempt in range(IMAGINE_TRIES):
        if len(episodes) == count:
            break
        start = sim.reset_random(seed * 100003 + attempt)
        if infeasibility(task, start) is not None:
            continue
        try:
            goal = judge.imagine_goal(task, start)
        except GoalError:
            continue
        if judge.tasks_achieved(judge.scene_info(start), goal) == [task]:
            episodes.append(Episode(task, start, goal, SOURCE_IMAGINED))
    return episodes


def single_episodes(data_path: Optional[str], per_task: int, seed: int,
                    tasks: Sequence[str] = TASK_NAMES, split: str = 'validation',
                    progress: bool = True) -> List[Episode]:
    """
    Build the single protocol's episodes: held-out windows first, imagined ones to top up.

    :param data_path: dataset root, or None for imagined episodes only.
    :param per_task: episodes per task.
    :param seed: seed of the imagined scenes.
    :param tasks: the tasks to evaluate.
    :param split: the held-out split's name.
    :param progress: show a progress bar.
    :return: the episodes, grouped by task in the order of tasks.
    """
    episodes: List[Episode] = []
    with GoalJudge(seed) as judge, PlayTableSim(seed=seed) as sim:
        held_out = {} if data_path is None else validation_episodes(Path(data_path) / split,
                                                                    judge)
        for index, task in enumerate(tqdm(tasks, desc='episodes', disable=not progress)):
            chosen = held_out.get(task, [])[:per_task]
            missing = per_task - len(chosen)
            if missing > 0:
                chosen += imagined_episodes(task, missing, seed + index, judge, sim)
            episodes += chosen
    return episodes


def make_chains(count: int, seed: int, progress: bool = True) -> List[Chain]:
    """
    Draw chain-protocol sequences: each task feasible after the previous ones were done.

    :param count: number of chains.
    :param seed: seed of the scenes and the task choices.
    :param progress: show a progress bar.
    :return: the chains.
    """
    chains = []
    rng = np.random.default_rng(seed)
    with PlayTableSim(seed=seed) as sim:
        attempt = 0
        with tqdm(total=count, desc='chains', disable=not progress) as bar:
            while len(chains) < count:
                attempt += 1
                start = sim.reset_random(seed * 100003 + attempt)
                tasks: List[str] = []
                while len(tasks) < CHAIN_LENGTH:
                    obs = sim.observe()
                    # CALVIN's chains never repeat a task.
                    options = [task for task in TASK_NAMES
                               if task not in tasks and infeasibility(task, obs) is None]
                    if not options:
                        break
                    task = options[int(rng.integers(len(options)))]
                    if run_skill(sim, task, rng).success:
                        tasks.append(task)
                    else:
                        break
                if len(tasks) == CHAIN_LENGTH:
                    chains.append(Chain(start, tuple(tasks)))
                    bar.update()
    return chains


def run_episode(sim: PlayTableSim, policy, oracle: TaskOracle, task: str, goal: np.ndarray,
                max_steps: int) -> Tuple[bool, int, str]:
    """
    Run the policy from the simulator's current state until the oracle sees the task.

    :param sim: the simulator, already in the start state.
    :param policy: has reset() and step(obs, goal) -> (7,) relative action.
    :param oracle: CALVIN's oracle.
    :param task: the task to detect.
    :param goal: (39,) goal state given to the policy.
    :param max_steps: step budget.
    :return: success, steps run, and the reason of a failure ('' on success).
    """
    policy.reset()
    start_info = sim.scene_info()
    obs = sim.observe()
    for steps in range(1, max_steps + 1):
        try:
            action = policy.step(obs, goal)
        except NonFiniteOutputError as error:
            return False, steps, f'policy output not finite: {error}'
        obs = sim.step(action)
        if oracle.check(task, start_info, sim.scene_info()):
            return True, steps, ''
    return False, max_steps, 'timeout'


def run_single(policy, episodes: Iterable[Tuple[int, Episode]], max_steps: int,
               sim: PlayTableSim, seed: int) -> List[dict]:
    """
    Run single-protocol episodes with one policy in one process.

    :param policy: a RecurrentPolicy (ONNX or torch).
    :param episodes: (index, episode) pairs; the index seeds the policy's sampling.
    :param max_steps: step budget per episode.
    :param sim: the simulator.
    :param seed: base seed.
    :return: one result dict per episode (task, source, success, steps, reason).
    """
    oracle = TaskOracle()
    results = []
    for index, episode in episodes:
        policy.reseed(seed + index)
        sim.reset(episode.start[:layout.ROBOT_OBS_DIM], episode.start[layout.ROBOT_OBS_DIM:])
        success, steps, reason = run_episode(sim, policy, oracle, episode.task, episode.goal,
                                             max_steps)
        results.append({'index': index, 'task': episode.task, 'source': episode.source,
                        'success': success, 'steps': steps, 'reason': reason})
    return results


def run_chain(policy, chain: Chain, index: int, sim: PlayTableSim, judge: GoalJudge,
              seed: int) -> dict:
    """
    Run one chain: subtasks in order until one fails.

    :param policy: a RecurrentPolicy.
    :param chain: the chain.
    :param index: its index (seeds the policy).
    :param sim: the simulator.
    :param judge: makes each subtask's goal from the current state.
    :param seed: base seed.
    :return: a result dict (tasks, completed, reason).
    """
    oracle = TaskOracle()
    policy.reseed(seed + index)
    obs = sim.reset(chain.start[:layout.ROBOT_OBS_DIM], chain.start[layout.ROBOT_OBS_DIM:])
    completed, reason = 0, ''
    for task in chain.tasks:
        try:
            goal = judge.imagine_goal(task, obs)
        except GoalError as error:
            reason = f'{task}: no goal from the current state ({error})'
            break
        success, _, failure = run_episode(sim, policy, oracle, task, goal, CHAIN_MAX_STEPS)
        if not success:
            reason = f'{task}: {failure}'
            break
        completed += 1
        obs = sim.observe()
    return {'index': index, 'tasks': list(chain.tasks), 'completed': completed,
            'reason': reason}


_WORKER: dict = {}


def _init_worker(model_dir: str, deterministic: bool, seed: int) -> None:
    """Load the policy once per worker process."""
    _WORKER['policy'] = OnnxPolicy(model_dir, deterministic=deterministic, seed=seed)
    _WORKER['seed'] = seed


# Each job gets a fresh simulator: PyBullet keeps contact state that a reset does not clear, so
# a shared one would make an episode's outcome depend on the episodes its worker ran before
# (and so on --workers).  Building one costs about 0.1 s, against about 1 s per episode.
def _single_job(job: Tuple[int, Episode]) -> dict:
    """Run one single-protocol episode in a worker, in a fresh simulator."""
    with PlayTableSim(seed=_WORKER['seed']) as sim:
        return run_single(_WORKER['policy'], [job], SINGLE_MAX_STEPS, sim, _WORKER['seed'])[0]


def _chain_job(job: Tuple[int, Chain]) -> dict:
    """Run one chain in a worker, in a fresh simulator and goal judge."""
    index, chain = job
    seed = _WORKER['seed']
    with PlayTableSim(seed=seed) as sim, GoalJudge(seed) as judge:
        return run_chain(_WORKER['policy'], chain, index, sim, judge, seed)


def _map(function, jobs: list, model_dir: str, deterministic: bool, seed: int, workers: int,
         desc: str, progress: bool) -> List[dict]:
    """Run jobs in worker processes (or in this one), with a progress bar, in job order."""
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    if workers <= 1:
        _init_worker(model_dir, deterministic, seed)
        results = []
        for job in jobs:
            results.append(function(job))
            bar.update()
    else:
        context = multiprocessing.get_context('spawn')
        with context.Pool(workers, _init_worker, (model_dir, deterministic, seed)) as pool:
            results = []
            for result in pool.imap(function, jobs):
                results.append(result)
                bar.update()
    bar.close()
    return results


def summarize_single(results: List[dict], tasks: Sequence[str]) -> dict:
    """
    Aggregate single-protocol results per task.

    :param results: per-episode results.
    :param tasks: the evaluated tasks (a task without episodes is listed with none).
    :return: {'per_task': {task: {...}}, 'mean_success', 'episodes', 'tasks_without_episodes'}.
    """
    per_task = {}
    for task in tasks:
        mine = [result for result in results if result['task'] == task]
        per_task[task] = {
            'episodes': len(mine),
            'successes': sum(result['success'] for result in mine),
            'validation_episodes': sum(result['source'] == SOURCE_VALIDATION for result in mine),
            'success_rate': (sum(result['success'] for result in mine) / len(mine)
                             if mine else None)}
    rates = [entry['success_rate'] for entry in per_task.values()
             if entry['success_rate'] is not None]
    return {'per_task': per_task, 'mean_success': float(np.mean(rates)) if rates else None,
            'episodes': len(results),
            'tasks_without_episodes': [task for task, entry in per_task.items()
                                       if not entry['episodes']]}


def summarize_chain(results: List[dict]) -> dict:
    """
    Aggregate chain results: success rate of 1..5 tasks in a row and the average length.

    :param results: per-chain results.
    :return: {'success_rates': [5 floats], 'average_length', 'chains'}.
    """
    completed = np.array([result['completed'] for result in results])
    return {'success_rates': [float(np.mean(completed >= n)) for n in
                              range(1, CHAIN_LENGTH + 1)],
            'average_length': float(completed.mean()), 'chains': len(results)}


def single_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render single-protocol summaries as a Markdown table (one column per model).

    :param names: model names.
    :param summaries: from summarize_single, one per model.
    :return: the table.
    """
    lines = ['| task | episodes (held-out) | ' + ' | '.join(names) + ' |',
             '|---|---|' + '---|' * len(names)]
    for task, entry in summaries[0]['per_task'].items():
        cells = []
        for summary in summaries:
            rate = summary['per_task'][task]['success_rate']
            cells.append('n/a' if rate is None else f'{100 * rate:.0f}%')
        lines.append(f'| {task} | {entry["episodes"]} ({entry["validation_episodes"]}) | '
                     + ' | '.join(cells) + ' |')
    means = ['n/a' if summary['mean_success'] is None else
             f'**{100 * summary["mean_success"]:.1f}%**' for summary in summaries]
    lines.append('| **mean over tasks** | | ' + ' | '.join(means) + ' |')
    return '\n'.join(lines) + '\n'


def chain_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render chain summaries as a Markdown table (one row per model).

    :param names: model names.
    :param summaries: from summarize_chain, one per model.
    :return: the table.
    """
    lines = ['| model | chains | ' + ' | '.join(f'SR({n})' for n in range(1, CHAIN_LENGTH + 1))
             + ' | avg. length |', '|---|---|' + '---|' * (CHAIN_LENGTH + 1)]
    for name, summary in zip(names, summaries):
        rates = ' | '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
        lines.append(f'| {name} | {summary["chains"]} | {rates} | '
                     f'{summary["average_length"]:.2f} |')
    return '\n'.join(lines) + '\n'


def plot_single(names: Sequence[str], summaries: Sequence[dict], path: Path) -> None:
    """
    Draw per-task success as grouped horizontal bars.

    :param names: model names.
    :param summaries: from summarize_single.
    :param path: PNG to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    tasks = list(summaries[0]['per_task'])
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(8, 0.28 * len(tasks) + 1.5))
    for offset, (name, summary) in enumerate(zip(names, summaries)):
        rates = [100 * (summary['per_task'][task]['success_rate'] or 0.0) for task in tasks]
        mean = summary['mean_success']
        label = f'{name} (mean {100 * mean:.1f}%)' if mean is not None else name
        axes.barh(np.arange(len(tasks)) + offset * height, rates, height=height, label=label)
    axes.set_yticks(np.arange(len(tasks)) + 0.4 - height / 2)
    axes.set_yticklabels(tasks, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel('success rate (%)')
    axes.set_title('single protocol: per-task success (CALVIN oracle)')
    axes.legend(loc='lower right', fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_chain(names: Sequence[str], summaries: Sequence[dict], path: Path) -> None:
    """
    Draw SR(1..5) per model as grouped bars.

    :param names: model names.
    :param summaries: from summarize_chain.
    :param path: PNG to write.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(1, CHAIN_LENGTH + 1)
    for offset, (name, summary) in enumerate(zip(names, summaries)):
        axes.bar(positions + offset * width, [100 * rate for rate in summary['success_rates']],
                 width=width, label=f'{name} (avg. length {summary["average_length"]:.2f})')
    axes.set_xticks(positions + 0.4 - width / 2)
    axes.set_xticklabels([str(n) for n in positions])
    axes.set_xlabel('tasks completed in a row')
    axes.set_ylabel('success rate (%)')
    axes.set_ylim(0, 100)
    axes.set_title('chain protocol (5-task chains, state goals)')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def evaluate(model_dirs: Sequence[str], names: Sequence[str], protocol: str,
             data_path: Optional[str], episodes: int, workers: int, seed: int,
             deterministic: bool, out: Path, tasks: Sequence[str] = TASK_NAMES,
             progress: bool = True) -> List[dict]:
    """
    Evaluate models on one protocol and write the reports.

    :param model_dirs: exported model directories.
    :param names: a display name per model.
    :param protocol: 'single' or 'chain'.
    :param data_path: dataset root with the held-out split (single protocol).
    :param episodes: episodes per task (single) or chains (chain).
    :param workers: worker processes.
    :param seed: seed of the episodes and the policies.
    :param deterministic: run the policies without sampling.
    :param out: output directory.
    :param tasks: tasks of the single protocol.
    :param progress: show progress bars.
    :return: one summary per model.
    """
    out.mkdir(parents=True, exist_ok=True)
    if protocol == 'single':
        jobs = list(enumerate(single_episodes(data_path, episodes, seed, tasks,
                                              progress=progress)))
        job_function = _single_job
    else:
        jobs = list(enumerate(make_chains(episodes, seed, progress=progress)))
        job_function = _chain_job
    summaries = []
    for model_dir, name in zip(model_dirs, names):
        results = _map(job_function, jobs, model_dir, deterministic, seed, workers,
                       f'{protocol} {name}', progress)
        summary = (summarize_single(results, tasks) if protocol == 'single'
                   else summarize_chain(results))
        summary.update({'model': name, 'model_dir': str(model_dir), 'protocol': protocol,
                        'seed': seed, 'deterministic': deterministic,
                        'metadata': dict(OnnxPolicy(model_dir).metadata)})
        model_out = out / name
        model_out.mkdir(parents=True, exist_ok=True)
        (model_out / 'results.json').write_text(
            json.dumps({'summary': summary, 'episodes': results}, indent=1))
        summaries.append(summary)
    table = (single_markdown(names, summaries) if protocol == 'single'
             else chain_markdown(names, summaries))
    (out / f'{protocol}.md').write_text(table)
    (out / f'{protocol}.json').write_text(json.dumps(summaries, indent=1))
    plotter = plot_single if protocol == 'single' else plot_chain
    plotter(names, summaries, out / f'{protocol}.png')
    return summaries


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', action='append', required=True,
                        help='exported model directory (repeat to compare models)')
    parser.add_argument('--name', action='append', default=None,
                        help='display name per --model (default: the directory name)')
    parser.add_argument('--protocol', choices=('single', 'chain'), default='single')
    parser.add_argument('--data', default=None,
                        help='dataset root whose validation split gives the held-out windows')
    parser.add_argument('--episodes', type=int, default=10,
                        help='episodes per task (single) or chains (chain)')
    parser.add_argument('--tasks', default=None, help='comma-separated subset of tasks (single)')
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--deterministic', action='store_true',
                        help='plan means and mixture modes instead of sampling')
    parser.add_argument('--out', default='out/eval')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the evaluation CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: exit code: 0, or 2 on bad arguments or a bad model.
    """
    args = parse_args(argv)
    names = args.name or [Path(model).resolve().name for model in args.model]
    tasks = TASK_NAMES if args.tasks is None else [t.strip() for t in args.tasks.split(',')]
    try:
        if len(names) != len(args.model):
            raise ValueError(f'give one --name per --model ({len(args.model)} models, '
                             f'{len(names)} names)')
        if args.episodes < 1 or args.workers < 1:
            raise ValueError('--episodes and --workers must be >= 1')
        TaskOracle().require_known(tasks)
        for model in args.model:
            OnnxPolicy(model)
        if args.data is not None and not os.path.isdir(args.data):
            raise ValueError(f'dataset {args.data} does not exist')
    except (ValueError, ModelError) as error:
        print(f'evaluate: {error}', file=sys.stderr)
        return 2
    summaries = evaluate(args.model, names, args.protocol, args.data, args.episodes,
                         args.workers, args.seed, args.deterministic, Path(args.out), tasks,
                         not args.no_progress)
    for name, summary in zip(names, summaries):
        if args.protocol == 'single':
            print(f'{name}: mean success {100 * summary["mean_success"]:.1f}% over '
                  f'{len(tasks) - len(summary["tasks_without_episodes"])} tasks '
                  f'({summary["episodes"]} episodes)')
        else:
            rates = ' '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
            print(f'{name}: SR(1..5) {rates}, average length {summary["average_length"]:.2f}')
    print(f'reports in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
