"""
Discretized logistic mixture (DLML) over actions, factorized over the action dimensions.

Each action dimension has its own mixture of K logistics, quantized to ``bins`` equally spaced
values over [low, high] (the PixelCNN++ likelihood, as in lukashermann/hulc and the seed).  All
parameter tensors have shape (B..., D, K): D action dimensions, K components.

This is the training side (the likelihood); actions are drawn by the one sampler that every
policy runs, play_lmp_ros.core.policy.sample_dlml, with the same log-scale clamp.
"""

import math

from play_lmp_ros.core.policy import DLML_LOG_SCALE_MIN
import torch
import torch.nn.functional as F

# Targets this close to a bound take that bound's whole tail mass (the seed's threshold).
EDGE_TOLERANCE = 1e-3
# Below this bin probability the difference of sigmoids loses precision; use the density.
MIN_BIN_PROBABILITY = 1e-5


def dlml_log_prob(logits: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor,
                  target: torch.Tensor, bins: int = 256, low: float = -1.0, high: float = 1.0,
                  log_scale_min: float = DLML_LOG_SCALE_MIN) -> torch.Tensor:
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
