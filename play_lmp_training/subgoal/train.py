"""
Train the subgoal proposer and the k-step distance model on a CALVIN-format play dataset.

    python -m play_lmp_training.subgoal.train --config config/training/subgoal.yaml \
        [key=value ...] \
        [--resume] [--until STEP]

Pairs come from the dataset's training split (play_lmp_training.subgoal.data), validation metrics
from a fixed set of pairs of its validation split.  <output_dir>/last.pt is written atomically
every train.checkpoint_every steps with the configuration, the normalization statistics and every
random generator state, so --resume continues a killed run exactly; --until STEP ends a leg at that
step on the schedule of train.steps (train.steps may also grow on --resume; the cosine schedule
then follows the new total).  Metrics go to <output_dir>/metrics.jsonl and the end of the run to
<output_dir>/summary.json.
"""

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_training import checkpoint as ckpt, optim
from play_lmp_training.calvin_dataset import load_split
from play_lmp_training.play_lmp.configuration import to_dict
from play_lmp_training.play_lmp.modeling import normalization_from_data
from play_lmp_training.subgoal.configuration import from_dict, load_config, SubgoalExperimentConfig
from play_lmp_training.subgoal.data import PairSampler
from play_lmp_training.subgoal.modeling import SubgoalModels
import torch
from tqdm import tqdm

# The validation pairs are drawn once, from this seed, so every pass sees the same ones.
VALIDATION_SEED = 12345


def to_torch(batch: Dict[str, np.ndarray]) -> Dict[str, torch.Tensor]:
    """Convert a PairSampler batch's float arrays to float32 tensors."""
    return {key: torch.as_tensor(value, dtype=torch.float32) for key, value in batch.items()
            if key != 'goal_steps'}


