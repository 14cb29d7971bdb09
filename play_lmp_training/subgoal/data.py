"""
Hindsight pairs from unlabelled play for the subgoal proposer and the distance model.

A proposer example is a state s_t, a goal s_{t+h} of the same play segment and its subgoal
s_{t+min(k, h)}: the state k steps along the way, or the goal itself when it is nearer.  The goal
is h uniform in [1, max_goal_distance] steps ahead (cut at the segment's end), or, for a share of
examples, where the next interaction event ends (play_lmp_training.calvin_dataset.events: the scene
as an interaction left it, found without labels), plus up to EVENT_SETTLE_STEPS: the kind of goal a
task makes, one interaction away.  A distance example is two states s_t, s_{t+d} of one segment
with d uniform in [0, max_goal_distance] (cut likewise) and target d, or, for a share of them, two
states of different segments with target max_goal_distance. With subgoal_target 'contact' the
subgoal is instead the state where the next interaction event starts (the hand at the object, the
scene still as it was), when that event starts after the state and by the goal; otherwise (no
interaction before the goal, or the state inside one) it stays k steps ahead; with a contact lead,
states up to that many steps before an event's start count as inside it.  Nothing here needs
labels: the play's own future is the supervision.
"""

from typing import Dict

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.events import event_rows
from play_lmp_training.calvin_dataset.reader import PlaySplit

Batch = Dict[str, np.ndarray]
# An event-aligned goal lies this many steps after the event's end at most (the hand moving
# off after an interaction, as a skill's last state has it).
EVENT_SETTLE_STEPS = 16
# Where a proposer example's subgoal lies: k steps ahead, or where the next interaction starts.
SUBGOAL_TARGETS = ('horizon', 'contact')


