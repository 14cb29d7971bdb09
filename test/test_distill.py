"""Distillation end to end: real rollouts, real experts, real training, ONNX export, resume."""

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import List

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.policy import OnnxPolicy
from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim
from play_lmp_ros.core.tasks import TASK_NAMES
from play_lmp_training import checkpoint as ckpt
from play_lmp_training import distill
from play_lmp_training.distillation.aggregate import (
    Aggregate, AggregateError, read_infos, read_shard, shard_path, write_shard)
from play_lmp_training.distillation.configuration import DistillConfig, parse_any_config
from play_lmp_training.distillation.relabel import relabel_run
from play_lmp_training.distillation.rollouts import _Recorder, COUNT_KEYS, drive, RolloutJob
from play_lmp_training.distillation.training import Distiller, iteration_summary
from play_lmp_training.play_lmp.configuration import from_dict, load_config
import pytest
import torch
from training_fixtures import REPO_ROOT

CONFIG = str(REPO_ROOT / 'config' / 'training' / 'distill.yaml')
TINY = ['model.policy_hidden=32', 'model.mixtures=3', 'model.replan_every=8',
        'dagger.episodes_per_task=1', 'dagger.chains=0', 'dagger.max_steps=40',
        'dagger.chain_max_steps=40', 'dagger.workers=1', 'train.batch_size=8',
        'train.steps_per_iteration=6', 'train.checkpoint_every=3', 'train.num_threads=1']
KEPT = ('open_drawer', 'turn_on_led', 'push_red_block_left')


def _only(tasks) -> str:
    """Build the exclude_tasks override that keeps exactly the given tasks."""
    return f'dagger.exclude_tasks=[{",".join(t for t in TASK_NAMES if t not in tasks)}]'


def _arguments(run: Path, iterations: int = 1, extra: List[str] = ()) -> List[str]:
    """CLI arguments of a tiny distillation run."""
    return ['--config', CONFIG, '--no-progress', *TINY, _only(KEPT),
            f'dagger.iterations={iterations}', f'output_dir={run}', *extra]


def _shard_tasks(run: Path) -> set:
    """Every task that a run's shards hold a state of."""
    tasks = set()
    for path in (run / 'aggregate').glob('iter_*/rollout_*.npz'):
        arrays, info = read_shard(path)
        tasks |= {TASK_NAMES[i] for i in np.unique(arrays['task'])} | set(info['tasks'])
    return tasks


def _last(run: Path) -> dict:
    """Load a run's last checkpoint."""
    return ckpt.load_checkpoint(run / ckpt.LAST_CHECKPOINT, parse_any_config)


def test_configuration_names_bad_values():
    """Unknown tasks, a play mix without data and a bad beta are refused by name."""
    with pytest.raises(ValueError, match='unknown tasks'):
        from_dict({'dagger': {'exclude_tasks': ['open_the_pod_bay_doors']}}, DistillConfig)
    with pytest.raises(ValueError, match='data_path'):
        from_dict({'train': {'play_fraction': 0.5}}, DistillConfig)
    with pytest.raises(ValueError, match='dagger.expert_fraction'):
        from_dict({'dagger': {'expert_fraction': 1.5}}, DistillConfig)
    config = load_config(CONFIG, ['dagger.expert_decay=0.5'], DistillConfig)
    assert config.dagger.expert_probability(0) == 1.0
    assert config.dagger.expert_probability(2) == 0.25


def _rows(steps: List[int], labelled: List[bool]) -> dict:
    """Shard arrays with given segment steps and labels (state = row number)."""
    rows = len(steps)
    obs = np.repeat(np.arange(rows, dtype=np.float32)[:, None], layout.OBS_DIM, axis=1)
    expert = np.where(np.array(labelled)[:, None], 0.5, np.nan).astype(np.float32)
    return {'obs': obs, 'goal': obs + 100, 'student_action': np.zeros((rows, 7), np.float32),
            'expert_action': np.repeat(expert, layout.ACTION_DIM, axis=1),
            'labelled': np.array(labelled), 'expert_executed': np.zeros(rows, bool),
            'segment_step': np.array(steps, np.int32), 'task': np.zeros(rows, np.int16)}


