"""Export parity with torch, and both evaluation protocols end to end, on tiny models."""

import json
from pathlib import Path

from conftest import TINY_EPISODE_FRAMES
import numpy as np
from play_lmp_ros.core.goals import GoalJudge
from play_lmp_ros.core.policy import (
    bundled_model_dir, default_model_dir, OnnxPolicy, PLANNER_FILE, resolve_model_dir)
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_training import checkpoint as ckpt
from play_lmp_training import evaluate, export, train
from play_lmp_training.evaluation.episodes import CHAIN_LENGTH, validation_episodes
from play_lmp_training.evaluation.summaries import summarize_chain
from play_lmp_training.play_lmp.torch_policy import TorchPolicy
import pytest
from training_fixtures import tiny_arguments

PLAY_MODEL = 'play_lmp'


@pytest.fixture(scope='module', params=['lmp', 'gcbc'])
def exported(request, tiny_play, tmp_path_factory):
    """
    Train a tiny model for a few steps and export it.

    :return: (method, checkpoint path, model directory).
    """
    root = tmp_path_factory.mktemp(f'export_{request.param}')
    assert train.main(tiny_arguments(tiny_play, root / 'run', method=request.param,
                                     steps=4)) == 0
    checkpoint = root / 'run' / ckpt.LAST_CHECKPOINT
    model_dir = root / 'model'
    assert export.main(['--checkpoint', str(checkpoint), '--out', str(model_dir),
                        '--data', str(tiny_play)]) == 0
    return request.param, checkpoint, model_dir


def test_export_meets_the_contract_and_parity(exported):
    """The loader accepts the graphs; multi-step parity on random and real windows <= 1e-4."""
    method, _, model_dir = exported
    parity = json.loads((model_dir / 'parity.json').read_text())
    assert parity['random'] <= export.PARITY_TOLERANCE
    assert parity['real'] <= export.PARITY_TOLERANCE
    policy = OnnxPolicy(str(model_dir))
    assert policy.method == method and policy.replan_every == 8
    assert (model_dir / PLANNER_FILE).exists() == (method == 'lmp')


def test_onnx_and_torch_policies_sample_the_same_actions(exported):
    """Same weights, same seed, sampling on: the two backends give the same actions."""
    _, checkpoint, model_dir = exported
    model = ckpt.model_from_checkpoint(ckpt.load_checkpoint(checkpoint))
    onnx_policy = OnnxPolicy(str(model_dir), seed=5)
    torch_policy = TorchPolicy(model, seed=5)
    rng = np.random.default_rng(0)
    mean, std = model.obs_mean.numpy(), model.obs_std.numpy()
    goal = mean + std * rng.standard_normal(39)
    for _ in range(20):  # crosses two replans (replan_every 8)
        obs = mean + std * rng.standard_normal(39)
        obs[14] = 1.0
        np.testing.assert_allclose(onnx_policy.act(obs, goal), torch_policy.act(obs, goal),
                                   atol=1e-4)
    assert onnx_policy.replans == torch_policy.replans == 3


def test_export_refuses_a_bad_checkpoint(tmp_path, capsys):
    """A missing or corrupt checkpoint: exit 2 naming the file."""
    assert export.main(['--checkpoint', str(tmp_path / 'none.pt'), '--out',
                        str(tmp_path / 'm')]) == 2
    assert 'none.pt does not exist' in capsys.readouterr().err
    (tmp_path / 'bad.pt').write_bytes(b'garbage')
    assert export.main(['--checkpoint', str(tmp_path / 'bad.pt'), '--out',
                        str(tmp_path / 'm')]) == 2
    assert 'corrupt' in capsys.readouterr().err


def test_single_protocol_end_to_end(exported, tmp_path):
    """Both goal sources as separate reports, no imagined top-up, the same with two workers."""
    from play_lmp_training.collect import generate, PlayConfig
    _, _, model_dir = exported
    # A tiny split of its own whose validation episode holds an annotated window (seed 4 does).
    tiny_play = tmp_path / 'play'
    generate(tiny_play, 10 * TINY_EPISODE_FRAMES, seed=4, workers=1,
             config=PlayConfig(episode_frames=TINY_EPISODE_FRAMES), progress=False)
    held_out = validation_episodes(Path(tiny_play) / 'validation', GoalJudge())
    assert held_out, 'the tiny validation split should hold an annotated window'
    held_task = sorted(held_out)[0]
    other_task = 'open_drawer' if held_task != 'open_drawer' else 'turn_on_led'
    arguments = ['--model', str(model_dir), '--name', 'tiny', '--protocol', 'single',
                 '--goal-source', 'both', '--data', str(tiny_play), '--episodes', '1',
                 '--tasks', f'{held_task},{other_task}', '--no-progress']
    assert evaluate.main(arguments + ['--out', str(tmp_path / 'one')]) == 0
    report = json.loads((tmp_path / 'one' / 'tiny-det' / 'results.json').read_text())
    assert list(report['summaries']) == ['imagined', 'validation']
    assert report['summary'] == report['summaries']['imagined']
    validation = report['summaries']['validation']['per_task']
    assert set(validation) == {held_task, other_task}
    assert validation[held_task]['episodes'] == 1
    assert validation[other_task]['episodes'] == min(1, len(held_out.get(other_task, [])))
    assert {episode['source'] for episode in report['episodes']} == {'imagined', 'validation'}
    assert all('trivial' in episode for episode in report['episodes'])
    for stem in ('single_imagined', 'single_validation'):
        assert (tmp_path / 'one' / f'{stem}.png').stat().st_size > 1000
        assert (tmp_path / 'one' / f'{stem}_distance.png').stat().st_size > 1000
        table = (tmp_path / 'one' / f'{stem}.md').read_text()
        assert '| **mean over tasks** (non-trivial) |' in table
        assert ' hold | open-gripper |' in table
    assert evaluate.main(arguments + ['--out', str(tmp_path / 'two'), '--workers', '2']) == 0
    again = json.loads((tmp_path / 'two' / 'tiny-det' / 'results.json').read_text())
    assert again['episodes'] == report['episodes']


