"""The scripted play generator: CALVIN-format output, resume after a kill, foreign data refused."""

import hashlib
import json
import logging
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training import collect
from play_lmp_training.calvin_dataset import DatasetExistsError, load_split
import pytest

EPISODE_FRAMES = 64
REPO_ROOT = Path(__file__).resolve().parents[1]
# conftest.py's tiny_play: ten episodes of 100 frames, seed 3, one worker.
TINY_SEED, TINY_EPISODE_FRAMES = 3, 100


def _generate(out: Path, frames: int, seed: int = 0):
    """Generate a small dataset in-process."""
    return collect.generate(out, frames, seed, workers=1,
                            config=collect.PlayConfig(episode_frames=EPISODE_FRAMES),
                            progress=False)


def _tree_digest(root: Path) -> dict:
    """Map every file under root to the sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_generated_play_loads_and_obeys_the_layout(tmp_path):
    """Ten episodes: nine in training, one in validation, every frame valid for the layout."""
    summary = _generate(tmp_path / 'play', 10 * EPISODE_FRAMES)
    assert summary['episodes'] == {'training': 9, 'validation': 1}
    training = load_split(tmp_path / 'play' / 'training', progress=False)
    validation = load_split(tmp_path / 'play' / 'validation', progress=False)
    assert training.num_frames == 9 * EPISODE_FRAMES
    assert validation.num_frames == EPISODE_FRAMES
    rel = np.asarray(training.rel_actions)
    assert np.all(np.abs(rel[:, :6]) <= 1.0) and set(np.unique(rel[:, 6])) <= {-1.0, 1.0}
    obs = np.asarray(training.obs)
    assert np.all(np.isfinite(obs))
    # The recorded absolute action is the TCP pose reached at the next frame (CALVIN's rule).
    actions = np.asarray(training.actions)
    for start, end in training.episode_bounds:
        np.testing.assert_allclose(actions[start:end, :3], obs[start + 1:end + 1, :3], atol=1e-6)
    assert training.lang is not None and set(training.lang.tasks) <= set(TASK_NAMES)


def _tiny_generate(out: Path, seed: int = TINY_SEED, workers: int = 1):
    """Generate (or resume) a dataset with tiny_play's settings."""
    return collect.generate(out, 10 * TINY_EPISODE_FRAMES, seed, workers=workers,
                            config=collect.PlayConfig(episode_frames=TINY_EPISODE_FRAMES),
                            progress=False)


def test_the_dataset_does_not_depend_on_the_worker_count(tiny_play, tmp_path):
    """Every segment plays in a fresh simulator: 2 workers write tiny_play's (1 worker) files."""
    _tiny_generate(tmp_path / 'play', workers=2)
    assert _tree_digest(tmp_path / 'play') == _tree_digest(tiny_play)


def test_a_killed_run_resumes_without_damage(tmp_path):
    """SIGKILL the generator mid-run, run it again: committed episodes stay byte-identical."""
    out = tmp_path / 'play'
    command = [sys.executable, '-m', 'play_lmp_training.collect', '--out', str(out),
               '--frames', str(12 * EPISODE_FRAMES), '--episode-frames', str(EPISODE_FRAMES),
               '--no-progress']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = out / 'training' / '.progress.json'
    deadline = time.monotonic() + 120.0
    committed = 0
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists():
            committed = len(json.loads(manifest.read_text()).get('episodes', []))
            if committed >= 3:
                break
        time.sleep(0.05)
    assert process.poll() is None, 'the generator finished before it could be killed'
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    before = {name: digest for name, digest in _tree_digest(out / 'training').items()
              if name.startswith('episode_')}
    committed_frames = len(json.loads(manifest.read_text())['episodes']) * EPISODE_FRAMES
    resumed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    after = _tree_digest(out / 'training')
    for frame_id in range(committed_frames):
        name = f'episode_{frame_id:07d}.npz'
        assert after[name] == before[name], f'{name} was rewritten by the resumed run'
    split = load_split(out / 'training', progress=False)
    assert split.num_frames == 11 * EPISODE_FRAMES and split.num_episodes == 11


def test_a_different_dataset_is_refused_and_left_intact(tiny_play, tmp_path):
    """Generating with another seed into an existing dataset fails and changes nothing."""
    out = tmp_path / 'play'
    shutil.copytree(tiny_play, out)
    before = _tree_digest(out)
    with pytest.raises(DatasetExistsError, match=str(out / 'training')):
        _tiny_generate(out, seed=TINY_SEED + 1)
    assert _tree_digest(out) == before


def _cut_short(path: Path) -> None:
    """Keep the first half of a file's bytes, as a power cut during write-back can."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _empty(path: Path) -> None:
    """Leave a file with no bytes (written, renamed, never flushed)."""
    path.write_bytes(b'')


def _scramble(path: Path) -> None:
    """Overwrite a file's bytes with zeros, its length kept."""
    path.write_bytes(bytes(path.stat().st_size))


