"""
Train Play-LMP or Play-GCBC on a CALVIN-format play dataset.

    python -m play_lmp_training.train --config config/training/cpu_default.yaml [key=value ...] \
        [--resume]
    torchrun --nproc_per_node 2 -m play_lmp_training.train --config ...   # DDP (gloo, nccl)

Windows come from the dataset's training split; validation NLL (with posterior and with prior
plans) from its validation split.  Checkpoints (<output_dir>/last.pt, best.pt by prior-plan
validation NLL, and step copies when train.keep_every is set) are written atomically and carry the
configuration, the normalization statistics and every random generator state, so --resume
continues a killed run exactly.  A non-finite loss stops the run and leaves the last good
checkpoint in place.  TensorBoard logs go to <output_dir>/tensorboard, metrics also to
<output_dir>/metrics.jsonl.
"""

import argparse
import json
import math
import os
from pathlib import Path
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_training import checkpoint as ckpt, optim
from play_lmp_training.calvin_dataset import iterate_validation_windows, load_split, WindowSampler
from play_lmp_training.calvin_dataset.windows import GOAL_KEY
from play_lmp_training.evaluation.episodes import Episode, validation_episodes
from play_lmp_training.evaluation.rollouts import run_single, SINGLE_MAX_STEPS
from play_lmp_training.latent_plot import latent_projection_figure
from play_lmp_training.play_lmp.configuration import ExperimentConfig, load_config, to_dict
from play_lmp_training.play_lmp.modeling import batch_to_torch, normalization_from_data, PlayLMP
from play_lmp_training.play_lmp.torch_policy import TorchPolicy
import torch
from torch import distributed, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

MODULE_GROUPS = {
    'recognizer': ('recognizer', 'recognizer_head'),
    'proposal': ('proposal',),
    'actor': ('actor', 'actor_head'),
}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def gradient_norms(model: PlayLMP) -> Dict[str, float]:
    """
    Compute the L2 norm of the gradients of each module group.

    :param model: the (unwrapped) model after backward.
    :return: group name -> norm, for the groups the model has.
    """
    norms = {}
    for group, prefixes in MODULE_GROUPS.items():
        squares = [parameter.grad.detach().pow(2).sum()
                   for name, parameter in model.named_parameters()
                   if parameter.grad is not None and name.split('.')[0] in prefixes]
        if squares:
            norms[group] = float(torch.stack(squares).sum().sqrt())
    return norms


