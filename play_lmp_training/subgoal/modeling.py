"""
The subgoal proposer and the k-step distance model, in PyTorch.

The proposer is a Gaussian mixture over the state k steps ahead; the distance model predicts the
steps between two states, with its gradients with respect to both.

Both share the actor's observation encodings (play_lmp_training.play_lmp.modeling.StateFeatures),
so a state means the same to every network.  The distance model computes its gradients with respect
to both states by explicit backpropagation through its layers (ELU MLP and the encodings), so that
an exported graph carries them: the planner in play_lmp_ros.core.subgoals optimises subgoal chains
with them in numpy.
"""

from typing import Dict, List, Mapping, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.play_lmp.modeling import (ANGLE_DIMS, FEATURE_DIM, LINEAR_DIMS,
                                                 RELATIVE_DIM, StateFeatures)
from play_lmp_training.subgoal.configuration import SubgoalModelConfig
import torch
from torch import nn
import torch.nn.functional as F

Tensor = torch.Tensor
# Mixture scales are softplus(raw) + this, in units of each dimension's std.
MIN_SCALE = 1e-3
# log(2 pi) / 2, the Gaussian's normalising constant per dimension.
HALF_LOG_TWO_PI = 0.5 * float(np.log(2.0 * np.pi))


def _mlp(width_in: int, width: int, depth: int) -> nn.ModuleList:
    """Return depth Linear layers, the first from width_in, the others width to width."""
    return nn.ModuleList(nn.Linear(width_in if index == 0 else width, width)
                         for index in range(depth))


