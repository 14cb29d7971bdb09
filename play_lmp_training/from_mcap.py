"""
Turn MCAP recordings of the play table's control loop into a CALVIN-layout play dataset.

    python -m play_lmp_training.from_mcap out/rollout/rollout.mcap [more.mcap ...] --out data/robot

The recordings come from ``rollout --record`` (play_lmp_ros.recording) or from
``ros2 bag record -s mcap``: the ``<namespace>/observation`` topic (Observation) and the
``<namespace>/action`` topic (EndEffectorAction), whose header stamp is the stamp of the
observation it answers.  Each frame is an observation and the action stamped with it.  An
episode is a run of such frames; it ends at an observation that no action answers, at a stamp
gap of more than ``--max-gap`` control periods (stamps that go backwards too), and at a reset: a
change of state between two steps that no action explains (a jump of the TCP, an arm joint, the
door, the drawer, a switch or a block beyond what physics does in one step), or a next
observation whose last gripper command is not the action's.  Episodes never span two files.

Frames are written with play_lmp_training.calvin_dataset.CalvinWriter, the writer, checks and file
layout of play_lmp_training.collect.  What a policy is trained on is what was commanded: a relative
action is stored as rel_actions (float32; a zero stays exactly zero) and, as actions, the absolute
target it commands from the observed TCP (play_lmp_training.collect stores the pose reached at the
next frame instead, as CALVIN's renderer does); an absolute action is stored as actions with
CALVIN's clipped rel_actions.  robot_obs is stored as recorded (float64), scene_obs in CALVIN's
float32. Whole episodes go to the validation split (a seeded random ``--validation-fraction`` of
them), the rest to training.  Recordings carry no task labels, so the language annotation files are
empty placeholders.

Everything is read and checked before anything is written: a file that is not MCAP, a missing
topic, a message that does not decode, a non-finite or wrongly sized array or an unknown action
type stops the conversion with an error naming the file, the topic and the message.  The dataset
is written into a hidden folder beside ``--out`` and renamed to it at the end, so an interrupted
or failed conversion leaves no output folder.
"""

import argparse
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path
import shutil
import struct
import sys
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mcap.exceptions import McapError
from mcap.reader import make_reader, McapReader
from mcap.summary import Summary
from mcap_ros2.decoder import DecoderFactory
import numpy as np
from play_lmp_ros import conversions, qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_training.calvin_dataset import CalvinWriter, DatasetExistsError
from play_lmp_training.collect import VALIDATION_EVERY
from tqdm import tqdm
from zstandard import ZstdError

logger = logging.getLogger(__name__)

OBSERVATION_TYPE = 'play_lmp_interfaces/msg/Observation'
ACTION_TYPE = 'play_lmp_interfaces/msg/EndEffectorAction'
DATASET_ID = 'ros-recordings'
# Stamp gaps longer than this many control periods (1 / layout.CONTROL_HZ) end an episode.
DEFAULT_MAX_GAP_PERIODS = 3.0
# config/training/cpu_default.yaml's train.window: shorter episodes give no full window.
DEFAULT_MIN_FRAMES = 32
# As play_lmp_training.collect: every tenth episode goes to the validation split.
DEFAULT_VALIDATION_FRACTION = 1.0 / VALIDATION_EVERY
NANOSECONDS = 1_000_000_000
# What the MCAP reader raises on a file that is not MCAP, truncated or corrupt (a failed chunk CRC
# is a ValueError; a damaged zstd or lz4 chunk fails in its decompressor).
READ_ERRORS = (McapError, ValueError, EOFError, struct.error, ZstdError, RuntimeError)

