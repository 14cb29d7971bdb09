"""
One distillation run: DAgger iterations of rollouts, labels and training, resumable exactly.

Iteration i exports the current student (students/iter_NNN), rolls it out on the iteration's
jobs (beta = dagger.expert_probability(i) mixes in the expert's actions), then trains
train.steps_per_iteration optimizer steps on every shard of iterations 0..i (and of the
replay_from runs), mixed with play windows when train.play_fraction > 0.  last.pt is written
before the first rollout, every train.checkpoint_every steps and at the end of every iteration
(then also iter_NNN.pt); it carries the configuration, the normalization statistics, the
optimizer and every random generator, so a killed run resumes where it stopped: rollouts whose
shards exist are not run again, and training continues from the last checkpoint's step.
"""

import json
import math
from pathlib import Path
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training import checkpoint as ckpt, optim
from play_lmp_training.calvin_dataset import load_split, WindowSampler
from play_lmp_training.calvin_dataset.files import atomic_write_text
from play_lmp_training.calvin_dataset.windows import ACTIONS_KEY, GOAL_KEY, MASK_KEY, OBS_KEY
from play_lmp_training.distillation import rollouts
from play_lmp_training.distillation.aggregate import (
    Aggregate, iteration_dir, read_infos, shard_path, shard_paths)
from play_lmp_training.distillation.configuration import DistillConfig, parse_any_config
from play_lmp_training.evaluation.episodes import derived_seed
from play_lmp_training.evaluation.pool import pool_map
from play_lmp_training.export import export_model
from play_lmp_training.play_lmp.configuration import to_dict
from play_lmp_training.play_lmp.modeling import batch_to_torch, normalization_from_data, PlayLMP
import torch
from torch import nn
from tqdm import tqdm

STUDENTS_DIR = 'students'
LOG_EVERY = 50


