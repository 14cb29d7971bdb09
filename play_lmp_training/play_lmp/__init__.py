"""Play-LMP / Play-GCBC model, action distribution and configuration (PyTorch)."""

from play_lmp_training.calvin_dataset.windows import (ACTIONS_KEY, GOAL_KEY, LENGTHS_KEY, MASK_KEY,
                                                      OBS_KEY)
from play_lmp_training.play_lmp.configuration import (ACTION_HIGH, ACTION_LOW, ExperimentConfig,
                                                      from_dict, load_config, ModelConfig, to_dict,
                                                      TrainConfig)
from play_lmp_training.play_lmp.distributions import dlml_log_prob
from play_lmp_training.play_lmp.modeling import (batch_to_torch, FEATURE_DIM,
                                                 normalization_from_data, PlayLMP)

__all__ = [
    'ACTION_HIGH', 'ACTION_LOW', 'ACTIONS_KEY', 'batch_to_torch', 'dlml_log_prob',
    'ExperimentConfig', 'FEATURE_DIM', 'from_dict', 'GOAL_KEY', 'LENGTHS_KEY',
    'load_config', 'MASK_KEY', 'ModelConfig', 'normalization_from_data', 'OBS_KEY', 'PlayLMP',
    'to_dict', 'TrainConfig',
]
