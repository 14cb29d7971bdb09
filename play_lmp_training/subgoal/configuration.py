"""
Typed, validated configuration of a subgoal-proposer training run.

The YAML layout and the override syntax are those of play_lmp_training.play_lmp.configuration:
sections ``model`` and ``train`` plus top-level keys, ``section.key=value`` overrides, unknown keys
are errors.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from play_lmp_training.optim import PRECISIONS
from play_lmp_training.play_lmp import configuration as base
from play_lmp_training.subgoal.data import SUBGOAL_TARGETS

# What a proposer predicts: the whole state, or its robot part (the scene from SUBGOAL_SCENES).
SUBGOAL_PARTS = ('full', 'robot')
# Where a robot-part proposer's subgoal takes its scene part from.
SUBGOAL_SCENES = ('goal', 'state')
# What a proposer sees of the goal: all of it, or its scene part only.
GOAL_INPUTS = ('full', 'scene')


@dataclass(frozen=True)
class SubgoalModelConfig:
    """
    Architecture of the subgoal proposer and the k-step distance model.

    Fields:
    - horizon: k, the steps from a state to its subgoal; match the actor's training window
      (its goals lie that far ahead), about its replan period.
    - max_goal_distance: the farthest hindsight goal in steps; also the distance the distance
      model gives to states of different play segments.
    - width: hidden width of the proposer MLP.
    - depth: hidden layers of the proposer MLP.
    - mixtures: Gaussian components of the proposer's mixture over the subgoal.
    - distance_width: hidden width of the distance MLP.
    - distance_depth: hidden layers of the distance MLP.
    - relative_features: feed the proposer the goal minus the state and the block-to-TCP offsets
      (as the actor's relative features).
    - subgoal_part: what the proposer predicts: 'full' (the whole state k steps ahead) or
      'robot' (only its robot part; the subgoal's scene part is the far goal's, which is what
      the actor needs: the hand target, and the scene to make).
    - subgoal_scene: with subgoal_part 'robot', where the subgoal's scene part comes from:
      'goal' (the scene to make) or 'state' (the scene as it is: contact subgoals lie before
      the interaction, where the scene has not changed yet).
    - goal_input: what the proposer sees of the goal: 'full', or 'scene' (its robot part is
      replaced by the current state's: a hindsight goal's hand pose is wherever play went on
      to, and a far goal's says nothing about where the hand goes next).
    """

    horizon: int = 32
    max_goal_distance: int = 256
    width: int = 512
    depth: int = 3
    mixtures: int = 8
    distance_width: int = 256
    distance_depth: int = 3
    relative_features: bool = True
    subgoal_part: str = 'full'
    subgoal_scene: str = 'goal'
    goal_input: str = 'full'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('horizon', 'max_goal_distance', 'width', 'depth', 'mixtures',
                     'distance_width', 'distance_depth'):
            base._require_positive_int(f'model.{name}', getattr(self, name))
        base._require(self.max_goal_distance > self.horizon,
                      f'model.max_goal_distance must exceed model.horizon, got '
                      f'{self.max_goal_distance!r} <= {self.horizon!r}')
        base._require(isinstance(self.relative_features, bool),
                      f'model.relative_features must be true or false, got '
                      f'{self.relative_features!r}')
        base._require(self.subgoal_part in SUBGOAL_PARTS,
                      f'model.subgoal_part must be one of {list(SUBGOAL_PARTS)}, got '
                      f'{self.subgoal_part!r}')
        base._require(self.subgoal_scene in SUBGOAL_SCENES,
                      f'model.subgoal_scene must be one of {list(SUBGOAL_SCENES)}, got '
                      f'{self.subgoal_scene!r}')
        base._require(self.goal_input in GOAL_INPUTS,
                      f'model.goal_input must be one of {list(GOAL_INPUTS)}, got '
                      f'{self.goal_input!r}')


@dataclass(frozen=True)
class SubgoalTrainConfig:
    """
    Optimization and sampling settings of a subgoal training run.

    Fields:
    - batch_size: state-goal pairs per optimizer step (and as many distance pairs).
    - steps: optimizer steps.
    - lr: AdamW peak learning rate.
    - lr_final: learning rate at the last step (cosine decay from lr).
    - weight_decay: AdamW decoupled weight decay.
    - grad_clip: maximum global gradient L2 norm.
    - cross_segment_fraction: share of distance pairs drawn from two different segments (their
      target is model.max_goal_distance).
    - event_goal_fraction: share of proposer goals where the next interaction event ends (found
      without labels; play_lmp_training.subgoal.data), the rest uniform in distance.
    - min_goal_distance: the nearest uniform proposer goal, in steps (1 up to model.horizon:
      nearer goals go to the actor as they are at run time).
    - subgoal_target: where a proposer example's subgoal lies: 'horizon' (k steps ahead) or
      'contact' (where the next interaction event starts, found without labels: the hand at
      the object; play_lmp_training.subgoal.data).
    - contact_lead: with subgoal_target 'contact', a state this many steps or fewer before an
      event's start counts as inside the event (its subgoal k steps ahead, through the
      interaction), so that a hand at the contact pose is led on, not held there (0: only
      states after the start).
    - seed: seed of torch and of the pair sampler.
    - checkpoint_every: steps between checkpoints.
    - eval_every: steps between validation passes.
    - val_batches: validation batches per pass.
    - num_threads: torch intra-op threads (0: torch's default).
    - precision: 'fp32', or 'bf16' autocast for the forward pass (CPUs with avx512_bf16).
    """

    batch_size: int = 512
    steps: int = 20000
    lr: float = 1e-3
    lr_final: float = 1e-5
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    cross_segment_fraction: float = 0.1
    event_goal_fraction: float = 0.0
    min_goal_distance: int = 1
    subgoal_target: str = 'horizon'
    contact_lead: int = 0
    seed: int = 0
    checkpoint_every: int = 1000
    eval_every: int = 1000
    val_batches: int = 8
    num_threads: int = 0
    precision: str = 'fp32'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('batch_size', 'steps', 'checkpoint_every', 'eval_every', 'val_batches',
                     'min_goal_distance'):
            base._require_positive_int(f'train.{name}', getattr(self, name))
        base._require(base._is_number(self.lr) and self.lr > 0,
                      f'train.lr must be > 0, got {self.lr!r}')
        base._require(base._is_number(self.lr_final) and 0 <= self.lr_final <= self.lr,
                      f'train.lr_final must lie in [0, train.lr], got {self.lr_final!r}')
        base._require(base._is_number(self.weight_decay) and self.weight_decay >= 0,
                      f'train.weight_decay must be >= 0, got {self.weight_decay!r}')
        base._require(base._is_number(self.grad_clip) and self.grad_clip > 0,
                      f'train.grad_clip must be > 0, got {self.grad_clip!r}')
        base._require(base._is_number(self.cross_segment_fraction)
                      and 0 <= self.cross_segment_fraction < 1,
                      f'train.cross_segment_fraction must lie in [0, 1), got '
                      f'{self.cross_segment_fraction!r}')
        base._require(base._is_number(self.event_goal_fraction)
                      and 0 <= self.event_goal_fraction <= 1,
                      f'train.event_goal_fraction must lie in [0, 1], got '
                      f'{self.event_goal_fraction!r}')
        for name in ('seed', 'num_threads', 'contact_lead'):
            value = getattr(self, name)
            base._require(base._is_int(value) and value >= 0,
                          f'train.{name} must be an integer >= 0, got {value!r}')
        base._require(self.subgoal_target in SUBGOAL_TARGETS,
                      f'train.subgoal_target must be one of {list(SUBGOAL_TARGETS)}, got '
                      f'{self.subgoal_target!r}')
        base._require(self.precision in PRECISIONS,
                      f'train.precision must be one of {PRECISIONS}, got {self.precision!r}')


@dataclass(frozen=True)
class SubgoalExperimentConfig:
    """
    One subgoal training run.

    Fields:
    - model: the SubgoalModelConfig.
    - train: the SubgoalTrainConfig.
    - data_path: CALVIN-format dataset root (with training/ and validation/ splits).
    - output_dir: where checkpoints and logs go.
    """

    model: SubgoalModelConfig = field(default_factory=SubgoalModelConfig)
    train: SubgoalTrainConfig = field(default_factory=SubgoalTrainConfig)
    data_path: str = 'data/play'
    output_dir: str = 'runs/subgoal'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('data_path', 'output_dir'):
            value = getattr(self, name)
            base._require(isinstance(value, str) and value != '',
                          f'{name} must be a non-empty string, got {value!r}')
        base._require(self.train.min_goal_distance <= self.model.horizon,
                      f'train.min_goal_distance must be at most model.horizon, got '
                      f'{self.train.min_goal_distance!r} > {self.model.horizon!r}')


def load_config(path: Optional[Union[str, Path]],
                overrides: Optional[List[str]] = None) -> SubgoalExperimentConfig:
    """
    Load a subgoal YAML configuration and apply ``section.key=value`` overrides.

    :param path: the YAML file, or None for the defaults.
    :param overrides: applied in order after the file.
    :return: the validated configuration.
    :raises ValueError: on unknown keys, malformed overrides or invalid values.
    """
    return base.load_config(path, overrides, SubgoalExperimentConfig)


def from_dict(values: Dict[str, Any]) -> SubgoalExperimentConfig:
    """
    Build a configuration from nested plain values (as stored in a checkpoint).

    :param values: the YAML layout.
    :return: the validated configuration.
    """
    return base.from_dict(values, SubgoalExperimentConfig)
