"""Tests of the CALVIN-format dataset writer, reader, cache, window sampler and summary."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_training.calvin_dataset import (CalvinWriter, DatasetError, DatasetExistsError,
                                              iterate_validation_windows, load_split,
                                              WindowSampler)
from play_lmp_training.calvin_dataset import files
from play_lmp_training.calvin_dataset.summary import main as summary_main
import pytest
import yaml


class Killed(Exception):
    """Stands in for the generator process being killed."""


def random_frame(rng: np.random.Generator, frame_id: int):
    """Return robot_obs (15,), scene_obs (24,), absolute action (7,); robot_obs[0] = frame id."""
    robot_obs = rng.normal(size=layout.ROBOT_OBS_DIM)
    robot_obs[0] = frame_id
    robot_obs[layout.TCP_ORN] = rng.uniform(-np.pi, np.pi, 3)
    scene_obs = rng.normal(size=layout.SCENE_OBS_DIM)
    action = np.empty(layout.ACTION_DIM)
    action[:3] = robot_obs[layout.TCP_POS] + rng.normal(scale=0.015, size=3)
    action[3:6] = layout.wrap_to_pi(robot_obs[layout.TCP_ORN] + rng.normal(scale=0.04, size=3))
    action[6] = rng.choice([-1.0, 1.0])
    return robot_obs, scene_obs, action


def generate(writer: CalvinWriter, rng: np.random.Generator, num_episodes: int,
             kill_at_frame=None):
    """Write episodes until the writer holds num_episodes, like a resumable play generator."""
    inputs = []
    while writer.num_episodes < num_episodes:
        writer.begin_episode()
        length = int(rng.integers(40, 90))
        for _ in range(length):
            if writer.next_frame_id == kill_at_frame:
                raise Killed()
            frame = random_frame(rng, writer.next_frame_id)
            inputs.append(frame)
            writer.add_frame(*frame)
        start = writer.next_frame_id - length
        writer.add_annotation(rng.choice(['open_drawer', 'push_red_block_left']), start,
                              start + 31, 'do the task')
        writer.end_episode(rng_state=json.dumps(rng.bit_generator.state).encode())
    return inputs


def tree_digest(directory: Path) -> dict:
    """Return relative path -> sha256 of every file below a directory."""
    return {str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.rglob('*')) if path.is_file()}


def save_calvin_frame(split_dir: Path, frame_id: int, rng: np.random.Generator, **overrides):
    """Write one frame file as a real CALVIN split has it, images and depth included."""
    arrays = {
        'actions': rng.normal(size=7).astype(np.float32),
        'rel_actions': np.append(rng.uniform(-1, 1, 6), rng.choice([-1.0, 1.0])
                                 ).astype(np.float32),
        'robot_obs': np.concatenate([[frame_id], rng.normal(size=14)]),
        'scene_obs': rng.normal(size=24).astype(np.float32),
        'rgb_static': np.zeros((200, 200, 3), np.uint8),
        'rgb_gripper': np.zeros((84, 84, 3), np.uint8),
        'rgb_tactile': np.zeros((160, 120, 6), np.uint8),
        'depth_static': np.zeros((200, 200), np.float32),
        'depth_gripper': np.zeros((84, 84), np.float32),
        'depth_tactile': np.zeros((160, 120, 2), np.float32),
    }
    arrays.update(overrides)
    np.savez(split_dir / files.frame_file_name(frame_id), **arrays)
    return arrays


@pytest.fixture
def calvin_split(tmp_path) -> Path:
    """Build a small split by hand in CALVIN's layout, with a gap between its two episodes."""
    split_dir = tmp_path / 'task_D_D' / 'training'
    split_dir.mkdir(parents=True)
    rng = np.random.default_rng(7)
    ranges = np.array([[10, 29], [50, 79]])
    for start, end in ranges:
        for frame_id in range(start, end + 1):
            save_calvin_frame(split_dir, frame_id, rng)
    np.save(split_dir / files.EP_START_END_IDS, ranges)
    np.save(split_dir / files.EP_LENS, ranges[:, 1] - ranges[:, 0] + 1)
    (split_dir / files.LANG_DIR).mkdir()
    lang = {'language': {'ann': ['open the drawer', 'lift the block'],
                         'task': ['open_drawer', 'lift_red_block_table'],
                         'emb': np.zeros((2, 1, 384), np.float32)},
            'info': {'episodes': [], 'indx': [(np.int64(10), np.int64(25)), (55, 79)]}}
    np.save(files.lang_annotation_path(split_dir), lang, allow_pickle=True)
    return split_dir


