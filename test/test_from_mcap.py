"""
MCAP recordings to CALVIN datasets (play_lmp_training.from_mcap), on a real lockstep rollout.

The recording is made the real way, once per module: ``python -m play_lmp_ros.rollout`` with the
scripted backend in lockstep mode and ``--record``.  Broken recordings are copies of it written
with the package's own McapRecorder, one message changed.  Pairing rules are also checked on
small hand-built recordings, where the expected episodes are known exactly.
"""

import os
from pathlib import Path
import subprocess
import sys
from typing import Callable, Dict, List, Optional

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import numpy as np
from play_lmp_interfaces.msg import EndEffectorAction, Observation
from play_lmp_ros import qos
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.skills import infeasibility
from play_lmp_ros.recording import McapRecorder
from play_lmp_training import from_mcap, train
from play_lmp_training.calvin_dataset import files, load_split, WindowSampler
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from training_fixtures import tiny_arguments

REPO = Path(__file__).resolve().parents[1]
SEED = 0
# Feasible from seed 0's scene, on three different parts of the table.
TASKS = ('open_drawer', 'turn_on_led', 'move_slider_right')
OBSERVATION_TOPIC = '/play_lmp/observation'
ACTION_TOPIC = '/play_lmp/action'
PERIOD_NS = round(1e9 / layout.CONTROL_HZ)


@pytest.fixture(scope='module')
def _rollouts() -> Dict[str, Path]:
    """Hold the module's recording once it is made."""
    return {}


@pytest.fixture
def recording(ros_domain, tmp_path_factory, _rollouts) -> Path:
    """
    Record a scripted lockstep rollout of three tasks (once per module).

    :return: the rollout.mcap file.
    """
    if 'mcap' not in _rollouts:
        with PlayTableSim(seed=SEED) as sim:
            obs = sim.reset_random(SEED)
        assert all(infeasibility(task, obs) is None for task in TASKS)
        out = tmp_path_factory.mktemp('rollout')
        process = subprocess.run(
            [sys.executable, '-m', 'play_lmp_ros.rollout', '--backend', 'scripted', '--mode',
             'lockstep', '--seed', str(SEED), '--tasks', ','.join(TASKS), '--record',
             '--namespace', qos.NAMESPACE, '--out', str(out)],
            capture_output=True, text=True, cwd=REPO, timeout=240,
            env={**os.environ, 'PYTHONPATH': os.pathsep.join(
                [str(REPO), os.environ.get('PYTHONPATH', '')])})
        assert process.returncode == 0, process.stderr[-3000:]
        _rollouts['mcap'] = out / 'rollout.mcap'
    return _rollouts['mcap']


def recorded_pairs(path: Path) -> Dict[str, np.ndarray]:
    """
    Decode a recording and pair every observation with the action stamped with it.

    :param path: the MCAP file.
    :return: robot_obs (P, 15), scene_obs (P, 24) and actions (P, 7) of the paired observations
        in recording order, and the number of observations.
    """
    observations, actions = [], {}
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for _, channel, _, decoded in reader.iter_decoded_messages(
                topics=[OBSERVATION_TOPIC, ACTION_TOPIC]):
            stamp = (decoded.header.stamp.sec, decoded.header.stamp.nanosec)
            if channel.topic == OBSERVATION_TOPIC:
                observations.append((stamp, decoded))
            else:
                assert decoded.type == EndEffectorAction.RELATIVE
                actions[stamp] = list(decoded.position) + list(decoded.orientation) + [
                    decoded.gripper]
    paired = [(msg, actions[stamp]) for stamp, msg in observations if stamp in actions]
    return {
        'robot_obs': np.array([list(msg.robot_obs) for msg, _ in paired]),
        'scene_obs': np.array([list(msg.scene_obs) for msg, _ in paired]),
        'actions': np.array([action for _, action in paired]),
        'observations': len(observations),
    }