# The largest change of a state dimension between two consecutive steps that is not a reset.
# Over 20,000 frames of scripted play (action noise up to 0.15, speed up to 1.2) one step moved
# the TCP by at most 0.085 m per axis, an arm joint by 0.14 rad, the door, the drawer or a switch
# by 0.067 m and a block by 0.057 m; a block falling off the table (0.46 m) reaches about 3 m/s,
# 0.1 m per step.
# Euler angles are left out: they wrap and flip near pitch +-pi/2 in a single step.
JUMP_LIMITS: Tuple[Tuple[Tuple[int, ...], float], ...] = (
    (tuple(range(layout.TCP_POS.start, layout.TCP_POS.stop)), 0.15),
    (tuple(range(layout.ARM_JOINTS.start, layout.ARM_JOINTS.stop)), 0.5),
    (tuple(layout.ROBOT_OBS_DIM + index for index in (
        layout.SLIDER, layout.DRAWER, layout.BUTTON, layout.SWITCH)), 0.15),
    (tuple(layout.ROBOT_OBS_DIM + layout.block_slice(block).start + axis
           for block in range(len(layout.BLOCK_NAMES)) for axis in range(3)), 0.25),
)
_JUMP_DIMS = np.array([dim for dims, _ in JUMP_LIMITS for dim in dims])
_JUMP_LIMIT_VALUES = np.array([limit for dims, limit in JUMP_LIMITS for _ in dims])

# Why an episode was split between two frames, in the order they are checked.
BREAK_REASONS = ('stamp_backwards', 'stamp_gap', 'state_jump', 'gripper_mismatch')


@dataclass
class Recording:
    """
    The control loop of one recording, decoded and validated.

    :param path: the MCAP file.
    :param observation_topic: the observation topic read.
    :param stamps: (N,) int64 header stamps (ns) of the observations, in file order.
    :param observations: (N, 39) float64.
    :param action_stamps: (M,) int64 header stamps of the actions, in file order.
    :param actions: (M, 7) float64 actions as recorded.
    :param relative: (M,) bool, True for RELATIVE actions.
    """

    path: Path
    observation_topic: str
    stamps: np.ndarray
    observations: np.ndarray
    action_stamps: np.ndarray
    actions: np.ndarray
    relative: np.ndarray


@dataclass
class Episode:
    """
    A run of paired frames, ready for the writer.

    :param source: the file it comes from.
    :param robot_obs: (T, 15) float64.
    :param scene_obs: (T, 24) float64.
    :param actions: (T, 7) float64 absolute actions.
    """

    source: str
    robot_obs: np.ndarray
    scene_obs: np.ndarray
    actions: np.ndarray

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.actions)


@dataclass
class PairingCounts:
    """
    What pairing kept and left out, summed over recordings.

    :param observations: observations read.
    :param actions: actions read.
    :param paired: observations answered by an action (counted before holds and short episodes
        are left out).
    :param unanswered: observations no action answers (or whose stamp another observation
        shares, so that no action can be told apart).
    :param orphan_actions: actions whose stamp is no observation's.
    :param replaced_actions: earlier actions for a stamp that a later one replaced.
    :param holds_dropped: hold frames left out by drop_holds.
    :param breaks: reason -> episode splits between two paired frames.
    :param short_episodes: episodes left out for having fewer than min_frames frames.
    :param short_frames: their frames.
    """

    observations: int = 0
    actions: int = 0
    paired: int = 0
    unanswered: int = 0
    orphan_actions: int = 0
    replaced_actions: int = 0
    holds_dropped: int = 0
    breaks: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(BREAK_REASONS, 0))
    short_episodes: int = 0
    short_frames: int = 0


def recording_files(paths: Sequence[Path]) -> List[Path]:
    """
    Expand the command line's recordings: a folder (a rosbag2 bag) gives its .mcap files.

    :param paths: MCAP files or folders holding them.
    :return: the MCAP files, in the order given (a folder's sorted by name).
    :raises FileNotFoundError: for a path that does not exist or a folder without .mcap files.
    """
    found: List[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(path.glob('*.mcap'))
            if not inside:
                raise FileNotFoundError(f'{path}: a folder without .mcap files')
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f'{path}: no such file')
    return found