def test_chain_protocol_end_to_end(exported, tmp_path):
    """One 5-task chain beside the baselines: SR(1..5), average length and failures reported."""
    _, _, model_dir = exported
    assert evaluate.main(['--model', str(model_dir), '--protocol', 'chain', '--episodes', '1',
                          '--out', str(tmp_path), '--no-progress']) == 0
    summaries = json.loads((tmp_path / 'chain.json').read_text())
    assert [summary['kind'] for summary in summaries] == ['model', 'hold', 'open-gripper']
    summary = summaries[0]
    assert len(summary['success_rates']) == CHAIN_LENGTH
    assert summary['chains'] == 1 and 0 <= summary['average_length'] <= 5
    assert summary['goal_failures'] + summary['policy_failures'] <= 1


def test_evaluate_refuses_unknown_tasks_and_models(tmp_path, capsys):
    """An unknown task name or a missing model directory: exit 2 with the reason."""
    assert evaluate.main(['--model', str(tmp_path), '--tasks', 'open_drawr']) == 2
    assert 'open_drawer' in capsys.readouterr().err


def test_chain_summary_counts_tasks_in_a_row():
    """Completed counts 0, 2, 5 give SR(1) 2/3, SR(3) 1/3 and an average length of 7/3."""
    summary = summarize_chain([{'completed': 0}, {'completed': 2}, {'completed': 5}])
    assert summary['success_rates'] == pytest.approx([2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3])
    assert summary['average_length'] == pytest.approx(7 / 3)


def test_the_bundled_default_is_the_distilled_student():
    """The installed default: a Play-GCBC actor in the contract that acts, marked scripted."""
    model_dir = Path(default_model_dir())
    assert sum(path.stat().st_size for path in model_dir.iterdir()) <= 20 * 1024 * 1024
    policy = OnnxPolicy(str(model_dir), deterministic=True)
    assert policy.method == 'gcbc' and policy.plan_mode == 'direct'
    assert not (model_dir / PLANNER_FILE).exists()
    with PlayTableSim(seed=0) as sim:
        action = policy.act(sim.reset_random(0), sim.reset_random(1))
    assert np.all(np.abs(action[:6]) <= 1.0) and action[6] in (-1.0, 1.0)
    assert json.loads((model_dir / 'parity.json').read_text())['random'] <= 1e-4
    assert 'scripted' in (model_dir / 'README.md').read_text()


def test_the_play_only_model_is_installed_beside_it_under_its_own_name():
    """play_lmp: Play-LMP with contact subgoals, <= 20 MB, selectable by its name."""
    model_dir = Path(resolve_model_dir(PLAY_MODEL))
    assert model_dir == Path(bundled_model_dir(PLAY_MODEL)) != Path(default_model_dir())
    size = sum(path.stat().st_size for path in model_dir.iterdir())
    assert size <= 20 * 1024 * 1024
    assert OnnxPolicy(str(model_dir)).subgoal_planner.settings.contact_radius_m == 0.03
    policy = OnnxPolicy(str(model_dir), deterministic=True)
    assert policy.plan_mode == 'sample'
    assert policy.method == 'lmp'
    with PlayTableSim(seed=0) as sim:
        obs = sim.reset_random(0)
        far = sim.reset_random(1)
        action = policy.act(obs, far)
    assert np.all(np.abs(action[:6]) <= 1.0) and action[6] in (-1.0, 1.0)
    assert policy.subgoal is not None and np.all(np.isfinite(policy.subgoal))
    assert json.loads((model_dir / 'subgoal_parity.json').read_text())['random'] <= 1e-4


def test_model_dir_settings_resolve_to_folders(tmp_path):
    """'' is the default, a bundled name its folder, a path itself (even a missing one)."""
    assert resolve_model_dir('') == default_model_dir()
    assert resolve_model_dir(str(tmp_path)) == str(tmp_path)
    assert resolve_model_dir('no_such_model') == 'no_such_model'
