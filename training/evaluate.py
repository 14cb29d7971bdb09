"""
Evaluate goal-conditioned policies on the play table with CALVIN's oracle, beside baselines.

    python -m training.evaluate --model <dir> [--model <dir> ...] --protocol single|chain \
        [--goal-source imagined|validation|both] [--data data/play] [--episodes N] \
        [--modes deterministic,sampled] [--baselines hold,open-gripper,untrained|none] \
        [--tasks a,b] [--workers W] [--seed S] [--out DIR]

The policies run through play_lmp_ros.core (OnnxPolicy, PlayTableSim, GoalJudge, TaskOracle):
the code the ROS nodes run.  Success is CALVIN's oracle between the start and the current
state, judged every CHECK_EVERY (2) steps and at the last step, as the goal server does.

- single, goal source ``imagined`` (the default and the headline: what users of the goal server
  get): for each task, seeded random scenes (PlayTableSim.reset_random) where the task is
  feasible; the goal is GoalJudge.imagine_goal's, the goal server's own goal making (the
  scripted skill run in a scratch simulator); an episode is kept only when the oracle sees
  exactly that task between start and goal.  Up to 240 steps.
- single, goal source ``validation``: start and goal are the first and last state of held-out
  windows of --data's validation split in which the oracle sees exactly their annotated task
  (CALVIN's training-time rollout protocol), drawn per --seed by a seeded permutation of all
  matching windows; a task with fewer windows gets fewer episodes (no imagined top-up).
  ``both`` runs both and reports them apart, imagined first.
- chain: CALVIN's long-horizon protocol with state goals: chains of five tasks from five
  distinct task categories (tasks.TASK_CATEGORIES), each chain made from a random start scene by
  running the skills in a scratch simulator; each subtask's goal is imagined from the robot's
  current state, 360 steps per subtask.  Reported: success of 1..5 tasks in a row, the average
  length, and how many chains ended because no goal could be made from the state the policy
  left (GoalError) apart from those the policy failed.

Rows: every --model in every --modes (``deterministic``: plan means and mixture modes, shown as
``<name> (det)``; ``sampled``: seeded sampling, ``<name> (sampled)``), then the baselines
(training/baselines.py): hold (zero motion, the start state's gripper), open-gripper (zero
motion, gripper open), untrained (the first model's architecture with random weights) and, on
request, scripted (the scripted skills through the same policy interface: the expert's ceiling).

Statistics (single protocol).  An episode that hold or open-gripper solves is *trivial*: both
always run for that check, whatever --baselines shows, and every row's episode results carry
the flag.  The headline figures leave trivial episodes out: the mean over tasks (of the tasks
with a non-trivial episode) and the pooled rate over all non-trivial episodes; the all-episode
figures are reported beside them.  Per-task and pooled intervals are Wilson 95% score
intervals.  The interval of the mean over T tasks is the normal approximation
mean +- z sqrt(sum_i p_i (1 - p_i) / n_i) / T, clipped to [0, 1]; it treats tasks as fixed and
episodes as independent, and shrinks to nothing when every p_i is 0 or 1.  Success is also
reported per goal distance (imagined: the scripted skill's steps; validation: the window's
steps) in the bins of DISTANCE_BINS.

Outputs: <out>/<row>/results.json per row (summary and per-episode results, each with its goal
source); <out>/<report>.md, .json, .png (per-task bars or SR(1..5)) and, for the single
protocol, <out>/<report>_distance.png, where <report> is ``single``, ``chain``, or
``single_imagined`` and ``single_validation`` for --goal-source both.  Every episode and chain
runs in a fresh simulator and is seeded by its own index, and goal and chain making run one job
per task or chain index, so results do not depend on --workers.
"""

import argparse
from dataclasses import dataclass
import json
import math
import multiprocessing
import os
from pathlib import Path
import re
import sys
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.policies import HoldPolicy, OpenGripperPolicy
from play_lmp_ros.core.policy import (
    ACTOR_FILE, InferenceError, load_metadata, ModelError, OnnxPolicy)
from play_lmp_ros.core.scripted_policy import ScriptedPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.core.tasks import TASK_CATEGORIES, TASK_NAMES, TaskOracle
from tqdm import tqdm
from training import baselines
from training.calvin_dataset import DatasetError, load_split, read_language

SINGLE_MAX_STEPS = 240
CHAIN_MAX_STEPS = 360
CHAIN_LENGTH = 5
MAX_CHAINS = 1000
CHECK_EVERY = 2
IMAGINE_TRIES_PER_EPISODE = 40
CHAIN_TRIES = 200
Z_95 = 1.96
SOURCE_IMAGINED = 'imagined'
SOURCE_VALIDATION = 'validation'
SOURCES = (SOURCE_IMAGINED, SOURCE_VALIDATION)
GOAL_SOURCES = (SOURCE_IMAGINED, SOURCE_VALIDATION, 'both')
DETERMINISTIC = 'deterministic'
SAMPLED = 'sampled'
MODE_LABELS = {DETERMINISTIC: 'det', SAMPLED: 'sampled'}
DEFAULT_BASELINES = (baselines.HOLD, baselines.OPEN_GRIPPER)
# Goal distance bins in steps: (first, last), last None for open-ended.
DISTANCE_BINS = ((0, 31), (32, 63), (64, 95), (96, 127), (128, None))
MODEL = 'model'

# Independent random streams, combined with --seed and an index by derived_seed.
_IMAGINED_STREAM = 1
_VALIDATION_STREAM = 2
_CHAIN_STREAM = 3
_POLICY_STREAM = 4
_CHAIN_GOAL_STREAM = 5
_CHAIN_POLICY_STREAM = 6


@dataclass(frozen=True)
class Episode:
    """
    One single-protocol episode.

    :param task: the task to achieve.
    :param start: (39,) start state.
    :param goal: (39,) goal state.
    :param source: 'imagined' (the goal server's goal making) or 'validation' (a held-out
        window).
    :param distance: steps from start to goal: the scripted skill's (imagined) or the window's
        (validation).
    """

    task: str
    start: np.ndarray
    goal: np.ndarray
    source: str
    distance: int