def control_topics(path: Path, topic_types: Dict[str, str],
                   namespace: Optional[str]) -> Tuple[str, str]:
    """
    Choose the observation and action topics of a recording.

    :param path: the file, for messages.
    :param topic_types: topic -> schema name of every channel in the file.
    :param namespace: the play table's namespace; None takes /play_lmp, or else the file's single
        topic of type Observation.
    :return: (observation topic, action topic).
    :raises ValueError: naming the file when the topics are missing, ambiguous or of another type.
    """
    listed = ', '.join(sorted(topic_types)) or 'none'
    default = f'/{qos.NAMESPACE}/{qos.OBSERVATION_TOPIC}'
    if namespace is not None:
        parts = [part for part in namespace.split('/') if part]
        observation = '/' + '/'.join(parts + [qos.OBSERVATION_TOPIC])
        if observation not in topic_types:
            raise ValueError(f'{path}: no observation topic {observation} (topics: {listed})')
    elif default in topic_types:
        observation = default
    else:
        candidates = sorted(topic for topic, name in topic_types.items()
                            if name == OBSERVATION_TYPE)
        if not candidates:
            raise ValueError(f'{path}: no observation topic: neither {default} nor any topic of '
                             f'type {OBSERVATION_TYPE} (topics: {listed})')
        if len(candidates) > 1:
            raise ValueError(f'{path}: several observation topics ({", ".join(candidates)}): '
                             'choose one with --namespace')
        observation = candidates[0]
    action = f'{observation.rsplit("/", 1)[0]}/{qos.ACTION_TOPIC}'
    for topic, expected in ((observation, OBSERVATION_TYPE), (action, ACTION_TYPE)):
        if topic not in topic_types:
            raise ValueError(f'{path}: no action topic {topic} beside {observation}, so there '
                             f'is nothing to pair the observations with (topics: {listed})')
        if topic_types[topic] != expected:
            raise ValueError(f'{path}: topic {topic} carries {topic_types[topic] or "no schema"}'
                             f', not {expected}')
    return observation, action


def read_recording(path: Path, namespace: Optional[str] = None,
                   progress: bool = True) -> Recording:
    """
    Decode and validate the observations and actions of one MCAP file.

    :param path: the file.
    :param namespace: see control_topics.
    :param progress: show a progress bar.
    :return: the recording.
    :raises ValueError: naming the file (and the topic and message) when it is not a readable
        MCAP file, lacks the topics, or holds a message that does not decode or validate
        (conversions.observation_to_array, conversions.action_to_array: sizes, NaN / inf,
        relative motion in [-1, 1], gripper exactly +-1, RELATIVE or ABSOLUTE).
    """
    stamps: List[int] = []
    observations: List[np.ndarray] = []
    action_stamps: List[int] = []
    actions: List[np.ndarray] = []
    relative: List[bool] = []
    counts: Dict[str, int] = {}
    try:
        stream = open(path, 'rb')
    except OSError as error:
        raise ValueError(f'{path}: cannot read it ({error.strerror or error})') from None
    with stream:
        reader, summary = _open_mcap(stream, path)
        topic_types = {channel.topic: (summary.schemas[channel.schema_id].name
                                       if channel.schema_id in summary.schemas else '')
                       for channel in summary.channels.values()}
        topics = control_topics(path, topic_types, namespace)
        total = None
        if summary.statistics is not None:
            total = sum(summary.statistics.channel_message_counts.get(channel.id, 0)
                        for channel in summary.channels.values() if channel.topic in topics)
        factory = DecoderFactory()
        with tqdm(total=total, unit='msg', desc=path.name, disable=not progress,
                  leave=False) as bar:
            for schema, channel, message in _messages(reader, path, topics):
                topic = channel.topic
                index = counts.get(topic, 0)
                counts[topic] = index + 1
                decoded = _decode(factory, path, schema, channel, message, index)
                try:
                    if topic == topics[0]:
                        observations.append(conversions.observation_to_array(decoded))
                        stamps.append(conversions.stamp_ns(decoded.header.stamp))
                    else:
                        action, action_type = conversions.action_to_array(decoded)
                        actions.append(action)
                        relative.append(action_type == 'relative')
                        action_stamps.append(conversions.stamp_ns(decoded.header.stamp))
                except (ValueError, AttributeError, TypeError) as error:
                    raise ValueError(f'{path}: {topic} message {index}: {error}') from None
                bar.update()
    if not observations:
        raise ValueError(f'{path}: topic {topics[0]} has no messages')
    return Recording(
        path=path, observation_topic=topics[0], stamps=np.array(stamps, dtype=np.int64),
        observations=np.array(observations).reshape(-1, layout.OBS_DIM),
        action_stamps=np.array(action_stamps, dtype=np.int64),
        actions=np.array(actions).reshape(-1, layout.ACTION_DIM),
        relative=np.array(relative, dtype=bool))