def _merge(batches: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Stack window batches of equal length along the batch axis."""
    return {key: np.concatenate([batch[key] for batch in batches])
            for key in (OBS_KEY, ACTIONS_KEY, MASK_KEY, GOAL_KEY)}


def iteration_summary(infos: List[dict]) -> Dict[str, float]:
    """
    Summarize one iteration's rollouts.

    :param infos: the shards' info dicts.
    :return: the student's success on single goals (mean over tasks and per task, takeover
        episodes apart), chain length, counts.
    """
    summary: Dict[str, float] = {}
    per_task: Dict[str, List[bool]] = {}
    chains = []
    takeovers = []
    for info in infos:
        if info['kind'] == rollouts.SINGLE and info.get('takeover_step', -1) >= 0:
            # The expert finished these: they measure the expert, not the student.
            takeovers += [bool(success) for success in info['successes']]
        elif info['kind'] == rollouts.SINGLE:
            for task, success in zip(info['tasks'], info['successes']):
                per_task.setdefault(task, []).append(bool(success))
        elif info['tasks']:
            # A chain stops at its first failure: its length is its successes.
            chains.append(sum(info['successes']))
    for task in TASK_NAMES:
        if task in per_task:
            summary[f'success/{task}'] = float(np.mean(per_task[task]))
    if per_task:
        summary['single_success'] = float(np.mean([np.mean(v) for v in per_task.values()]))
        summary['single_episodes'] = float(sum(len(v) for v in per_task.values()))
    if takeovers:
        summary['takeover_success'] = float(np.mean(takeovers))
        summary['takeover_episodes'] = float(len(takeovers))
    if chains:
        summary['chain_length'] = float(np.mean(chains))
        summary['chains'] = float(len(chains))
    for key in (*rollouts.COUNT_KEYS, 'seconds'):
        summary[key] = float(sum(info.get(key, 0.0) for info in infos))
    summary['skipped'] = float(sum(bool(info['skipped']) for info in infos))
    return summary


class Distiller:
    """Model, optimizer, aggregate and checkpoints of one distillation run."""

    def __init__(self, config: DistillConfig, init: Optional[str] = None, resume: bool = False,
                 progress: bool = True):
        """
        Set up the run; with resume, restore <output_dir>/last.pt.

        :param config: the run's configuration.
        :param init: a training.train or distillation checkpoint to start the student from
            (None: a fresh model, normalized on the first iteration's states).
        :param resume: continue the run in config.output_dir.
        :param progress: show progress bars.
        :raises ValueError: when the output directory holds a run and resume is off, the init
            checkpoint's architecture differs from config.model, or the configuration differs
            from the resumed run's.
        :raises CheckpointError: for an unreadable checkpoint.
        """
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.progress = progress
        last = ckpt.check_run_directory(self.output_dir, resume)
        torch.manual_seed(config.train.seed)
        self.model = PlayLMP(config.model)
        self.normalized = False
        if init is not None and not resume:
            state = ckpt.load_checkpoint(init, parse_any_config)
            if to_dict(state['config'].model) != to_dict(config.model):
                raise ValueError(f'--init {init} has another architecture than model: '
                                 f'{to_dict(state["config"].model)}')
            self.model.load_state_dict(state['model'])
            self.normalized = True
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.train.lr,
                                           weight_decay=config.train.weight_decay)
        self.rng = np.random.default_rng(config.train.seed)
        self.iteration, self.iteration_step, self.step = 0, 0, 0
        self.init = init or ''
        self.play: Optional[WindowSampler] = None
        if config.train.play_fraction > 0:
            split = load_split(Path(config.data_path) / 'training', progress=progress)
            window = config.model.replan_every
            self.play = WindowSampler(split, 'gcbc', window, window, config.train.seed + 1)
        if resume:
            self._restore(ckpt.load_checkpoint(last, parse_any_config))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter
        self.writer = SummaryWriter(str(self.output_dir / 'tensorboard'),
                                    purge_step=self.step if resume else None)
        if resume:
            self._purge_metrics()
        else:
            self.save(ckpt.LAST_CHECKPOINT)

    def _restore(self, state: dict) -> None:
        """Load model, optimizer, counters and generators, checking the configuration."""
        ckpt.check_resume_config(to_dict(state['config']), to_dict(self.config),
                                 ('dagger.iterations', 'dagger.workers'), self.output_dir)
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.iteration = int(state['iteration'])
        self.iteration_step = int(state['iteration_step'])
        self.step = int(state['step'])
        self.normalized = bool(state['normalized'])
        self.init = str(state.get('init', ''))
        torch.set_rng_state(state['torch_rng'])
        self.rng.bit_generator.state = state['window_rng']
        if self.play is not None:
            self.play._rng.bit_generator.state = state['play_rng']

    def _purge_metrics(self) -> None:
        """
        Drop the metrics.jsonl lines of work the resumed run will do again.

        Lines of earlier iterations stay; of the current iteration, those up to the checkpoint's
        step stay when its training had begun, none when its rollouts are to be collected again.
        """
        path = self.output_dir / 'metrics.jsonl'
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding='utf-8').splitlines(keepends=True):
            try:
                entry = json.loads(line)
                iteration, step = int(entry['iteration']), int(entry['step'])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if iteration < self.iteration or (iteration == self.iteration
                                              and self.iteration_step > 0
                                              and step <= self.step):
                kept.append(line)
        atomic_write_text(path, ''.join(kept))

    def save(self, name: str) -> None:
        """
        Write a checkpoint atomically (training.train's keys, plus the iteration counters).

        :param name: file name inside output_dir.
        """
        ckpt.save_checkpoint(self.output_dir / name, {
            'step': self.step, 'iteration': self.iteration,
            'iteration_step': self.iteration_step, 'normalized': self.normalized,
            'config': to_dict(self.config), 'model': self.model.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'obs_mean': self.model.obs_mean.clone(), 'obs_std': self.model.obs_std.clone(),
            'torch_rng': torch.get_rng_state(), 'window_rng': self.rng.bit_generator.state,
            'play_rng': None if self.play is None else self.play._rng.bit_generator.state,
            'training_data': f'distillation:{self.output_dir.name}', 'init': self.init})

    def _log(self, split: str, metrics: Dict[str, float]) -> None:
        """Write metrics to TensorBoard and metrics.jsonl."""
        for key, value in metrics.items():
            self.writer.add_scalar(f'{split}/{key}', value, self.step)
        with open(self.output_dir / 'metrics.jsonl', 'a', encoding='utf-8') as stream:
            stream.write(json.dumps({'step': self.step, 'iteration': self.iteration,
                                     'split': split, **metrics}) + '\n')

    def jobs(self, iteration: int) -> List[rollouts.RolloutJob]:
        """
        List an iteration's rollouts: single goals, then the chains.

        The single goals are episodes_per_task per task, then the failure_episodes shared by
        the previous iteration's failures; each may be a takeover episode.  Every choice is
        drawn from the run's seed and the iteration, so a resumed run lists the same jobs.

        :param iteration: 0-based iteration.
        :return: the jobs, their index the shard number.
        """
        dagger = self.config.dagger
        common = {'iteration': iteration, 'tasks': dagger.tasks,
                  'beta': dagger.expert_probability(iteration), 'noise': dagger.expert_noise,
                  'seed': dagger.seed, 'output_dir': str(self.output_dir)}
        single_tasks = list(dagger.tasks) * dagger.episodes_per_task
        single_tasks += self.failure_tasks(iteration)
        takeover = np.random.default_rng(
            derived_seed(dagger.seed, rollouts.TAKEOVER_STREAM, iteration))
        jobs = []
        for task in single_tasks:
            step = -1
            if takeover.random() < dagger.takeover_fraction:
                step = int(takeover.integers(dagger.takeover_max_step + 1))
            jobs.append(rollouts.RolloutJob(index=len(jobs), kind=rollouts.SINGLE, task=task,
                                            max_steps=dagger.max_steps, takeover_step=step,
                                            **common))
        for _ in range(dagger.chains):
            jobs.append(rollouts.RolloutJob(index=len(jobs), kind=rollouts.CHAIN, task='',
                                            max_steps=dagger.chain_max_steps, **common))
        return jobs

    def failure_tasks(self, iteration: int) -> List[str]:
        """
        Share dagger.failure_episodes among the tasks by the student's previous failures.

        Each task gets its share of the failures (1 - success) of the previous iteration's
        student-driven single goals, rounded by largest remainder; a task that was not measured
        (random scenes rarely give its goal) gets none.

        :param iteration: 0-based iteration.
        :return: task names, in TASK_NAMES order, one per extra episode (none in iteration 0
            or when nothing failed).
        """
        dagger = self.config.dagger
        if iteration == 0 or dagger.failure_episodes == 0:
            return []
        summary = iteration_summary(read_infos(sorted(
            iteration_dir(self.output_dir, iteration - 1).glob('*.npz'))))
        failures = np.array([1.0 - summary.get(f'success/{task}', 1.0) for task in dagger.tasks])
        if failures.sum() <= 0:
            return []
        share = dagger.failure_episodes * failures / failures.sum()
        counts = np.floor(share).astype(int)
        left = dagger.failure_episodes - counts.sum()
        counts[np.argsort(-(share - counts), kind='stable')[:left]] += 1
        return [task for task, count in zip(dagger.tasks, counts) for _ in range(count)]

    def student(self, iteration: int) -> str:
        """
        Write the student that an iteration rolls out, for the configured backend.

        :param iteration: 0-based iteration.
        :return: the exported model directory (onnx) or checkpoint file (torch).
        """
        folder = self.output_dir / STUDENTS_DIR
        if self.config.dagger.student_backend == 'torch':
            name = f'{STUDENTS_DIR}/iter_{iteration:03d}.pt'
            self.save(name)
            return str(self.output_dir / name)
        path = folder / f'iter_{iteration:03d}'
        export_model(self.model, path, self.config.model.replan_every,
                     f'distillation:{self.output_dir.name}')
        self.model.train()
        return str(path)

    def roll_out(self, iteration: int) -> List[dict]:
        """
        Run an iteration's rollouts that have no shard yet, and collect every shard's info.

        :param iteration: 0-based iteration.
        :return: the info of every job's shard, in job order.
        """
        jobs = self.jobs(iteration)
        todo = [job for job in jobs
                if not shard_path(self.output_dir, job.iteration, job.index).exists()]
        if todo:
            dagger = self.config.dagger
            student = self.student(iteration)
            pool_map(rollouts.job_in_worker, todo, dagger.workers, f'rollouts {iteration}',
                     self.progress, rollouts.init_worker,
                     (dagger.student_backend, student, dagger.sampled_student, dagger.seed))
        return read_infos(sorted(iteration_dir(self.output_dir, iteration).glob('*.npz')))

    def train_step(self, aggregate: Aggregate) -> Dict[str, float]:
        """
        Run one optimizer step on the aggregate (and play windows).

        :param aggregate: the labelled windows.
        :return: loss and gradient norm.
        :raises FloatingPointError: when the loss or the gradient is not finite.
        """
        train = self.config.train
        self.model.train()
        for group in self.optimizer.param_groups:
            group['lr'] = optim.scheduled_lr(train.lr_schedule, self.iteration_step,
                                             train.steps_per_iteration, train.lr, train.lr_final)
        play_size = int(round(train.batch_size * train.play_fraction)) if self.play else 0
        batches = [aggregate.sample(self.rng, train.batch_size - play_size)]
        if play_size:
            batches.append(self.play.sample(play_size))
        loss, metrics = self.model.imitation_loss(batch_to_torch(_merge(batches)))
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(f'loss is {float(loss)} at step {self.step + 1}')
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip))
        if not math.isfinite(norm):
            raise FloatingPointError(f'gradient norm is {norm} at step {self.step + 1}')
        self.optimizer.step()
        self.step += 1
        self.iteration_step += 1
        return {'loss': float(metrics['loss']), 'grad_norm': norm}

    def train_iteration(self) -> Dict[str, float]:
        """
        Train the current iteration's steps on the aggregate so far, checkpointing on schedule.

        :return: the last logged loss, the seconds spent and the aggregate's size.
        """
        train = self.config.train
        if train.num_threads:
            torch.set_num_threads(train.num_threads)
        paths = shard_paths([self.output_dir, *map(Path, self.config.replay_from)],
                            self.iteration)
        aggregate = Aggregate(paths, self.config.model.replan_every)
        if not self.normalized:
            self.model.set_normalization(*normalization_from_data(
                np.concatenate([aggregate.arrays['obs'], aggregate.arrays['goal']])))
            self.normalized = True
        started = time.perf_counter()
        bar = tqdm(total=train.steps_per_iteration, initial=self.iteration_step,
                   desc=f'train {self.iteration}', unit='step', disable=not self.progress,
                   dynamic_ncols=True)
        metrics: Dict[str, float] = {}
        while self.iteration_step < train.steps_per_iteration:
            metrics = self.train_step(aggregate)
            bar.update()
            bar.set_postfix(loss=f'{metrics["loss"]:.3f}')
            if self.step % LOG_EVERY == 0:
                self._log('train', metrics)
            if (self.iteration_step % train.checkpoint_every == 0
                    and self.iteration_step < train.steps_per_iteration):
                self.save(ckpt.LAST_CHECKPOINT)
        bar.close()
        return dict(metrics, train_s=time.perf_counter() - started,
                    aggregate_states=float(aggregate.states),
                    aggregate_labelled=float(aggregate.labelled_states),
                    aggregate_windows=float(len(aggregate.starts)))

    def run(self) -> Dict[str, float]:
        """
        Run the remaining iterations.

        :return: the last iteration's rollout summary.
        """
        summary: Dict[str, float] = {}
        while self.iteration < self.config.dagger.iterations:
            started = time.perf_counter()
            if self.iteration_step == 0:
                infos = self.roll_out(self.iteration)
                summary = iteration_summary(infos)
                summary['rollout_wall_s'] = time.perf_counter() - started
                summary['beta'] = self.config.dagger.expert_probability(self.iteration)
                self._log('rollouts', summary)
                print(f'iteration {self.iteration}: single-goal success '
                      f'{summary.get("single_success", float("nan")):.1%}, chain length '
                      f'{summary.get("chain_length", float("nan")):.2f} (beta '
                      f'{summary["beta"]:.2f})', file=sys.stderr)
            self._log('training', self.train_iteration())
            self.iteration += 1
            self.iteration_step = 0
            self.save(f'iter_{self.iteration - 1:03d}.pt')
            self.save(ckpt.LAST_CHECKPOINT)
        self.writer.close()
        return summary