@dataclass(frozen=True)
class Chain:
    """
    One chain-protocol sequence.

    :param start: (39,) start state.
    :param tasks: the CHAIN_LENGTH task names, in order, from distinct categories.
    """

    start: np.ndarray
    tasks: Tuple[str, ...]


@dataclass(frozen=True)
class PolicySpec:
    """
    One row of the report: what to load in a worker, and how.

    :param name: display name, e.g. 'play-lmp (det)' or 'hold'.
    :param kind: 'model' (an exported directory), 'hold', 'open-gripper' or 'untrained'.
    :param model_dir: the exported directory (model and untrained rows).
    :param mode: 'deterministic' or 'sampled' (model and untrained rows), else None.
    :param plan_mode: passed to OnnxPolicy as plan_mode= when not None.
    """

    name: str
    kind: str
    model_dir: Optional[str] = None
    mode: Optional[str] = None
    plan_mode: Optional[str] = None


def derived_seed(*keys: int) -> int:
    """
    Combine non-negative integers into one seed (numpy's SeedSequence), a stream per key tuple.

    :param keys: e.g. (seed, stream, index).
    :return: a 32-bit seed.
    """
    return int(np.random.SeedSequence([int(key) for key in keys]).generate_state(1)[0])


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Tuple[float, float]:
    """
    Wilson score interval of a binomial proportion.

    :param successes: number of successes, 0 <= successes <= trials.
    :param trials: number of trials.
    :param z: standard normal quantile (1.96: 95%).
    :return: (low, high) in [0, 1]; (0, 1) for no trials.
    :raises ValueError: on negative counts or more successes than trials.
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f'need 0 <= successes <= trials, got {successes} of {trials}')
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    z2 = z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (
        1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(counts: Sequence[Tuple[int, int]], z: float = Z_95) -> Tuple[float, float]:
    """
    Normal-approximation interval of the mean of per-task success rates.

    variance = sum_i p_i (1 - p_i) / n_i / T^2 over the T tasks; the interval is
    mean +- z sqrt(variance), clipped to [0, 1].

    :param counts: (successes, trials) per task, trials >= 1.
    :param z: standard normal quantile.
    :return: (low, high); (0, 1) for no tasks.
    """
    if not counts:
        return 0.0, 1.0
    rates = [successes / trials for successes, trials in counts]
    mean = float(np.mean(rates))
    variance = sum(rate * (1 - rate) / trials
                   for rate, (_, trials) in zip(rates, counts)) / len(counts) ** 2
    half = z * math.sqrt(variance)
    return max(0.0, mean - half), min(1.0, mean + half)


def distance_bin(distance: int) -> str:
    """
    Name the DISTANCE_BINS bin of a goal distance.

    :param distance: steps, >= 0.
    :return: e.g. '32-63' or '128+'.
    """
    for first, last in DISTANCE_BINS:
        if last is None or distance <= last:
            return f'{first}+' if last is None else f'{first}-{last}'
    raise AssertionError('the last distance bin is open-ended')


def bin_labels() -> List[str]:
    """Return the DISTANCE_BINS labels in order."""
    return [distance_bin(first) for first, _ in DISTANCE_BINS]


# Goal making.

def validation_episodes(split_dir: Path, judge: GoalJudge) -> Dict[str, List[Episode]]:
    """
    Collect the annotated windows of a split in which the oracle detects exactly their task.

    :param split_dir: a CALVIN split with lang_annotations/auto_lang_ann.npy.
    :param judge: rebuilds oracle snapshots from states.
    :return: task -> episodes, in annotation order; the distance is the window's steps.
    :raises ValueError: when the split has no language annotations.
    """
    annotations = read_language(split_dir)
    if annotations is None:
        raise ValueError(f'{split_dir} has no lang_annotations/auto_lang_ann.npy: validation '
                         f'goals need task-annotated windows')
    split = load_split(split_dir, progress=False)
    rows = split.rows_of_frames(annotations.frame_ranges)
    episodes: Dict[str, List[Episode]] = {}
    for task, (first, last) in zip(annotations.tasks, rows):
        start = np.asarray(split.obs[first], dtype=np.float64)
        goal = np.asarray(split.obs[last], dtype=np.float64)
        start[layout.GRIPPER_ACTION] = np.sign(start[layout.GRIPPER_ACTION]) or 1.0
        if judge.tasks_achieved(judge.scene_info(start), goal) == [task]:
            episodes.setdefault(task, []).append(
                Episode(task, start, goal, SOURCE_VALIDATION, int(last - first)))
    return episodes


def choose_validation(held_out: Mapping[str, Sequence[Episode]], tasks: Sequence[str],
                      per_task: int, seed: int) -> List[Episode]:
    """
    Draw each task's episodes from all its matching windows by a seeded permutation.

    :param held_out: task -> every matching window (from validation_episodes).
    :param tasks: the tasks, in report order.
    :param per_task: episodes per task (fewer when a task has fewer windows).
    :param seed: --seed; each task draws from its own stream.
    :return: the episodes, grouped by task in the order of tasks.
    """
    chosen: List[Episode] = []
    for task in tasks:
        windows = list(held_out.get(task, []))
        rng = np.random.default_rng(
            derived_seed(seed, _VALIDATION_STREAM, TASK_NAMES.index(task)))
        chosen += [windows[i] for i in rng.permutation(len(windows))[:per_task]]
    return chosen


def imagined_episodes(task: str, count: int, seed: int, judge: GoalJudge,
                      sim: PlayTableSim) -> List[Episode]:
    """
    Make episodes for a task as the goal server makes goals, from random feasible scenes.

    :param task: the task.
    :param count: how many to make.
    :param seed: seed of the scenes (attempt k uses derived_seed(seed, k)).
    :param judge: makes goals in its scratch simulator (GoalJudge.imagine_goal).
    :param sim: draws the random start scenes.
    :return: up to count episodes (fewer if the task is rarely feasible).
    """
    episodes = []
    for attempt in range(IMAGINE_TRIES_PER_EPISODE * count):
        if len(episodes) == count:
            break
        start = sim.reset_random(derived_seed(seed, attempt))
        if infeasibility(task, start) is not None:
            continue
        try:
            goal, steps = judge.imagine_goal_with_steps(task, start)
        except GoalError:
            continue
        if judge.tasks_achieved(judge.scene_info(start), goal) == [task]:
            episodes.append(Episode(task, start, goal, SOURCE_IMAGINED, steps))
    return episodes


def _imagine_job(job: Tuple[str, int, int]) -> List[Episode]:
    """Make one task's imagined episodes in a fresh simulator and judge, seeded by the task."""
    task, count, seed = job
    task_seed = derived_seed(seed, _IMAGINED_STREAM, TASK_NAMES.index(task))
    with GoalJudge(task_seed) as judge, PlayTableSim(seed=task_seed) as sim:
        return imagined_episodes(task, count, task_seed, judge, sim)


