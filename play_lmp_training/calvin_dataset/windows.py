"""
Sample training windows from a PlaySplit the way the seed does, without its bugs.

As in jongoiko/play-lmp:train.py ``get_batch``: Play-LMP windows have a fixed length (64),
Play-GCBC windows a uniform length in [32, 64]; the goal is the observation at the last valid
step.  Unlike the seed, every window start in [0, ep_len - window] is possible (the seed's
exclusive bound never let the last frame of an episode end a window), and the episode is drawn
with probability proportional to its number of valid starts, so every window of a given length
is equally likely.  Episodes shorter than the window but at least min_window long contribute one
window of their full length, padded with zeros and masked.

A goal horizon longer than the window decouples how far ahead goals lie from how many steps the
networks unroll: a segment of up to goal_horizon steps is drawn, its last frame is the goal, and
only its first `window` steps are fed (hindsight relabelling with a truncated window).
"""

from typing import Dict, Iterator, Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.reader import PlaySplit

METHODS = ('lmp', 'gcbc')
ACTION_KEYS = ('rel_actions', 'actions')
# Keys of a window batch (the model reads them under the same names, as torch tensors).
OBS_KEY = 'obs'
ACTIONS_KEY = 'actions'
MASK_KEY = 'mask'
GOAL_KEY = 'goal'
LENGTHS_KEY = 'lengths'
EPISODES_KEY = 'episodes'
START_ROWS_KEY = 'start_rows'

Batch = Dict[str, np.ndarray]


def _check_action_key(action_key: str) -> None:
    """Raise ValueError unless action_key names an action array of PlaySplit."""
    if action_key not in ACTION_KEYS:
        raise ValueError(f'action_key must be one of {ACTION_KEYS}, got {action_key!r}')


