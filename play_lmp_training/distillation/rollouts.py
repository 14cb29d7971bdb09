"""
DAgger's rollouts: the student drives (mixed with the expert by beta), the expert labels.

A job is one single-goal episode (an imagined goal from a random scene, made as the goal server
makes goals) or one chain (five tasks of distinct categories, each goal made from the state the
previous subtask left).  Each job runs in a fresh simulator, draws from its own random streams
and writes its own shard (distillation.aggregate), so that the aggregate depends neither on the
number of workers nor on a resume.  At every step the student acts, the task's Expert
(core.skills.experts) labels the state, and the expert's action (with DART noise) is executed
with probability beta, the student's otherwise; in a takeover episode the expert drives every
step from the job's takeover step on.  A state the expert has no action for keeps
the student's action and no label; a goal whose start leaves the expert nothing to act on is
rolled out by the student alone, unlabelled, and counted.
"""

from dataclasses import dataclass
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.goals import GoalError, GoalJudge
from play_lmp_ros.core.policy import InferenceError, OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills.experts import Expert, ExpertError
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from play_lmp_training.distillation.aggregate import SHARD_KEYS, shard_path, write_shard
from play_lmp_training.evaluation.episodes import derived_seed, imagined_episodes, make_chain
from play_lmp_training.evaluation.rollouts import CHECK_EVERY

SINGLE = 'single'
CHAIN = 'chain'
# Random streams of distillation, apart from the evaluation's (evaluation.episodes).
SCENE_STREAM = 101
CHAIN_STREAM = 102
MIXING_STREAM = 103
GOAL_STREAM = 104
TAKEOVER_STREAM = 105
# What a rollout counts, in its shard's info: states visited, labelled, driven by the expert;
# labels dropped (the expert had no action), goals without an expert, failed student steps, and
# the seconds spent in the experts (the labelling's share of the rollout's time).
COUNT_KEYS = ('steps', 'labelled', 'expert_steps', 'dropped_labels', 'no_expert',
              'inference_errors', 'expert_s')


@dataclass(frozen=True)
class RolloutJob:
    """
    One rollout of one iteration.

    :param iteration: 0-based iteration.
    :param index: the job's index within the iteration (its shard's number).
    :param kind: 'single' or 'chain'.
    :param task: the single episode's task ('' for a chain).
    :param tasks: the tasks a chain may draw from.
    :param beta: probability of executing the expert's action at a step.
    :param noise: DART noise on executed expert motion.
    :param max_steps: step budget per goal.
    :param seed: the run's dagger.seed.
    :param output_dir: the run's output directory.
    :param takeover_step: from this step of a single-goal episode on, the expert drives (with
        DART noise) wherever it has an action; -1: never.
    """

    iteration: int
    index: int
    kind: str
    task: str
    tasks: Sequence[str]
    beta: float
    noise: float
    max_steps: int
    seed: int
    output_dir: str
    takeover_step: int = -1


class _Recorder:
    """Rows of one rollout, kept in lists until the shard is written."""

    def __init__(self):
        """Start empty."""
        self.rows: Dict[str, List[np.ndarray]] = {key: [] for key in SHARD_KEYS}

    def add(self, **row) -> None:
        """Append one visited state's row."""
        for key, value in row.items():
            self.rows[key].append(value)

    def arrays(self) -> Dict[str, np.ndarray]:
        """Return the rows as the shard's arrays."""
        return {key: np.asarray(self.rows[key], dtype=dtype).reshape(-1, *shape)
                for key, (shape, dtype) in SHARD_KEYS.items()}


def drive(sim: PlayTableSim, policy, task: str, goal: np.ndarray, job: RolloutJob,
          rng: np.random.Generator, recorder: _Recorder, counts: Dict[str, float],
          expert_seed: int) -> bool:
    """
    Pursue one goal from the simulator's state: the student acts, the expert labels.

    :param sim: the simulator, in the goal's start state.
    :param policy: the student (core.policies.Policy).
    :param task: the goal's task (its expert labels every state).
    :param goal: (39,) the goal state given to the student.
    :param job: the job (beta, noise, step budget).
    :param rng: the job's mixing and noise stream.
    :param recorder: collects the rows.
    :param counts: running counts (steps, labels, dropped labels, expert seconds), updated.
    :param expert_seed: chooses among the expert's equivalent options.
    :return: whether the oracle saw the task done within the budget.
    """
    oracle = TaskOracle()
    start_info = sim.scene_info()
    obs = sim.observe()
    try:
        expert: Optional[Expert] = Expert(task, obs, seed=expert_seed)
    except ExpertError:
        expert = None
        counts['no_expert'] += 1
    policy.reset(obs, goal, task)
    task_index = TASK_NAMES.index(task)
    for step in range(job.max_steps):
        try:
            student = policy.act(obs, goal)
        except InferenceError:
            counts['inference_errors'] += 1
            return False
        label = np.full(layout.ACTION_DIM, np.nan)
        if expert is not None:
            started = time.perf_counter()
            try:
                label = expert.act(obs)
            except ExpertError:
                counts['dropped_labels'] += 1
            counts['expert_s'] += time.perf_counter() - started
        labelled = bool(np.all(np.isfinite(label)))
        taken_over = 0 <= job.takeover_step <= step
        use_expert = labelled and (taken_over or rng.random() < job.beta)
        action = student
        if use_expert:
            action = label.copy()
            action[:6] = np.clip(action[:6] + job.noise * rng.standard_normal(6), -1.0, 1.0)
        recorder.add(obs=obs, goal=goal, student_action=student, expert_action=label,
                     labelled=labelled, expert_executed=use_expert, segment_step=step,
                     task=task_index)
        counts['steps'] += 1
        counts['labelled'] += labelled
        counts['expert_steps'] += use_expert
        obs = sim.step(action)
        if ((step + 1) % CHECK_EVERY == 0 or step + 1 == job.max_steps) and oracle.check(
                task, start_info, sim.scene_info()):
            return True
    return False