def single_episodes(source: str, per_task: int, seed: int, tasks: Sequence[str] = TASK_NAMES,
                    data_path: Optional[str] = None, split: str = 'validation',
                    workers: int = 1, progress: bool = True) -> List[Episode]:
    """
    Build the single protocol's episodes from one goal source.

    :param source: 'imagined' or 'validation'.
    :param per_task: episodes per task.
    :param seed: --seed.
    :param tasks: the tasks to evaluate.
    :param data_path: dataset root (validation source).
    :param split: the held-out split's name.
    :param workers: processes for the imagined goal making (one job per task).
    :param progress: show a progress bar.
    :return: the episodes, grouped by task in the order of tasks.
    :raises ValueError: for the validation source without data or without annotations.
    """
    if source == SOURCE_VALIDATION:
        if data_path is None:
            raise ValueError('validation goals need --data (a dataset with a validation split)')
        with GoalJudge(seed) as judge:
            held_out = validation_episodes(Path(data_path) / split, judge)
        return choose_validation(held_out, tasks, per_task, seed)
    per_job = _pool_map(_imagine_job, [(task, per_task, seed) for task in tasks], workers,
                        'imagined goals', progress)
    return [episode for episodes in per_job for episode in episodes]


def make_chain(index: int, seed: int) -> Chain:
    """
    Draw one chain: five tasks of distinct categories, each feasible after the previous ones.

    The sequence is found by running the skills in a fresh scratch simulator from a random
    scene; a failed skill or a dead end starts over from another scene.

    :param index: the chain's index; with seed, it alone decides the chain.
    :param seed: --seed.
    :return: the chain.
    :raises RuntimeError: when CHAIN_TRIES scenes give no chain (never seen).
    """
    chain_seed = derived_seed(seed, _CHAIN_STREAM, index)
    with PlayTableSim(seed=chain_seed) as sim:
        for attempt in range(CHAIN_TRIES):
            rng = np.random.default_rng(derived_seed(chain_seed, attempt, 1))
            start = sim.reset_random(derived_seed(chain_seed, attempt, 0))
            tasks: List[str] = []
            while len(tasks) < CHAIN_LENGTH:
                obs = sim.observe()
                used = {TASK_CATEGORIES[task] for task in tasks}
                options = [task for task in TASK_NAMES if TASK_CATEGORIES[task] not in used
                           and infeasibility(task, obs) is None]
                if not options:
                    break
                task = options[int(rng.integers(len(options)))]
                if not run_skill(sim, task, rng).success:
                    break
                tasks.append(task)
            if len(tasks) == CHAIN_LENGTH:
                return Chain(start, tuple(tasks))
    raise RuntimeError(f'no {CHAIN_LENGTH}-task chain in {CHAIN_TRIES} scenes (chain {index})')


def _make_chain_job(job: Tuple[int, int]) -> Chain:
    """Make one chain in a worker."""
    return make_chain(*job)


def make_chains(count: int, seed: int, workers: int = 1, progress: bool = True) -> List[Chain]:
    """
    Draw chain-protocol sequences, one worker job per chain index.

    :param count: number of chains.
    :param seed: --seed.
    :param workers: worker processes.
    :param progress: show a progress bar.
    :return: the chains, in index order.
    """
    return _pool_map(_make_chain_job, [(index, seed) for index in range(count)], workers,
                     'chains', progress)


# Rollouts.

def run_episode(sim: PlayTableSim, policy, oracle: TaskOracle, task: str, goal: np.ndarray,
                max_steps: int) -> Tuple[bool, int, str]:
    """
    Run the policy from the simulator's current state until the oracle sees the task.

    The oracle judges every CHECK_EVERY steps and at the last one, as the goal server does.

    :param sim: the simulator, already in the start state.
    :param policy: a core.policies.Policy.
    :param oracle: CALVIN's oracle.
    :param task: the task to detect.
    :param goal: (39,) goal state given to the policy.
    :param max_steps: step budget.
    :return: success, steps run, and the reason of a failure ('' on success).
    """
    start_info = sim.scene_info()
    obs = sim.observe()
    problem = policy.reset(obs, goal, task)
    if problem is not None:
        return False, 0, f'the policy cannot pursue the goal: {problem}'
    for steps in range(1, max_steps + 1):
        try:
            action = policy.act(obs, goal)
        except InferenceError as error:
            return False, steps, f'policy step failed: {error}'
        obs = sim.step(action)
        if ((steps % CHECK_EVERY == 0 or steps == max_steps)
                and oracle.check(task, start_info, sim.scene_info())):
            return True, steps, ''
    return False, max_steps, 'timeout'


def episode_seed(seed: int, source: str, index: int) -> int:
    """
    Seed of the policy's sampling in one single-protocol episode.

    :param seed: --seed.
    :param source: the episode's goal source.
    :param index: its index within its source.
    :return: the seed.
    """
    return derived_seed(seed, _POLICY_STREAM, SOURCES.index(source), index)


def run_single(policy, episodes: Iterable[Tuple[int, Episode]], max_steps: int,
               sim: PlayTableSim, seed: int) -> List[dict]:
    """
    Run single-protocol episodes with one policy in one process.

    :param policy: a RecurrentPolicy (ONNX or torch) or a baseline.
    :param episodes: (index within its source, episode) pairs; they seed the policy's sampling.
    :param max_steps: step budget per episode.
    :param sim: the simulator.
    :param seed: --seed.
    :return: one result dict per episode (index, task, source, distance, success, steps,
        reason).
    """
    oracle = TaskOracle()
    results = []
    for index, episode in episodes:
        policy.reseed(episode_seed(seed, episode.source, index))
        sim.reset(episode.start[:layout.ROBOT_OBS_DIM], episode.start[layout.ROBOT_OBS_DIM:])
        success, steps, reason = run_episode(sim, policy, oracle, episode.task, episode.goal,
                                             max_steps)
        results.append({'index': index, 'task': episode.task, 'source': episode.source,
                        'distance': episode.distance, 'success': success, 'steps': steps,
                        'reason': reason})
    return results


