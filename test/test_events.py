"""Interaction events found in unlabelled play, and the event-aligned subgoal pairs."""

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset import load_split, read_language
from play_lmp_training.calvin_dataset.events import (event_end_rows, event_rows,
                                                     segment_event_ends, segment_events)
from play_lmp_training.subgoal.data import EVENT_SETTLE_STEPS, PairSampler
import pytest

DRAWER = layout.ROBOT_OBS_DIM + layout.DRAWER
RED_X = layout.ROBOT_OBS_DIM + layout.block_slice(0).start


def still_segment(frames: int) -> np.ndarray:
    """Return (frames, 39) observations of a scene that never changes."""
    return np.zeros((frames, layout.OBS_DIM))


def test_events_end_where_the_scene_stops_changing():
    obs = still_segment(100)
    obs[10:30, DRAWER] = np.linspace(0.0, 0.1, 20)      # the drawer moves over frames 10-29
    obs[30:, DRAWER] = 0.1
    obs[60:70, RED_X] = np.linspace(0.0, 0.05, 10)      # a block is pushed over frames 60-69
    obs[70:, RED_X] = 0.05
    obs[90, RED_X + 1] = 0.002                          # a one-frame twitch is no event
    obs[91:, RED_X + 1] = 0.002
    assert segment_event_ends(obs).tolist() == [29, 69]
    # Each event starts at its first moving frame, where the scene is still as it was.
    assert segment_events(obs).tolist() == [[10, 29], [60, 69]]


def test_short_pauses_merge_and_a_still_scene_has_no_event():
    obs = still_segment(60)
    obs[10:20, DRAWER] = np.linspace(0.0, 0.05, 10)
    obs[20:23, DRAWER] = 0.05                            # a 3-frame pause
    obs[23:33, DRAWER] = np.linspace(0.05, 0.1, 10)
    obs[33:, DRAWER] = 0.1
    assert segment_event_ends(obs).tolist() == [32]
    assert segment_event_ends(still_segment(50)).tolist() == []


def test_event_ends_lie_near_the_annotated_task_ends(tiny_play):
    split = load_split(tiny_play / 'training', progress=False)
    ends = event_end_rows(split)
    assert np.all(np.diff(ends) > 0)
    for first, last in split.episode_bounds:
        inside = ends[(ends >= first) & (ends <= last + 1)]
        assert np.all(inside <= last)
    annotations = read_language(tiny_play / 'training')
    task_ends = split.rows_of_frames(annotations.frame_ranges)[:, 1]
    near = [np.min(np.abs(ends - end)) <= 25 for end in task_ends]
    assert np.mean(near) >= 0.6


def test_event_goals_lie_at_the_next_event_end_plus_the_settle_time(tiny_play):
    split = load_split(tiny_play / 'training', progress=False)
    sampler = PairSampler(split, horizon=8, max_goal_distance=60, seed=1,
                          event_goal_fraction=1.0)
    ends = event_end_rows(split)
    rows = np.arange(split.episode_bounds[0, 0], split.episode_bounds[-1, 1])
    last_rows = np.repeat(split.episode_bounds[:, 1], split.episode_lengths)[rows]
    room = last_rows - rows
    steps = sampler._event_goal_steps(rows, room, np.full(len(rows), -1))
    assert np.mean(steps > 0) > 0.3
    for row, step, left in zip(rows, steps, room):
        following = ends[ends > row]
        reachable = len(following) and following[0] - row <= min(left, 60)
        if step < 0:
            assert not reachable
            continue
        assert reachable and 1 <= step <= min(left, 60)
        assert following[0] <= row + step <= following[0] + EVENT_SETTLE_STEPS


def test_contact_subgoals_lie_where_the_next_event_starts(tiny_play):
    """Before an interaction: its first frame; inside one, or none before the goal: k ahead."""
    split = load_split(tiny_play / 'training', progress=False)
    sampler = PairSampler(split, horizon=8, max_goal_distance=60, seed=2,
                          subgoal_target='contact')
    events = event_rows(split)
    rows = np.concatenate([np.arange(first, last - 60) for first, last in split.episode_bounds])
    goal_steps = np.full(len(rows), 60)
    steps = sampler._contact_steps(rows, goal_steps, np.full(len(rows), -1))
    assert np.mean(steps > 0) > 0.3 and np.mean(steps < 0) > 0.05
    for row, step in zip(rows, steps):
        inside = np.any((events[:, 0] <= row) & (row < events[:, 1]))
        following = events[events[:, 0] > row, 0]
        if step < 0:
            assert inside or not len(following) or following[0] - row > 60
        else:
            assert not inside and row + step == following[0]
    batch = sampler.sample(32)
    assert batch['subgoal'].shape == (32, layout.OBS_DIM)


def test_a_contact_lead_counts_the_last_steps_before_an_event_as_inside_it(tiny_play):
    """With a lead of L, a state L or fewer steps before an event's start gets k ahead."""
    split = load_split(tiny_play / 'training', progress=False)
    plain = PairSampler(split, horizon=8, max_goal_distance=60, seed=2, subgoal_target='contact')
    led = PairSampler(split, horizon=8, max_goal_distance=60, seed=2, subgoal_target='contact',
                      contact_lead=3)
    rows = np.concatenate([np.arange(first, last - 60) for first, last in split.episode_bounds])
    goal_steps = np.full(len(rows), 60)
    fallback = np.full(len(rows), -1)
    before = plain._contact_steps(rows, goal_steps, fallback)
    after = led._contact_steps(rows, goal_steps, fallback)
    assert np.any((1 <= before) & (before <= 3))
    assert np.all(after[(1 <= before) & (before <= 3)] == -1)
    assert np.array_equal(after[before > 3], before[before > 3])
    with pytest.raises(ValueError, match='contact_lead'):
        PairSampler(split, horizon=8, max_goal_distance=60, subgoal_target='contact',
                    contact_lead=-1)