def gather_windows(split: PlaySplit, episodes: np.ndarray, starts: np.ndarray,
                   lengths: np.ndarray, steps: int, action_key: str = 'rel_actions',
                   goal_offsets: Optional[np.ndarray] = None) -> Batch:
    """
    Cut windows out of a split and pad them to a common number of steps.

    :param split: the split.
    :param episodes: (B,) int episode indices.
    :param starts: (B,) int first step of each window, counted from its episode's first row.
    :param lengths: (B,) int valid steps of each window, 1..steps, inside the episode.
    :param steps: T, padded window length.
    :param action_key: 'rel_actions' or 'actions'.
    :param goal_offsets: (B,) int steps from each window's start to its goal frame, at least
        lengths - 1 and inside the episode; None puts the goal at the last valid step.
    :return: obs (B, T, 39) float32, actions (B, T, 7) float32, mask (B, T) bool, goal (B, 39)
        float32, lengths (B,) int64, episodes (B,) int64 and start_rows (B,) int64 (row of each
        window's first step in the split arrays).
    """
    _check_action_key(action_key)
    episodes = np.asarray(episodes, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    start_rows = split.episode_bounds[episodes, 0] + np.asarray(starts, dtype=np.int64)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    rows = np.where(mask, start_rows[:, None] + np.arange(steps)[None, :], start_rows[:, None])
    obs = np.asarray(split.obs[rows.ravel()], dtype=np.float32).reshape(
        len(episodes), steps, layout.OBS_DIM)
    actions = np.asarray(getattr(split, action_key)[rows.ravel()], dtype=np.float32).reshape(
        len(episodes), steps, layout.ACTION_DIM)
    obs[~mask] = 0.0
    actions[~mask] = 0.0
    if goal_offsets is None:
        goal = obs[np.arange(len(episodes)), lengths - 1].copy()
    else:
        goal = np.asarray(split.obs[start_rows + np.asarray(goal_offsets, dtype=np.int64)],
                          dtype=np.float32)
    return {OBS_KEY: obs, ACTIONS_KEY: actions, MASK_KEY: mask, GOAL_KEY: goal,
            LENGTHS_KEY: lengths, EPISODES_KEY: episodes, START_ROWS_KEY: start_rows}


class WindowSampler:
    """Draw random batches of windows from a split, reproducibly for a given seed."""

    def __init__(self, split: PlaySplit, method: str = 'lmp', window: int = 64,
                 min_window: int = 32, seed: int = 0, action_key: str = 'rel_actions',
                 goal_horizon: Optional[int] = None):
        """
        Set up the sampler.

        :param split: the split to sample from.
        :param method: 'lmp' (segments of `window` to `goal_horizon` steps) or 'gcbc' (uniform
            length in [min_window, goal_horizon]).
        :param window: the (maximum) window length T of every batch.
        :param min_window: shortest window; episodes shorter than this are never sampled.
        :param seed: seed of the numpy generator.
        :param action_key: 'rel_actions' (the seed's choice) or 'actions'.
        :param goal_horizon: longest segment, goal included; only its first `window` steps are
            fed.  None (or `window`) gives the seed's windows, with the goal at the last step.
        :raises ValueError: on bad arguments, or "dataset too small for the window" if no
            episode reaches `window` (lmp) or `min_window` (gcbc) frames.
        """
        if method not in METHODS:
            raise ValueError(f'method must be one of {METHODS}, got {method!r}')
        if not 1 <= min_window <= window:
            raise ValueError(f'need 1 <= min_window <= window, got {min_window} and {window}')
        goal_horizon = window if goal_horizon is None else goal_horizon
        if goal_horizon < window:
            raise ValueError(f'need goal_horizon >= window, got {goal_horizon} < {window}')
        _check_action_key(action_key)
        self.split = split
        self.method = method
        self.window = int(window)
        self.min_window = int(min_window)
        self.goal_horizon = int(goal_horizon)
        self.action_key = action_key
        self.episode_lengths = split.episode_lengths.astype(np.int64)
        needed = self.window if method == 'lmp' else self.min_window
        longest = int(self.episode_lengths.max())
        if longest < needed:
            raise ValueError(
                f'dataset too small for the window: the longest episode of {split.split_dir} '
                f'has {longest} frames, {method} needs at least {needed}')
        self._rng = np.random.default_rng(seed)

    def start_counts(self, length: int) -> np.ndarray:
        """
        Count the valid starts of a window of the given length in every episode.

        :param length: window length.
        :return: (E,) int64: ep_len - length + 1 for long enough episodes, 1 for episodes in
            [min_window, length), 0 for shorter ones.
        """
        lengths = self.episode_lengths
        return np.where(lengths >= length, lengths - length + 1,
                        (lengths >= self.min_window).astype(np.int64))

    def sample(self, batch_size: int) -> Batch:
        """
        Draw a batch of windows.

        :param batch_size: B.
        :return: see gather_windows; T = window.
        """
        shortest = self.window if self.method == 'lmp' else self.min_window
        if shortest == self.goal_horizon:
            window_lengths = np.full(batch_size, shortest, dtype=np.int64)
        else:
            window_lengths = self._rng.integers(shortest, self.goal_horizon + 1, size=batch_size)
        episodes = np.empty(batch_size, dtype=np.int64)
        for length in np.unique(window_lengths):
            chosen = np.flatnonzero(window_lengths == length)
            counts = self.start_counts(int(length))
            episodes[chosen] = self._rng.choice(len(counts), size=len(chosen),
                                                p=counts / counts.sum())
        valid_lengths = np.minimum(window_lengths, self.episode_lengths[episodes])
        # integers' upper bound is exclusive: + 1 makes the start ep_len - length reachable.
        starts = self._rng.integers(0, self.episode_lengths[episodes] - valid_lengths + 1)
        # The goal ends the whole segment; only its first `window` steps are fed.
        return gather_windows(self.split, episodes, starts,
                              np.minimum(valid_lengths, self.window), self.window,
                              self.action_key, goal_offsets=valid_lengths - 1)


def iterate_validation_windows(split: PlaySplit, window: int = 64, stride: int = 64,
                               batch_size: int = 256, min_window: int = 1,
                               action_key: str = 'rel_actions') -> Iterator[Batch]:
    """
    Yield every evaluation window of a split in a fixed order, in batches.

    Each episode of at least `window` frames gives windows starting at 0, stride, 2 * stride...
    up to ep_len - window; a shorter episode of at least min_window frames gives one masked
    window of its full length.

    :param split: the split.
    :param window: window length T.
    :param stride: steps between consecutive window starts.
    :param batch_size: windows per yielded batch (the last one may be smaller).
    :param min_window: shortest episode that still gives a window.
    :param action_key: 'rel_actions' or 'actions'.
    :return: an iterator of batches, see gather_windows.
    :raises ValueError: on bad arguments or if the split has no window at all.
    """
    if window < 1 or stride < 1 or batch_size < 1 or not 1 <= min_window <= window:
        raise ValueError(f'need window, stride, batch_size >= 1 and 1 <= min_window <= window, '
                         f'got {window}, {stride}, {batch_size}, {min_window}')
    _check_action_key(action_key)
    episodes, starts, lengths = [], [], []
    for episode, length in enumerate(split.episode_lengths.tolist()):
        if length >= window:
            episode_starts = np.arange(0, length - window + 1, stride)
            episodes.append(np.full(len(episode_starts), episode))
            starts.append(episode_starts)
            lengths.append(np.full(len(episode_starts), window))
        elif length >= min_window:
            episodes.append(np.array([episode]))
            starts.append(np.array([0]))
            lengths.append(np.array([length]))
    if not episodes:
        raise ValueError(f'dataset too small for the window: no episode of {split.split_dir} '
                         f'has {min_window} frames')
    episodes, starts, lengths = (np.concatenate(parts) for parts in (episodes, starts, lengths))
    return (gather_windows(split, episodes[first:first + batch_size],
                           starts[first:first + batch_size], lengths[first:first + batch_size],
                           window, action_key)
            for first in range(0, len(episodes), batch_size))
