"""
Typed, validated configuration of a distillation run (DAgger from the scripted experts).

One YAML file (config/training/distill.yaml) with the sections ``model`` (the student's
architecture, the ModelConfig of training.train), ``dagger`` (rollouts and labelling) and
``train`` (the optimizer on the aggregate), plus top-level keys; command-line overrides
``section.key=value`` as for training.train.  Unknown keys are errors.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training.optim import LR_SCHEDULES
from play_lmp_training.play_lmp.configuration import (
    _is_int, _is_number, _require, _require_positive_int, from_dict, ModelConfig)

STUDENT_BACKENDS = ('onnx', 'torch')


def _task_list(name: str, value: Any) -> Tuple[str, ...]:
    """
    Check a list of task names.

    :param name: the key, for error messages.
    :param value: a list (or tuple) of task names.
    :return: the names as a tuple.
    :raises ValueError: on a non-list or an unknown task.
    """
    _require(isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value),
             f'{name} must be a list of task names, got {value!r}')
    unknown = [task for task in value if task not in TASK_NAMES]
    _require(not unknown, f'{name} names unknown tasks {unknown}; known tasks: '
             f'{", ".join(TASK_NAMES)}')
    return tuple(value)


@dataclass(frozen=True)
class DaggerConfig:
    """
    Rollouts of the student and the experts' labels.

    Fields:
    - iterations: DAgger iterations (rollouts, labels, training).
    - episodes_per_task: imagined single-goal episodes per task per iteration, made exactly as
      the goal server makes goals, from random scenes drawn for the iteration.
    - chains: chain rollouts per iteration (five tasks of distinct categories, each goal made
      from the state the previous subtask left), which reach the states single goals from
      random scenes never start in (a block held, in the drawer, stacked).
    - max_steps: step budget of a single-goal episode (the evaluation's).
    - chain_max_steps: step budget of each chain subtask (the evaluation's).
    - expert_fraction: the probability that the expert's action, not the student's, is executed
      at a step, in the first iteration (DAgger's beta); 1.0 makes the first iteration pure
      expert demonstrations.
    - expert_decay: beta is multiplied by this after every iteration.
    - expert_noise: standard deviation of the Gaussian noise added to the motion of an executed
      expert action (DART); the label stays the clean action.
    - sampled_student: the student samples its actions (False: the deterministic mode that the
      nodes run by default).
    - student_backend: 'onnx' (the exported graphs, as the nodes run them) or 'torch'.
    - exclude_tasks: tasks never rolled out or labelled (the lifelong split's held-out tasks).
    - failure_episodes: extra single-goal episodes per iteration, shared among the tasks in
      proportion to how often the student failed them in the previous iteration's own
      episodes (none in the first iteration): the labels go where the student still fails.
    - takeover_fraction: the share of single-goal episodes in which the expert takes over for
      good after a random number of student steps, so that the aggregate also holds the
      states between where the student gets stuck and the goal (contact, grip, slide), which
      a student that never gets through them does not visit.  These episodes' successes are
      the expert's: the summary counts them apart from the student's.
    - takeover_max_step: the takeover step is drawn uniformly from 0..takeover_max_step.
    - seed: seed of the scenes, chains and noise (its own streams: no evaluation seed makes the
      same scenes).
    - workers: rollout processes.
    """

    iterations: int = 8
    episodes_per_task: int = 10
    chains: int = 20
    max_steps: int = 240
    chain_max_steps: int = 360
    expert_fraction: float = 1.0
    expert_decay: float = 0.5
    expert_noise: float = 0.1
    sampled_student: bool = False
    student_backend: str = 'onnx'
    exclude_tasks: Tuple[str, ...] = ()
    failure_episodes: int = 0
    takeover_fraction: float = 0.0
    takeover_max_step: int = 120
    seed: int = 0
    workers: int = 2

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('iterations', 'max_steps', 'chain_max_steps', 'workers'):
            _require_positive_int(f'dagger.{name}', getattr(self, name))
        for name in ('episodes_per_task', 'chains', 'seed', 'failure_episodes',
                     'takeover_max_step'):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 0,
                     f'dagger.{name} must be an integer >= 0, got {value!r}')
        for name in ('expert_fraction', 'expert_decay', 'takeover_fraction'):
            value = getattr(self, name)
            _require(_is_number(value) and 0.0 <= value <= 1.0,
                     f'dagger.{name} must lie in [0, 1], got {value!r}')
        _require(_is_number(self.expert_noise) and self.expert_noise >= 0,
                 f'dagger.expert_noise must be a number >= 0, got {self.expert_noise!r}')
        _require(isinstance(self.sampled_student, bool),
                 f'dagger.sampled_student must be true or false, got {self.sampled_student!r}')
        _require(self.student_backend in STUDENT_BACKENDS,
                 f'dagger.student_backend must be one of {STUDENT_BACKENDS}, got '
                 f'{self.student_backend!r}')
        object.__setattr__(self, 'exclude_tasks',
                           _task_list('dagger.exclude_tasks', self.exclude_tasks))
        _require(self.episodes_per_task > 0 or self.chains > 0,
                 'dagger.episodes_per_task and dagger.chains cannot both be 0')

    def expert_probability(self, iteration: int) -> float:
        """
        Return beta, the chance that a step executes the expert's action, in an iteration.

        :param iteration: 0-based iteration.
        :return: expert_fraction * expert_decay ** iteration.
        """
        return float(self.expert_fraction * self.expert_decay ** iteration)

    @property
    def tasks(self) -> Tuple[str, ...]:
        """List the tasks rolled out and labelled: every task but the excluded ones."""
        return tuple(task for task in TASK_NAMES if task not in self.exclude_tasks)


@dataclass(frozen=True)
class DistillTrainConfig:
    """
    The optimizer on the aggregate (and on play windows, when mixed in).

    Fields:
    - batch_size: windows per optimizer step.
    - steps_per_iteration: optimizer steps after each iteration's rollouts.
    - lr: AdamW learning rate (the peak of the cosine schedule).
    - lr_schedule: 'constant' or 'cosine' (from lr to lr_final within every iteration).
    - lr_final: the cosine schedule's last learning rate.
    - weight_decay: AdamW decoupled weight decay.
    - grad_clip: maximum global gradient L2 norm.
    - play_fraction: share of each batch drawn from the play data's training split (data_path);
      0 trains on the aggregate alone.
    - seed: seed of torch and of the window samplers.
    - checkpoint_every: optimizer steps between checkpoints inside an iteration.
    - num_threads: torch intra-op threads while training (0: torch's default).
    """

    batch_size: int = 64
    steps_per_iteration: int = 2000
    lr: float = 1e-3
    lr_schedule: str = 'cosine'
    lr_final: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    play_fraction: float = 0.0
    seed: int = 0
    checkpoint_every: int = 500
    num_threads: int = 2

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('batch_size', 'steps_per_iteration', 'checkpoint_every'):
            _require_positive_int(f'train.{name}', getattr(self, name))
        _require(_is_number(self.lr) and self.lr > 0, f'train.lr must be > 0, got {self.lr!r}')
        _require(self.lr_schedule in LR_SCHEDULES,
                 f'train.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}')
        _require(_is_number(self.lr_final) and 0 <= self.lr_final <= self.lr,
                 f'train.lr_final must lie in [0, train.lr], got {self.lr_final!r}')
        _require(_is_number(self.weight_decay) and self.weight_decay >= 0,
                 f'train.weight_decay must be a number >= 0, got {self.weight_decay!r}')
        _require(_is_number(self.grad_clip) and self.grad_clip > 0,
                 f'train.grad_clip must be > 0, got {self.grad_clip!r}')
        _require(_is_number(self.play_fraction) and 0.0 <= self.play_fraction < 1.0,
                 f'train.play_fraction must lie in [0, 1), got {self.play_fraction!r}')
        for name in ('seed', 'num_threads'):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 0,
                     f'train.{name} must be an integer >= 0, got {value!r}')


@dataclass(frozen=True)
class DistillConfig:
    """
    One distillation run.

    Fields:
    - model: the student's architecture (training.train's ModelConfig; its replan_every is the
      length of the windows the student is trained on, as it runs).
    - dagger: rollouts and labels.
    - train: the optimizer.
    - data_path: a CALVIN-format play dataset, read only when train.play_fraction > 0 ('' for
      none).
    - replay_from: earlier distillation runs whose aggregates are trained on beside this run's
      own (the lifelong route: the old tasks' labelled states stay in the mix).
    - output_dir: checkpoints, the aggregate, the students of every iteration and the logs.
    """

    model: ModelConfig = field(default_factory=lambda: ModelConfig(
        method='gcbc', recognizer_hidden=128, proposal_width=256, policy_hidden=256,
        replan_every=30, relative_features=True))
    dagger: DaggerConfig = field(default_factory=DaggerConfig)
    train: DistillTrainConfig = field(default_factory=DistillTrainConfig)
    data_path: str = ''
    replay_from: Tuple[str, ...] = ()
    output_dir: str = 'runs/distill'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name, cls in (('model', ModelConfig), ('dagger', DaggerConfig),
                          ('train', DistillTrainConfig)):
            _require(isinstance(getattr(self, name), cls),
                     f'{name} must be a {cls.__name__}, got {getattr(self, name)!r}')
        _require(isinstance(self.output_dir, str) and self.output_dir != '',
                 f'output_dir must be a non-empty string, got {self.output_dir!r}')
        _require(isinstance(self.data_path, str), f'data_path must be a string, got '
                 f'{self.data_path!r}')
        _require(self.train.play_fraction == 0.0 or self.data_path != '',
                 'train.play_fraction > 0 needs data_path (a play dataset)')
        _require(isinstance(self.replay_from, (list, tuple))
                 and all(isinstance(v, str) and v for v in self.replay_from),
                 f'replay_from must be a list of run directories, got {self.replay_from!r}')
        object.__setattr__(self, 'replay_from', tuple(self.replay_from))


def parse_any_config(values: Dict[str, Any]) -> Any:
    """
    Build the configuration stored in a distillation or a training.train checkpoint.

    :param values: the stored plain values.
    :return: a DistillConfig or a play_lmp ExperimentConfig (both have .model).
    :raises ValueError: when it is neither.
    """
    try:
        return from_dict(values, DistillConfig)
    except ValueError:
        return from_dict(values)
