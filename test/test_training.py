"""Training end to end on a tiny generated dataset: logs, checkpoints, resume, divergence, DDP."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import List, Tuple

from play_lmp_training import checkpoint as ckpt
from play_lmp_training import train
import pytest
import torch
from training_fixtures import REPO_ROOT, tiny_arguments


def _state(run: Path) -> dict:
    """Load a run's last checkpoint."""
    return ckpt.load_checkpoint(run / ckpt.LAST_CHECKPOINT)


def _assert_same_weights(first: dict, second: dict) -> None:
    """Every tensor of two model state dicts is bit-identical."""
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


def test_a_run_writes_checkpoints_logs_and_the_latent_picture(tiny_play, tmp_path):
    """A few steps: last/best checkpoints with config and statistics, TensorBoard, PCA picture."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, steps=6,
                                     extra=['train.eval_every=3', 'train.checkpoint_every=3',
                                            'train.sim_check_every=6',
                                            'train.sim_check_episodes=2',
                                            'train.sim_check_steps=5'])) == 0
    state = _state(run)
    assert state['step'] == 6
    assert state['config'].model.d_latent == 8
    assert state['obs_mean'].shape == (39,) and (state['obs_std'] > 0).all()
    assert (run / ckpt.BEST_CHECKPOINT).is_file()
    assert list((run / 'tensorboard').glob('events.out.tfevents.*'))
    splits = {line.split('"split": "')[1].split('"')[0]
              for line in (run / 'metrics.jsonl').read_text().splitlines()}
    assert {'validation', 'sim_check'} <= splits
    assert (run / 'latent_pca.png').stat().st_size > 1000


def test_training_lowers_the_validation_loss(tiny_play, tmp_path):
    """Sixty steps on the tiny dataset lower the validation NLL well below the first one."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, method='gcbc', steps=60,
                                     extra=['train.eval_every=10', 'train.lr=3e-3'])) == 0
    lines = [line for line in (run / 'metrics.jsonl').read_text().splitlines()
             if '"validation"' in line]
    first = float(lines[0].split('"nll": ')[1].split(',')[0])
    last = float(lines[-1].split('"nll": ')[1].split(',')[0])
    assert last < first - 1.0


def _logged_steps(run: Path) -> List[Tuple[int, str]]:
    """Return the (step, split) of every metrics.jsonl line of a run, in order."""
    lines = (run / 'metrics.jsonl').read_text().splitlines()
    return [(entry['step'], entry['split']) for entry in map(json.loads, lines)]


def test_resume_after_a_kill_matches_an_uninterrupted_run(tiny_play, tmp_path):
    """SIGKILL a run after a checkpoint, resume it: the weights equal an uninterrupted run's."""
    killed = tmp_path / 'killed'
    # Validation every step, so that the killed run logs past its last checkpoint.
    extra = ['train.checkpoint_every=3', 'train.eval_every=1']
    command = [sys.executable, '-m', 'play_lmp_training.train',
               *tiny_arguments(tiny_play, killed, steps=100000, extra=extra)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (killed / ckpt.LAST_CHECKPOINT).exists():
            assert process.poll() is None, 'the training process ended early'
            assert time.monotonic() < deadline, 'no checkpoint within 180 s'
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    target = _state(killed)['step'] + 6
    assert train.main(tiny_arguments(tiny_play, killed, steps=target, extra=extra)
                      + ['--resume']) == 0
    straight = tmp_path / 'straight'
    assert train.main(tiny_arguments(tiny_play, straight, steps=target, extra=extra)) == 0
    assert _state(killed)['step'] == target
    # What the killed run logged after its checkpoint is dropped, not duplicated.
    assert _logged_steps(killed) == _logged_steps(straight)
    _assert_same_weights(_state(killed)['model'], _state(straight)['model'])
    _assert_same_weights(_state(killed)['optimizer']['state'][0],
                         _state(straight)['optimizer']['state'][0])


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_play, tmp_path, capsys):
    """Weights poisoned with NaN: exit 1 with a message, last.pt byte-identical."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, steps=2)) == 0
    state = torch.load(run / ckpt.LAST_CHECKPOINT, weights_only=False)
    state['model']['actor_head.bias'][:] = float('nan')
    ckpt.save_checkpoint(run / ckpt.LAST_CHECKPOINT, state)
    before = (run / ckpt.LAST_CHECKPOINT).read_bytes()
    assert train.main(tiny_arguments(tiny_play, run, steps=4) + ['--resume']) == 1
    assert 'loss is nan at step 3' in capsys.readouterr().err
    assert (run / ckpt.LAST_CHECKPOINT).read_bytes() == before


def test_bad_runs_are_refused_with_their_reason(tiny_play, tmp_path, capsys):
    """An existing run without --resume, a changed config, a window longer than the data."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, steps=2)) == 0
    assert train.main(tiny_arguments(tiny_play, run, steps=4)) == 2
    assert 'already holds a run' in capsys.readouterr().err
    assert train.main(tiny_arguments(tiny_play, run, steps=4,
                                     extra=['train.lr=1e-3']) + ['--resume']) == 2
    assert 'differs in train.lr' in capsys.readouterr().err
    assert train.main(tiny_arguments(tiny_play, tmp_path / 'long', steps=2,
                                     extra=['train.window=500'])) == 2
    assert 'dataset too small for the window' in capsys.readouterr().err
    assert train.main(tiny_arguments(tmp_path / 'nowhere', tmp_path / 'x', steps=2)) == 2
    assert 'nowhere' in capsys.readouterr().err


def test_a_checkpoint_of_another_layout_is_refused(tiny_play, tmp_path):
    """A checkpoint stamped with another layout hash, or a corrupt file: a named error."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, steps=1)) == 0
    path = run / ckpt.LAST_CHECKPOINT
    state = torch.load(path, weights_only=True)
    state['layout_hash'] = 'f' * 16
    torch.save(state, path)
    with pytest.raises(ckpt.CheckpointError, match='observation layout'):
        ckpt.load_checkpoint(path)
    path.write_bytes(b'not a checkpoint')
    with pytest.raises(ckpt.CheckpointError, match='corrupt'):
        ckpt.load_checkpoint(path)


class _RunsAShellCommand:
    """Pickles as a call of os.system: what a crafted checkpoint carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_a_crafted_checkpoint_is_refused_without_running_it(tiny_play, tmp_path):
    """A .pt whose pickle calls os.system: a CheckpointError naming it; the command never ran."""
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(tiny_play, run, steps=1)) == 0
    path = run / ckpt.LAST_CHECKPOINT
    state = torch.load(path, weights_only=True)    # the real checkpoint is weights-only
    state['metrics'] = {'payload': _RunsAShellCommand(tmp_path / 'code-ran')}
    crafted = tmp_path / 'crafted.pt'
    torch.save(state, crafted)
    with pytest.raises(ckpt.CheckpointError, match='crafted.pt'):
        ckpt.load_checkpoint(crafted)
    assert not (tmp_path / 'code-ran').exists()


def test_ddp_with_two_cpu_processes(tiny_play, tmp_path):
    """Two gloo processes under torchrun train, and the checkpoint holds both ranks' states."""
    run = tmp_path / 'ddp'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
         '-m', 'play_lmp_training.train', *tiny_arguments(tiny_play, run, steps=4)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[:3000] + '\n...\n' + result.stderr[-2000:]
    state = _state(run)
    assert state['step'] == 4
    assert len(state['sampler_rng']) == 2 and len(state['torch_rng']) == 2
    assert state['sampler_rng'][0] != state['sampler_rng'][1]
