"""
Play-LMP and Play-GCBC (Lynch et al.) on CALVIN's 39-D state, in PyTorch.

The architecture follows the seed (jongoiko/play-lmp): a bidirectional LSTM plan recognizer with
time-mean pooling, an MLP plan proposal, and an LSTM actor with a discretized logistic mixture
head.  It departs from the seed where the seed is wrong: observation angles enter as (sin, cos)
pairs instead of wrapping z-scores, normalization statistics are buffers that the optimizer never
sees, everything stays float32, and Play-GCBC has no plan at all instead of a zero-width one.
"""

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.windows import ACTIONS_KEY, GOAL_KEY, MASK_KEY, OBS_KEY
from play_lmp_training.play_lmp.configuration import ACTION_HIGH, ACTION_LOW, ModelConfig
from play_lmp_training.play_lmp.distributions import dlml_log_prob
import torch
from torch import nn
from torch.distributions import kl_divergence, Normal
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# The window batch's keys the model reads (play_lmp_training.calvin_dataset.windows owns them).
MODEL_KEYS = (OBS_KEY, ACTIONS_KEY, MASK_KEY, GOAL_KEY)

ANGLE_DIMS = tuple(layout.ANGLE_DIMS)
LINEAR_DIMS = tuple(i for i in range(layout.OBS_DIM) if i not in ANGLE_DIMS)
# z-scored non-angle dims, then sin and cos of every angle.
FEATURE_DIM = len(LINEAR_DIMS) + 2 * len(ANGLE_DIMS)
TCP_POSITION_DIMS = tuple(range(layout.TCP_POS.start, layout.TCP_POS.stop))
BLOCK_POSITION_DIMS = tuple(
    layout.ROBOT_OBS_DIM + layout.block_slice(block).start + axis
    for block in range(len(layout.BLOCK_NAMES)) for axis in range(3))
# Relative features: the goal-minus-observation features (FEATURE_DIM), then every block's xyz
# minus the TCP's in the observation and in the goal.
RELATIVE_DIM = FEATURE_DIM + 2 * len(BLOCK_POSITION_DIMS)
# Block-to-TCP offsets in metres times this: a 10 cm reach becomes 1.
RELATIVE_POSITION_SCALE = 10.0
# Gaussian scales are softplus(raw) + this, so that they never reach 0 (the seed's value).
MIN_SCALE = 1e-8
# Standard deviations below this are treated as constant dimensions and left unscaled.
STD_FLOOR = 1e-6

Tensor = torch.Tensor
Batch = Mapping[str, Tensor]