def test_windows_start_where_the_student_replans_and_stay_in_their_segment(tmp_path):
    """Two goal segments of 10 and 5 steps, window 4: windows at 0,4,8 | 0,4, none across."""
    steps = list(range(10)) + list(range(5))
    labelled = [True] * 15
    labelled[14] = False   # the last window's only step: dropped
    write_shard(tmp_path / 'a.npz', _rows(steps, labelled), {'kind': 'single'})
    aggregate = Aggregate([tmp_path / 'a.npz'], window=4)
    assert aggregate.starts.tolist() == [0, 4, 8, 10]
    assert aggregate.lengths.tolist() == [4, 4, 2, 4]
    batch = aggregate.gather(aggregate.starts, aggregate.lengths)
    assert batch['mask'].sum(axis=1).tolist() == [4, 4, 2, 4]
    # The goal is the one in force at the window's start; padding is zero and unscored.
    assert batch['goal'][2, 0] == 108.0 and batch['obs'][2, 2:].max() == 0.0
    assert np.isfinite(batch['actions']).all()


def test_a_corrupt_shard_is_named_and_nothing_else_is_touched(tmp_path):
    """Garbage in one shard: AggregateError naming it; the other shard keeps its bytes."""
    good, bad = tmp_path / 'good.npz', tmp_path / 'bad.npz'
    write_shard(good, _rows(list(range(4)), [True] * 4), {'kind': 'single'})
    bad.write_bytes(b'not an npz at all')
    before = good.read_bytes()
    with pytest.raises(AggregateError, match='bad.npz'):
        Aggregate([good, bad], window=4)
    assert good.read_bytes() == before


def test_a_tipped_block_is_rolled_out_but_never_labelled():
    """A push whose block lies on its side: the student's states are kept, no label invented."""
    with PlayTableSim(seed=0) as sim:
        start = sim.reset_random(3)
        scene = start[layout.ROBOT_OBS_DIM:].copy()
        orientation = layout.block_slice(layout.BLOCK_NAMES.index('block_red'))
        scene[orientation.start + 3] = np.pi / 2     # rolled onto its side
        scene[orientation.start + 2] += 0.01
        sim.reset(start[:layout.ROBOT_OBS_DIM], scene)
        job = RolloutJob(0, 0, 'single', 'push_red_block_left', (), 1.0, 0.0, 6, 0, '')
        counts = dict.fromkeys(COUNT_KEYS, 0.0)
        recorder = _Recorder()
        policy = OnnxPolicy(str(REPO_ROOT / 'play_lmp_ros' / 'models' / 'default'),
                            deterministic=True)
        drive(sim, policy, 'push_red_block_left', sim.observe(), job,
              np.random.default_rng(0), recorder, counts, 0)
    arrays = recorder.arrays()
    assert counts['steps'] == 6 and counts['dropped_labels'] == 6 and counts['labelled'] == 0
    assert not arrays['labelled'].any() and np.isnan(arrays['expert_action']).all()
    assert not arrays['expert_executed'].any()


def test_a_takeover_hands_the_episode_to_the_expert_from_its_step():
    """Beta 0 with a takeover at step 5: the student drives 5 steps, the expert the rest."""
    with PlayTableSim(seed=0) as sim:
        sim.reset_random(4)
        job = RolloutJob(0, 0, 'single', 'turn_on_led', (), 0.0, 0.0, 12, 0, '',
                         takeover_step=5)
        counts = dict.fromkeys(COUNT_KEYS, 0.0)
        recorder = _Recorder()
        policy = OnnxPolicy(str(REPO_ROOT / 'play_lmp_ros' / 'models' / 'default'),
                            deterministic=True)
        drive(sim, policy, 'turn_on_led', sim.observe(), job, np.random.default_rng(0),
              recorder, counts, 0)
    arrays = recorder.arrays()
    assert arrays['labelled'].all() and counts['expert_steps'] == 7
    assert arrays['expert_executed'].tolist() == [False] * 5 + [True] * 7


def _iteration_infos(run: Path, iteration: int, outcomes: dict) -> None:
    """Write one shard per (task, successes) of an iteration, as single-goal rollouts."""
    for index, (task, successes) in enumerate(outcomes.items()):
        info = {'kind': 'single', 'tasks': [task] * len(successes), 'successes': successes,
                'takeover_step': -1, 'skipped': ''}
        write_shard(shard_path(run, iteration, index), _rows([0, 1], [True, True]), info)