def run_job(job: RolloutJob, policy) -> dict:
    """
    Run one rollout and write its shard.

    :param job: the job.
    :param policy: the student.
    :return: the shard's info: kind, tasks pursued, successes, and counts.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(derived_seed(job.seed, MIXING_STREAM, job.iteration, job.index))
    policy.reseed(derived_seed(job.seed, MIXING_STREAM, job.iteration, job.index, 1))
    recorder = _Recorder()
    counts = dict.fromkeys(COUNT_KEYS, 0.0)
    info = {'iteration': job.iteration, 'index': job.index, 'kind': job.kind,
            'beta': job.beta, 'takeover_step': job.takeover_step, 'tasks': [],
            'successes': [], 'skipped': ''}
    goal_seed = derived_seed(job.seed, GOAL_STREAM, job.iteration, job.index)
    with PlayTableSim(seed=goal_seed) as sim, GoalJudge(goal_seed) as judge:
        if job.kind == SINGLE:
            scene_seed = derived_seed(job.seed, SCENE_STREAM, job.iteration, job.index)
            episodes = imagined_episodes(job.task, 1, scene_seed, judge, sim)
            if not episodes:
                info['skipped'] = f'no imagined {job.task} goal from random scenes'
            else:
                episode = episodes[0]
                sim.reset(episode.start[:layout.ROBOT_OBS_DIM],
                          episode.start[layout.ROBOT_OBS_DIM:])
                info['tasks'].append(job.task)
                info['successes'].append(drive(sim, policy, job.task, episode.goal, job, rng,
                                               recorder, counts, job.index))
        else:
            chain = make_chain(job.index, derived_seed(job.seed, CHAIN_STREAM, job.iteration),
                               tasks=job.tasks)
            obs = sim.reset(chain.start[:layout.ROBOT_OBS_DIM],
                            chain.start[layout.ROBOT_OBS_DIM:])
            for task in chain.tasks:
                try:
                    goal = judge.imagine_goal(task, obs)
                except GoalError as error:
                    info['skipped'] = f'{task}: no goal from the state reached ({error})'
                    break
                info['tasks'].append(task)
                success = drive(sim, policy, task, goal, job, rng, recorder, counts, job.index)
                info['successes'].append(success)
                if not success:
                    break
                obs = sim.observe()
    info.update({key: float(value) for key, value in counts.items()},
                seconds=time.perf_counter() - started)
    write_shard(shard_path(job.output_dir, job.iteration, job.index), recorder.arrays(), info)
    return info


_WORKER: dict = {}


def init_worker(backend: str, student_path: str, sampled: bool, seed: int) -> None:
    """
    Load the student once per worker process.

    :param backend: 'onnx' (an exported directory) or 'torch' (a checkpoint file).
    :param student_path: the exported directory or the checkpoint.
    :param sampled: sample actions (else the deterministic mode).
    :param seed: initial sampling seed (each job reseeds).
    """
    if backend == 'onnx':
        _WORKER['policy'] = OnnxPolicy(student_path, deterministic=not sampled, seed=seed)
        return
    import torch
    from play_lmp_training import checkpoint as ckpt
    from play_lmp_training.distillation.configuration import parse_any_config
    from play_lmp_training.play_lmp.torch_policy import TorchPolicy
    torch.set_num_threads(1)
    model = ckpt.model_from_checkpoint(ckpt.load_checkpoint(student_path, parse_any_config))
    _WORKER['policy'] = TorchPolicy(model, deterministic=not sampled, seed=seed)


def job_in_worker(job: RolloutJob) -> dict:
    """Run one job with the worker's student."""
    return run_job(job, _WORKER['policy'])
