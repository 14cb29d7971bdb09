"""
Typed, validated configuration of a Play-LMP / Play-GCBC training run.

A run is described by one YAML file (config/training/*.yaml) with the sections ``model`` and
``train`` plus top-level keys, and by command-line overrides ``section.key=value`` whose values
are parsed as YAML scalars.  Unknown keys are errors, never silently ignored, so a typo cannot
leave a hyperparameter at its default unnoticed.
"""

from dataclasses import asdict, dataclass, field, fields, is_dataclass
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from play_lmp_ros.core.policy import DLML_LOG_SCALE_MIN
from play_lmp_training.calvin_dataset.windows import ACTION_KEYS
from play_lmp_training.optim import LR_SCHEDULES, PRECISIONS
import yaml

METHODS = ('lmp', 'gcbc')

# The action head models actions normalized to [-1, 1] in every dimension, as the seed does.
ACTION_LOW = -1.0
ACTION_HIGH = 1.0


def _require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless condition holds."""
    if not condition:
        raise ValueError(message)


def _is_int(value: Any) -> bool:
    """Tell whether value is an int and not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """Tell whether value is a finite int or float and not a bool."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _require_positive_int(name: str, value: Any) -> None:
    """Raise ValueError unless value is an int >= 1."""
    _require(_is_int(value) and value >= 1, f'{name} must be an integer >= 1, got {value!r}')


@dataclass(frozen=True)
class ModelConfig:
    """
    Architecture of the Play-LMP / Play-GCBC networks.

    Fields:
    - method: 'lmp' (latent plans: recognizer, proposal and a plan-conditioned actor) or 'gcbc'
      (goal-conditioned behaviour cloning: the actor alone, with no plan input at all).
    - d_latent: size of the latent plan z (unused by 'gcbc', never changed by it).
    - recognizer_hidden: hidden size of each direction of the bidirectional recognizer LSTM.
    - proposal_width: width of the hidden layers of the plan proposal MLP.
    - proposal_depth: number of hidden layers of the plan proposal MLP.
    - policy_hidden: hidden size of the actor LSTM.
    - mixtures: logistic mixture components per action dimension.
    - bins: number of action quantization bins over [ACTION_LOW, ACTION_HIGH].
    - log_scale_min: lower clamp of the logistic log-scales.
    - replan_every: control steps between replans at run time (the actor's LSTM state is
      zeroed and a new plan drawn); exported into the ONNX metadata.  At most the training
      window, since the actor never saw longer sequences.
    - relative_features: also feed the plan proposal and the actor the goal minus the
      observation (wrap-aware for angles) and every block's position relative to the TCP, now
      and in the goal.  The seed has none (False); they let a small model on little data tell
      where to move without learning subtraction first.
    """

    method: str = 'lmp'
    d_latent: int = 64
    recognizer_hidden: int = 256
    proposal_width: int = 512
    proposal_depth: int = 3
    policy_hidden: int = 512
    mixtures: int = 10
    bins: int = 256
    log_scale_min: float = DLML_LOG_SCALE_MIN
    replan_every: int = 32
    relative_features: bool = False

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        _require(self.method in METHODS, f'model.method must be one of {METHODS}, '
                 f'got {self.method!r}')
        for name in ('d_latent', 'recognizer_hidden', 'proposal_width', 'proposal_depth',
                     'policy_hidden', 'mixtures', 'replan_every'):
            _require_positive_int(f'model.{name}', getattr(self, name))
        _require(_is_int(self.bins) and self.bins >= 2,
                 f'model.bins must be an integer >= 2, got {self.bins!r}')
        _require(_is_number(self.log_scale_min),
                 f'model.log_scale_min must be a finite number, got {self.log_scale_min!r}')
        _require(isinstance(self.relative_features, bool),
                 f'model.relative_features must be true or false, got '
                 f'{self.relative_features!r}')

    @property
    def uses_plan(self) -> bool:
        """Tell whether the model has a latent plan (method 'lmp')."""
        return self.method == 'lmp'


@dataclass(frozen=True)
class TrainConfig:
    """
    Optimization and sampling settings of a training run.

    Fields:
    - batch_size: windows per optimizer step.
    - window: (maximum) window length T in steps; every 'lmp' window has this length.
    - min_window: shortest 'gcbc' window (lengths are uniform in [min_window, window]).
    - goal_horizon: longest distance in steps from a window's start to its goal; 0 means the
      window itself (the seed's windows).  A longer horizon draws segments up to this long,
      takes the goal at their end and feeds only their first `window` steps, so that goals lie
      as far ahead as whole tasks while the networks unroll a short window.
    - lr: AdamW learning rate (the peak of a cosine schedule).
    - lr_schedule: 'constant' or 'cosine' (decay from lr to lr_final over train.steps).
    - lr_final: the cosine schedule's last learning rate.
    - weight_decay: AdamW decoupled weight decay.
    - grad_clip: maximum global gradient L2 norm.
    - beta: weight of KL(posterior || prior) in the 'lmp' loss.
    - steps: number of optimizer steps.
    - seed: seed of torch and of the window sampler.
    - checkpoint_every: steps between checkpoints.
    - eval_every: steps between validation passes.
    - val_batches: validation batches per pass (0: the whole validation split).
    - action_key: 'rel_actions' (the seed's choice) or 'actions'.
    - num_threads: torch intra-op threads (0: torch's default).
    - sim_check_every: steps between in-simulator success checks (0: never).
    - sim_check_episodes: validation episodes per success check.
    - sim_check_steps: step budget of each success-check episode.
    - keep_every: keep a copy of the checkpoint every this many steps (0: only last and best).
    - precision: 'fp32', or 'bf16' autocast for the forward pass (CPUs with avx512_bf16; the
      weights, gradients and optimizer stay float32).
    """

    batch_size: int = 64
    window: int = 64
    min_window: int = 32
    goal_horizon: int = 0
    lr: float = 3e-4
    lr_schedule: str = 'constant'
    lr_final: float = 1e-5
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    beta: float = 0.01
    steps: int = 20000
    seed: int = 42
    checkpoint_every: int = 1000
    eval_every: int = 1000
    val_batches: int = 16
    action_key: str = 'rel_actions'
    num_threads: int = 0
    sim_check_every: int = 0
    sim_check_episodes: int = 16
    sim_check_steps: int = 240
    keep_every: int = 0
    precision: str = 'fp32'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        for name in ('batch_size', 'window', 'min_window', 'steps', 'checkpoint_every',
                     'eval_every'):
            _require_positive_int(f'train.{name}', getattr(self, name))
        _require(_is_int(self.goal_horizon)
                 and (self.goal_horizon == 0 or self.goal_horizon >= self.window),
                 f'train.goal_horizon must be 0 or >= train.window, got {self.goal_horizon!r}')
        _require(self.min_window <= self.window,
                 f'train.min_window must be <= train.window, got {self.min_window!r} > '
                 f'{self.window!r}')
        _require(_is_number(self.lr) and self.lr > 0, f'train.lr must be > 0, got {self.lr!r}')
        for name in ('weight_decay', 'beta'):
            value = getattr(self, name)
            _require(_is_number(value) and value >= 0,
                     f'train.{name} must be a number >= 0, got {value!r}')
        _require(_is_number(self.grad_clip) and self.grad_clip > 0,
                 f'train.grad_clip must be > 0, got {self.grad_clip!r}')
        for name in ('sim_check_episodes', 'sim_check_steps'):
            _require_positive_int(f'train.{name}', getattr(self, name))
        for name in ('seed', 'val_batches', 'num_threads', 'sim_check_every', 'keep_every'):
            value = getattr(self, name)
            _require(_is_int(value) and value >= 0,
                     f'train.{name} must be an integer >= 0, got {value!r}')
        _require(self.action_key in ACTION_KEYS,
                 f'train.action_key must be one of {ACTION_KEYS}, got {self.action_key!r}')
        _require(self.lr_schedule in LR_SCHEDULES,
                 f'train.lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}')
        _require(_is_number(self.lr_final) and 0 <= self.lr_final <= self.lr,
                 f'train.lr_final must lie in [0, train.lr], got {self.lr_final!r}')
        _require(self.precision in PRECISIONS,
                 f'train.precision must be one of {PRECISIONS}, got {self.precision!r}')


@dataclass(frozen=True)
class ExperimentConfig:
    """
    One training run: model, optimization, data and output.

    Fields:
    - model: the ModelConfig.
    - train: the TrainConfig.
    - data_path: CALVIN-format dataset root (with training/ and validation/ splits).
    - output_dir: where checkpoints and logs go.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data_path: str = 'data/play'
    output_dir: str = 'runs/play_lmp'

    def __post_init__(self):
        """
        Validate every field.

        :raises ValueError: naming the first bad field and its value.
        """
        _require(isinstance(self.model, ModelConfig),
                 f'model must be a ModelConfig, got {self.model!r}')
        _require(isinstance(self.train, TrainConfig),
                 f'train must be a TrainConfig, got {self.train!r}')
        for name in ('data_path', 'output_dir'):
            value = getattr(self, name)
            _require(isinstance(value, str) and value != '',
                     f'{name} must be a non-empty string, got {value!r}')


def _sections(root: type) -> Dict[str, type]:
    """Return the section name -> dataclass of a root configuration dataclass."""
    return {f.name: f.type for f in fields(root) if is_dataclass(f.type)}


def _coerce(name: str, declared_type: Any, value: Any) -> Any:
    """
    Convert a YAML value to a field's declared type where that is lossless.

    PyYAML reads '3e-4' (no dot) as a string and '1' as an int; both are fine for float fields.

    :param name: dotted key, for error messages.
    :param declared_type: the dataclass field's type.
    :param value: the parsed YAML value.
    :return: the value, converted for float fields, unchanged otherwise.
    :raises ValueError: if a float field gets something that is not a number.
    """
    if declared_type is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f'{name} must be a number, got {value!r}') from None
    return value


def _check_keys(where: str, given: Dict[str, Any], valid: List[str]) -> None:
    """Raise ValueError naming every key of given that is not in valid, listing the valid ones."""
    unknown = sorted(set(given) - set(valid))
    if unknown:
        prefix = f'{where}.' if where else ''
        raise ValueError(f'unknown config key(s) {[prefix + key for key in unknown]}; valid '
                         f'keys{" of " + where if where else ""}: {sorted(valid)}')


def _build_section(name: str, cls: type, values: Any) -> Any:
    """
    Build one section dataclass from a mapping.

    :param name: the section name.
    :param cls: ModelConfig or TrainConfig.
    :param values: mapping of field names to values (or None for all defaults).
    :return: the dataclass instance.
    :raises ValueError: on a non-mapping, unknown keys or invalid values.
    """
    values = {} if values is None else values
    _require(isinstance(values, dict), f'{name} must be a mapping, got {values!r}')
    types = {f.name: f.type for f in fields(cls)}
    _check_keys(name, values, list(types))
    return cls(**{key: _coerce(f'{name}.{key}', types[key], value)
                  for key, value in values.items()})


def from_dict(values: Dict[str, Any], root: type = ExperimentConfig) -> Any:
    """
    Build and validate a configuration from nested plain values (the YAML layout).

    :param values: {'model': {...}, 'train': {...}, 'data_path': ..., 'output_dir': ...};
        missing keys take their defaults.
    :param root: the configuration dataclass (ExperimentConfig, or another with dataclass
        sections and plain top-level keys).
    :return: the configuration.
    :raises ValueError: on unknown keys or invalid values.
    """
    _require(isinstance(values, dict), f'a config must be a mapping, got {values!r}')
    valid = [f.name for f in fields(root)]
    _check_keys('', values, valid)
    sections = _sections(root)
    built = {key: value for key, value in values.items() if key not in sections}
    for name, cls in sections.items():
        built[name] = _build_section(name, cls, values.get(name))
    return root(**built)


def to_dict(config: Any) -> Dict[str, Any]:
    """
    Turn a configuration into nested plain values that from_dict and YAML accept.

    :param config: the configuration.
    :return: {'model': {...}, 'train': {...}, 'data_path': ..., 'output_dir': ...}.
    """
    return asdict(config)


def apply_override(values: Dict[str, Any], override: str, root: type = ExperimentConfig) -> None:
    """
    Apply one ``key=value`` or ``section.key=value`` override to nested plain values in place.

    :param values: nested values as read from YAML; modified.
    :param override: e.g. 'train.lr=1e-3' or 'data_path=/data/calvin'; the value is a YAML
        scalar.
    :param root: the configuration dataclass the keys belong to.
    :raises ValueError: on a malformed override or a key that is not a config key.
    """
    key, separator, text = override.partition('=')
    key = key.strip()
    _require(separator == '=' and key != '',
             f'an override must look like key.sub=value, got {override!r}')
    path = key.split('.')
    top_keys = [f.name for f in fields(root)]
    _check_keys('', {path[0]: None}, top_keys)
    sections = _sections(root)
    if path[0] in sections:
        _require(len(path) == 2, f'override {key!r} must name a key inside {path[0]!r}, e.g. '
                 f'{path[0]}.<key>')
        _check_keys(path[0], {path[1]: None}, [f.name for f in fields(sections[path[0]])])
        section = values.setdefault(path[0], {})
        _require(isinstance(section, dict), f'{path[0]} must be a mapping, got {section!r}')
        section[path[1]] = yaml.safe_load(text)
    else:
        _require(len(path) == 1, f'{path[0]!r} has no sub-keys, got override {key!r}')
        values[path[0]] = yaml.safe_load(text)


def load_config(path: Optional[Union[str, Path]], overrides: Optional[List[str]] = None,
                root: type = ExperimentConfig) -> Any:
    """
    Load a YAML configuration file and apply command-line overrides.

    :param path: the YAML file, or None to start from the defaults.
    :param overrides: ``key.sub=value`` strings applied in order after the file.
    :param root: the configuration dataclass to build (default: a Play-LMP training run).
    :return: the validated configuration.
    :raises ValueError: on unknown keys (named, with the valid ones listed), malformed overrides
        or invalid values.
    """
    values: Dict[str, Any] = {}
    if path is not None:
        with open(path, encoding='utf-8') as stream:
            loaded = yaml.safe_load(stream)
        _require(loaded is None or isinstance(loaded, dict),
                 f'{path} must hold a mapping, got {type(loaded).__name__}')
        values = loaded or {}
    for override in overrides or []:
        apply_override(values, override, root)
    return from_dict(values, root)
