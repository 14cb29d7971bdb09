"""The torch model behind the same rollout loop as the ONNX policy (for in-training checks)."""

from typing import Dict, List, Optional, Tuple

import numpy as np
from play_lmp_ros.core.policies import replan_period
from play_lmp_ros.core.policy import RecurrentPolicy
from play_lmp_training.play_lmp.modeling import PlayLMP
import torch


class TorchPolicy(RecurrentPolicy):
    """Step a PlayLMP module exactly as OnnxPolicy steps the exported graphs."""

    def __init__(self, model: PlayLMP, replan_every: Optional[int] = None,
                 deterministic: bool = False,
                 seed: int = 0):
        """
        Wrap a model.

        :param model: the torch model (put in eval mode here).
        :param replan_every: steps between replans; 0 or None takes the model config's
            (core.policies.replan_period).
        :param deterministic: plan means and mixture modes instead of sampling.
        :param seed: seed of the sampling generator.
        """
        self.model = model.eval()
        config = model.config
        super().__init__(config.method, config.d_latent if config.uses_plan else 0,
                         config.policy_hidden, replan_period(replan_every, config.replan_every),
                         deterministic, seed)

    @torch.no_grad()
    def _run_planner(self, obs_batch: np.ndarray,
                     goal_batch: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """
        Run the plan proposal.

        :param obs_batch: (1, 39) float32.
        :param goal_batch: (1, 39) float32.
        :return: plan_mean and plan_std, each (1, D) float32.
        """
        mean, std = self.model.propose_plan(torch.from_numpy(obs_batch),
                                            torch.from_numpy(goal_batch))
        return mean.numpy(), std.numpy()

    @torch.no_grad()
    def _run_actor(self, feeds: Dict[str, np.ndarray]) -> List[np.ndarray]:
        """
        Run one actor step.

        :param feeds: obs, goal, h, c and for 'lmp' plan, float32 (1, .) arrays.
        :return: logits, means, log_scales (1, 7, K), h_out, c_out (1, H).
        """
        tensors = {key: torch.from_numpy(value) for key, value in feeds.items()}
        outputs = self.model.step(tensors['obs'], tensors['goal'], tensors.get('plan'),
                                  tensors['h'], tensors['c'])
        return [output.numpy() for output in outputs]