def dataset_frames(split_dir: Path) -> List[Dict[str, np.ndarray]]:
    """
    Read every episode of a split, frame file by frame file.

    :param split_dir: the split directory.
    :return: per episode, each state key stacked over its frames.
    """
    episodes = []
    for start, end in load_split(split_dir, progress=False).ep_start_end_ids:
        frames = [files.read_frame_states(split_dir / files.frame_file_name(frame_id))
                  for frame_id in range(start, end + 1)]
        episodes.append({key: np.stack([frame[key] for frame in frames]) for key in frames[0]})
    return episodes


def convert(arguments: List[str], capsys) -> tuple:
    """
    Run the command line in this process.

    :param arguments: its arguments.
    :param capsys: pytest's capture fixture.
    :return: exit code, stdout and stderr.
    """
    code = from_mcap.main([*arguments, '--no-progress'])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_rollout_becomes_one_episode_frame_for_frame(recording, tmp_path, capsys):
    """Without the gap rule a lockstep run is one episode: every paired frame, exactly."""
    out = tmp_path / 'data'
    code, stdout, stderr = convert([str(recording), '--out', str(out), '--max-gap', '0',
                                    '--validation-fraction', '0'], capsys)
    assert code == 0, stderr
    expected = recorded_pairs(recording)
    # The last observation is answered by no action; every other one is.
    assert len(expected['actions']) == expected['observations'] - 1
    assert sorted(path.name for path in out.iterdir()) == ['training']
    (episode,) = dataset_frames(out / 'training')
    assert len(episode['rel_actions']) == len(expected['actions'])
    assert stdout.strip().startswith(f'1 episode (1 training), {len(expected["actions"])} frames')
    # robot_obs is stored as recorded; scene_obs and the actions in CALVIN's float32.
    np.testing.assert_array_equal(episode['robot_obs'], expected['robot_obs'])
    np.testing.assert_array_equal(episode['scene_obs'],
                                  expected['scene_obs'].astype(np.float32))
    np.testing.assert_array_equal(episode['rel_actions'], expected['actions'].astype(np.float32))
    # The absolute action is the target the relative one commands from the observed TCP.
    target = expected['robot_obs'][:, :3] + expected['actions'][:, :3] * layout.MAX_REL_POS_M
    np.testing.assert_allclose(episode['actions'][:, :3], target, atol=1e-6)
    np.testing.assert_array_equal(episode['actions'][:, 6], expected['actions'][:, 6])


def test_default_conversion_splits_at_goal_pauses_and_trains(recording, tmp_path, capsys):
    """Default settings: pauses split goals apart, whole episodes go to validation, it trains."""
    out = tmp_path / 'data'
    summary = from_mcap.convert([recording], out, progress=False)
    assert summary['breaks']['stamp_gap'] >= len(TASKS) - 1
    expected = recorded_pairs(recording)
    splits = {name: dataset_frames(out / name) for name in ('training', 'validation')}
    assert splits['training'] and splits['validation']
    episodes = splits['training'] + splits['validation']
    assert all(len(episode['rel_actions']) >= from_mcap.DEFAULT_MIN_FRAMES
               for episode in episodes)
    # Every kept episode is a contiguous run of the recorded pairs; the rest were too short.
    rows = {row.tobytes(): index for index, row in enumerate(expected['robot_obs'])}
    covered = 0
    for episode in episodes:
        first = rows[episode['robot_obs'][0].tobytes()]
        length = len(episode['rel_actions'])
        np.testing.assert_array_equal(episode['robot_obs'],
                                      expected['robot_obs'][first:first + length])
        np.testing.assert_array_equal(
            episode['rel_actions'], expected['actions'][first:first + length].astype(np.float32))
        covered += length
    assert covered + summary['short_frames'] == len(expected['actions']) == summary['paired']
    assert summary['frames'] == {name: sum(len(e['rel_actions']) for e in split)
                                 for name, split in splits.items()}

    split = load_split(out / 'training', progress=False)
    batch = WindowSampler(split, 'lmp', window=16, min_window=8, seed=0).sample(4)
    assert batch['obs'].shape == (4, 16, layout.OBS_DIM) and batch['mask'].all()
    run = tmp_path / 'run'
    assert train.main(tiny_arguments(out, run, steps=2)) == 0
    assert (run / 'last.pt').is_file()