def run_chain(policy, chain: Chain, index: int, sim: PlayTableSim, judge: GoalJudge,
              seed: int) -> dict:
    """
    Run one chain: subtasks in order until one fails or its goal cannot be made.

    :param policy: a core.policies.Policy.
    :param chain: the chain.
    :param index: its index (seeds the policy).
    :param sim: the simulator.
    :param judge: makes each subtask's goal from the current state.
    :param seed: --seed.
    :return: a result dict (index, tasks, completed, goal_failure, distances, reason).
    """
    oracle = TaskOracle()
    policy.reseed(derived_seed(seed, _CHAIN_POLICY_STREAM, index))
    obs = sim.reset(chain.start[:layout.ROBOT_OBS_DIM], chain.start[layout.ROBOT_OBS_DIM:])
    completed, reason, goal_failure, distances = 0, '', False, []
    for task in chain.tasks:
        try:
            goal, distance = judge.imagine_goal_with_steps(task, obs)
        except GoalError as error:
            reason, goal_failure = f'{task}: no goal from the current state ({error})', True
            break
        distances.append(distance)
        success, _, failure = run_episode(sim, policy, oracle, task, goal, CHAIN_MAX_STEPS)
        if not success:
            reason = f'{task}: {failure}'
            break
        completed += 1
        obs = sim.observe()
    return {'index': index, 'tasks': list(chain.tasks), 'completed': completed,
            'goal_failure': goal_failure, 'distances': distances, 'reason': reason}


def make_policy(spec: PolicySpec, seed: int):
    """
    Build a row's policy.

    :param spec: the row.
    :param seed: initial sampling seed (each episode reseeds).
    :return: the policy (core.policies.Policy).
    """
    if spec.kind == baselines.HOLD:
        return HoldPolicy()
    if spec.kind == baselines.OPEN_GRIPPER:
        return OpenGripperPolicy()
    if spec.kind == baselines.SCRIPTED:
        return ScriptedPolicy(seed)
    options = {} if spec.plan_mode is None else {'plan_mode': spec.plan_mode}
    return OnnxPolicy(spec.model_dir, deterministic=spec.mode == DETERMINISTIC, seed=seed,
                      **options)


_WORKER: dict = {}


def _init_worker(spec: PolicySpec, seed: int) -> None:
    """Load the row's policy once per worker process."""
    _WORKER['policy'] = make_policy(spec, seed)
    _WORKER['seed'] = seed


# Each job gets a fresh simulator: PyBullet keeps contact state that a reset does not clear, so
# a shared one would make an episode's outcome depend on the episodes its worker ran before
# (and so on --workers).  Building one costs about 0.1 s, against about 1 s per episode.
def _single_job(job: Tuple[int, Episode]) -> dict:
    """Run one single-protocol episode in a worker, in a fresh simulator."""
    with PlayTableSim(seed=_WORKER['seed']) as sim:
        return run_single(_WORKER['policy'], [job], SINGLE_MAX_STEPS, sim, _WORKER['seed'])[0]


def _chain_job(job: Tuple[int, Chain]) -> dict:
    """Run one chain in a worker, in a fresh simulator and goal judge seeded by its index."""
    index, chain = job
    seed = _WORKER['seed']
    with PlayTableSim(seed=seed) as sim, \
            GoalJudge(derived_seed(seed, _CHAIN_GOAL_STREAM, index)) as judge:
        return run_chain(_WORKER['policy'], chain, index, sim, judge, seed)


def _pool_map(function: Callable, jobs: list, workers: int, desc: str, progress: bool,
              initializer: Optional[Callable] = None, initargs: tuple = ()) -> list:
    """Run jobs in worker processes (or in this one), with a progress bar, in job order."""
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    results = []
    if workers <= 1 or len(jobs) <= 1:
        if initializer is not None:
            initializer(*initargs)
        for job in jobs:
            results.append(function(job))
            bar.update()
    else:
        context = multiprocessing.get_context('spawn')
        with context.Pool(min(workers, len(jobs)), initializer, initargs) as pool:
            for result in pool.imap(function, jobs):
                results.append(result)
                bar.update()
    bar.close()
    return results


def _run_row(spec: PolicySpec, function: Callable, jobs: list, workers: int, seed: int,
             protocol: str, progress: bool) -> List[dict]:
    """Run every job with one row's policy."""
    return _pool_map(function, jobs, workers, f'{protocol} {spec.name}', progress,
                     _init_worker, (spec, seed))


def trivial_flags(*baseline_results: Sequence[dict]) -> Dict[Tuple[str, int], bool]:
    """
    Flag the episodes that any of the given baselines (hold, open-gripper) solved.

    :param baseline_results: per-episode results of each baseline, over the same episodes.
    :return: (source, index) -> trivial.
    """
    flags: Dict[Tuple[str, int], bool] = {}
    for results in baseline_results:
        for result in results:
            key = (result['source'], result['index'])
            flags[key] = flags.get(key, False) or bool(result['success'])
    return flags


def mark_trivial(results: Sequence[dict], flags: Mapping[Tuple[str, int], bool]) -> List[dict]:
    """
    Copy per-episode results with their 'trivial' flag.

    :param results: per-episode results.
    :param flags: from trivial_flags.
    :return: new dicts with 'trivial' set.
    """
    return [dict(result, trivial=bool(flags.get((result['source'], result['index']), False)))
            for result in results]


# Summaries.

def _rate_entry(successes: int, trials: int) -> dict:
    """Return successes, trials, the rate (None without trials) and its Wilson interval."""
    return {'episodes': trials, 'successes': successes,
            'success_rate': successes / trials if trials else None,
            'interval': list(wilson_interval(successes, trials)) if trials else None}