def _unreadable(path: Path, error: Exception) -> ValueError:
    """Return the error for a file the MCAP reader fails on."""
    return ValueError(f'{path}: not a readable MCAP file ({type(error).__name__}: {error})')


def _open_mcap(stream, path: Path) -> Tuple[McapReader, Summary]:
    """
    Open an MCAP stream, checking chunk CRCs, and read its summary section.

    :param stream: the open file.
    :param path: its name, for messages.
    :return: the reader and the summary.
    :raises ValueError: naming the file when it is no MCAP file or has no summary.
    """
    try:
        reader = make_reader(stream, validate_crcs=True)
        summary = reader.get_summary()
    except READ_ERRORS as error:
        raise _unreadable(path, error) from None
    if summary is None:
        raise ValueError(f'{path}: an MCAP file without a summary section (a recording that '
                         'was not closed?); it cannot be read')
    return reader, summary


def _messages(reader: McapReader, path: Path, topics: Sequence[str]) -> Iterator[tuple]:
    """
    Yield (schema, channel, message) of some topics in file order: the order they arrived in.

    :raises ValueError: naming the file when a record cannot be read.
    """
    iterator = reader.iter_messages(topics=list(topics), log_time_order=False)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except READ_ERRORS as error:
            raise _unreadable(path, error) from None
        yield item


def _decode(factory: DecoderFactory, path: Path, schema, channel, message, index: int):
    """
    Decode one CDR message with its channel's ros2msg schema.

    :return: the decoded message.
    :raises ValueError: naming the file, topic and message when it cannot be decoded.
    """
    where = f'{path}: {channel.topic} message {index}'
    try:
        decoder = factory.decoder_for(channel.message_encoding, schema)
    except Exception as error:  # noqa: B902 - the schema parser raises several kinds
        raise ValueError(f'{where}: unusable schema ({error})') from None
    if decoder is None:
        raise ValueError(f'{where}: not CDR with a ros2msg schema '
                         f'(encoding {channel.message_encoding!r})')
    try:
        return decoder(message.data)
    except Exception as error:  # noqa: B902 - a malformed buffer fails anywhere in the decoder
        raise ValueError(f'{where}: cannot decode it ({type(error).__name__}: {error})') from None


def is_hold(action: np.ndarray, relative: bool, observation: np.ndarray) -> bool:
    """
    Tell whether an action holds the robot: zero relative motion, the gripper command unchanged.

    :param action: (7,) action as recorded.
    :param relative: whether it is a RELATIVE action (an absolute one is never a hold).
    :param observation: (39,) observation it answers.
    :return: True for a hold.
    """
    return relative and np.array_equal(
        action, layout.hold_action(layout.gripper_command_of(observation)))