def normalization_from_data(obs: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Compute z-score statistics of the non-angle observation dims.

    :param obs: (N, 39) observations (valid frames only).
    :return: mean (39,) and std (39,) float32; angle dims get mean 0 and std 1 (they are
        encoded as sin/cos, not z-scored), and a std below 1e-6 becomes 1.
    :raises ValueError: on a wrongly shaped, empty or non-finite array.
    """
    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim != 2 or obs.shape[1] != layout.OBS_DIM or len(obs) == 0:
        raise ValueError(f'obs must have shape (N>0, {layout.OBS_DIM}), got {obs.shape}')
    if not np.all(np.isfinite(obs)):
        raise ValueError('obs holds non-finite values')
    mean = obs.mean(axis=0)
    std = obs.std(axis=0)
    std = np.where(std < STD_FLOOR, 1.0, std)
    mean[list(ANGLE_DIMS)] = 0.0
    std[list(ANGLE_DIMS)] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def batch_to_torch(batch: Mapping[str, np.ndarray],
                   device: Optional[torch.device] = None) -> Dict[str, Tensor]:
    """
    Convert the model's keys of a numpy window batch to torch tensors.

    :param batch: a WindowSampler batch: obs (B, T, 39), actions (B, T, 7), mask (B, T) bool,
        goal (B, 39).
    :param device: target device (default CPU).
    :return: obs, actions, goal as float32 and mask as bool tensors.
    """
    converted = {key: torch.as_tensor(np.asarray(batch[key]), device=device)
                 for key in MODEL_KEYS}
    for key in (OBS_KEY, ACTIONS_KEY, GOAL_KEY):
        converted[key] = converted[key].float()
    converted[MASK_KEY] = converted[MASK_KEY].bool()
    return converted


class StateFeatures(nn.Module):
    """
    The observation encodings every network of this package shares, with their statistics.

    z-scored non-angle dims and (sin, cos) of the angles, and optionally where the goal and the
    blocks lie relative to the current state.  The statistics are buffers that the optimizer
    never sees and that the ONNX export bakes into the graphs.
    """

    def __init__(self):
        """Start with identity statistics (mean 0, std 1)."""
        super().__init__()
        self.register_buffer('obs_mean', torch.zeros(layout.OBS_DIM))
        self.register_buffer('obs_std', torch.ones(layout.OBS_DIM))
        self.register_buffer('linear_dims', torch.tensor(LINEAR_DIMS), persistent=False)
        self.register_buffer('angle_dims', torch.tensor(ANGLE_DIMS), persistent=False)
        self.register_buffer('block_position_dims', torch.tensor(BLOCK_POSITION_DIMS),
                             persistent=False)
        self.register_buffer('tcp_position_dims',
                             torch.tensor(TCP_POSITION_DIMS * len(layout.BLOCK_NAMES)),
                             persistent=False)

    def set_normalization(self, mean: np.ndarray, std: np.ndarray) -> None:
        """
        Set the observation z-score statistics (used for the non-angle dims only).

        :param mean: (39,) per-dim mean.
        :param std: (39,) per-dim std, every entry > 0.
        :raises ValueError: on wrong shapes, non-finite values or a std <= 0.
        """
        mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        std = torch.as_tensor(np.asarray(std), dtype=torch.float32)
        if mean.shape != (layout.OBS_DIM,) or std.shape != (layout.OBS_DIM,):
            raise ValueError(f'mean and std must have shape ({layout.OBS_DIM},), got '
                             f'{tuple(mean.shape)} and {tuple(std.shape)}')
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ValueError('mean and std must be finite and std > 0')
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(std)

    def observation_features(self, obs: Tensor) -> Tensor:
        """
        Encode observations: z-scored non-angle dims, then sin and cos of the 12 angles.

        :param obs: (..., 39) raw observations.
        :return: (..., 51) features, continuous across the +-pi wrap of every angle.
        """
        linear = (obs.index_select(-1, self.linear_dims)
                  - self.obs_mean[self.linear_dims]) / self.obs_std[self.linear_dims]
        angles = obs.index_select(-1, self.angle_dims)
        return torch.cat([linear, torch.sin(angles), torch.cos(angles)], dim=-1)

    def relative_features(self, obs: Tensor, goal: Tensor) -> Tensor:
        """
        Encode where the goal and the blocks lie relative to the current state.

        :param obs: (..., 39) raw observations.
        :param goal: (..., 39) raw goals, broadcastable against obs.
        :return: (..., 69): the goal-minus-observation non-angle dims divided by their std, sin
            and cos of the 12 wrapped angle differences, then each block's xyz minus the TCP's
            in the observation and in the goal, times RELATIVE_POSITION_SCALE.
        """
        goal = goal.expand_as(obs)
        difference = goal - obs
        linear = difference.index_select(-1, self.linear_dims) / self.obs_std[self.linear_dims]
        angles = difference.index_select(-1, self.angle_dims)
        tcp = obs.index_select(-1, self.tcp_position_dims)
        blocks_now = obs.index_select(-1, self.block_position_dims) - tcp
        blocks_goal = goal.index_select(-1, self.block_position_dims) - tcp
        return torch.cat([linear, torch.sin(angles), torch.cos(angles),
                          RELATIVE_POSITION_SCALE * blocks_now,
                          RELATIVE_POSITION_SCALE * blocks_goal], dim=-1)

    def pair_features(self, obs: Tensor, goal: Tensor, relative: bool) -> Tensor:
        """
        Encode an observation together with its goal.

        :param obs: (..., 39) raw observations.
        :param goal: (..., 39) raw goals, broadcastable against obs.
        :param relative: append the relative features.
        :return: (..., 102), or (..., 171) with relative features: the observation's and the
            goal's features, then the relative features if asked for.
        """
        goal = goal.expand_as(obs)
        parts = [self.observation_features(obs), self.observation_features(goal)]
        if relative:
            parts.append(self.relative_features(obs, goal))
        return torch.cat(parts, dim=-1)


class PlayLMP(StateFeatures):
    """Play-LMP (method 'lmp') or Play-GCBC (method 'gcbc') with a DLML action head."""

    def __init__(self, config: ModelConfig):
        """
        Build the networks.

        :param config: the architecture; 'gcbc' builds the actor alone, without a plan input.
        """
        super().__init__()
        self.config = config
        plan_dim = config.d_latent if config.uses_plan else 0
        condition_dim = 2 * FEATURE_DIM + (RELATIVE_DIM if config.relative_features else 0)
        if config.uses_plan:
            self.recognizer = nn.LSTM(FEATURE_DIM + layout.ACTION_DIM, config.recognizer_hidden,
                                      batch_first=True, bidirectional=True)
            self.recognizer_head = nn.Linear(2 * config.recognizer_hidden, 2 * config.d_latent)
            layers = []
            width = condition_dim
            for _ in range(config.proposal_depth):
                layers += [nn.Linear(width, config.proposal_width), nn.ReLU()]
                width = config.proposal_width
            layers.append(nn.Linear(width, 2 * config.d_latent))
            self.proposal = nn.Sequential(*layers)
        self.actor = nn.LSTM(condition_dim + plan_dim, config.policy_hidden, batch_first=True)
        self.actor_head = nn.Linear(config.policy_hidden,
                                    3 * layout.ACTION_DIM * config.mixtures)

    def num_parameters(self) -> int:
        """Count the trainable parameters (buffers excluded)."""
        return sum(parameter.numel() for parameter in self.parameters())

    def conditioning_features(self, obs: Tensor, goal: Tensor) -> Tensor:
        """
        Encode an observation together with its goal, as the proposal and the actor see them.

        :param obs: (..., 39) raw observations.
        :param goal: (..., 39) raw goals, broadcastable against obs.
        :return: (..., 102), or (..., 171) with relative features (see pair_features).
        """
        return self.pair_features(obs, goal, self.config.relative_features)

    @staticmethod
    def _gaussian(raw: Tensor) -> Tuple[Tensor, Tensor]:
        """Split (..., 2d) into a mean (..., d) and a scale softplus(raw) + 1e-8 (..., d)."""
        mean, raw_scale = raw.chunk(2, dim=-1)
        return mean, F.softplus(raw_scale) + MIN_SCALE

    def _require_plan(self) -> None:
        """Raise ValueError if the model has no latent plan (method 'gcbc')."""
        if not self.config.uses_plan:
            raise ValueError("method 'gcbc' has no latent plan")

    def recognize_plan(self, obs: Tensor, actions: Tensor,
                       mask: Tensor) -> Tuple[Tensor, Tensor]:
        """
        Infer the posterior over plans from a whole window (method 'lmp').

        :param obs: (B, T, 39) observations.
        :param actions: (B, T, 7) actions.
        :param mask: (B, T) bool, a prefix of valid steps per row, at least one.
        :return: mean and scale of the diagonal Gaussian posterior, each (B, d_latent).
        :raises ValueError: for method 'gcbc'.
        """
        self._require_plan()
        lengths = mask.sum(dim=1)
        inputs = torch.cat([self.observation_features(obs), actions], dim=-1)
        # Packing makes the backward direction start at each window's last valid step.
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        outputs, _ = self.recognizer(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=obs.shape[1])
        weights = mask.unsqueeze(-1).to(outputs.dtype)
        pooled = (outputs * weights).sum(dim=1) / lengths.unsqueeze(-1).to(outputs.dtype)
        return self._gaussian(self.recognizer_head(pooled))

    def propose_plan(self, obs: Tensor, goal: Tensor) -> Tuple[Tensor, Tensor]:
        """
        Compute the prior over plans from the current observation and the goal (method 'lmp').

        :param obs: (B, 39) current (first) observation.
        :param goal: (B, 39) goal observation.
        :return: mean and scale of the diagonal Gaussian prior, each (B, d_latent).
        :raises ValueError: for method 'gcbc'.
        """
        self._require_plan()
        return self._gaussian(self.proposal(self.conditioning_features(obs, goal)))

    def _actor_inputs(self, obs: Tensor, goal: Tensor, plan: Optional[Tensor]) -> Tensor:
        """Concatenate per-step conditioning features of obs (B, T, 39) and goal, and the plan."""
        steps = obs.shape[1]
        parts = [self.conditioning_features(obs, goal.unsqueeze(1))]
        if self.config.uses_plan:
            if plan is None:
                raise ValueError("method 'lmp' needs a plan")
            parts.append(plan.unsqueeze(1).expand(-1, steps, -1))
        return torch.cat(parts, dim=-1)

    def _action_parameters(self, hidden: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Map actor outputs (..., H) to DLML logits, means and log-scales, each (..., 7, K)."""
        raw = self.actor_head(hidden).unflatten(
            -1, (3, layout.ACTION_DIM, self.config.mixtures))
        return raw[..., 0, :, :], raw[..., 1, :, :], raw[..., 2, :, :]

    def action_distribution(self, obs: Tensor, goal: Tensor, plan: Optional[Tensor] = None,
                            state: Optional[Tuple[Tensor, Tensor]] = None
                            ) -> Tuple[Tensor, Tensor, Tensor]:
        """
        Run the actor over a whole window.

        :param obs: (B, T, 39) observations.
        :param goal: (B, 39) goal observation.
        :param plan: (B, d_latent) plan for 'lmp'; ignored (may be None) for 'gcbc'.
        :param state: optional initial (h, c), each (B, policy_hidden); zeros if None.
        :return: DLML logits, means and log-scales, each (B, T, 7, K).
        """
        inputs = self._actor_inputs(obs, goal, plan)
        lstm_state = None if state is None else (state[0].unsqueeze(0), state[1].unsqueeze(0))
        hidden, _ = self.actor(inputs, lstm_state)
        return self._action_parameters(hidden)

    def initial_state(self, batch_size: int) -> Tuple[Tensor, Tensor]:
        """
        Return the actor's zero recurrent state.

        :param batch_size: B.
        :return: h and c, each (B, policy_hidden) float32.
        """
        zeros = self.obs_mean.new_zeros(batch_size, self.config.policy_hidden)
        return zeros, zeros.clone()

    def step(self, obs: Tensor, goal: Tensor, plan: Optional[Tensor], h: Tensor,
             c: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """
        Advance the actor by one control step with explicit recurrent state.

        :param obs: (B, 39) current observation.
        :param goal: (B, 39) goal observation.
        :param plan: (B, d_latent) plan for 'lmp'; ignored (may be None) for 'gcbc'.
        :param h: (B, policy_hidden) hidden state.
        :param c: (B, policy_hidden) cell state.
        :return: logits, means, log-scales, each (B, 7, K), then the new h and c.
        """
        inputs = self._actor_inputs(obs.unsqueeze(1), goal, plan)
        hidden, (h_next, c_next) = self.actor(inputs, (h.unsqueeze(0), c.unsqueeze(0)))
        logits, means, log_scales = self._action_parameters(hidden.squeeze(1))
        return logits, means, log_scales, h_next.squeeze(0), c_next.squeeze(0)

    def _step_log_prob(self, batch: Batch, plan: Optional[Tensor]) -> Tensor:
        """Return the (B, T) action log-likelihood of every step of the batch's windows."""
        logits, means, log_scales = self.action_distribution(batch[OBS_KEY], batch[GOAL_KEY],
                                                             plan)
        return dlml_log_prob(logits, means, log_scales, batch[ACTIONS_KEY], self.config.bins,
                             ACTION_LOW, ACTION_HIGH, self.config.log_scale_min)

    @staticmethod
    def _lengths(mask: Tensor) -> Tensor:
        """Return the (B,) float number of valid steps per window, checking each has one."""
        lengths = mask.sum(dim=1)
        if bool((lengths == 0).any()):
            raise ValueError('every window needs at least one valid step')
        return lengths.to(torch.float32)

    def forward(self, batch: Batch, beta: float = 0.01) -> Tuple[Tensor, Dict[str, Tensor]]:
        """
        Compute the training loss of a batch of windows.

        'lmp': mean over windows of (-mean over valid steps of log p(a_t | s_t, g, z) + beta *
        KL(posterior || prior) summed over latent dims), z ~ posterior (reparameterized).
        'gcbc': -sum over valid steps of log p(a_t | s_t, g), divided by the number of valid
        steps in the batch.

        :param batch: obs (B, T, 39), actions (B, T, 7), mask (B, T) bool with a non-empty
            prefix of valid steps per row, goal (B, 39); float32 tensors.
        :param beta: KL weight ('lmp' only).
        :return: the scalar loss and detached metrics 'loss', 'nll' (per valid step) and 'kl'
            (per window; 0 for 'gcbc').
        """
        mask = batch[MASK_KEY]
        lengths = self._lengths(mask)
        if self.config.uses_plan:
            posterior_mean, posterior_scale = self.recognize_plan(
                batch[OBS_KEY], batch[ACTIONS_KEY], mask)
            prior_mean, prior_scale = self.propose_plan(batch[OBS_KEY][:, 0], batch[GOAL_KEY])
            posterior = Normal(posterior_mean, posterior_scale)
            kl = kl_divergence(posterior, Normal(prior_mean, prior_scale)).sum(dim=-1)
            log_prob = self._step_log_prob(batch, posterior.rsample())
            nll = -(log_prob * mask).sum(dim=1) / lengths
            loss = (nll + beta * kl).mean()
            metrics = {'nll': nll.mean(), 'kl': kl.mean()}
        else:
            log_prob = self._step_log_prob(batch, None)
            loss = -(log_prob * mask).sum() / lengths.sum()
            metrics = {'nll': loss, 'kl': torch.zeros(())}
        metrics['loss'] = loss
        return loss, {key: value.detach() for key, value in metrics.items()}

    def imitation_loss(self, batch: Batch) -> Tuple[Tensor, Dict[str, Tensor]]:
        """
        Compute the actor's NLL of labelled actions, with the plan a deterministic rollout uses.

        For actions that no plan recognizer should see (an expert's labels of the states a
        student visited): 'lmp' plans are the prior mean from the window's first step, as
        the deterministic policy draws them, and the NLL trains the proposal through them;
        'gcbc' has no plan.  Masked steps still run through the actor's recurrence, unscored.

        :param batch: obs (B, T, 39), actions (B, T, 7), mask (B, T) bool (any pattern, at
            least one step per row), goal (B, 39); float32 tensors.
        :return: the scalar loss (per scored step) and detached metrics 'loss' and 'nll'.
        """
        mask = batch[MASK_KEY]
        lengths = self._lengths(mask)
        plan = None
        if self.config.uses_plan:
            plan = self.propose_plan(batch[OBS_KEY][:, 0], batch[GOAL_KEY])[0]
        loss = -(self._step_log_prob(batch, plan) * mask).sum() / lengths.sum()
        return loss, {'loss': loss.detach(), 'nll': loss.detach()}

    @torch.no_grad()
    def validation_metrics(self, batch: Batch, beta: float = 0.01) -> Dict[str, Tensor]:
        """
        Evaluate a batch deterministically, without gradients.

        Plans are the posterior mean ('nll_posterior') and the prior mean ('nll_prior', what a
        rollout has); NLLs are per valid step, averaged over windows.

        :param batch: as for forward.
        :param beta: KL weight in 'loss'.
        :return: 'nll', 'kl', 'loss' and for 'lmp' also 'nll_posterior' and 'nll_prior'
            ('nll' is nll_posterior for 'lmp'), each a scalar tensor.
        """
        mask = batch[MASK_KEY]
        lengths = self._lengths(mask)
        if not self.config.uses_plan:
            nll = -(self._step_log_prob(batch, None) * mask).sum() / lengths.sum()
            return {'nll': nll, 'kl': torch.zeros(()), 'loss': nll}
        posterior_mean, posterior_scale = self.recognize_plan(
            batch[OBS_KEY], batch[ACTIONS_KEY], mask)
        prior_mean, prior_scale = self.propose_plan(batch[OBS_KEY][:, 0], batch[GOAL_KEY])
        kl = kl_divergence(Normal(posterior_mean, posterior_scale),
                           Normal(prior_mean, prior_scale)).sum(dim=-1)
        nll_posterior = -(self._step_log_prob(batch, posterior_mean) * mask).sum(dim=1) / lengths
        nll_prior = -(self._step_log_prob(batch, prior_mean) * mask).sum(dim=1) / lengths
        return {'nll': nll_posterior.mean(), 'nll_posterior': nll_posterior.mean(),
                'nll_prior': nll_prior.mean(), 'kl': kl.mean(),
                'loss': (nll_posterior + beta * kl).mean()}