def test_writer_reader_round_trip_is_exact(tmp_path):
    """Write four episodes and read back exactly the same states, bounds and annotations."""
    rng = np.random.default_rng(0)
    writer = CalvinWriter(tmp_path, 'training', dataset_id='round-trip')
    inputs = generate(writer, rng, num_episodes=4)
    writer.finalize()
    split_dir = tmp_path / 'training'
    split = load_split(split_dir, progress=False)

    robot_obs, scene_obs, actions = (np.array(part) for part in zip(*inputs))
    np.testing.assert_array_equal(
        split.obs, np.concatenate([robot_obs, scene_obs.astype(np.float32)], 1).astype(np.float32))
    np.testing.assert_array_equal(split.actions, actions.astype(np.float32))
    np.testing.assert_array_equal(
        split.rel_actions, layout.absolute_to_relative(actions, robot_obs).astype(np.float32))
    np.testing.assert_array_equal(split.ep_start_end_ids, writer.episodes)
    np.testing.assert_array_equal(split.episode_bounds, writer.episodes)
    np.testing.assert_array_equal(split.frame_ids, np.arange(len(inputs)))
    np.testing.assert_array_equal(np.load(split_dir / files.EP_LENS),
                                  np.diff(writer.episodes, axis=1)[:, 0] + 1)
    assert np.load(split_dir / files.SCENE_INFO, allow_pickle=True).item() == {
        'calvin_scene_D': [0, len(inputs) - 1]}

    frame = np.load(split_dir / 'episode_0000003.npz')
    assert {key: (frame[key].shape, frame[key].dtype) for key in frame.files} == {
        key: (shape, np.dtype(dtype)) for key, (shape, dtype) in files.STATE_KEYS.items()}

    lang = np.load(files.lang_annotation_path(split_dir), allow_pickle=True).item()
    assert lang['language']['emb'].shape == (4, 1, 384)
    assert lang['info']['episodes'] == []
    assert split.lang.frame_ranges.tolist() == [[start, start + 31] for start, _ in
                                                writer.episodes]
    assert split.lang.instructions == ['do the task'] * 4

    statistics = yaml.safe_load((split_dir / files.STATISTICS).read_text())
    assert list(statistics) == ['robot_obs', 'scene_obs', 'act_max_bound', 'act_min_bound']
    transform = statistics['robot_obs'][0]
    assert transform['_target_'] == (
        'calvin_models.calvin_agent.utils.transforms.NormalizeVector')
    np.testing.assert_allclose(transform['mean'], robot_obs.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(transform['std'], robot_obs.std(0), rtol=1e-12)
    stored_scene = scene_obs.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(statistics['scene_obs'][0]['std'], stored_scene.std(0), rtol=1e-12)
    np.testing.assert_array_equal(statistics['act_max_bound'],
                                  actions.astype(np.float32).max(0))


def test_rel_actions_follow_calvins_formula_with_angle_wrap(tmp_path):
    """Check stored rel_actions on hand-computed cases, the roll wrap at +-pi included."""
    robot_obs = np.zeros(15)
    robot_obs[layout.TCP_ORN] = [3.13, 0.0, -0.01]
    cases = {
        'wrap at +-pi': ([0.001, -0.001, 0.0, -3.13, 0.0, 0.01, 1.0],
                         [0.05, -0.05, 0.0, (2 * np.pi - 6.26) / 0.05, 0.0, 0.4, 1.0]),
        'clipped': ([0.5, -0.5, 0.02, 3.13, 0.2, -0.2, -1.0],
                    [1.0, -1.0, 1.0, 0.0, 1.0, -1.0, -1.0]),
    }
    writer = CalvinWriter(tmp_path)
    writer.begin_episode()
    for action, _ in cases.values():
        writer.add_frame(robot_obs, np.zeros(24), action)
    writer.end_episode()
    for frame_id, (name, (_, expected)) in enumerate(cases.items()):
        stored = np.load(tmp_path / 'training' / files.frame_file_name(frame_id))['rel_actions']
        np.testing.assert_allclose(stored, expected, atol=1e-6, err_msg=name)
    wrapped_roll = np.load(tmp_path / 'training' / 'episode_0000000.npz')['rel_actions'][3]
    assert 0.0 < wrapped_roll < 0.5


def test_writer_rejects_bad_frames(tmp_path):
    """Refuse frames outside episodes, bad grippers, missing images and stray annotations."""
    writer = CalvinWriter(tmp_path, images=True)
    with pytest.raises(RuntimeError, match='begin_episode'):
        writer.add_frame(np.zeros(15), np.zeros(24), [0, 0, 0, 0, 0, 0, 1])
    writer.begin_episode()
    with pytest.raises(ValueError, match='gripper'):
        writer.add_frame(np.zeros(15), np.zeros(24), [0, 0, 0, 0, 0, 0, 0.5])
    with pytest.raises(ValueError, match='images'):
        writer.add_frame(np.zeros(15), np.zeros(24), [0, 0, 0, 0, 0, 0, 1])
    images = {'rgb_static': np.zeros((200, 200, 3), np.uint8),
              'rgb_gripper': np.zeros((84, 84, 3), np.uint8)}
    writer.add_frame(np.zeros(15), np.zeros(24), [0, 0, 0, 0, 0, 0, 1], images)
    with pytest.raises(ValueError, match='one written episode'):
        writer.add_annotation('open_drawer', 0, 5, 'open the drawer')
    writer.end_episode()
    stored = np.load(tmp_path / 'training' / 'episode_0000000.npz')
    assert stored['rgb_static'].shape == (200, 200, 3)


def test_hand_built_calvin_split_reads_correctly(calvin_split):
    """Read a split with a gap between episodes and image / depth keys, as real CALVIN has."""
    split = load_split(calvin_split, progress=False)
    first, last = (np.load(calvin_split / files.frame_file_name(frame_id))
                   for frame_id in (10, 79))

    assert split.num_frames == 50 and split.num_episodes == 2
    np.testing.assert_array_equal(split.episode_bounds, [[0, 19], [20, 49]])
    np.testing.assert_array_equal(split.frame_ids, np.r_[10:30, 50:80])
    np.testing.assert_array_equal(split.obs[:, 0], split.frame_ids)
    np.testing.assert_array_equal(split.rel_actions[0], first['rel_actions'])
    np.testing.assert_array_equal(split.actions[0], first['actions'])
    np.testing.assert_array_equal(split.obs[49, 15:], last['scene_obs'])
    np.testing.assert_array_equal(split.obs[49, :15], last['robot_obs'].astype(np.float32))
    assert split.lang.tasks == ['open_drawer', 'lift_red_block_table']
    assert split.lang.frame_ranges.tolist() == [[10, 25], [55, 79]]
    np.testing.assert_array_equal(split.rows_of_frames([10, 50, 79]), [0, 20, 49])
    assert split.from_split.startswith('task_D_D/training@')


def corrupt_garbage(split_dir):
    """Overwrite a frame file with bytes that are no npz."""
    (split_dir / 'episode_0000012.npz').write_bytes(b'not an npz at all' * 10)
    return 'episode_0000012.npz'


def corrupt_truncated(split_dir):
    """Cut a frame file in half."""
    path = split_dir / 'episode_0000060.npz'
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return 'episode_0000060.npz'


def corrupt_index_missing(split_dir):
    """Delete ep_start_end_ids.npy."""
    (split_dir / files.EP_START_END_IDS).unlink()
    return files.EP_START_END_IDS


def corrupt_frame_missing(split_dir):
    """Delete a frame file inside an episode range."""
    (split_dir / 'episode_0000017.npz').unlink()
    return 'episode_0000017.npz'


def corrupt_shape(split_dir):
    """Store a robot_obs of 14 values."""
    save_calvin_frame(split_dir, 20, np.random.default_rng(0), robot_obs=np.zeros(14))
    return 'episode_0000020.npz'


def corrupt_nan(split_dir):
    """Store a NaN in scene_obs."""
    scene_obs = np.zeros(24, np.float32)
    scene_obs[5] = np.nan
    save_calvin_frame(split_dir, 70, np.random.default_rng(0), scene_obs=scene_obs)
    return 'episode_0000070.npz'


class _RunsAShellCommand:
    """Pickles as a call of os.system: what a crafted annotation file carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def corrupt_crafted_annotations(split_dir):
    """Replace auto_lang_ann.npy by a pickle that would run a shell command when loaded."""
    marker = split_dir.parent / 'code-ran'
    payload = {'language': {'task': _RunsAShellCommand(marker), 'ann': []}, 'info': {}}
    np.save(files.lang_annotation_path(split_dir), np.array(payload), allow_pickle=True)
    return files.LANG_FILE


def corrupt_truncated_annotations(split_dir):
    """Cut auto_lang_ann.npy short."""
    path = files.lang_annotation_path(split_dir)
    path.write_bytes(path.read_bytes()[:200])
    return files.LANG_FILE


def corrupt_rel_actions(split_dir):
    """Store a relative action of 1e30 with a gripper command of 0.3."""
    rel_actions = np.array([1e30, 0, 0, 0, 0, 0, 0.3], np.float32)
    save_calvin_frame(split_dir, 22, np.random.default_rng(0), rel_actions=rel_actions)
    return 'episode_0000022.npz'


@pytest.mark.parametrize('corrupt, error', [
    (corrupt_rel_actions, DatasetError),
    (corrupt_garbage, DatasetError), (corrupt_truncated, DatasetError),
    (corrupt_index_missing, FileNotFoundError), (corrupt_frame_missing, FileNotFoundError),
    (corrupt_shape, DatasetError), (corrupt_nan, DatasetError),
])
def test_corruption_raises_naming_the_file(calvin_split, corrupt, error):
    """Raise on every kind of corruption, naming the file, and leave no cache behind."""
    file_name = corrupt(calvin_split)
    with pytest.raises(error, match=file_name.replace('.', r'\.')):
        load_split(calvin_split, progress=False)
    assert not list((calvin_split / '.cache').glob('training-*'))


@pytest.mark.parametrize('corrupt', [corrupt_crafted_annotations, corrupt_truncated_annotations])
def test_bad_annotations_are_refused_naming_the_file_and_never_run(calvin_split, corrupt):
    """A crafted or cut auto_lang_ann.npy: a DatasetError naming it; nothing in it runs."""
    file_name = corrupt(calvin_split)
    with pytest.raises(DatasetError, match=file_name.replace('.', r'\.')):
        load_split(calvin_split, progress=False)
    assert not (calvin_split.parent / 'code-ran').exists()


def test_object_npy_loader_refuses_code_and_names_the_global(tmp_path):
    """The refusal names the global a crafted pickle asked for; plain arrays still load."""
    crafted = tmp_path / 'crafted.npy'
    np.save(crafted, np.array({'x': _RunsAShellCommand(tmp_path / 'ran')}), allow_pickle=True)
    with pytest.raises(DatasetError, match=r'crafted\.npy.*refused to load the global '
                                           r'posix\.system'):
        files.load_object_npy(crafted)
    assert not (tmp_path / 'ran').exists()
    plain = tmp_path / 'plain.npy'
    np.save(plain, np.arange(4))
    np.testing.assert_array_equal(files.load_object_npy(plain), np.arange(4))


def test_a_directory_holding_another_dataset_is_refused_and_left_intact(tmp_path, calvin_split):
    """Refuse directories holding another dataset without changing a byte in them."""
    writer = CalvinWriter(tmp_path, 'training', dataset_id='first', settings={'episodes': 1})
    generate(writer, np.random.default_rng(1), num_episodes=1)
    writer.finalize()
    before = tree_digest(tmp_path / 'training')
    with pytest.raises(DatasetExistsError, match=str(tmp_path / 'training')):
        CalvinWriter(tmp_path, 'training', dataset_id='first', settings={'episodes': 1})
    with pytest.raises(DatasetExistsError, match='dataset_id'):
        CalvinWriter.open_existing(tmp_path, 'training', dataset_id='second',
                                   settings={'episodes': 1})
    with pytest.raises(DatasetExistsError, match='settings_hash'):
        CalvinWriter.open_existing(tmp_path, 'training', dataset_id='first',
                                   settings={'episodes': 2})
    assert tree_digest(tmp_path / 'training') == before

    calvin_before = tree_digest(calvin_split)
    with pytest.raises(DatasetExistsError, match='no .progress.json'):
        CalvinWriter.open_existing(calvin_split.parent, 'training')
    with pytest.raises(DatasetExistsError, match=str(calvin_split)):
        CalvinWriter(calvin_split.parent, 'training')
    assert tree_digest(calvin_split) == calvin_before


def read_dataset(split_dir: Path) -> dict:
    """Return every file's content below a split: npz / npy arrays, text otherwise."""
    content = {}
    for path in sorted(split_dir.rglob('*')):
        name = str(path.relative_to(split_dir))
        if path.suffix == '.npz':
            with np.load(path) as archive:
                content[name] = {key: archive[key].tolist() for key in archive.files}
        elif path.suffix == '.npy':
            content[name] = repr(np.load(path, allow_pickle=True).tolist())
        elif path.is_file():
            content[name] = path.read_text()
    return content


def test_resume_after_interruption_equals_an_uninterrupted_run(tmp_path):
    """Kill a run inside episode 4, resume, and get the dataset of an uninterrupted run."""
    settings = {'episodes': 5, 'seed': 3}
    generate(CalvinWriter(tmp_path / 'straight', dataset_id='play', settings=settings),
             np.random.default_rng(3), num_episodes=5)
    CalvinWriter.open_existing(tmp_path / 'straight', dataset_id='play',
                               settings=settings).finalize()

    writer = CalvinWriter.open_existing(tmp_path / 'resumed', dataset_id='play',
                                        settings=settings)
    generate(writer, np.random.default_rng(3), num_episodes=3)
    after_three = writer.next_frame_id
    with pytest.raises(Killed):
        generate(writer, np.random.default_rng(99), num_episodes=5,
                 kill_at_frame=after_three + 17)
    split_dir = tmp_path / 'resumed' / 'training'
    assert (split_dir / files.frame_file_name(after_three + 16)).exists()

    writer = CalvinWriter.open_existing(tmp_path / 'resumed', dataset_id='play',
                                        settings=settings)
    assert writer.next_frame_id == after_three and writer.num_episodes == 3
    assert not (split_dir / files.frame_file_name(after_three)).exists()
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(writer.rng_state)
    generate(writer, rng, num_episodes=5)
    writer.finalize()
    assert read_dataset(split_dir) == read_dataset(tmp_path / 'straight' / 'training')


def test_cache_is_reused_and_rebuilt_when_the_dataset_changes(calvin_split, tmp_path,
                                                              monkeypatch):
    """Reuse the cache while the split is unchanged; rebuild it when a frame or range changes."""
    reads = []
    original_read = files.read_frame_states
    monkeypatch.setattr(files, 'read_frame_states',
                        lambda path: reads.append(path) or original_read(path))
    cache_dir = tmp_path / 'caches'
    first = load_split(calvin_split, cache_dir=cache_dir, progress=False)
    assert len(reads) == 50
    assert sorted(path.name for path in first.cache_path.iterdir()) == [
        'actions.npy', 'episode_bounds.npy', 'meta.json', 'obs.npy', 'rel_actions.npy']
    again = load_split(calvin_split, cache_dir=cache_dir, progress=False)
    assert len(reads) == 50 and again.cache_path == first.cache_path
    assert isinstance(again.obs, np.memmap)

    changed = save_calvin_frame(calvin_split, 15, np.random.default_rng(11))
    stat = (calvin_split / 'episode_0000015.npz').stat()
    os.utime(calvin_split / 'episode_0000015.npz', ns=(stat.st_atime_ns, stat.st_mtime_ns + 10))
    rebuilt = load_split(calvin_split, cache_dir=cache_dir, progress=False)
    assert len(reads) == 100 and rebuilt.fingerprint != first.fingerprint
    np.testing.assert_array_equal(rebuilt.obs[5, 15:], changed['scene_obs'])
    assert not first.cache_path.exists()

    np.save(calvin_split / files.EP_START_END_IDS, np.array([[10, 29]]))
    assert load_split(calvin_split, cache_dir=cache_dir, progress=False).num_frames == 20


@pytest.fixture
def window_split(tmp_path):
    """Write episodes of 40, 100 and 65 frames; robot_obs[0] holds the frame id."""
    writer = CalvinWriter(tmp_path)
    rng = np.random.default_rng(5)
    for length in (40, 100, 65):
        writer.begin_episode()
        for _ in range(length):
            writer.add_frame(*random_frame(rng, writer.next_frame_id))
        writer.end_episode()
    writer.finalize()
    return load_split(tmp_path / 'training', progress=False)


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_window_sampler_shapes_masks_and_goals(window_split, method):
    """Check batch shapes, masks, contiguity and goal = last valid observation."""
    batch = WindowSampler(window_split, method, window=64, min_window=32, seed=0).sample(256)
    assert batch['obs'].shape == (256, 64, 39) and batch['obs'].dtype == np.float32
    assert batch['actions'].shape == (256, 64, 7) and batch['mask'].shape == (256, 64)
    assert batch['goal'].shape == (256, 39)
    lengths = batch['lengths']
    if method == 'lmp':
        assert set(lengths[batch['episodes'] != 0]) == {64}
    else:
        assert lengths.min() >= 32 and lengths.max() <= 64 and len(set(lengths)) > 10
    assert (lengths[batch['episodes'] == 0] <= 40).all()
    np.testing.assert_array_equal(batch['mask'].sum(1), lengths)
    for row in range(256):
        length = lengths[row]
        first_frame = window_split.frame_ids[batch['start_rows'][row]]
        np.testing.assert_array_equal(batch['obs'][row, :length, 0],
                                      first_frame + np.arange(length))
        np.testing.assert_array_equal(batch['goal'][row], batch['obs'][row, length - 1])
        np.testing.assert_array_equal(
            batch['actions'][row, :length], window_split.rel_actions[
                batch['start_rows'][row]:batch['start_rows'][row] + length])
        assert not batch['obs'][row, length:].any()


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_goal_horizon_puts_goals_beyond_the_fed_window(window_split, method):
    """Goals lie up to goal_horizon steps ahead, in the same episode; only `window` steps feed."""
    sampler = WindowSampler(window_split, method, window=16, min_window=8, seed=2,
                            goal_horizon=60)
    batch = sampler.sample(512)
    assert batch['obs'].shape == (512, 16, 39)
    lengths = batch['lengths']
    assert lengths.max() == 16 and (lengths >= (16 if method == 'lmp' else 8)).all()
    np.testing.assert_array_equal(batch['mask'].sum(1), lengths)
    start_frames = window_split.frame_ids[batch['start_rows']]
    goal_offsets = batch['goal'][:, 0] - start_frames
    assert goal_offsets.min() >= lengths.min() - 1 and goal_offsets.max() == 59
    assert (goal_offsets >= lengths - 1).all() and (goal_offsets > 15).mean() > 0.5
    goal_rows = batch['start_rows'] + goal_offsets.astype(np.int64)
    np.testing.assert_array_equal(
        np.searchsorted(window_split.episode_bounds[:, 1], goal_rows), batch['episodes'])
    np.testing.assert_array_equal(batch['goal'], window_split.obs[goal_rows])
    with pytest.raises(ValueError, match='goal_horizon'):
        WindowSampler(window_split, method, window=16, min_window=8, goal_horizon=15)


def test_window_sampler_reaches_the_last_frame(window_split):
    """Let the last frame of every episode end a window; pick episodes by start count."""
    sampler = WindowSampler(window_split, 'lmp', window=64, seed=1)
    np.testing.assert_array_equal(sampler.start_counts(64), [1, 37, 2])
    batch = sampler.sample(2000)
    last_rows = batch['start_rows'] + batch['lengths'] - 1
    episode_ends = window_split.episode_bounds[:, 1]
    assert set(episode_ends) <= set(last_rows)
    counts = np.bincount(batch['episodes'], minlength=3) / 2000
    np.testing.assert_allclose(counts, np.array([1, 37, 2]) / 40, atol=0.03)


def test_window_sampler_is_deterministic_and_rejects_small_datasets(window_split):
    """Repeat batches for a seed; refuse splits too small for the window."""
    first = WindowSampler(window_split, 'gcbc', seed=4).sample(32)
    second = WindowSampler(window_split, 'gcbc', seed=4).sample(32)
    other = WindowSampler(window_split, 'gcbc', seed=5).sample(32)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first['start_rows'], other['start_rows'])
    with pytest.raises(ValueError, match='dataset too small for the window'):
        WindowSampler(window_split, 'lmp', window=128, min_window=32)
    with pytest.raises(ValueError, match='dataset too small for the window'):
        WindowSampler(window_split, 'gcbc', window=128, min_window=101)
    assert WindowSampler(window_split, 'gcbc', window=128, min_window=100).sample(4)[
        'obs'].shape == (4, 128, 39)