def step_breaks(recording: Recording, action_index: np.ndarray,
                max_gap_periods: float) -> np.ndarray:
    """
    Find, between each two consecutive observations, why the second cannot follow the first.

    :param recording: the recording.
    :param action_index: (N,) index into the recording's actions of the action answering each
        observation, -1 for none.
    :param max_gap_periods: longest stamp gap (control periods) inside an episode; 0: any.
    :return: (N - 1,) int: 0 when observation i + 1 follows observation i, else one plus the
        index in BREAK_REASONS of the first reason it does not.
    """
    stamps, obs = recording.stamps, recording.observations
    steps = np.diff(stamps)
    reasons = np.zeros(len(steps), dtype=np.int64)
    gripper = np.where(action_index[:-1] >= 0,
                       recording.actions[np.maximum(action_index[:-1], 0), layout.ACTION_DIM - 1],
                       obs[1:, layout.GRIPPER_ACTION])
    jump = (np.abs(np.diff(obs[:, _JUMP_DIMS], axis=0)) > _JUMP_LIMIT_VALUES).any(axis=1)
    checks = [
        steps <= 0,
        (steps > max_gap_periods * NANOSECONDS / layout.CONTROL_HZ if max_gap_periods > 0
         else np.zeros(len(steps), dtype=bool)),
        jump,
        obs[1:, layout.GRIPPER_ACTION] != gripper,
    ]
    for number, check in reversed(list(enumerate(checks, start=1))):
        reasons[check] = number
    return reasons


def pair_episodes(recording: Recording, counts: PairingCounts,
                  max_gap_periods: float = DEFAULT_MAX_GAP_PERIODS,
                  drop_holds: bool = False) -> List[Episode]:
    """
    Pair each observation with the action stamped with it and cut the frames into episodes.

    :param recording: the recording.
    :param counts: updated with what was kept and left out.
    :param max_gap_periods: longest stamp gap (control periods) inside an episode; 0: any.
    :param drop_holds: leave hold frames out (each run of them ends an episode).
    :return: the episodes, in recording order, of any length.
    """
    stamps = recording.stamps
    counts.observations += len(stamps)
    counts.actions += len(recording.action_stamps)
    unique, occurrences = np.unique(stamps, return_counts=True)
    shared = set(unique[occurrences > 1].tolist())
    observation_of = {int(stamp): index for index, stamp in enumerate(stamps)}
    action_index = np.full(len(stamps), -1, dtype=np.int64)
    for index, stamp in enumerate(recording.action_stamps.tolist()):
        if stamp not in observation_of:
            counts.orphan_actions += 1
        elif stamp not in shared:
            # The latest action for a stamp is the one the simulator applied.
            target = observation_of[stamp]
            counts.replaced_actions += int(action_index[target] >= 0)
            action_index[target] = index
    paired = action_index >= 0
    counts.paired += int(paired.sum())
    counts.unanswered += int((~paired).sum())
    keep = paired.copy()
    if drop_holds:
        for index in np.flatnonzero(paired):
            if is_hold(recording.actions[action_index[index]],
                       bool(recording.relative[action_index[index]]),
                       recording.observations[index]):
                keep[index] = False
                counts.holds_dropped += 1
    reasons = step_breaks(recording, action_index, max_gap_periods)
    episodes: List[Episode] = []
    run: List[int] = []
    for index in range(len(stamps)):
        if run and (not keep[index] or reasons[index - 1]):
            if keep[index]:
                counts.breaks[BREAK_REASONS[reasons[index - 1] - 1]] += 1
            episodes.append(_episode(recording, run, action_index))
            run = []
        if keep[index]:
            run.append(index)
    if run:
        episodes.append(_episode(recording, run, action_index))
    return episodes


