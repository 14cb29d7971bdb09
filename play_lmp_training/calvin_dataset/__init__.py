"""
CALVIN-format play datasets: write, validate and read, cache, sample windows, summarise.

Pure numpy / pyyaml / tqdm (matplotlib for the summary chart); no torch, so ROS-free tools and
data generators can use it.
"""

from play_lmp_training.calvin_dataset.files import DatasetError
from play_lmp_training.calvin_dataset.reader import (LanguageAnnotations, load_split, PlaySplit,
                                                     read_episode_ranges, read_language)
from play_lmp_training.calvin_dataset.windows import (gather_windows, iterate_validation_windows,
                                                      WindowSampler)
from play_lmp_training.calvin_dataset.writer import CalvinWriter, DatasetExistsError

__all__ = [
    'CalvinWriter', 'DatasetError', 'DatasetExistsError', 'LanguageAnnotations', 'PlaySplit',
    'WindowSampler', 'gather_windows', 'iterate_validation_windows', 'load_split',
    'read_episode_ranges', 'read_language',
]