def test_failure_episodes_follow_the_students_failures_and_takeovers_count_apart(tmp_path):
    """Extra episodes go to the tasks failed last iteration; expert-finished ones are apart."""
    run = tmp_path / 'run'
    config = load_config(CONFIG, [*TINY, _only(KEPT), f'output_dir={run}',
                                  'dagger.failure_episodes=5', 'dagger.takeover_fraction=1.0',
                                  'dagger.takeover_max_step=3'], DistillConfig)
    distiller = Distiller(config, progress=False)
    assert distiller.failure_tasks(0) == []
    # open_drawer always solved, turn_on_led failed 1 in 2, push_red_block_left always failed;
    # the takeover shard's successes are the expert's and move nothing.
    _iteration_infos(run, 0, {'open_drawer': [True, True], 'turn_on_led': [True, False],
                              'push_red_block_left': [False, False]})
    takeover = run / 'aggregate' / 'iter_000' / 'rollout_00009.npz'
    write_shard(takeover, _rows([0], [True]), {
        'kind': 'single', 'tasks': ['open_drawer'], 'successes': [False], 'takeover_step': 2,
        'skipped': ''})
    assert distiller.failure_tasks(1) == ['push_red_block_left'] * 3 + ['turn_on_led'] * 2
    summary = iteration_summary(read_infos(sorted(takeover.parent.glob('*.npz'))))
    assert summary['success/open_drawer'] == 1.0 and summary['takeover_episodes'] == 1.0
    jobs = distiller.jobs(1)
    singles = [job for job in jobs if job.kind == 'single']
    assert [job.task for job in singles][len(KEPT):] == distiller.failure_tasks(1)
    assert all(0 <= job.takeover_step <= 3 for job in singles)
    assert [job.takeover_step for job in distiller.jobs(1)] == [job.takeover_step
                                                                for job in jobs]


def test_a_tiny_distillation_labels_trains_and_exports(tmp_path):
    """One iteration: shards with labels beside student actions, a training step, ONNX."""
    run = tmp_path / 'run'
    assert distill.main(_arguments(run)) == 0
    arrays, info = read_shard(shard_path(run, 0, 0))
    first_task = next(task for task in TASK_NAMES if task in KEPT)
    assert info['tasks'] == [first_task] and info['beta'] == 1.0
    assert arrays['labelled'].mean() > 0.9
    # Beta 1: the expert drives, its labels are clean, and the student's actions are kept.
    assert arrays['expert_executed'][arrays['labelled']].all()
    assert np.isfinite(arrays['student_action']).all()
    assert set(_shard_tasks(run)) <= set(KEPT)
    state = _last(run)
    assert state['iteration'] == 1 and state['step'] == 6 and state['normalized']
    model = run / distill.MODEL_DIR
    assert json.loads((model / 'parity.json').read_text())['random'] < 1e-3
    assert 'scripted' in (model / 'README.md').read_text()
    policy = OnnxPolicy(str(model), deterministic=True)
    action = policy.act(np.asarray(arrays['obs'][0], float), np.asarray(arrays['goal'][0]))
    assert action.shape == (7,) and np.isfinite(action).all()
    lines = [json.loads(line) for line in (run / 'metrics.jsonl').read_text().splitlines()]
    rollouts = [line for line in lines if line['split'] == 'rollouts']
    assert rollouts[0]['single_success'] >= 0.0 and rollouts[0]['steps'] > 0


def test_play_windows_mix_into_the_batches(tiny_play, tmp_path):
    """train.play_fraction 0.5: half of every batch comes from the play data, and it trains."""
    run = tmp_path / 'run'
    assert distill.main(_arguments(run, 1, ['train.play_fraction=0.5',
                                            f'data_path={tiny_play}'])) == 0
    assert _last(run)['play_rng'] is not None
    config = load_config(CONFIG, [*TINY, 'train.play_fraction=0.5', f'data_path={tiny_play}',
                                  f'output_dir={tmp_path / "other"}'], DistillConfig)
    distiller = Distiller(config, progress=False)
    aggregate = Aggregate(sorted((run / 'aggregate').glob('*/*.npz')),
                          config.model.replan_every)
    losses = [distiller.train_step(aggregate)['loss'] for _ in range(2)]
    assert all(np.isfinite(losses))
    assert distiller.play.sample(4)['obs'].shape[1] == config.model.replan_every


def _python_env() -> dict:
    """Return the environment of a subprocess that imports this checkout."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + os.environ.get('PYTHONPATH', '').split(os.pathsep)))


def _kill_when(command: List[str], ready, what: str) -> None:
    """Start a distillation, SIGKILL it once ready() holds."""
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=_python_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not ready():
            assert process.poll() is None, f'the run ended before {what}'
            assert time.monotonic() < deadline, f'no {what} within 240 s'
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


def _training_begun(run: Path) -> bool:
    """Tell whether last.pt was written inside an iteration's training."""
    try:
        return _last(run)['iteration_step'] > 0
    except ckpt.CheckpointError:
        return False