def _episode(recording: Recording, rows: List[int], action_index: np.ndarray) -> Episode:
    """Build an Episode from observation rows, turning relative actions into absolute ones."""
    obs = recording.observations[rows]
    actions = np.empty((len(rows), layout.ACTION_DIM))
    for frame, row in enumerate(rows):
        action = recording.actions[action_index[row]]
        if recording.relative[action_index[row]]:
            tcp_pose = np.concatenate([obs[frame, layout.TCP_POS], obs[frame, layout.TCP_ORN]])
            absolute = layout.relative_to_absolute(action, tcp_pose)
            # wrap_to_pi(euler + 0) can differ from euler in the last bit, which CALVIN's formula
            # turns into a rel_action of 1e-14 instead of 0: keep a zero command exactly zero.
            absolute[3:6] = np.where(action[3:6] == 0.0, tcp_pose[3:], absolute[3:6])
            action = absolute
        actions[frame] = action
    robot_obs, scene_obs = layout.split_observation(obs)
    return Episode(str(recording.path), robot_obs, scene_obs, actions)


def choose_validation(num_episodes: int, fraction: float, seed: int) -> np.ndarray:
    """
    Choose the validation episodes: a seeded random fraction of them, at least one.

    :param num_episodes: episodes kept, at least 2 when fraction > 0.
    :param fraction: share of episodes for validation, in [0, 1); 0 gives none.
    :param seed: seed of the choice.
    :return: (num_episodes,) bool, True for validation.
    :raises ValueError: when both splits cannot get a whole episode.
    """
    chosen = np.zeros(num_episodes, dtype=bool)
    if fraction == 0.0:
        return chosen
    if num_episodes < 2:
        raise ValueError(
            f'{num_episodes} episode cannot fill both the training and the validation split, '
            'which take whole episodes: convert more recordings, or pass '
            '--validation-fraction 0 for a training split alone')
    count = min(max(1, round(fraction * num_episodes)), num_episodes - 1)
    rng = np.random.default_rng(seed)
    chosen[rng.choice(num_episodes, size=count, replace=False)] = True
    return chosen


def _write_split(root: Path, split: str, episodes: List[Episode], settings: Dict[str, object],
                 bar: tqdm) -> None:
    """Write one split's episodes with CalvinWriter and finalize it."""
    writer = CalvinWriter(root, split, dataset_id=DATASET_ID, settings=settings)
    for episode in episodes:
        writer.begin_episode()
        for t in range(len(episode)):
            writer.add_frame(episode.robot_obs[t], episode.scene_obs[t], episode.actions[t])
        writer.end_episode()
        bar.update(len(episode))
    writer.finalize()


def _check_out(out: Path) -> None:
    """Refuse an output path that exists, unless it is an empty folder."""
    if out.is_dir() and not any(out.iterdir()):
        return
    if out.exists() or out.is_symlink():
        raise DatasetExistsError(f'{out} already exists; it was left untouched. Choose another '
                                 '--out or remove it.')


def _count(number: int, noun: str) -> str:
    """Return e.g. '1 episode' or '3 episodes'."""
    return f'{number} {noun}' if number == 1 else f'{number} {noun}s'


