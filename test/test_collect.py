"""The scripted play generator: CALVIN-format output, resume after a kill, foreign data refused."""

import hashlib
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import numpy as np
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.tasks import TASK_NAMES
import pytest
from training import collect
from training.calvin_dataset import DatasetExistsError, load_split

EPISODE_FRAMES = 64
REPO_ROOT = Path(__file__).resolve().parents[1]


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


def test_the_dataset_does_not_depend_on_the_worker_count(tmp_path):
    """Every segment plays in a fresh simulator: 1 and 2 workers write the same episodes."""
    config = collect.PlayConfig(episode_frames=EPISODE_FRAMES)
    for workers in (1, 2):
        collect.generate(tmp_path / str(workers), 4 * EPISODE_FRAMES, seed=5, workers=workers,
                         config=config, progress=False)
    one, two = (load_split(tmp_path / str(workers) / 'training', progress=False)
                for workers in (1, 2))
    assert one.num_frames == two.num_frames == 4 * EPISODE_FRAMES
    np.testing.assert_array_equal(np.asarray(one.obs), np.asarray(two.obs))
    np.testing.assert_array_equal(np.asarray(one.actions), np.asarray(two.actions))


def test_a_killed_run_resumes_without_damage(tmp_path):
    """SIGKILL the generator mid-run, run it again: committed episodes stay byte-identical."""
    out = tmp_path / 'play'
    command = [sys.executable, '-m', 'training.collect', '--out', str(out),
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


def test_a_different_dataset_is_refused_and_left_intact(tmp_path):
    """Generating with another seed into an existing dataset fails and changes nothing."""
    out = tmp_path / 'play'
    _generate(out, 2 * EPISODE_FRAMES, seed=0)
    before = _tree_digest(out)
    with pytest.raises(DatasetExistsError, match=str(out / 'training')):
        _generate(out, 2 * EPISODE_FRAMES, seed=1)
    assert _tree_digest(out) == before


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