def summarize_distance(results: Sequence[dict]) -> Dict[str, dict]:
    """
    Success per goal-distance bin.

    :param results: per-episode results with 'distance' and 'success'.
    :return: bin label -> {episodes, successes, success_rate, interval}, every bin listed.
    """
    counts = {label: [0, 0] for label in bin_labels()}
    for result in results:
        entry = counts[distance_bin(int(result['distance']))]
        entry[0] += bool(result['success'])
        entry[1] += 1
    return {label: _rate_entry(successes, trials)
            for label, (successes, trials) in counts.items()}


def _aggregate(per_task: Mapping[str, dict], key: str) -> dict:
    """Mean over tasks and pooled rate, with intervals, of one per-task count set."""
    counts = [(entry[key]['successes'], entry[key]['episodes']) for entry in per_task.values()
              if entry[key]['episodes']]
    successes = sum(count[0] for count in counts)
    trials = sum(count[1] for count in counts)
    return {'mean_success': (float(np.mean([s / n for s, n in counts])) if counts else None),
            'mean_interval': list(mean_interval(counts)) if counts else None,
            'tasks_in_mean': len(counts),
            'pooled_success': successes / trials if trials else None,
            'pooled_interval': list(wilson_interval(successes, trials)) if trials else None,
            'pooled_episodes': trials}


def summarize_single(results: List[dict], tasks: Sequence[str]) -> dict:
    """
    Aggregate single-protocol results per task, overall and per goal distance.

    Headline figures ('mean_success', 'pooled_success' and their intervals) leave trivial
    episodes out; the same figures over all episodes are under 'all_episodes'.

    :param results: per-episode results ('trivial' missing counts as False).
    :param tasks: the evaluated tasks (a task without episodes is listed with none).
    :return: {'per_task': {task: {...}}, headline figures, 'all_episodes', 'per_distance',
        'per_distance_all', 'episodes', 'trivial_episodes', 'tasks_without_episodes',
        'tasks_only_trivial'}.
    """
    per_task = {}
    for task in tasks:
        mine = [result for result in results if result['task'] == task]
        kept = [result for result in mine if not result.get('trivial', False)]
        per_task[task] = {
            'episodes': len(mine), 'trivial': len(mine) - len(kept),
            'non_trivial': _rate_entry(sum(r['success'] for r in kept), len(kept)),
            'all': _rate_entry(sum(r['success'] for r in mine), len(mine))}
        per_task[task]['success_rate'] = per_task[task]['non_trivial']['success_rate']
    summary = _aggregate(per_task, 'non_trivial')
    summary.update({
        'per_task': per_task, 'all_episodes': _aggregate(per_task, 'all'),
        'per_distance': summarize_distance(
            [result for result in results if not result.get('trivial', False)]),
        'per_distance_all': summarize_distance(results),
        'episodes': len(results),
        'trivial_episodes': sum(bool(result.get('trivial', False)) for result in results),
        'tasks_without_episodes': [task for task, entry in per_task.items()
                                   if not entry['episodes']],
        'tasks_only_trivial': [task for task, entry in per_task.items()
                               if entry['episodes'] and not entry['non_trivial']['episodes']]})
    return summary


def summarize_chain(results: List[dict]) -> dict:
    """
    Aggregate chain results: success rate of 1..5 tasks in a row, the average length, failures.

    :param results: per-chain results.
    :return: {'success_rates': [5 floats], 'average_length', 'chains', 'goal_failures',
        'policy_failures'}.
    """
    completed = np.array([result['completed'] for result in results])
    goal_failures = sum(bool(result.get('goal_failure', False)) for result in results)
    return {'success_rates': [float(np.mean(completed >= n)) for n in
                              range(1, CHAIN_LENGTH + 1)],
            'average_length': float(completed.mean()), 'chains': len(results),
            'goal_failures': goal_failures,
            'policy_failures': int(np.sum(completed < CHAIN_LENGTH)) - goal_failures}


# Reports.

def _percent(rate: Optional[float], interval: Optional[Sequence[float]], digits: int = 0,
             bold: bool = False) -> str:
    """Format a rate and its interval as '40% [16-69]' ('n/a' without episodes)."""
    if rate is None:
        return 'n/a'
    value = f'{100 * rate:.{digits}f}%'
    if bold:
        value = f'**{value}**'
    low, high = interval
    return f'{value} [{100 * low:.{digits}f}-{100 * high:.{digits}f}]'


def single_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render single-protocol summaries as Markdown tables: per task, then per goal distance.

    :param names: row names (model and mode, baselines).
    :param summaries: from summarize_single, one per row, over the same episodes.
    :return: the tables.
    """
    first = summaries[0]
    lines = ['| task | episodes | trivial | ' + ' | '.join(names) + ' |',
             '|---|---:|---:|' + '---:|' * len(names)]
    for task, entry in first['per_task'].items():
        cells = [_percent(summary['per_task'][task]['non_trivial']['success_rate'],
                          summary['per_task'][task]['non_trivial']['interval'])
                 for summary in summaries]
        lines.append(f'| {task} | {entry["episodes"]} | {entry["trivial"]} | '
                     + ' | '.join(cells) + ' |')
    episodes, trivial = first['episodes'], first['trivial_episodes']
    rows = [('**mean over tasks** (non-trivial)', lambda s: s, 'mean', True),
            ('pooled (non-trivial)', lambda s: s, 'pooled', False),
            ('mean over tasks (all episodes)', lambda s: s['all_episodes'], 'mean', False),
            ('pooled (all episodes)', lambda s: s['all_episodes'], 'pooled', False)]
    for label, part, figure, bold in rows:
        cells = [_percent(part(summary)[f'{figure}_success'], part(summary)[f'{figure}_interval'],
                          1, bold) for summary in summaries]
        lines.append(f'| {label} | {episodes} | {trivial} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Success by goal distance (steps from start to goal; non-trivial episodes):',
              '', '| goal distance | episodes | ' + ' | '.join(names) + ' |',
              '|---|---:|' + '---:|' * len(names)]
    for label, entry in first['per_distance'].items():
        cells = [_percent(summary['per_distance'][label]['success_rate'],
                          summary['per_distance'][label]['interval']) for summary in summaries]
        lines.append(f'| {label} | {entry["episodes"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def chain_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render chain summaries as a Markdown table (one row per model and mode, and baseline).

    :param names: row names.
    :param summaries: from summarize_chain, one per row.
    :return: the table.
    """
    lines = ['| model | chains | ' + ' | '.join(f'SR({n})' for n in range(1, CHAIN_LENGTH + 1))
             + ' | avg. length | goal failures | policy failures |',
             '|---|---:|' + '---:|' * (CHAIN_LENGTH + 3)]
    for name, summary in zip(names, summaries):
        rates = ' | '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
        lines.append(f'| {name} | {summary["chains"]} | {rates} | '
                     f'{summary["average_length"]:.2f} | {summary["goal_failures"]} | '
                     f'{summary["policy_failures"]} |')
    return '\n'.join(lines) + '\n'