def convert(recordings: Sequence[Path], out: Path, namespace: Optional[str] = None,
            max_gap_periods: float = DEFAULT_MAX_GAP_PERIODS,
            min_frames: int = DEFAULT_MIN_FRAMES, drop_holds: bool = False,
            validation_fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0,
            progress: bool = True) -> Dict[str, object]:
    """
    Convert recordings into a CALVIN-layout dataset at out (training/ and validation/).

    :param recordings: MCAP files or folders of them.
    :param out: the dataset root; it must not exist, or be an empty folder.
    :param namespace: see control_topics.
    :param max_gap_periods: longest stamp gap (control periods) inside an episode; 0: any.
    :param min_frames: shorter episodes are left out (and counted).
    :param drop_holds: leave hold frames out.
    :param validation_fraction: share of the episodes for validation, in [0, 1).
    :param seed: seed of the validation choice.
    :param progress: show progress bars.
    :return: a summary: files, episodes and frames per split, what was left out, seconds.
    :raises ValueError: for bad options, an unusable recording or no episode long enough
        (nothing is written then).
    :raises FileNotFoundError: for a missing recording.
    :raises DatasetExistsError: when out exists and is not an empty folder.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f'--validation-fraction must lie in [0, 1), got {validation_fraction}')
    if min_frames < 1:
        raise ValueError(f'--min-frames must be at least 1, got {min_frames}')
    if not max_gap_periods >= 0.0:
        raise ValueError(f'--max-gap must be >= 0 control periods, got {max_gap_periods}')
    out = Path(out)
    _check_out(out)
    started = time.perf_counter()
    paths = recording_files(recordings)
    counts = PairingCounts()
    episodes: List[Episode] = []
    for path in paths:
        recording = read_recording(path, namespace, progress)
        found = pair_episodes(recording, counts, max_gap_periods, drop_holds)
        logger.info('%s: %d observations on %s, %d actions: %s before the length check', path,
                    len(recording.stamps), recording.observation_topic,
                    len(recording.action_stamps), _count(len(found), 'episode'))
        for episode in found:
            if len(episode) < min_frames:
                counts.short_episodes += 1
                counts.short_frames += len(episode)
            else:
                episodes.append(episode)
    if not episodes:
        raise ValueError(f'no episode of at least {min_frames} frames in '
                         f'{", ".join(map(str, paths))} ({counts.paired} paired frames, '
                         f'{counts.short_episodes} shorter episodes); see --min-frames and '
                         '--max-gap')
    validation = choose_validation(len(episodes), validation_fraction, seed)
    splits = {'training': [e for e, v in zip(episodes, validation) if not v]}
    if validation.any():
        splits['validation'] = [e for e, v in zip(episodes, validation) if v]
    settings = {'sources': [str(path) for path in paths], 'namespace': namespace,
                'max_gap_periods': max_gap_periods, 'min_frames': min_frames,
                'drop_holds': drop_holds, 'validation_fraction': validation_fraction,
                'seed': seed}
    frames = sum(len(episode) for episode in episodes)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f'.{out.name}.partial-{os.getpid()}'
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tqdm(total=frames, unit='frame', desc='write', disable=not progress) as bar:
            for split, chosen in splits.items():
                _write_split(staging, split, chosen, settings, bar)
        _check_out(out)
        if out.is_dir():
            out.rmdir()
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    elapsed = time.perf_counter() - started
    return {
        'out': str(out),
        'files': [str(path) for path in paths],
        'episodes': {split: len(chosen) for split, chosen in splits.items()},
        'frames': {split: sum(len(e) for e in chosen) for split, chosen in splits.items()},
        'observations': counts.observations,
        'actions': counts.actions,
        'paired': counts.paired,
        'unanswered_observations': counts.unanswered,
        'orphan_actions': counts.orphan_actions,
        'replaced_actions': counts.replaced_actions,
        'holds_dropped': counts.holds_dropped,
        'breaks': dict(counts.breaks),
        'short_episodes': counts.short_episodes,
        'short_frames': counts.short_frames,
        'min_frames': min_frames,
        'seconds': round(elapsed, 3),
        'frames_per_second': round(frames / elapsed, 1) if elapsed > 0 else None,
    }


def summary_line(summary: Dict[str, object]) -> str:
    """
    Say in one line what a conversion wrote and left out.

    :param summary: convert's result.
    :return: the line.
    """
    episodes, frames = summary['episodes'], summary['frames']
    splits = ', '.join(f'{count} {split}' for split, count in episodes.items())
    return (f'{_count(sum(episodes.values()), "episode")} ({splits}), '
            f'{_count(sum(frames.values()), "frame")} -> {summary["out"]}; dropped '
            f'{_count(summary["short_episodes"], "episode")} under {summary["min_frames"]} '
            f'frames ({_count(summary["short_frames"], "frame")}), '
            f'{_count(summary["holds_dropped"], "hold")} and '
            f'{_count(summary["unanswered_observations"], "observation")} without an action; '
            f'{summary["frames_per_second"]} frames/s')


EPILOG = """\
What is kept: every observation answered by an action (the action whose header stamp is the
observation's) becomes a frame, holds included (zero relative motion with the gripper command
unchanged, which a policy sends while it waits for a goal), unless --drop-holds.  Left out, and
counted: observations no action answers (the last one, or one the policy never answered),
actions that answer no recorded observation, and episodes under --min-frames.