class Trainer:
    """One training run: data, model, optimizer, checkpoints, logs."""

    def __init__(self, config: ExperimentConfig, resume: bool = False, progress: bool = True,
                 rank: int = 0, world_size: int = 1):
        """
        Set up everything; with resume, restore the state of <output_dir>/last.pt.

        :param config: the experiment configuration.
        :param resume: continue from the last checkpoint of config.output_dir.
        :param progress: show a progress bar (rank 0 only).
        :param rank: this process's rank (DDP).
        :param world_size: number of processes (DDP).
        :raises ValueError: when the output directory holds a run and resume is off, when a
            checkpoint's configuration differs from this one, or the dataset is too small.
        """
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.output_dir = Path(config.output_dir)
        self.progress = progress and rank == 0
        train = config.train
        if train.num_threads:
            torch.set_num_threads(train.num_threads)
        last = ckpt.check_run_directory(self.output_dir, resume)
        data = Path(config.data_path)
        self.train_split = load_split(data / 'training', progress=self.progress)
        self.val_split = load_split(data / 'validation', progress=self.progress)
        self.sampler = WindowSampler(self.train_split, config.model.method, train.window,
                                     train.min_window, train.seed + 1000 * rank,
                                     train.action_key, train.goal_horizon or None)
        optim.check_precision(train.precision)
        torch.manual_seed(train.seed + 1000 * rank)
        self.model = PlayLMP(config.model)
        self.model.set_normalization(*normalization_from_data(self.train_split.obs))
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=train.lr,
                                           weight_decay=train.weight_decay)
        self.step = 0
        self.best = math.inf
        if resume:
            self._restore(ckpt.load_checkpoint(last))
        self.network: nn.Module = self.model
        if world_size > 1:
            self.network = DistributedDataParallel(self.model)
        self.writer = None
        if rank == 0:
            from torch.utils.tensorboard import SummaryWriter
            self.output_dir.mkdir(parents=True, exist_ok=True)
            # purge_step drops events a killed run logged after its last checkpoint.
            self.writer = SummaryWriter(str(self.output_dir / 'tensorboard'),
                                        purge_step=self.step if resume else None)
            if resume:
                ckpt.purge_metrics_after(self.output_dir / 'metrics.jsonl', self.step)
        self._episodes: Optional[List[Episode]] = None

    def _restore(self, state: dict) -> None:
        """Load model, optimizer and generator states, checking the configuration matches."""
        ckpt.check_resume_config(to_dict(state['config']), to_dict(self.config),
                                 ('train.steps',), self.output_dir)
        self.model.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.step = int(state['step'])
        self.best = float(state.get('best', math.inf))
        torch.set_rng_state(state['torch_rng'][self.rank])
        samplers = state['sampler_rng']
        if len(samplers) == self.world_size:
            self.sampler._rng.bit_generator.state = samplers[self.rank]
        elif self.rank == 0:
            print(f'resuming with {self.world_size} processes instead of {len(samplers)}: '
                  f'window sampling continues from fresh seeds', file=sys.stderr)

    def _gather(self, value) -> list:
        """Collect one picklable value from every rank (a list of one without DDP)."""
        if self.world_size == 1:
            return [value]
        gathered = [None] * self.world_size
        distributed.all_gather_object(gathered, value)
        return gathered

    def save(self, name: str, metrics: Optional[dict] = None) -> None:
        """
        Write a checkpoint (every rank must call it: the generator states are gathered).

        :param name: file name inside output_dir.
        :param metrics: the latest validation metrics, stored for reference.
        """
        torch_rng = self._gather(torch.get_rng_state())
        sampler_rng = self._gather(self.sampler._rng.bit_generator.state)
        if self.rank != 0:
            return
        ckpt.save_checkpoint(self.output_dir / name, {
            'step': self.step, 'config': ckpt.config_to_state(self.config),
            'model': self.model.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'obs_mean': self.model.obs_mean.clone(), 'obs_std': self.model.obs_std.clone(),
            'torch_rng': torch_rng, 'sampler_rng': sampler_rng, 'best': self.best,
            'training_data': self.train_split.from_split, 'metrics': metrics or {}})

    def train_step(self) -> Dict[str, float]:
        """
        Run one optimizer step.

        :return: loss, nll, kl, grad_norm and per-group gradient norms.
        :raises TrainingDiverged: when the loss is not finite (nothing is updated).
        """
        self.network.train()
        train = self.config.train
        for group in self.optimizer.param_groups:
            group['lr'] = optim.scheduled_lr(train.lr_schedule, self.step, train.steps, train.lr,
                                             train.lr_final)
        batch = batch_to_torch(self.sampler.sample(train.batch_size))
        with optim.forward_precision(train.precision):
            loss, metrics = self.network(batch, train.beta)
        if not bool(torch.isfinite(loss)):
            raise TrainingDiverged(f'loss is {float(loss)} at step {self.step + 1}')
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms = gradient_norms(self.model)
        total = float(nn.utils.clip_grad_norm_(self.model.parameters(),
                                               self.config.train.grad_clip))
        if not math.isfinite(total):
            raise TrainingDiverged(f'gradient norm is {total} at step {self.step + 1}')
        self.optimizer.step()
        self.step += 1
        result = {key: float(value) for key, value in metrics.items()}
        result['grad_norm'] = total
        result.update({f'grad_norm/{group}': value for group, value in norms.items()})
        return result

    @torch.no_grad()
    def validate(self) -> Dict[str, float]:
        """
        Compute validation metrics over the first val_batches batches of the validation split.

        :return: metric -> mean over windows.
        """
        self.model.eval()
        train = self.config.train
        totals: Dict[str, float] = {}
        count = 0
        windows = iterate_validation_windows(self.val_split, train.window, train.window,
                                             train.batch_size, train.min_window,
                                             train.action_key)
        for index, batch in enumerate(windows):
            if train.val_batches and index >= train.val_batches:
                break
            size = len(batch[GOAL_KEY])
            for key, value in self.model.validation_metrics(batch_to_torch(batch),
                                                            train.beta).items():
                totals[key] = totals.get(key, 0.0) + float(value) * size
            count += size
        return {key: value / count for key, value in totals.items()}

    def sim_check(self) -> Dict[str, float]:
        """
        Roll the current model out in the simulator on held-out validation episodes.

        :return: success rate and the number of episodes (none if the split has no labels).
        """
        if self._episodes is None:
            from play_lmp_ros.core.goals import GoalJudge
            with GoalJudge(self.config.train.seed) as judge:
                by_task = validation_episodes(Path(self.config.data_path) / 'validation', judge)
            # Round-robin over tasks so that a few frequent tasks do not fill the budget.
            episodes, queues = [], [list(group) for group in by_task.values()]
            while queues and len(episodes) < self.config.train.sim_check_episodes:
                queues = [queue for queue in queues if queue]
                for queue in queues:
                    if len(episodes) < self.config.train.sim_check_episodes:
                        episodes.append(queue.pop(0))
            self._episodes = episodes
        if not self._episodes:
            return {}
        policy = TorchPolicy(self.model, deterministic=True)
        with PlayTableSim(seed=self.config.train.seed) as sim:
            results = run_single(policy, enumerate(self._episodes),
                                 min(self.config.train.sim_check_steps, SINGLE_MAX_STEPS), sim,
                                 self.config.train.seed)
        return {'success_rate': float(np.mean([result['success'] for result in results])),
                'episodes': float(len(results))}

    def latent_picture(self) -> Optional[str]:
        """
        Save the 2-D projection of prior plans on validation windows, coloured by task.

        Too small a validation split (fewer than three labelled windows) falls back to the
        training split, and the picture's title says so.

        :return: the PNG path, or None for 'gcbc' or when no split has labels.
        """
        if not self.config.model.uses_plan:
            return None
        figure = latent_projection_figure(self.model, self.val_split)
        if figure is None:
            figure = latent_projection_figure(self.model, self.train_split)
        if figure is None:
            return None
        path = self.output_dir / 'latent_pca.png'
        figure.savefig(path, dpi=110, bbox_inches='tight')
        if self.writer is not None:
            self.writer.add_figure('latent/pca', figure, self.step)
        return str(path)

    def _log(self, prefix: str, metrics: Dict[str, float]) -> None:
        """Write metrics to TensorBoard and metrics.jsonl (rank 0)."""
        if self.writer is None:
            return
        for key, value in metrics.items():
            self.writer.add_scalar(f'{prefix}/{key}', value, self.step)
        with open(self.output_dir / 'metrics.jsonl', 'a', encoding='utf-8') as stream:
            stream.write(json.dumps({'step': self.step, 'split': prefix, **metrics}) + '\n')

    def run(self) -> Dict[str, float]:
        """
        Train to train.steps, validating, checking in simulation and checkpointing on schedule.

        :return: the final validation metrics and the training throughput.
        :raises TrainingDiverged: on a non-finite loss, after saying so; last.pt is untouched.
        """
        train = self.config.train
        validation: Dict[str, float] = {}
        bar = tqdm(total=train.steps, initial=self.step, desc='train', unit='step',
                   disable=not self.progress, dynamic_ncols=True)
        started, first_step = time.perf_counter(), self.step
        while self.step < train.steps:
            metrics = self.train_step()
            elapsed = time.perf_counter() - started
            windows_per_s = ((self.step - first_step) * train.batch_size * self.world_size
                             / max(elapsed, 1e-9))
            bar.update()
            bar.set_postfix(loss=f'{metrics["loss"]:.3f}', kl=f'{metrics["kl"]:.2f}',
                            win_s=f'{windows_per_s:.0f}')
            if self.step % 50 == 0:
                self._log('train', dict(metrics, windows_per_s=windows_per_s))
            last_step = self.step == train.steps
            if self.rank == 0 and (self.step % train.eval_every == 0 or last_step):
                validation = self.validate()
                self._log('validation', validation)
            if self.rank == 0 and train.sim_check_every and (
                    self.step % train.sim_check_every == 0 or last_step):
                self._log('sim_check', self.sim_check())
            if self.step % train.checkpoint_every == 0 or last_step:
                self._checkpoint(validation)
        bar.close()
        elapsed = time.perf_counter() - started
        summary = dict(validation, steps=self.step,
                       windows_per_s=((self.step - first_step) * train.batch_size
                                      * self.world_size / max(elapsed, 1e-9)))
        if self.rank == 0:
            picture = self.latent_picture()
            if picture:
                summary['latent_picture'] = picture
            (self.output_dir / 'summary.json').write_text(json.dumps(summary, indent=1))
        if self.writer is not None:
            self.writer.close()
        return summary

    def _checkpoint(self, validation: Dict[str, float]) -> None:
        """Write last.pt, best.pt when prior-plan validation NLL improved, and step copies."""
        score = validation.get('nll_prior', validation.get('nll', math.inf))
        improved = self.rank == 0 and score < self.best
        if improved:
            self.best = score
        # A collective decision, so that every rank joins the same number of gathers.
        improved = bool(self._gather(improved)[0])
        self.save(ckpt.LAST_CHECKPOINT, validation)
        if improved:
            self.save(ckpt.BEST_CHECKPOINT, validation)
        keep = self.config.train.keep_every
        if keep and self.step % keep == 0:
            self.save(f'step_{self.step:07d}.pt', validation)