def test_files_never_share_an_episode_and_topics_are_found(recording, tmp_path, capsys):
    """The same run twice gives twice the episodes; a renamed table is found on its own."""
    once, twice = tmp_path / 'once', tmp_path / 'twice'
    assert convert([str(recording), '--out', str(once), '--max-gap', '0',
                    '--validation-fraction', '0'], capsys)[0] == 0
    # A folder (as ros2 bag record writes) stands for its .mcap files.
    assert convert([str(recording), str(recording.parent), '--out', str(twice),
                    '--max-gap', '0'], capsys)[0] == 0
    assert len(dataset_frames(twice / 'training')) + len(dataset_frames(twice / 'validation')) \
        == 2 * len(dataset_frames(once / 'training'))

    renamed = tmp_path / 'renamed.mcap'
    copy_recording(recording, renamed, rename={'/play_lmp': '/table_a'})
    found = tmp_path / 'found'
    code, stdout, _ = convert([str(renamed), '--out', str(found), '--max-gap', '0',
                               '--validation-fraction', '0'], capsys)
    assert code == 0 and stdout.startswith('1 episode (1 training)')
    code, _, stderr = convert([str(renamed), '--out', str(tmp_path / 'x'), '--namespace',
                               'play_lmp'], capsys)
    assert code == 2 and f'{renamed}: no observation topic /play_lmp/observation' in stderr


def copy_recording(source: Path, target: Path, skip: Optional[str] = None,
                   change: Optional[Callable[[str, int, bytes], bytes]] = None,
                   rename: Optional[Dict[str, str]] = None) -> None:
    """
    Copy a recording with McapRecorder, optionally without a topic or with messages changed.

    :param source: the MCAP file.
    :param target: the copy.
    :param skip: a topic left out.
    :param change: (topic, index on the topic, CDR bytes) -> the bytes written.
    :param rename: prefix -> replacement for topic names.
    """
    counts: Dict[str, int] = {}
    with open(source, 'rb') as stream, McapRecorder(target) as recorder:
        for schema, channel, message in make_reader(stream).iter_messages(log_time_order=False):
            topic = channel.topic
            if topic == skip:
                continue
            index = counts.get(topic, 0)
            counts[topic] = index + 1
            data = change(topic, index, message.data) if change else message.data
            for old, new in (rename or {}).items():
                if topic.startswith(old + '/'):
                    topic = new + topic[len(old):]
            recorder.add_topic(topic, schema.name)
            recorder.write(topic, data, message.log_time)


def _nan_observation(topic: str, index: int, data: bytes) -> bytes:
    """Make observation 10 non-finite."""
    if topic != OBSERVATION_TOPIC or index != 10:
        return data
    message = deserialize_message(data, Observation)
    message.robot_obs[3] = float('nan')
    return serialize_message(message)


def _unknown_action_type(topic: str, index: int, data: bytes) -> bytes:
    """Give action 10 a type that is neither RELATIVE nor ABSOLUTE."""
    if topic != ACTION_TOPIC or index != 10:
        return data
    message = deserialize_message(data, EndEffectorAction)
    message.type = 7
    return serialize_message(message)


def _cut_action(topic: str, index: int, data: bytes) -> bytes:
    """Cut action 10 short, as a wrongly sized array would."""
    return data[:-20] if topic == ACTION_TOPIC and index == 10 else data


