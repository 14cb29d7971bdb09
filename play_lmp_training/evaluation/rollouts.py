"""
Run the evaluation's episodes and chains with one report row's policy, in worker processes.

A row (PolicySpec) is a model in one mode or a baseline; make_policy builds it once per worker.
Every episode and chain runs in a fresh simulator from its start state, and the oracle judges
success every CHECK_EVERY steps and at the last one, as the goal server does.
"""

from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.policies import HoldPolicy, OpenGripperPolicy
from play_lmp_ros.core.policy import InferenceError, OnnxPolicy
from play_lmp_ros.core.scripted_policy import ScriptedPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.tasks import TaskOracle
from play_lmp_training import baselines
from play_lmp_training.evaluation.episodes import (Chain, CHAIN_GOAL_STREAM, CHAIN_POLICY_STREAM,
                                                   derived_seed, Episode, POLICY_STREAM, SOURCES)
from play_lmp_training.evaluation.pool import pool_map

SINGLE_MAX_STEPS = 240
CHAIN_MAX_STEPS = 360
CHECK_EVERY = 2
DETERMINISTIC = 'deterministic'
SAMPLED = 'sampled'
MODE_LABELS = {DETERMINISTIC: 'det', SAMPLED: 'sampled'}
MODEL = 'model'


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
    return derived_seed(seed, POLICY_STREAM, SOURCES.index(source), index)


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
    policy.reseed(derived_seed(seed, CHAIN_POLICY_STREAM, index))
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
            GoalJudge(derived_seed(seed, CHAIN_GOAL_STREAM, index)) as judge:
        return run_chain(_WORKER['policy'], chain, index, sim, judge, seed)


def run_single_row(spec: PolicySpec, jobs: List[Tuple[int, Episode]], workers: int, seed: int,
                   progress: bool, label: str = 'single') -> List[dict]:
    """
    Run single-protocol episodes with one row's policy, each in a fresh simulator.

    :param spec: the row.
    :param jobs: (index within its source, episode) pairs.
    :param workers: worker processes.
    :param seed: --seed.
    :param progress: show a progress bar.
    :param label: the progress bar's prefix, before the row's name.
    :return: run_single's result for each episode, in job order.
    """
    return pool_map(_single_job, jobs, workers, f'{label} {spec.name}', progress,
                    _init_worker, (spec, seed))


def run_chain_row(spec: PolicySpec, jobs: List[Tuple[int, Chain]], workers: int, seed: int,
                  progress: bool) -> List[dict]:
    """
    Run chains with one row's policy, each in a fresh simulator and goal judge.

    :param spec: the row.
    :param jobs: (chain index, chain) pairs.
    :param workers: worker processes.
    :param seed: --seed.
    :param progress: show a progress bar.
    :return: run_chain's result for each chain, in job order.
    """
    return pool_map(_chain_job, jobs, workers, f'chain {spec.name}', progress,
                    _init_worker, (spec, seed))
