"""
Discretized logistic mixture (DLML) over actions, factorized over the action dimensions.

Each action dimension has its own mixture of K logistics, quantized to ``bins`` equally spaced
values over [low, high] (the PixelCNN++ likelihood, as in lukashermann/hulc and the seed).  All
parameter tensors have shape (B..., D, K): D action dimensions, K components.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F

# Targets this close to a bound take that bound's whole tail mass (the seed's threshold).
EDGE_TOLERANCE = 1e-3
# Below this bin probability the difference of sigmoids loses precision; use the density.
MIN_BIN_PROBABILITY = 1e-5
# Uniform noise is kept this far from 0 and 1 so that its logs stay finite (the seed's value).
NOISE_MARGIN = 1e-5


def dlml_log_prob(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                  target: torch.Tensor, bins: int = 256, low: float = -1.0, high: float = 1.0,
                  log_scale_min: float = -7.0) -> torch.Tensor:
    """
    Compute the log-probability of target actions, summed over the action dimensions.

    Per dimension and component, with s = max(log_scale, log_scale_min), c = target - mean and
    the half bin width h = (high - low) / 2 / (bins - 1): a target within 1e-3 of low gets the
    left tail mass log sigmoid((c + h) e^-s), one within 1e-3 of high the right tail mass
    -softplus((c - h) e^-s), any other the bin mass sigmoid((c + h) e^-s) - sigmoid((c - h) e^-s),
    or, where that is below 1e-5, the logistic density at c times the bin width.  Components are
    then mixed with softmax(logits).

    :param logits: (B..., D, K) unnormalized mixture log-weights.
    :param means: (B..., D, K) component locations.
    :param log_scales: (B..., D, K) component log-scales (clamped below at log_scale_min).
    :param target: (B..., D) actions in [low, high].
    :param bins: number of quantization levels over [low, high].
    :param low: lower bound of every action dimension.
    :param high: upper bound of every action dimension.
    :param log_scale_min: lower clamp of log_scales.
    :return: (B...,) log-probabilities.
    """
    log_scales = torch.clamp(log_scales, min=log_scale_min)
    inverse_scales = torch.exp(-log_scales)
    half_bin = (high - low) / 2.0 / (bins - 1)
    centered = target.unsqueeze(-1) - means
    plus_in = inverse_scales * (centered + half_bin)
    min_in = inverse_scales * (centered - half_bin)
    mid_in = inverse_scales * centered
    left_tail = F.logsigmoid(plus_in)
    right_tail = -F.softplus(min_in)
    bin_probability = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    bin_log_prob = torch.log(torch.clamp(bin_probability, min=1e-12))
    density_log_prob = (mid_in - log_scales - 2.0 * F.softplus(mid_in)
                        - math.log((bins - 1) / (high - low)))
    interior = torch.where(bin_probability > MIN_BIN_PROBABILITY, bin_log_prob, density_log_prob)
    target_k = target.unsqueeze(-1).expand_as(centered)
    component_log_prob = torch.where(
        target_k < low + EDGE_TOLERANCE, left_tail,
        torch.where(target_k > high - EDGE_TOLERANCE, right_tail, interior))
    mixed = torch.logsumexp(component_log_prob + F.log_softmax(logits, dim=-1), dim=-1)
    return mixed.sum(dim=-1)


def _uniform(shape: torch.Size, like: torch.Tensor,
             generator: Optional[torch.Generator]) -> torch.Tensor:
    """Draw U(NOISE_MARGIN, 1 - NOISE_MARGIN) noise of the given shape, dtype and device."""
    noise = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    return noise * (1.0 - 2.0 * NOISE_MARGIN) + NOISE_MARGIN


def dlml_sample(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                generator: Optional[torch.Generator] = None,
                component_noise: Optional[torch.Tensor] = None,
                logistic_noise: Optional[torch.Tensor] = None, low: float = -1.0,
                high: float = 1.0, log_scale_min: float = -7.0) -> torch.Tensor:
    """
    Draw actions: a Gumbel-max component choice, then a logistic sample, clipped to the bounds.

    Unlike the seed, the sample is clipped to [low, high] (an unclipped sample would reach the
    environment out of range) and the log-scale takes the same clamp as in the likelihood.

    :param logits: (B..., D, K) unnormalized mixture log-weights.
    :param means: (B..., D, K) component locations.
    :param log_scales: (B..., D, K) component log-scales.
    :param generator: torch generator used when noise is not given.
    :param component_noise: optional (B..., D, K) uniform noise in (0, 1) for the Gumbel-max.
    :param logistic_noise: optional (B..., D) uniform noise in (0, 1) for the logistic sample.
    :param low: lower bound of every action dimension.
    :param high: upper bound of every action dimension.
    :param log_scale_min: lower clamp of log_scales.
    :return: (B..., D) actions in [low, high].
    """
    if component_noise is None:
        component_noise = _uniform(logits.shape, logits, generator)
    if logistic_noise is None:
        logistic_noise = _uniform(logits.shape[:-1], logits, generator)
    gumbel = -torch.log(-torch.log(component_noise))
    component = torch.argmax(logits + gumbel, dim=-1, keepdim=True)
    mean = torch.gather(means, -1, component).squeeze(-1)
    log_scale = torch.gather(torch.clamp(log_scales, min=log_scale_min), -1,
                             component).squeeze(-1)
    sample = mean + torch.exp(log_scale) * (
        torch.log(logistic_noise) - torch.log1p(-logistic_noise))
    return torch.clamp(sample, low, high)


def dlml_mode(logits: torch.Tensor, means: torch.Tensor, low: float = -1.0,
              high: float = 1.0) -> torch.Tensor:
    """
    Return the deterministic action: the mean of each dimension's most likely component.

    :param logits: (B..., D, K) unnormalized mixture log-weights.
    :param means: (B..., D, K) component locations.
    :param low: lower bound of every action dimension.
    :param high: upper bound of every action dimension.
    :return: (B..., D) actions in [low, high].
    """
    component = torch.argmax(logits, dim=-1, keepdim=True)
    return torch.clamp(torch.gather(means, -1, component).squeeze(-1), low, high)