@pytest.mark.parametrize('damage, message', [
    ('text', 'not a readable MCAP file'),
    ('truncated', 'not a readable MCAP file'),
    ('flipped_bytes', 'not a readable MCAP file'),
    ('no_observations', 'no observation topic'),
    ('no_actions', 'no action topic /play_lmp/action'),
    ('nan', '/play_lmp/observation message 10: Observation.robot_obs has non-finite values'),
    ('action_type', '/play_lmp/action message 10: EndEffectorAction.type must be RELATIVE'),
    ('short_message', '/play_lmp/action message 10: cannot decode it'),
])
def test_a_bad_recording_is_named_and_nothing_is_written(recording, tmp_path, capsys, damage,
                                                         message):
    """Each broken recording: exit 2, one line naming the file and the problem, no output."""
    bad = tmp_path / 'bad.mcap'
    if damage == 'text':
        bad.write_text('not an mcap file\n' * 20)
    elif damage == 'truncated':
        bad.write_bytes(recording.read_bytes()[:recording.stat().st_size // 2])
    elif damage == 'flipped_bytes':
        data = bytearray(recording.read_bytes())
        data[len(data) // 3:len(data) // 3 + 16] = bytes(16)
        bad.write_bytes(bytes(data))
    elif damage == 'no_observations':
        copy_recording(recording, bad, skip=OBSERVATION_TOPIC)
    elif damage == 'no_actions':
        copy_recording(recording, bad, skip=ACTION_TOPIC)
    else:
        copy_recording(recording, bad, change={
            'nan': _nan_observation, 'action_type': _unknown_action_type,
            'short_message': _cut_action}[damage])
    out = tmp_path / 'out' / 'data'
    # A good file first: the bad one must stop the whole conversion.
    code, stdout, stderr = convert([str(recording), str(bad), '--out', str(out)], capsys)
    assert code == 2 and stdout == ''
    assert f'error: {bad}: ' in stderr and message in stderr, stderr
    assert 'Traceback' not in stderr
    assert not out.exists() and not (tmp_path / 'out').exists()


def test_an_existing_output_is_left_untouched(recording, tmp_path, capsys):
    """A non-empty --out is refused before anything is read; an empty folder is filled."""
    out = tmp_path / 'data'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    code, _, stderr = convert([str(recording), '--out', str(out)], capsys)
    assert code == 2 and 'already exists; it was left untouched' in stderr
    assert [path.name for path in out.iterdir()] == ['notes.txt']
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert convert([str(recording), '--out', str(empty)], capsys)[0] == 0
    assert (empty / 'training' / files.EP_START_END_IDS).is_file()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith('.')] == []


# Pairing rules on hand-built recordings.


def make_recording(observations: np.ndarray, stamps: Optional[List[int]] = None,
                   answered: Optional[List[int]] = None,
                   actions: Optional[np.ndarray] = None) -> from_mcap.Recording:
    """
    Build a recording whose actions answer the given observations.

    :param observations: (N, 39).
    :param stamps: (N,) stamps in ns; one control period apart by default.
    :param answered: indices of the observations an action answers; all by default.
    :param actions: (len(answered), 7) relative actions; small moves, gripper as observed.
    :return: the recording.
    """
    count = len(observations)
    stamps = np.array(stamps if stamps is not None else
                      [1_000_000_000 + i * PERIOD_NS for i in range(count)], dtype=np.int64)
    answered = list(range(count)) if answered is None else answered
    if actions is None:
        actions = np.zeros((len(answered), layout.ACTION_DIM))
        actions[:, 0] = 0.5
        actions[:, 6] = observations[answered, layout.GRIPPER_ACTION]
    return from_mcap.Recording(
        path=Path('hand.mcap'), observation_topic=OBSERVATION_TOPIC, stamps=stamps,
        observations=observations, action_stamps=stamps[answered], actions=actions,
        relative=np.ones(len(answered), dtype=bool))


def play(count: int) -> np.ndarray:
    """
    Return a smooth play trajectory: the TCP moves 1 cm per step, the gripper stays open.

    :param count: observations.
    :return: (count, 39).
    """
    obs = np.zeros((count, layout.OBS_DIM))
    obs[:, 0] = 0.01 * np.arange(count)
    obs[:, layout.GRIPPER_ACTION] = 1.0
    return obs


def episode_lengths(recording: from_mcap.Recording, **options) -> tuple:
    """
    Pair a recording.

    :return: the episode lengths and the counts.
    """
    counts = from_mcap.PairingCounts()
    episodes = from_mcap.pair_episodes(recording, counts, **options)
    return [len(episode) for episode in episodes], counts


def test_unanswered_observations_gaps_and_resets_split_episodes():
    """Each rule splits exactly where it should and is counted once."""
    obs = play(40)
    obs[20:, :3] += 0.4                      # a reset: the TCP jumps 40 cm in one step
    stamps = [1_000_000_000 + i * PERIOD_NS for i in range(40)]
    for i in range(30, 40):
        stamps[i] += 5 * PERIOD_NS           # a gap of six periods before observation 30
    answered = [i for i in range(40) if i not in (10, 39)]
    lengths, counts = episode_lengths(make_recording(obs, stamps, answered))
    assert lengths == [10, 9, 10, 9]
    assert counts.unanswered == 2 and counts.paired == 38
    assert counts.breaks == {'stamp_backwards': 0, 'stamp_gap': 1, 'state_jump': 1,
                             'gripper_mismatch': 0}
    # With the gap rule off only the reset and the unanswered observation split.
    lengths, _ = episode_lengths(make_recording(obs, stamps, answered), max_gap_periods=0)
    assert lengths == [10, 9, 19]


def test_a_gripper_command_the_action_did_not_send_splits():
    """Observation 6 reports a close that action 5 did not command: not the action's effect."""
    obs = play(12)
    obs[6:, layout.GRIPPER_ACTION] = -1.0
    actions = np.zeros((12, layout.ACTION_DIM))
    actions[:, 6] = obs[:, layout.GRIPPER_ACTION]
    lengths, counts = episode_lengths(make_recording(obs, actions=actions))
    assert lengths == [6, 6] and counts.breaks['gripper_mismatch'] == 1
    # Commanded by action 5, the same close continues the episode.
    actions[5, 6] = -1.0
    assert episode_lengths(make_recording(obs, actions=actions))[0] == [12]


def test_holds_are_kept_unless_dropped_and_actions_pair_by_stamp():
    """Holds stay by default; orphan, replaced and shared-stamp actions are handled."""
    obs = play(10)
    recording = make_recording(obs)
    recording.actions[4:6] = layout.hold_action(1.0)
    lengths, counts = episode_lengths(recording)
    assert lengths == [10] and counts.holds_dropped == 0
    lengths, counts = episode_lengths(recording, drop_holds=True)
    assert lengths == [4, 4] and counts.holds_dropped == 2

    # An action for a stamp nobody has, and a later one replacing action 2.
    recording = make_recording(obs)
    later = np.array([0.25, 0, 0, 0, 0, 0, 1.0])
    recording.action_stamps = np.append(recording.action_stamps, [5, recording.stamps[2]])
    recording.actions = np.vstack([recording.actions, later, later])
    recording.relative = np.ones(len(recording.actions), dtype=bool)
    counts = from_mcap.PairingCounts()
    (episode,) = from_mcap.pair_episodes(recording, counts)
    assert counts.orphan_actions == 1 and counts.replaced_actions == 1
    np.testing.assert_allclose(episode.actions[2, :3],
                               obs[2, :3] + later[:3] * layout.MAX_REL_POS_M)

    # Two observations with one stamp (a reset on sim time): neither can be paired.
    stamps = [1_000_000_000 + i * PERIOD_NS for i in range(10)]
    stamps[6] = stamps[5]
    lengths, counts = episode_lengths(make_recording(obs, stamps))
    assert counts.unanswered == 2 and lengths == [5, 3]


def test_validation_takes_whole_episodes_seeded():
    """A seeded tenth of the episodes, at least one, never all; one episode cannot split."""
    chosen = from_mcap.choose_validation(25, 0.1, seed=3)
    assert chosen.sum() == 2
    np.testing.assert_array_equal(chosen, from_mcap.choose_validation(25, 0.1, seed=3))
    assert from_mcap.choose_validation(3, 0.1, seed=0).sum() == 1
    assert from_mcap.choose_validation(2, 0.9, seed=0).sum() == 1
    assert not from_mcap.choose_validation(1, 0.0, seed=0).any()
    with pytest.raises(ValueError, match='1 episode cannot fill both'):
        from_mcap.choose_validation(1, 0.1, seed=0)
