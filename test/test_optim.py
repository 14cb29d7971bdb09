"""Learning-rate schedules and bf16 forward passes of the training entry points."""

import math

from play_lmp_training import checkpoint as ckpt, optim, train
from play_lmp_training.play_lmp.configuration import load_config
import pytest
import torch
from training_fixtures import CPU_DEFAULT, tiny_arguments


def test_cosine_schedule_runs_from_peak_to_final_and_constant_stays():
    lrs = [optim.scheduled_lr('cosine', step, 11, 1e-3, 1e-5) for step in range(11)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-5)
    assert lrs[5] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert optim.scheduled_lr('constant', 7, 11, 1e-3, 1e-5) == 1e-3
    with pytest.raises(ValueError, match='schedule'):
        optim.scheduled_lr('step', 0, 1, 1e-3, 0.0)


def test_bf16_forward_is_autocast_and_fp32_is_not():
    """bf16 autocasts where this CPU runs it (else is refused by name); fp32 changes nothing."""
    layer = torch.nn.Linear(4, 4)
    if optim.bf16_problem():
        with pytest.raises(ValueError, match='precision bf16 does not run on this CPU'):
            optim.forward_precision('bf16')
    else:
        with optim.forward_precision('bf16'):
            assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with optim.forward_precision('fp32'):
        assert layer(torch.ones(1, 4)).dtype == torch.float32
    with pytest.raises(ValueError, match='precision'):
        optim.forward_precision('fp8')


@pytest.mark.parametrize('override, message', [
    ('train.lr_schedule=linear', 'lr_schedule'),
    ('train.lr_final=1.0', 'lr_final'),
    ('train.precision=half', 'precision'),
])
def test_config_rejects_bad_schedules_and_precisions(override, message):
    with pytest.raises(ValueError, match=message):
        load_config(CPU_DEFAULT, [override])


def test_bf16_cosine_run_trains_and_logs_the_decayed_rate(tiny_play, tmp_path, capsys):
    """bf16 trains where the CPU runs it; elsewhere the run is refused before any step."""
    run = tmp_path / 'run'
    arguments = tiny_arguments(tiny_play, run, steps=3, extra=[
        'train.precision=bf16', 'train.lr_schedule=cosine', 'train.lr_final=0.0'])
    if optim.bf16_problem():
        # A CPU without bfloat16 support (no avx512_bf16 or AMX): oneDNN has no bf16 LSTM.
        assert train.main(arguments) != 0
        assert 'precision bf16 does not run on this CPU' in capsys.readouterr().err
        assert not (run / ckpt.LAST_CHECKPOINT).exists()
        return
    assert train.main(arguments) == 0
    state = ckpt.load_checkpoint(run / ckpt.LAST_CHECKPOINT)
    assert state['step'] == 3
    assert all(math.isfinite(float(value.abs().sum())) for value in state['model'].values())
    # The optimizer's last step ran at the cosine's last rate.
    assert state['optimizer']['param_groups'][0]['lr'] == pytest.approx(0.0, abs=1e-12)