class SubgoalProposer(StateFeatures):
    """
    p(s_{t+k} | s_t, g): a diagonal Gaussian mixture over the wrapped change of the state.

    With config.subgoal_part 'robot' the mixture covers the robot part only; the subgoal's
    scene part is the goal's or the state's (config.subgoal_scene; every component's mean, at
    MIN_SCALE).
    """

    def __init__(self, config: SubgoalModelConfig):
        """
        Build the network.

        :param config: the architecture.
        """
        super().__init__()
        self.config = config
        width_in = 2 * FEATURE_DIM + (RELATIVE_DIM if config.relative_features else 0)
        # The dimensions the mixture covers: all 39, or the first ROBOT_OBS_DIM.
        self.predicted_dim = (layout.ROBOT_OBS_DIM if config.subgoal_part == 'robot'
                              else layout.OBS_DIM)
        self.hidden = _mlp(width_in, config.width, config.depth)
        self.head = nn.Linear(config.width, config.mixtures * (1 + 2 * self.predicted_dim))
        self.register_buffer('angle_mask', torch.zeros(self.predicted_dim), persistent=False)
        self.angle_mask[[dim for dim in ANGLE_DIMS if dim < self.predicted_dim]] = 1.0

    def _normalized_mixture(self, obs: Tensor, goal: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Return logits (B, M), mean change and scale (B, M, D) in units of the obs std."""
        if self.config.goal_input == 'scene':
            goal = torch.cat([obs[..., :layout.ROBOT_OBS_DIM], goal[..., layout.ROBOT_OBS_DIM:]],
                             dim=-1)
        hidden = self.pair_features(obs, goal, self.config.relative_features)
        for layer in self.hidden:
            hidden = F.elu(layer(hidden))
        raw = self.head(hidden)
        mixtures = self.config.mixtures
        logits = raw[..., :mixtures]
        rest = raw[..., mixtures:].unflatten(-1, (mixtures, 2, self.predicted_dim))
        return logits, rest[..., 0, :], F.softplus(rest[..., 1, :]) + MIN_SCALE

    def mixture(self, obs: Tensor, goal: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """
        Compute the mixture over the subgoal in raw state units.

        :param obs: (B, 39) current states.
        :param goal: (B, 39) far goals.
        :return: logits (B, M) (log-weights up to a constant), means (B, M, 39) (the state plus
            the predicted change; angles may leave [-pi, pi), wrap them after sampling) and
            scales (B, M, 39) > 0, in the units of each dimension.
        """
        logits, change, scale = self._normalized_mixture(obs, goal)
        predicted = self.predicted_dim
        means = obs[..., :predicted].unsqueeze(-2) + change * self.obs_std[:predicted]
        scales = scale * self.obs_std[:predicted]
        if predicted < layout.OBS_DIM:
            source = goal if self.config.subgoal_scene == 'goal' else obs
            rest = source[..., predicted:].unsqueeze(-2).expand(*means.shape[:-1], -1)
            means = torch.cat([means, rest], dim=-1)
            scales = torch.cat([scales, MIN_SCALE * self.obs_std[predicted:].expand_as(rest)],
                               dim=-1)
        return logits, means, scales

    def log_prob(self, obs: Tensor, goal: Tensor, subgoal: Tensor) -> Tensor:
        """
        Log-likelihood of subgoals, in units of the obs std (so every dimension weighs alike).

        :param obs: (B, 39) states.
        :param goal: (B, 39) far goals.
        :param subgoal: (B, 39) the states k steps later.
        :return: (B,) log-densities of the normalised, angle-wrapped change of the predicted
            dimensions (predicted_dim of them).
        """
        logits, change, scale = self._normalized_mixture(obs, goal)
        predicted = self.predicted_dim
        delta = subgoal[..., :predicted] - obs[..., :predicted]
        wrapped = torch.remainder(delta + np.pi, 2.0 * np.pi) - np.pi
        delta = torch.where(self.angle_mask > 0, wrapped, delta) / self.obs_std[:predicted]
        z = (delta.unsqueeze(-2) - change) / scale
        per_component = -(0.5 * z.square() + torch.log(scale) + HALF_LOG_TWO_PI).sum(-1)
        return torch.logsumexp(F.log_softmax(logits, dim=-1) + per_component, dim=-1)


class DistanceModel(StateFeatures):
    """d(a, b): the steps play takes from state a to state b (up to max_goal_distance)."""

    def __init__(self, config: SubgoalModelConfig):
        """
        Build the network.

        :param config: the architecture.
        """
        super().__init__()
        self.config = config
        self.hidden = _mlp(2 * FEATURE_DIM, config.distance_width, config.distance_depth)
        self.head = nn.Linear(config.distance_width, 1)
        order = list(LINEAR_DIMS) + list(ANGLE_DIMS)
        self.register_buffer('feature_order_inverse', torch.tensor(np.argsort(order)),
                             persistent=False)

    def _head_input(self, first: Tensor, second: Tensor) -> Tuple[Tensor, List[Tensor]]:
        """Run the hidden layers; return the last activation and every pre-activation."""
        hidden = torch.cat([self.observation_features(first),
                            self.observation_features(second)], dim=-1)
        pre_activations = []
        for layer in self.hidden:
            pre = layer(hidden)
            pre_activations.append(pre)
            hidden = F.elu(pre)
        return hidden, pre_activations

    def forward(self, first: Tensor, second: Tensor) -> Tensor:
        """
        Predict the steps from first to second.

        :param first: (B, 39) states.
        :param second: (B, 39) states.
        :return: (B,) predicted steps >= 0.
        """
        hidden, _ = self._head_input(first, second)
        return F.softplus(self.head(hidden).squeeze(-1)) * self.config.horizon

    def _feature_gradient(self, obs: Tensor, gradient: Tensor) -> Tensor:
        """Map a gradient over observation_features (B, 51) back to the raw state (B, 39)."""
        linear_count, angle_count = len(LINEAR_DIMS), len(ANGLE_DIMS)
        linear = gradient[..., :linear_count] / self.obs_std[self.linear_dims]
        angles = obs.index_select(-1, self.angle_dims)
        sines = gradient[..., linear_count:linear_count + angle_count]
        cosines = gradient[..., linear_count + angle_count:]
        angle = sines * torch.cos(angles) - cosines * torch.sin(angles)
        return torch.cat([linear, angle], dim=-1).index_select(-1, self.feature_order_inverse)

    def steps_and_gradients(self, first: Tensor, second: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """
        Predict the steps and their gradients with respect to both states, without autograd.

        :param first: (B, 39) states.
        :param second: (B, 39) states.
        :return: steps (B,), d steps / d first (B, 39) and d steps / d second (B, 39).
        """
        hidden, pre_activations = self._head_input(first, second)
        out = self.head(hidden).squeeze(-1)
        steps = F.softplus(out) * self.config.horizon
        gradient = (torch.sigmoid(out) * self.config.horizon).unsqueeze(-1) * self.head.weight
        for layer, pre in zip(reversed(self.hidden), reversed(pre_activations)):
            # ELU's derivative: 1 above zero, exp(x) below.
            gradient = gradient * torch.where(pre > 0, torch.ones_like(pre), torch.exp(pre))
            gradient = gradient @ layer.weight
        return (steps, self._feature_gradient(first, gradient[..., :FEATURE_DIM]),
                self._feature_gradient(second, gradient[..., FEATURE_DIM:]))


class SubgoalModels(nn.Module):
    """The proposer and the distance model, trained together on one batch of pairs."""

    def __init__(self, config: SubgoalModelConfig):
        """:param config: the architecture."""
        super().__init__()
        self.config = config
        self.proposer = SubgoalProposer(config)
        self.distance = DistanceModel(config)

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        """
        Set both networks' observation statistics.

        :param mean: (39,) per-dim mean.
        :param std: (39,) per-dim std > 0.
        """
        self.proposer.set_normalization(mean, std)
        self.distance.set_normalization(mean, std)

    def forward(self, batch: Mapping[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """
        Compute the training loss: proposer NLL per dimension plus the distance Huber loss.

        :param batch: a PairSampler batch as float32 tensors.
        :return: the scalar loss and detached metrics 'loss', 'subgoal_nll' (per dimension)
            and 'distance_huber' (in units of the horizon).
        """
        nll = -self.proposer.log_prob(batch['obs'], batch['goal'], batch['subgoal']).mean()
        nll = nll / self.proposer.predicted_dim
        horizon = float(self.config.horizon)
        predicted = self.distance(batch['first'], batch['second'])
        huber = F.huber_loss(predicted / horizon, batch['steps'] / horizon)
        loss = nll + huber
        return loss, {'loss': loss.detach(), 'subgoal_nll': nll.detach(),
                      'distance_huber': huber.detach()}

    @torch.no_grad()
    def validation_metrics(self, batch: Mapping[str, Tensor]) -> Dict[str, float]:
        """
        Evaluate one batch: losses, the distance error in steps and the subgoal mode's errors.

        The mode is the mean of the most likely component (one component for every dimension).

        :param batch: a PairSampler batch as float32 tensors.
        :return: 'loss', 'subgoal_nll', 'distance_huber', 'distance_mae_steps',
            'subgoal_tcp_error_m' (TCP position of the mode against the true subgoal) and
            'subgoal_scene_error' (mean absolute error over the scene dims, raw units).
        """
        _, metrics = self.forward(batch)
        result = {key: float(value) for key, value in metrics.items()}
        predicted = self.distance(batch['first'], batch['second'])
        result['distance_mae_steps'] = float((predicted - batch['steps']).abs().mean())
        logits, means, _ = self.proposer.mixture(batch['obs'], batch['goal'])
        best = logits.argmax(dim=-1)
        mode = means[torch.arange(len(best)), best]
        error = (mode - batch['subgoal']).abs()
        result['subgoal_tcp_error_m'] = float(
            (mode[:, layout.TCP_POS] - batch['subgoal'][:, layout.TCP_POS]).norm(dim=-1).mean())
        result['subgoal_scene_error'] = float(error[:, layout.ROBOT_OBS_DIM:].mean())
        return result