def setup_distributed() -> tuple:
    """
    Join the torchrun process group when launched by torchrun.

    :return: rank and world size (0, 1 without torchrun).
    """
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    if world_size == 1:
        return 0, 1
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    distributed.init_process_group(backend)
    return distributed.get_rank(), world_size


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--config', required=True, help='YAML experiment configuration')
    parser.add_argument('overrides', nargs='*', help='key.sub=value overrides, e.g. '
                        'train.steps=2000 data_path=data/play')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in output_dir from its last checkpoint')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the training CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0 when training finished, 1 when it diverged, 2 on a bad configuration or data.
    """
    args = parse_args(argv)
    rank, world_size = setup_distributed()
    try:
        config = load_config(args.config, args.overrides)
        trainer = Trainer(config, args.resume, not args.no_progress, rank, world_size)
    except (ValueError, FileNotFoundError, ckpt.CheckpointError) as error:
        print(f'train: {error}', file=sys.stderr)
        return 2
    try:
        summary = trainer.run()
    except TrainingDiverged as error:
        print(f'train: stopped, {error}; the last good checkpoint is '
              f'{trainer.output_dir / ckpt.LAST_CHECKPOINT}', file=sys.stderr)
        return 1
    finally:
        if world_size > 1:
            distributed.destroy_process_group()
    if rank == 0:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
