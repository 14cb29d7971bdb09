"""
Interaction events found in unlabelled play: stretches where the scene changes.

A frame moves the scene when, to the next frame of the same segment, a door, drawer, button or
switch joint moves more than JOINT_STEP_M, a light toggles, or a block moves more than
BLOCK_STEP_M.  Moving frames separated by at most MERGE_GAP still frames form one event; events
shorter than MIN_EVENT_FRAMES (a block settling) are dropped.  An event ends at the first frame
after its last moving one: the scene as the interaction left it.  On 30,000 validation frames of
the scripted play, 353 events against 342 annotated task windows; 78% of the annotations end
within 25 frames of an event end (median 6).  No labels are used.
"""

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset.reader import PlaySplit

JOINT_STEP_M = 5e-4
BLOCK_STEP_M = 1e-3
MERGE_GAP = 5
MIN_EVENT_FRAMES = 3

_JOINTS = slice(layout.ROBOT_OBS_DIM + layout.SLIDER, layout.ROBOT_OBS_DIM + layout.SWITCH + 1)
_LIGHTS = slice(layout.ROBOT_OBS_DIM + layout.LIGHTBULB, layout.ROBOT_OBS_DIM + layout.LED + 1)
_BLOCK_POSITIONS = [layout.ROBOT_OBS_DIM + layout.block_slice(block).start + axis
                    for block in range(len(layout.BLOCK_NAMES)) for axis in range(3)]


def scene_moving(obs: np.ndarray) -> np.ndarray:
    """
    Tell which frames change the scene on the way to the next one.

    :param obs: (T, 39) observations of one segment.
    :return: (T,) bool; the last frame is never moving.
    """
    obs = np.asarray(obs, dtype=np.float64)
    step = np.abs(np.diff(obs, axis=0))
    moving = ((step[:, _JOINTS] > JOINT_STEP_M).any(axis=1)
              | (step[:, _LIGHTS] > 0.5).any(axis=1)
              | (step[:, _BLOCK_POSITIONS] > BLOCK_STEP_M).any(axis=1))
    return np.append(moving, False)


def segment_events(obs: np.ndarray) -> np.ndarray:
    """
    Find the interaction events of one segment.

    :param obs: (T, 39) observations of one segment.
    :return: (E, 2) frame offsets (within the segment): each event's first moving frame (the
        state where the interaction starts, the scene still as it was) and its end.
    """
    moving = np.flatnonzero(scene_moving(obs))
    if not len(moving):
        return np.zeros((0, 2), dtype=np.int64)
    breaks = np.flatnonzero(np.diff(moving) > MERGE_GAP + 1)
    firsts = np.concatenate([[moving[0]], moving[breaks + 1]])
    lasts = np.concatenate([moving[breaks], [moving[-1]]])
    keep = lasts - firsts + 1 >= MIN_EVENT_FRAMES
    return np.stack([firsts[keep], lasts[keep] + 1], axis=1).astype(np.int64)


def segment_event_ends(obs: np.ndarray) -> np.ndarray:
    """
    Find the ends of the interaction events of one segment.

    :param obs: (T, 39) observations of one segment.
    :return: sorted frame offsets (within the segment) where events end.
    """
    return segment_events(obs)[:, 1]


def event_rows(split: PlaySplit) -> np.ndarray:
    """
    Find every interaction event of a split.

    :param split: the play split.
    :return: (E, 2) sorted rows of the split arrays: where each event starts and ends (both
        inside its segment).
    """
    rows = []
    for first, last in split.episode_bounds:
        events = first + segment_events(np.asarray(split.obs[first:last + 1]))
        rows.append(events[events[:, 1] <= last])
    return np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64)


def event_end_rows(split: PlaySplit) -> np.ndarray:
    """
    Find every interaction event end of a split.

    :param split: the play split.
    :return: sorted rows of the split arrays where events end (each inside its segment).
    """
    return event_rows(split)[:, 1]