class SubgoalTrainer:
    """One subgoal training run: data, models, optimizer, checkpoints, logs."""

    def __init__(self, config: SubgoalExperimentConfig, resume: bool = False,
                 progress: bool = True):
        """
        Set up everything; with resume, restore <output_dir>/last.pt.

        :param config: the run's configuration.
        :param resume: continue the run in config.output_dir.
        :param progress: show a progress bar.
        :raises ValueError: when output_dir holds a run and resume is off, when --resume finds
            no checkpoint or one made with another configuration, or the data are too small.
        """
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.progress = progress
        train, model = config.train, config.model
        if train.num_threads:
            torch.set_num_threads(train.num_threads)
        last = ckpt.check_run_directory(self.output_dir, resume)
        data = Path(config.data_path)
        self.train_split = load_split(data / 'training', progress=progress)
        val_split = load_split(data / 'validation', progress=progress)
        self.sampler = PairSampler(self.train_split, model.horizon, model.max_goal_distance,
                                   train.cross_segment_fraction, train.seed,
                                   train.event_goal_fraction, train.min_goal_distance,
                                   train.subgoal_target, train.contact_lead)
        validation = PairSampler(val_split, model.horizon, model.max_goal_distance,
                                 train.cross_segment_fraction, VALIDATION_SEED,
                                 train.event_goal_fraction, train.min_goal_distance,
                                 train.subgoal_target, train.contact_lead)
        self.validation_batches = [to_torch(validation.sample(train.batch_size))
                                   for _ in range(train.val_batches)]
        optim.check_precision(train.precision)
        torch.manual_seed(train.seed)
        self.models = SubgoalModels(model)
        self.models.set_normalization(*normalization_from_data(self.train_split.obs))
        self.optimizer = torch.optim.AdamW(self.models.parameters(), lr=train.lr,
                                           weight_decay=train.weight_decay)
        self.step = 0
        self.training_data = str(self.train_split.split_dir)
        if resume:
            self._restore(ckpt.load_checkpoint(last, from_dict))
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            ckpt.purge_metrics_after(self.output_dir / 'metrics.jsonl', self.step)

    def _restore(self, state: dict) -> None:
        """Load weights, optimizer and generator states; only train.steps may differ."""
        ckpt.check_resume_config(to_dict(state['config']), to_dict(self.config),
                                 ('train.steps',), self.output_dir)
        self.models.load_state_dict(state['model'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.step = int(state['step'])
        torch.set_rng_state(state['torch_rng'])
        self.sampler.rng.bit_generator.state = state['sampler_rng']

    def save(self, name: str, validation: Dict[str, float]) -> None:
        """Write a checkpoint atomically."""
        ckpt.save_checkpoint(self.output_dir / name, {
            'step': self.step, 'config': to_dict(self.config),
            'model': self.models.state_dict(), 'optimizer': self.optimizer.state_dict(),
            'obs_mean': self.models.proposer.obs_mean.clone(),
            'obs_std': self.models.proposer.obs_std.clone(),
            'torch_rng': torch.get_rng_state(),
            'sampler_rng': self.sampler.rng.bit_generator.state,
            'validation': validation, 'training_data': self.training_data})

    def train_step(self) -> Dict[str, float]:
        """Run one optimizer step; return its metrics."""
        train = self.config.train
        for group in self.optimizer.param_groups:
            group['lr'] = optim.scheduled_lr('cosine', self.step, train.steps, train.lr,
                                             train.lr_final)
        self.models.train()
        with optim.forward_precision(train.precision):
            loss, metrics = self.models(to_torch(self.sampler.sample(train.batch_size)))
        if not torch.isfinite(loss):
            raise FloatingPointError(f'loss became {float(loss)} at step {self.step}')
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.models.parameters(), train.grad_clip)
        self.optimizer.step()
        self.step += 1
        return dict({key: float(value) for key, value in metrics.items()},
                    grad_norm=float(norm), lr=self.optimizer.param_groups[0]['lr'])

    def validate(self) -> Dict[str, float]:
        """Average the validation metrics over the fixed validation pairs."""
        self.models.eval()
        results = [self.models.validation_metrics(batch) for batch in self.validation_batches]
        return {key: float(np.mean([result[key] for result in results])) for key in results[0]}

    def _log(self, split: str, metrics: Dict[str, float]) -> None:
        """Append one line to metrics.jsonl."""
        with open(self.output_dir / 'metrics.jsonl', 'a', encoding='utf-8') as stream:
            stream.write(json.dumps({'step': self.step, 'split': split, **metrics}) + '\n')

    def run(self, until: Optional[int] = None) -> Dict[str, float]:
        """
        Train to train.steps (or stop at step `until`, a leg), validating and checkpointing.

        :param until: stop after this step and checkpoint there; the learning-rate schedule
            still spans train.steps, so --resume continues it exactly.
        :return: the final validation metrics with the steps and the pairs per second.
        """
        train = self.config.train
        stop = train.steps if until is None else min(until, train.steps)
        started, first_step = time.perf_counter(), self.step
        validation: Dict[str, float] = {}
        bar = tqdm(total=stop, initial=self.step, desc='subgoal', unit='step',
                   disable=not self.progress)
        while self.step < stop:
            metrics = self.train_step()
            bar.update()
            pairs_per_s = ((self.step - first_step) * train.batch_size
                           / max(time.perf_counter() - started, 1e-9))
            bar.set_postfix(nll=f'{metrics["subgoal_nll"]:.3f}',
                            huber=f'{metrics["distance_huber"]:.3f}', pairs_s=f'{pairs_per_s:.0f}')
            if self.step % 50 == 0:
                self._log('train', dict(metrics, pairs_per_s=pairs_per_s))
            last_step = self.step == stop
            if self.step % train.eval_every == 0 or last_step:
                validation = self.validate()
                self._log('validation', validation)
            if self.step % train.checkpoint_every == 0 or last_step:
                self.save(ckpt.LAST_CHECKPOINT, validation)
        bar.close()
        if not validation:
            validation = self.validate()
        summary = dict(validation, steps=self.step,
                       pairs_per_s=((self.step - first_step) * train.batch_size
                                    / max(time.perf_counter() - started, 1e-9)))
        (self.output_dir / 'summary.json').write_text(json.dumps(summary, indent=1))
        return summary


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--config', default=None, help='YAML configuration (default: defaults)')
    parser.add_argument('overrides', nargs='*', help='key.sub=value overrides, e.g. '
                        'train.steps=2000 data_path=data/play')
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in output_dir from its last checkpoint')
    parser.add_argument('--until', type=int, default=None,
                        help='stop (and checkpoint) after this step: one leg of the schedule')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the subgoal training CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0 when training finished, 1 when the loss diverged, 2 on a bad configuration or
        data.
    """
    args = parse_args(argv)
    try:
        config = load_config(args.config, args.overrides)
        trainer = SubgoalTrainer(config, args.resume, not args.no_progress)
    except (ValueError, FileNotFoundError, ckpt.CheckpointError) as error:
        print(f'subgoal train: {error}', file=sys.stderr)
        return 2
    try:
        summary = trainer.run(args.until)
    except FloatingPointError as error:
        print(f'subgoal train: stopped, {error}; the last good checkpoint is '
              f'{trainer.output_dir / ckpt.LAST_CHECKPOINT}', file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