@pytest.mark.slow
def test_killed_mid_training_and_mid_rollouts_resumes_exactly(tmp_path):
    """SIGKILL inside iteration 0's training, then inside iteration 1's rollouts: same run."""
    extra = ['train.steps_per_iteration=300', 'train.checkpoint_every=2',
             'dagger.episodes_per_task=3']
    killed, straight = tmp_path / 'killed', tmp_path / 'straight'
    command = [sys.executable, '-m', 'play_lmp_training.distill',
               *_arguments(killed, 2, extra)]
    _kill_when(command, lambda: _training_begun(killed), 'a checkpoint inside training')
    assert _last(killed)['iteration'] == 0
    first_shard = shard_path(killed, 1, 0)
    _kill_when(command + ['--resume'], first_shard.exists, 'a shard of iteration 1')
    assert _last(killed)['iteration'] == 1
    assert distill.main(_arguments(killed, 2, extra) + ['--resume']) == 0
    assert distill.main(_arguments(straight, 2, extra)) == 0
    for index in range(3 * len(KEPT)):
        mine, _ = read_shard(shard_path(killed, 1, index))
        theirs, _ = read_shard(shard_path(straight, 1, index))
        for key in mine:
            assert np.array_equal(mine[key], theirs[key], equal_nan=True), (index, key)
    for key, value in _last(straight)['model'].items():
        assert torch.equal(_last(killed)['model'][key], value), key

    def logged(run):
        return [(line['iteration'], line['split'], line['step']) for line in
                map(json.loads, (run / 'metrics.jsonl').read_text().splitlines())]
    assert logged(killed) == logged(straight)


def test_resume_refuses_another_configuration_and_a_corrupt_shard(tmp_path, capsys):
    """A changed learning rate is named; a damaged shard stops the run, naming the file."""
    run = tmp_path / 'run'
    assert distill.main(_arguments(run)) == 0
    assert distill.main(_arguments(run, 1, ['train.lr=0.5']) + ['--resume']) == 2
    assert 'train.lr' in capsys.readouterr().err
    shard = shard_path(run, 0, 1)
    shard.write_bytes(b'\x00' * 64)
    last = (run / ckpt.LAST_CHECKPOINT).read_bytes()
    assert distill.main(_arguments(run, 2) + ['--resume']) == 2
    error = capsys.readouterr().err
    assert 'rollout_00001.npz' in error and 'corrupt' in error
    assert (run / ckpt.LAST_CHECKPOINT).read_bytes() == last


@pytest.mark.slow
def test_the_lifelong_split_keeps_held_out_tasks_out_then_adds_them(tmp_path):
    """Stack and unstack held out (chains too); a second run adds them, replaying the first."""
    first, second = tmp_path / 'first', tmp_path / 'second'
    held_out = ('stack_block', 'unstack_block')
    common = ['--config', CONFIG, '--no-progress', *TINY, 'dagger.chains=2',
              'dagger.episodes_per_task=0', 'dagger.iterations=1']
    assert distill.main(common + [f'dagger.exclude_tasks=[{",".join(held_out)}]',
                                  f'output_dir={first}']) == 0
    old = _shard_tasks(first)
    assert old and not old & set(held_out)
    assert distill.main(common + ['dagger.chains=0', 'dagger.episodes_per_task=1',
                                  _only(held_out), f'replay_from=[{first}]',
                                  f'output_dir={second}', '--init',
                                  str(first / ckpt.LAST_CHECKPOINT)]) == 0
    assert _shard_tasks(second) <= set(held_out)
    trained = [json.loads(line) for line in (second / 'metrics.jsonl').read_text().splitlines()
               if '"training"' in line][-1]
    new_states = sum(len(read_shard(path)[0]['obs'])
                     for path in (second / 'aggregate').glob('*/*.npz'))
    assert trained['aggregate_states'] > new_states   # the first run's states are replayed
    assert _last(second)['init'] == str(first / ckpt.LAST_CHECKPOINT)


def test_relabelling_reproduces_todays_labels_and_replaces_stale_ones(tmp_path):
    """Same experts: no label changes; a shard with stale labels gets the experts' back."""
    run, relabelled = tmp_path / 'run', tmp_path / 'relabelled'
    assert distill.main(_arguments(run)) == 0
    stale = shard_path(run, 0, 1)
    arrays, info = read_shard(stale)
    expected = arrays['expert_action'].copy()
    arrays['expert_action'][arrays['labelled']] = 0.0
    write_shard(stale, arrays, info)
    totals = relabel_run(run, relabelled, progress=False)
    assert totals['shards'] == len(list((run / 'aggregate').glob('*/*.npz')))
    assert totals['changed'] == int(arrays['labelled'].sum()) > 0
    fixed, fixed_info = read_shard(shard_path(relabelled, 0, 1))
    assert np.allclose(fixed['expert_action'], expected, atol=1e-4, equal_nan=True)
    assert fixed_info['relabelled_from'] == str(stale)
    assert relabel_run(run, relabelled, progress=False)['skipped'] == totals['shards']
    with pytest.raises(ValueError, match='same'):
        relabel_run(run, run)
