"""
Make the evaluation's episodes and chains, and the seeds of every random stream.

Single-protocol episodes come from imagined goals (the goal server's own goal making, from
seeded random feasible scenes) or from held-out validation windows in which the oracle sees
exactly their annotated task; chains are five tasks of distinct categories, each feasible after
the previous ones.  Every episode, chain and policy draws from its own stream (derived_seed), so
that results do not depend on the number of workers.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility, run_skill
from play_lmp_ros.core.tasks import TASK_CATEGORIES, TASK_NAMES
from play_lmp_training.calvin_dataset import load_split, read_language
from play_lmp_training.evaluation.pool import pool_map

CHAIN_LENGTH = 5
IMAGINE_TRIES_PER_EPISODE = 40
CHAIN_TRIES = 200
SOURCE_IMAGINED = 'imagined'
SOURCE_VALIDATION = 'validation'
SOURCES = (SOURCE_IMAGINED, SOURCE_VALIDATION)

# Independent random streams, combined with --seed and an index by derived_seed.
IMAGINED_STREAM = 1
VALIDATION_STREAM = 2
CHAIN_STREAM = 3
POLICY_STREAM = 4
CHAIN_GOAL_STREAM = 5
CHAIN_POLICY_STREAM = 6


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


def derived_seed(*keys: int) -> int:
    """
    Combine non-negative integers into one seed (numpy's SeedSequence), a stream per key tuple.

    :param keys: e.g. (seed, stream, index).
    :return: a 32-bit seed.
    """
    return int(np.random.SeedSequence([int(key) for key in keys]).generate_state(1)[0])


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
            derived_seed(seed, VALIDATION_STREAM, TASK_NAMES.index(task)))
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
    task_seed = derived_seed(seed, IMAGINED_STREAM, TASK_NAMES.index(task))
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
    per_job = pool_map(_imagine_job, [(task, per_task, seed) for task in tasks], workers,
                       'imagined goals', progress)
    return [episode for episodes in per_job for episode in episodes]


def make_chain(index: int, seed: int, tasks: Sequence[str] = TASK_NAMES) -> Chain:
    """
    Draw one chain: five tasks of distinct categories, each feasible after the previous ones.

    The sequence is found by running the skills in a fresh scratch simulator from a random
    scene; a failed skill or a dead end starts over from another scene.

    :param index: the chain's index; with seed, it alone decides the chain.
    :param seed: --seed.
    :param tasks: the tasks it may draw from (all 34 by default).
    :return: the chain.
    :raises RuntimeError: when CHAIN_TRIES scenes give no chain (never seen).
    """
    chain_seed = derived_seed(seed, CHAIN_STREAM, index)
    with PlayTableSim(seed=chain_seed) as sim:
        for attempt in range(CHAIN_TRIES):
            rng = np.random.default_rng(derived_seed(chain_seed, attempt, 1))
            start = sim.reset_random(derived_seed(chain_seed, attempt, 0))
            chosen: List[str] = []
            while len(chosen) < CHAIN_LENGTH:
                obs = sim.observe()
                used = {TASK_CATEGORIES[task] for task in chosen}
                options = [task for task in tasks if TASK_CATEGORIES[task] not in used
                           and infeasibility(task, obs) is None]
                if not options:
                    break
                task = options[int(rng.integers(len(options)))]
                if not run_skill(sim, task, rng).success:
                    break
                chosen.append(task)
            if len(chosen) == CHAIN_LENGTH:
                return Chain(start, tuple(chosen))
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
    return pool_map(_make_chain_job, [(index, seed) for index in range(count)], workers,
                    'chains', progress)