Episodes end at an unanswered observation, at a reset (a jump of state that no action explains,
or a gripper command the action did not send) and at a stamp gap above --max-gap.  A lockstep
simulator waits for each action, so its pause between two goals is such a gap: --max-gap 0
keeps those pauses inside an episode (resets are still found by the state check).
"""


def build_parser() -> argparse.ArgumentParser:
    """
    Build the command line parser.

    :return: the parser.
    """
    parser = argparse.ArgumentParser(
        prog='python -m play_lmp_training.from_mcap', description=__doc__.strip().splitlines()[0],
        epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument('recordings', nargs='+', type=Path,
                        help='MCAP files, or rosbag2 folders of them')
    parser.add_argument('--out', type=Path, required=True,
                        help='dataset root to create (absent or an empty folder)')
    parser.add_argument('--namespace',
                        help=f'namespace of the play table (default: {qos.NAMESPACE}, or the one '
                        'observation topic a file has)')
    parser.add_argument('--max-gap', type=float, default=DEFAULT_MAX_GAP_PERIODS,
                        metavar='PERIODS',
                        help='longest stamp gap inside an episode, in control periods of '
                        f'1/{layout.CONTROL_HZ} s (default {DEFAULT_MAX_GAP_PERIODS:g}; 0: any)')
    length = parser.add_mutually_exclusive_group()
    length.add_argument('--min-frames', type=int, metavar='N',
                        help='shortest episode kept (default '
                        f'{DEFAULT_MIN_FRAMES}, train.window of cpu_default.yaml)')
    length.add_argument('--config', type=Path, metavar='YAML',
                        help='take --min-frames from a training configuration: its train.window '
                        '(Play-LMP) or train.min_window (Play-GCBC)')
    parser.add_argument('--drop-holds', action='store_true',
                        help='leave hold frames out; each run of them ends an episode')
    parser.add_argument('--validation-fraction', type=float,
                        default=DEFAULT_VALIDATION_FRACTION, metavar='FRACTION',
                        help='share of whole episodes for validation/ (default '
                        f'{DEFAULT_VALIDATION_FRACTION:g}, as play_lmp_training.collect; 0: none)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the validation choice')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser


def min_frames_of(config_path: Path) -> int:
    """
    Return the shortest episode a training configuration can sample a window from.

    :param config_path: a training YAML (config/training/*.yaml).
    :return: train.window for Play-LMP, train.min_window for Play-GCBC.
    :raises ValueError: for an invalid configuration.
    """
    # Imported here: the configuration module pulls in torch.
    from play_lmp_training.play_lmp.configuration import load_config

    config = load_config(config_path)
    if config.model.method == 'gcbc':
        return config.train.min_window
    return config.train.window


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the converter from the command line.

    :param argv: arguments, sys.argv[1:] when None.
    :return: process exit code: 0, or 2 with one error line.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    logger.setLevel(logging.INFO)
    try:
        min_frames = args.min_frames
        if args.config is not None:
            min_frames = min_frames_of(args.config)
        summary = convert(args.recordings, args.out, args.namespace, args.max_gap,
                          DEFAULT_MIN_FRAMES if min_frames is None else min_frames,
                          args.drop_holds, args.validation_fraction, args.seed,
                          progress=not args.no_progress)
    except (ValueError, OSError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    logger.info('breaks: %s; %d orphan actions, %d replaced actions', summary['breaks'],
                summary['orphan_actions'], summary['replaced_actions'])
    print(summary_line(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