def _pyplot():
    """Import matplotlib's pyplot on the Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_single(names: Sequence[str], summaries: Sequence[dict], path: Path,
                title: str = 'single protocol') -> None:
    """
    Draw per-task success on non-trivial episodes as grouped horizontal bars.

    :param names: row names.
    :param summaries: from summarize_single.
    :param path: PNG to write.
    :param title: the plot's title prefix.
    """
    plt = _pyplot()
    tasks = list(summaries[0]['per_task'])
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(8, 0.28 * len(tasks) * max(1, len(names) / 3) + 1.5))
    for offset, (name, summary) in enumerate(zip(names, summaries)):
        rates = [100 * (summary['per_task'][task]['success_rate'] or 0.0) for task in tasks]
        mean = summary['mean_success']
        label = f'{name} (mean {100 * mean:.1f}%)' if mean is not None else name
        axes.barh(np.arange(len(tasks)) + offset * height, rates, height=height, label=label)
    axes.set_yticks(np.arange(len(tasks)) + 0.4 - height / 2)
    axes.set_yticklabels(tasks, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel('success rate on non-trivial episodes (%)')
    axes.set_title(f'{title}: per-task success (CALVIN oracle)')
    axes.legend(loc='lower right', fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_distance(names: Sequence[str], summaries: Sequence[dict], path: Path,
                  title: str = 'single protocol') -> None:
    """
    Draw success against goal distance, one line per row.

    :param names: row names.
    :param summaries: from summarize_single.
    :param path: PNG to write.
    :param title: the plot's title prefix.
    """
    plt = _pyplot()
    labels = bin_labels()
    counts = [summaries[0]['per_distance'][label]['episodes'] for label in labels]
    figure, axes = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(len(labels))
    for name, summary in zip(names, summaries):
        rates = [summary['per_distance'][label]['success_rate'] for label in labels]
        axes.plot(positions, [np.nan if rate is None else 100 * rate for rate in rates],
                  marker='o', label=name)
    axes.set_xticks(positions)
    axes.set_xticklabels([f'{label}\n(n={count})' for label, count in zip(labels, counts)],
                         fontsize=8)
    axes.set_xlabel('goal distance (steps)')
    axes.set_ylabel('success rate, non-trivial episodes (%)')
    axes.set_ylim(-2, 102)
    axes.set_title(f'{title}: success by goal distance')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_chain(names: Sequence[str], summaries: Sequence[dict], path: Path) -> None:
    """
    Draw SR(1..5) per row as grouped bars.

    :param names: row names.
    :param summaries: from summarize_chain.
    :param path: PNG to write.
    """
    plt = _pyplot()
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
    axes.set_title('chain protocol (5-task chains, distinct categories, state goals)')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# The evaluation.

def row_directory(name: str) -> str:
    """
    Turn a row name into a directory name: 'play-lmp (det)' -> 'play-lmp-det'.

    :param name: the row name.
    :return: letters, digits, '.', '_' and '-' only.
    """
    return re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-') or 'row'


def check_model_names(names: Sequence[str]) -> None:
    """
    Refuse model names that are not plain file names, or that would share a row directory.

    Each name becomes part of a row directory under --out (row_directory), and a report
    names its rows by them.

    :param names: a display name per model.
    :raises ValueError: for an empty name, one with a path separator, '..' or a NUL, or two
        names that give the same row directory.
    """
    separators = {'/', '\\', os.sep} | ({os.altsep} if os.altsep else set())
    for name in names:
        if not name.strip() or name == '.' or '..' in name or '\0' in name or any(
                separator in name for separator in separators):
            raise ValueError(f'--name {name!r} is not a plain file name (it must not be empty, '
                             f"'.', or hold '..' or a path separator)")
    directories = [row_directory(name) for name in names]
    if len(set(directories)) != len(directories):
        raise ValueError(f'model names {list(names)} give the row directories {directories}; '
                         'they must differ')


def row_specs(model_dirs: Sequence[str], names: Sequence[str], modes: Sequence[str],
              baseline_names: Sequence[str], plan_mode: Optional[str] = None,
              untrained_dir: Optional[str] = None) -> List[PolicySpec]:
    """
    List the report's rows: every model in every mode, then the baselines.

    :param model_dirs: exported model directories.
    :param names: a display name per model.
    :param modes: 'deterministic' and/or 'sampled'.
    :param baseline_names: from baselines.BASELINES.
    :param plan_mode: passed to the models' OnnxPolicy (not to the untrained one).
    :param untrained_dir: the untrained model's directory (when 'untrained' is a baseline).
    :return: the rows, in report order.
    """
    specs = [PolicySpec(f'{name} ({MODE_LABELS[mode]})', MODEL, str(model_dir), mode, plan_mode)
             for model_dir, name in zip(model_dirs, names) for mode in modes]
    for baseline in baseline_names:
        if baseline == baselines.UNTRAINED:
            specs += [PolicySpec(f'{baseline} ({MODE_LABELS[mode]})', baseline, untrained_dir,
                                 mode) for mode in modes]
        else:
            specs.append(PolicySpec(baseline, baseline))
    return specs


def _row_summary(spec: PolicySpec, protocol: str, seed: int,
                 notes: Mapping[str, object]) -> dict:
    """Describe a row for its summaries: kind, model, mode, metadata."""
    row = {'model': spec.name, 'kind': spec.kind, 'model_dir': spec.model_dir,
           'mode': spec.mode, 'plan_mode': spec.plan_mode, 'protocol': protocol, 'seed': seed}
    if spec.model_dir is not None:
        row['metadata'] = load_metadata(os.path.join(spec.model_dir, ACTOR_FILE))
    if spec.kind == baselines.UNTRAINED:
        row['architecture_sources'] = dict(notes.get('untrained_sources', {}))
    return row


def _write_report(out: Path, stem: str, names: Sequence[str], summaries: Sequence[dict],
                  protocol: str, heading: str, title: str = '') -> None:
    """Write <stem>.md, .json and the plots (titled title)."""
    if protocol == 'single':
        table = single_markdown(names, summaries)
        plot_single(names, summaries, out / f'{stem}.png', title)
        plot_distance(names, summaries, out / f'{stem}_distance.png', title)
    else:
        table = chain_markdown(names, summaries)
        plot_chain(names, summaries, out / f'{stem}.png')
    (out / f'{stem}.md').write_text(f'## {heading}\n\n{table}')
    (out / f'{stem}.json').write_text(json.dumps(list(summaries), indent=1))


def evaluate(model_dirs: Sequence[str], names: Sequence[str], protocol: str,
             data_path: Optional[str], episodes: int, workers: int, seed: int, out: Path,
             tasks: Sequence[str] = TASK_NAMES, progress: bool = True,
             modes: Sequence[str] = (DETERMINISTIC,), goal_source: str = SOURCE_IMAGINED,
             baseline_names: Sequence[str] = DEFAULT_BASELINES,
             plan_mode: Optional[str] = None) -> Dict[str, List[dict]]:
    """
    Evaluate models and baselines on one protocol and write the reports.

    :param model_dirs: exported model directories.
    :param names: a display name per model.
    :param protocol: 'single' or 'chain'.
    :param data_path: dataset root with the held-out split (validation goals).
    :param episodes: episodes per task (single) or chains (chain).
    :param workers: worker processes.
    :param seed: seed of the episodes, the chains and the policies.
    :param out: output directory.
    :param tasks: tasks of the single protocol.
    :param progress: show progress bars.
    :param modes: 'deterministic' and/or 'sampled'.
    :param goal_source: 'imagined', 'validation' or 'both' (single protocol).
    :param baseline_names: baselines to report (hold, open-gripper, untrained).
    :param plan_mode: passed to the models' OnnxPolicy as plan_mode= when not None.
    :return: report name ('single', 'single_imagined', ..., 'chain') -> one summary per row.
    """
    out.mkdir(parents=True, exist_ok=True)
    notes: Dict[str, object] = {}
    untrained_dir = None
    if baselines.UNTRAINED in baseline_names:
        untrained_dir = str(out / 'untrained-model')
        notes['untrained_sources'] = baselines.write_untrained_model(
            OnnxPolicy(model_dirs[0]).metadata, Path(untrained_dir), seed)
    specs = row_specs(model_dirs, names, modes, baseline_names, plan_mode, untrained_dir)
    if protocol == 'chain':
        return _evaluate_chain(specs, episodes, workers, seed, out, progress, notes)
    sources = list(SOURCES) if goal_source == 'both' else [goal_source]
    jobs = []
    for source in sources:
        jobs += list(enumerate(single_episodes(source, episodes, seed, tasks, data_path,
                                               workers=workers, progress=progress)))
    results: Dict[str, List[dict]] = {}
    # Hold and open-gripper always run: they decide which episodes are trivial.
    for spec in sorted(specs, key=lambda spec: spec.kind not in DEFAULT_BASELINES):
        results[spec.name] = _run_row(spec, _single_job, jobs, workers, seed, 'single', progress)
    for baseline in DEFAULT_BASELINES:
        if baseline not in results:
            results[baseline] = _run_row(PolicySpec(baseline, baseline), _single_job, jobs,
                                         workers, seed, 'single (trivial check)', progress)
    flags = trivial_flags(*(results[baseline] for baseline in DEFAULT_BASELINES))
    rows = [_row_summary(spec, 'single', seed, notes) for spec in specs]
    reports: Dict[str, List[dict]] = {}
    for source in sources:
        stem = 'single' if len(sources) == 1 else f'single_{source}'
        reports[stem] = []
        for spec, row in zip(specs, rows):
            mine = mark_trivial([r for r in results[spec.name] if r['source'] == source], flags)
            summary = summarize_single(mine, tasks)
            summary.update(row, goal_source=source, episodes_per_task=episodes)
            reports[stem].append(summary)
    for index, spec in enumerate(specs):
        by_source = {source: reports[stem][index] for source, stem in zip(sources, reports)}
        row_out = out / row_directory(spec.name)
        row_out.mkdir(parents=True, exist_ok=True)
        (row_out / 'results.json').write_text(json.dumps(
            {'summary': by_source[sources[0]], 'summaries': by_source,
             'episodes': mark_trivial(results[spec.name], flags)}, indent=1))
    names_out = [spec.name for spec in specs]
    for source, stem in zip(sources, reports):
        _write_report(out, stem, names_out, reports[stem], 'single',
                      f'single protocol, {source} goals (seed {seed}, up to {episodes} '
                      f'episodes per task)', f'single, {source} goals')
    return reports


def _evaluate_chain(specs: Sequence[PolicySpec], count: int, workers: int, seed: int,
                    out: Path, progress: bool, notes: Mapping[str, object]
                    ) -> Dict[str, List[dict]]:
    """Run the chain protocol for every row and write its reports."""
    jobs = list(enumerate(make_chains(count, seed, workers, progress)))
    summaries = []
    for spec in specs:
        results = _run_row(spec, _chain_job, jobs, workers, seed, 'chain', progress)
        summary = summarize_chain(results)
        summary.update(_row_summary(spec, 'chain', seed, notes))
        row_out = out / row_directory(spec.name)
        row_out.mkdir(parents=True, exist_ok=True)
        (row_out / 'results.json').write_text(
            json.dumps({'summary': summary, 'episodes': results}, indent=1))
        summaries.append(summary)
    _write_report(out, 'chain', [spec.name for spec in specs], summaries, 'chain',
                  f'chain protocol (seed {seed}, {count} chains)')
    return {'chain': summaries}


# The command line.

def _comma_list(text: str, allowed: Sequence[str], what: str) -> List[str]:
    """
    Split a comma-separated option, keeping the order and dropping repeats.

    :raises ValueError: naming an unknown entry and the allowed ones.
    """
    items: List[str] = []
    for item in (part.strip() for part in text.split(',')):
        if item not in allowed:
            raise ValueError(f'{what}: unknown entry {item!r}; choose from {", ".join(allowed)}')
        if item not in items:
            items.append(item)
    return items


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', action='append', required=True,
                        help='exported model directory (repeat to compare models)')
    parser.add_argument('--name', action='append', default=None,
                        help='display name per --model (default: the directory name)')
    parser.add_argument('--protocol', choices=('single', 'chain'), default='single',
                        help='single goals, or chains of five distinct task categories')
    parser.add_argument('--goal-source', choices=GOAL_SOURCES, default=None,
                        help='single protocol: imagined (goals made as the goal server makes '
                             'them, the default), '
                             'validation (held-out windows of --data) or both')
    parser.add_argument('--data', default=None,
                        help='dataset root whose validation split gives the held-out windows')
    parser.add_argument('--episodes', type=int, default=10,
                        help=f'episodes per task (single) or chains (chain, at most '
                             f'{MAX_CHAINS})')
    parser.add_argument('--tasks', default=None, help='comma-separated subset of tasks (single)')
    parser.add_argument('--modes', default=None,
                        help='comma-separated: deterministic (default), sampled')
    parser.add_argument('--deterministic', action='store_true',
                        help='same as --modes deterministic')
    parser.add_argument('--baselines', default=','.join(DEFAULT_BASELINES),
                        help='comma-separated: hold, open-gripper, untrained, scripted; or none')
    parser.add_argument('--plan-mode', default=None, choices=PLAN_MODES,
                        help="subgoal plan mode of every --model (default: each model's own)")
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument('--out', default='out/eval', help='output folder')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def _resolve(args: argparse.Namespace) -> Tuple[List[str], List[str], List[str], List[str],
                                                str]:
    """
    Check the arguments and resolve names, tasks, modes, baselines and the goal source.

    :raises ValueError: naming the first problem.
    :raises ModelError: for a bad model directory.
    """
    names = args.name or [Path(model).resolve().name for model in args.model]
    tasks = TASK_NAMES if args.tasks is None else [t.strip() for t in args.tasks.split(',')]
    if len(names) != len(args.model):
        raise ValueError(f'give one --name per --model ({len(args.model)} models, '
                         f'{len(names)} names)')
    if len(set(names)) != len(names) or set(names) & set(baselines.BASELINES):
        raise ValueError(f'model names must be distinct and differ from the baselines, got '
                         f'{names}')
    check_model_names(names)
    if args.episodes < 1 or args.workers < 1 or args.seed < 0:
        raise ValueError('--episodes and --workers must be >= 1, --seed >= 0')
    if args.protocol == 'chain' and args.episodes > MAX_CHAINS:
        raise ValueError(f'at most {MAX_CHAINS} chains, got --episodes {args.episodes}')
    modes = _comma_list(args.modes or DETERMINISTIC, tuple(MODE_LABELS), '--modes')
    if args.deterministic and modes != [DETERMINISTIC]:
        raise ValueError('--deterministic means --modes deterministic; give one of them')
    baseline_names = ([] if args.baselines.strip() == 'none'
                      else _comma_list(args.baselines, baselines.BASELINES, '--baselines'))
    goal_source = args.goal_source or SOURCE_IMAGINED
    if args.protocol == 'chain' and goal_source != SOURCE_IMAGINED:
        raise ValueError('chains imagine every goal from the current state; --goal-source is '
                         'for the single protocol')
    TaskOracle().require_known(tasks)
    for model in args.model:
        OnnxPolicy(model, plan_mode=args.plan_mode)
    if goal_source != SOURCE_IMAGINED:
        if args.data is None:
            raise ValueError(f'--goal-source {goal_source} needs --data (a dataset root with a '
                             f'validation split)')
        if read_language(Path(args.data) / 'validation') is None:
            raise ValueError(f'{args.data}/validation has no lang_annotations: validation '
                             f'goals need task-annotated windows')
    if args.data is not None and not os.path.isdir(args.data):
        raise ValueError(f'dataset {args.data} does not exist')
    return names, list(tasks), modes, baseline_names, goal_source


def _print_summaries(protocol: str, reports: Mapping[str, List[dict]]) -> None:
    """Print one line per row and report: mean with interval and pooled, or SR(1..5)."""
    for stem, summaries in reports.items():
        if protocol == 'chain':
            for summary in summaries:
                rates = ' '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
                print(f'{summary["model"]}: SR(1..5) {rates}, average length '
                      f'{summary["average_length"]:.2f}, goal failures '
                      f'{summary["goal_failures"]}, policy failures '
                      f'{summary["policy_failures"]} ({summary["chains"]} chains)')
            continue
        print(f'{stem} ({summaries[0]["goal_source"]} goals; non-trivial episodes):')
        for summary in summaries:
            print(f'  {summary["model"]}: mean '
                  f'{_percent(summary["mean_success"], summary["mean_interval"], 1)} over '
                  f'{summary["tasks_in_mean"]} tasks, pooled '
                  f'{_percent(summary["pooled_success"], summary["pooled_interval"], 1)} '
                  f'({summary["pooled_episodes"]} episodes, {summary["trivial_episodes"]} '
                  f'trivial left out)')


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the evaluation CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: exit code: 0, or 2 on bad arguments, a bad model or a bad dataset.
    """
    args = parse_args(argv)
    try:
        names, tasks, modes, baseline_names, goal_source = _resolve(args)
    except (ValueError, ModelError, DatasetError) as error:
        print(f'evaluate: {error}', file=sys.stderr)
        return 2
    if args.data is not None and args.protocol == 'single' and goal_source == SOURCE_IMAGINED:
        print('evaluate: --data is not used with imagined goals (see --goal-source)',
              file=sys.stderr)
    reports = evaluate(args.model, names, args.protocol, args.data, args.episodes, args.workers,
                       args.seed, Path(args.out), tasks, not args.no_progress, modes,
                       goal_source, baseline_names, args.plan_mode)
    _print_summaries(args.protocol, reports)
    print(f'reports in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