@pytest.mark.parametrize('split', ['training', 'validation'])
@pytest.mark.parametrize('damage', [_cut_short, _empty, _scramble])
def test_a_damaged_last_frame_is_dropped_and_generated_again(tiny_play, tmp_path, caplog,
                                                             split, damage):
    """
    Resume a dataset whose last committed frame file is damaged.

    The damaged episode and every episode after it are dropped with a warning naming the file,
    then generated again: the dataset ends up byte-identical to the undamaged one, manifest and
    statistics included.
    """
    out = tmp_path / 'play'
    shutil.copytree(tiny_play, out)
    last_id = int(np.load(out / split / 'ep_start_end_ids.npy')[-1, 1])
    damaged = out / split / f'episode_{last_id:07d}.npz'
    damage(damaged)
    with caplog.at_level(logging.WARNING, logger=collect.__name__):
        summary = _tiny_generate(out)
    assert str(damaged) in caplog.text and 'generated again' in caplog.text
    # Training holds global episodes 0-8, validation episode 9: the committed episodes stay one
    # prefix of the global order, so a damaged episode 8 takes episode 9 with it.
    episodes_again = 2 if split == 'training' else 1
    assert summary['new_frames'] == episodes_again * TINY_EPISODE_FRAMES
    assert _tree_digest(out) == _tree_digest(tiny_play)


def test_damaged_episodes_are_found_walking_back_from_the_last(tiny_play, tmp_path, caplog):
    """
    Damage in the middle of each of the last two training episodes drops both, and episode 9.

    Every frame of an episode is read back, and the walk goes on while episodes are damaged.
    """
    out = tmp_path / 'play'
    shutil.copytree(tiny_play, out)
    for start, end in np.load(out / 'training' / 'ep_start_end_ids.npy')[-2:]:
        _cut_short(out / 'training' / f'episode_{(start + end) // 2:07d}.npz')
    with caplog.at_level(logging.WARNING, logger=collect.__name__):
        summary = _tiny_generate(out)
    assert summary['new_frames'] == 3 * TINY_EPISODE_FRAMES
    assert 'damaged committed episodes (2)' in caplog.text
    assert 'dropping the last 2 committed episodes (frames 700-899)' in caplog.text
    assert _tree_digest(out) == _tree_digest(tiny_play)


def test_too_few_frames_for_a_validation_episode_are_refused_up_front(tmp_path, capsys):
    """--frames 3000 makes six 500-frame episodes, none for validation: exit 2, nothing written."""
    out = tmp_path / 'play'
    assert collect.main(['--out', str(out), '--frames', '3000', '--no-progress']) == 2
    error = capsys.readouterr().err
    assert error.startswith('error: 3000 frames make 6 episodes of 500 frames')
    assert 'at least 5000 frames (10 episodes)' in error
    assert not out.exists()
    assert collect.minimum_frames(TINY_EPISODE_FRAMES) == 10 * TINY_EPISODE_FRAMES


@pytest.mark.parametrize('counts, expected', [
    ({'training': 0, 'validation': 0}, 0),    # nothing written yet
    ({'training': 9, 'validation': 0}, 9),    # killed before the first validation episode
    ({'training': 9, 'validation': 1}, 10),   # first ten episodes
    ({'training': 18, 'validation': 2}, 20),  # twenty episodes
])
def test_committed_prefix_counts_episodes_in_global_order(counts, expected):
    """The committed episodes of both splits form one prefix of the global order."""
    assert collect.committed_prefix(counts) == expected


def test_committed_prefix_rejects_counts_no_run_produces():
    """A validation episode without the nine training ones before it is foreign data."""
    with pytest.raises(ValueError, match='no run of this generator'):
        collect.committed_prefix({'training': 2, 'validation': 1})


def test_every_task_has_a_distinct_instruction():
    """Annotations carry one plain instruction per task."""
    instructions = [collect.instruction_for(task) for task in TASK_NAMES]
    assert len(set(instructions)) == len(TASK_NAMES) and all(instructions)
    assert collect.instruction_for('lift_red_block_drawer') == 'lift the red block from the drawer'


def test_bad_player_settings_are_named():
    """Settings that cannot produce play raise ValueError naming the setting."""
    with pytest.raises(ValueError, match='episode_frames'):
        collect.PlayConfig(episode_frames=10)
    with pytest.raises(ValueError, match='revisit_probability'):
        collect.PlayConfig(revisit_probability=1.5)
    with pytest.raises(ValueError, match='block_scene_probability'):
        collect.PlayConfig(block_scene_probability=-0.1)


def test_block_scenes_start_segments_where_a_block_is_playable():
    """With block_scene_probability 1 every segment starts with a playable block; with 0 not."""
    sim = PlayTableSim()
    try:
        counts = {}
        for probability in (0.0, 1.0):
            player = collect.ScriptedPlayer(
                sim, collect.PlayConfig(episode_frames=EPISODE_FRAMES,
                                        block_scene_probability=probability))
            first_frames = [player.play_episode(index, seed=0) for index in range(20)]
            counts[probability] = sum(
                collect.has_playable_block(
                    np.concatenate([record.robot_obs[0], record.scene_obs[0]]))
                for record in first_frames)
    finally:
        sim.close()
    assert counts[1.0] == 20
    assert counts[0.0] < 20
