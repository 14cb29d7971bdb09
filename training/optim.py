"""Learning-rate schedules and the forward pass's precision, shared by the training scripts."""

import contextlib
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


def forward_precision(precision: str):
    """
    Return the context the forward pass runs in.

    :param precision: 'fp32' (no change) or 'bf16' (CPU autocast to bfloat16; the optimizer,
        the weights and the gradients stay float32).
    :return: a context manager.
    :raises ValueError: for an unknown precision.
    """
    if precision == 'fp32':
        return contextlib.nullcontext()
    if precision != 'bf16':
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    return torch.autocast('cpu', dtype=torch.bfloat16)