def test_validation_windows_are_deterministic(window_split):
    """Enumerate evaluation windows on a fixed grid, in fixed batches."""
    batches = list(iterate_validation_windows(window_split, window=64, stride=16, batch_size=3))
    starts = np.concatenate([batch['start_rows'] for batch in batches])
    np.testing.assert_array_equal(starts, [0, 40, 56, 72, 140])
    assert [len(batch['lengths']) for batch in batches] == [3, 2]
    np.testing.assert_array_equal(np.concatenate([batch['lengths'] for batch in batches]),
                                  [40, 64, 64, 64, 64])
    with pytest.raises(ValueError, match='too small'):
        iterate_validation_windows(window_split, window=128, min_window=101)


def test_summary_prints_counts_and_saves_a_chart(calvin_split, tmp_path, capsys):
    """Print frame, episode and task counts as JSON and write a PNG chart."""
    out = tmp_path / 'charts' / 'tasks.png'
    assert summary_main([str(calvin_split.parent), '--out', str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    training = summary['splits']['training']
    assert training['frames'] == 50 and training['episodes'] == 2
    assert training['mean_episode_length'] == 25.0
    assert training['task_windows'] == {'lift_red_block_table': 1, 'open_drawer': 1}
    assert out.read_bytes()[:4] == b'\x89PNG'