class PairSampler:
    """Draw proposer and distance examples from a split, reproducibly for a given seed."""

    def __init__(self, split: PlaySplit, horizon: int, max_goal_distance: int,
                 cross_segment_fraction: float = 0.1, seed: int = 0,
                 event_goal_fraction: float = 0.0, min_goal_distance: int = 1,
                 subgoal_target: str = 'horizon', contact_lead: int = 0):
        """
        Index the split's segments.

        :param split: the play split.
        :param horizon: k, steps from a state to its subgoal.
        :param max_goal_distance: farthest goal (and cross-segment distance), in steps.
        :param cross_segment_fraction: share of distance pairs from two different segments.
        :param seed: seed of the numpy generator.
        :param event_goal_fraction: share of proposer goals at the end of the next interaction
            event (where it lies within max_goal_distance).
        :param min_goal_distance: the nearest uniform goal, in steps (cut at the segment's end
            like the others).
        :param subgoal_target: one of SUBGOAL_TARGETS.
        :param contact_lead: with 'contact', states this many steps or fewer before an event's
            start count as inside it (their subgoal k steps ahead).
        :raises ValueError: if the split has no segment of at least two frames, or a bad
            argument.
        """
        if horizon < 1 or max_goal_distance <= horizon:
            raise ValueError(f'need 1 <= horizon < max_goal_distance, got {horizon} and '
                             f'{max_goal_distance}')
        if not 1 <= min_goal_distance <= max_goal_distance:
            raise ValueError(f'need 1 <= min_goal_distance <= max_goal_distance, got '
                             f'{min_goal_distance}')
        if subgoal_target not in SUBGOAL_TARGETS:
            raise ValueError(f'subgoal_target must be one of {list(SUBGOAL_TARGETS)}, got '
                             f'{subgoal_target!r}')
        if contact_lead < 0:
            raise ValueError(f'contact_lead must be >= 0, got {contact_lead}')
        if not 0.0 <= event_goal_fraction <= 1.0:
            raise ValueError(f'event_goal_fraction must lie in [0, 1], got '
                             f'{event_goal_fraction}')
        if not 0.0 <= cross_segment_fraction < 1.0:
            raise ValueError(f'cross_segment_fraction must lie in [0, 1), got '
                             f'{cross_segment_fraction}')
        self.split = split
        self.horizon = int(horizon)
        self.max_goal_distance = int(max_goal_distance)
        self.min_goal_distance = int(min_goal_distance)
        self.cross_segment_fraction = float(cross_segment_fraction)
        bounds = split.episode_bounds.astype(np.int64)
        lengths = bounds[:, 1] - bounds[:, 0] + 1
        if int(lengths.max()) < 2:
            raise ValueError(f'{split.split_dir} has no play segment of two frames or more')
        # Every row that has a later row in its segment can start a pair.
        self._segment_of_row = np.repeat(np.arange(len(bounds)), lengths)
        self._last_row = np.repeat(bounds[:, 1], lengths)
        self._starts = np.flatnonzero(self._last_row > np.arange(len(self._last_row)))
        self._num_segments = len(bounds)
        self.event_goal_fraction = float(event_goal_fraction)
        self.subgoal_target = subgoal_target
        self.contact_lead = int(contact_lead)
        # Finding the events reads every segment: only when they are used.
        events = (event_rows(split) if self.event_goal_fraction > 0 or subgoal_target == 'contact'
                  else np.zeros((0, 2), dtype=np.int64))
        self._event_starts, self._event_ends = events[:, 0], events[:, 1]
        self._rng = np.random.default_rng(seed)

    @property
    def rng(self) -> np.random.Generator:
        """Return the sampler's generator (its state is checkpointed for an exact resume)."""
        return self._rng

    def _event_goal_steps(self, rows: np.ndarray, room: np.ndarray,
                          fallback: np.ndarray) -> np.ndarray:
        """
        Return the steps from each row to the end of its next event, plus a settle time.

        :param rows: (N,) start rows.
        :param room: (N,) steps left in each row's segment.
        :param fallback: (N,) steps to keep where no event ends within reach.
        :return: (N,) steps in [1, min(room, max_goal_distance)].
        """
        nearest = np.minimum(np.searchsorted(self._event_ends, rows, side='right'),
                             len(self._event_ends) - 1)
        ahead = self._event_ends[nearest] - rows
        reach = np.minimum(room, self.max_goal_distance)
        settle = self._rng.integers(0, EVENT_SETTLE_STEPS + 1, size=len(rows))
        usable = (ahead >= 1) & (ahead <= reach)
        return np.where(usable, np.minimum(ahead + settle, reach), fallback)

    def _contact_steps(self, rows: np.ndarray, goal_steps: np.ndarray,
                       fallback: np.ndarray) -> np.ndarray:
        """
        Return the steps from each row to the start of its next event, where that is the target.

        :param rows: (N,) start rows.
        :param goal_steps: (N,) steps to each goal.
        :param fallback: (N,) steps to keep where not (no event starts after the row and by the
            goal, or the row lies inside an event or within contact_lead steps of its start).
        :return: (N,) steps in [1, goal_steps].
        """
        following = np.searchsorted(self._event_starts, rows + self.contact_lead, side='right')
        nearest = np.minimum(following, len(self._event_starts) - 1)
        ahead = self._event_starts[nearest] - rows
        previous = np.maximum(following - 1, 0)
        inside = (following > 0) & (self._event_ends[previous] > rows)
        usable = (following < len(self._event_starts)) & (ahead <= goal_steps) & ~inside
        return np.where(usable, ahead, fallback)

    def _obs(self, rows: np.ndarray) -> np.ndarray:
        """Return (N, 39) float32 observations of split rows."""
        return np.asarray(self.split.obs[rows], dtype=np.float32)

    def sample(self, batch_size: int) -> Batch:
        """
        Draw one batch of proposer examples and one of distance examples.

        :param batch_size: B, examples of each kind.
        :return: obs, goal, subgoal (B, 39) float32 and goal_steps (B,) int64 for the proposer;
            first, second (B, 39) float32 and steps (B,) float32 for the distance model.
        """
        rng = self._rng
        rows = self._starts[rng.integers(len(self._starts), size=batch_size)]
        room = self._last_row[rows] - rows
        goal_steps = np.minimum(rng.integers(self.min_goal_distance, self.max_goal_distance + 1,
                                             size=batch_size), room)
        # No draw without event goals, so that such a run's random stream stays as it was.
        events = (rng.random(batch_size) < self.event_goal_fraction
                  if self.event_goal_fraction > 0 else np.zeros(batch_size, dtype=bool))
        if events.any() and len(self._event_ends):
            goal_steps[events] = self._event_goal_steps(rows[events], room[events],
                                                        goal_steps[events])
        sub_steps = np.minimum(goal_steps, self.horizon)
        if self.subgoal_target == 'contact' and len(self._event_starts):
            sub_steps = self._contact_steps(rows, goal_steps, sub_steps)

        firsts = self._starts[rng.integers(len(self._starts), size=batch_size)]
        first_room = self._last_row[firsts] - firsts
        steps = np.minimum(rng.integers(0, self.max_goal_distance + 1, size=batch_size),
                           first_room)
        seconds = firsts + steps
        cross = rng.random(batch_size) < self.cross_segment_fraction
        if self._num_segments > 1 and cross.any():
            others = rng.integers(len(self._segment_of_row), size=int(cross.sum()))
            same = self._segment_of_row[others] == self._segment_of_row[firsts[cross]]
            # A draw from the same segment keeps its in-segment target instead.
            chosen = np.flatnonzero(cross)[~same]
            seconds[chosen] = others[~same]
            steps[chosen] = self.max_goal_distance
        return {
            'obs': self._obs(rows), 'goal': self._obs(rows + goal_steps),
            'subgoal': self._obs(rows + sub_steps), 'goal_steps': goal_steps,
            'first': self._obs(firsts), 'second': self._obs(seconds),
            'steps': steps.astype(np.float32),
        }


def wrapped_delta(target: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """
    Return target - origin with every angle dimension wrapped to [-pi, pi).

    :param target: (..., 39) states.
    :param origin: (..., 39) states.
    :return: (..., 39) differences.
    """
    delta = np.asarray(target, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    angles = list(layout.ANGLE_DIMS)
    delta[..., angles] = layout.wrap_to_pi(delta[..., angles])
    return delta
