"""Learning-rate schedules and the forward pass's precision, shared by the training scripts."""

import contextlib
import functools
import math

import torch

LR_SCHEDULES = ('constant', 'cosine')
PRECISIONS = ('fp32', 'bf16')


def scheduled_lr(schedule: str, step: int, steps: int, peak: float, final: float) -> float:
    """
    Return the learning rate of a step.

    :param schedule: 'constant' (peak throughout) or 'cosine' (from peak at step 0 to final at
        the last step).
    :param step: 0-based optimizer step.
    :param steps: total steps of the schedule.
    :param peak: the starting (or constant) learning rate.
    :param final: the cosine schedule's last learning rate.
    :return: the learning rate.
    :raises ValueError: for an unknown schedule.
    """
    if schedule == 'constant':
        return peak
    if schedule != 'cosine':
        raise ValueError(f'lr schedule must be one of {LR_SCHEDULES}, got {schedule!r}')
    progress = min(1.0, step / max(1, steps - 1))
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * progress))


@functools.lru_cache(maxsize=1)
def bf16_problem() -> str:
    """
    Try a tiny LSTM and linear layer, forward and backward, under CPU bf16 autocast.

    oneDNN runs the LSTM in bfloat16 only on CPUs with bfloat16 support (avx512_bf16 or AMX);
    elsewhere it fails with "could not create a primitive descriptor".

    :return: '' when bf16 works on this CPU, else why not.
    """
    lstm, linear = torch.nn.LSTM(4, 4, batch_first=True), torch.nn.Linear(4, 2)
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            output, _ = lstm(torch.zeros(2, 3, 4))
            loss = linear(output).float().sum()
        loss.backward()
    except RuntimeError as error:
        return str(error).splitlines()[0]
    return ''


def check_precision(precision: str) -> None:
    """
    Refuse a precision this machine cannot train in, before any step.

    :param precision: one of PRECISIONS.
    :raises ValueError: for an unknown precision, or bf16 on a CPU without bfloat16 support.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'bf16' and bf16_problem():
        raise ValueError(f'precision bf16 does not run on this CPU ({bf16_problem()}); '
                         'use train.precision=fp32')


def forward_precision(precision: str):
    """
    Return the context the forward pass runs in.

    :param precision: 'fp32' (no change) or 'bf16' (CPU autocast to bfloat16; the optimizer,
        the weights and the gradients stay float32).
    :return: a context manager.
    :raises ValueError: see check_precision.
    """
    check_precision(precision)
    if precision == 'fp32':
        return contextlib.nullcontext()
    return torch.autocast('cpu', dtype=torch.bfloat16)
