"""Subgoal planning: the numpy planner, the torch proposer and distance model, export, runtime."""

import json
import shutil

import numpy as np
import onnx
import onnx.numpy_helper
from onnx_fixtures import write_model_dir
import onnxruntime
from play_lmp_ros.core import layout
from play_lmp_ros.core.policy import ModelError, OnnxPolicy
from play_lmp_ros.core.subgoals import (
    collocate, gaussian_log_prob, KSTEP_FILE, PlannerSettings, SUBGOAL_FILE, tcp_distance,
    tidy_states)
from play_lmp_training import bench_subgoals, checkpoint as ckpt, oracle_subgoals, proposer_error
from play_lmp_training.calvin_dataset import load_split
from play_lmp_training.subgoal import train as subgoal_train
from play_lmp_training.subgoal.configuration import load_config, SubgoalModelConfig
from play_lmp_training.subgoal.data import PairSampler
from play_lmp_training.subgoal.modeling import SubgoalModels
import pytest
from subgoal_fixtures import (
    TINY_SUBGOAL_OVERRIDES, train_tiny_subgoal, write_planned_model_dir)
import torch


def tiny_models(mixtures: int, seed: int, **config) -> SubgoalModels:
    """Return small subgoal models with random observation statistics."""
    models = SubgoalModels(SubgoalModelConfig(width=32, depth=2, mixtures=mixtures,
                                              distance_width=16, distance_depth=2, **config))
    rng = np.random.default_rng(seed)
    models.set_normalization(rng.normal(size=layout.OBS_DIM).astype(np.float32),
                             rng.uniform(0.5, 2, size=layout.OBS_DIM).astype(np.float32))
    return models


def squared_distance(scale: float):
    """Return a distance function scale * |a - b|^2 with its gradients, as kstep.onnx gives."""
    def distance(first, second):
        difference = second - first
        return (scale * np.sum(difference ** 2, axis=1), -2 * scale * difference,
                2 * scale * difference)
    return distance


def test_collocation_finds_the_evenly_spaced_chain_and_lowers_its_objective():
    # With d(a, b) = |a - b|^2 and a flat prior, the shortest chain spaces subgoals evenly
    # on the segment from start to goal: x_i = start + i / (K + 1) * (goal - start).
    rng = np.random.default_rng(0)
    start, goal = np.zeros(layout.OBS_DIM), np.full(layout.OBS_DIM, 0.3)
    start[list(layout.ANGLE_DIMS)] = goal[list(layout.ANGLE_DIMS)] = 0.0
    chain = start + rng.normal(0.0, 0.2, size=(3, layout.OBS_DIM))
    settings = PlannerSettings(chain=3, iterations=1000, step_size=0.05, max_move=1.0,
                               dual_step=0.5, prior_weight=0.0)
    solved, info = collocate(start, goal, chain, chain.copy(), np.ones_like(chain),
                             squared_distance(10.0), 32.0, settings)
    expected = start + np.arange(1, 4)[:, None] / 4.0 * (goal - start)
    free = [i for i in range(layout.OBS_DIM) if i not in (layout.GRIPPER_ACTION, 19, 20)]
    assert np.abs(solved[:, free] - expected[:, free]).max() < 1e-3
    assert info['objective'][1] < info['objective'][0]
    assert info['max_violation_steps'] <= 0.0


def test_collocation_dual_ascent_enforces_the_reach_constraint():
    # A strong prior holds the subgoals near the start: without multipliers the solution's last
    # hop takes about 56 steps (solved by hand: x = 0.20, 0.49 of the way), over k = 32; the
    # multipliers must grow until every hop is within k (even spacing, 24 steps each, fits).
    start, goal = np.zeros(layout.OBS_DIM), np.zeros(layout.OBS_DIM)
    goal[:3] = 1.0
    chain = np.repeat(start[None], 2, axis=0)
    distance = squared_distance(72.0)

    def solve(dual_step):
        settings = PlannerSettings(chain=2, iterations=1500, step_size=0.1, max_move=0.05,
                                   dual_step=dual_step, prior_weight=2.0)
        solved, info = collocate(start, goal, chain, chain.copy(), np.ones_like(chain),
                                 distance, 32.0, settings)
        hops = distance(np.concatenate([start[None], solved]),
                        np.concatenate([solved, goal[None]]))[0]
        return hops, info

    loose, _ = solve(0.0)
    tight, info = solve(0.5)
    assert loose.max() == pytest.approx(56.0, rel=0.03)
    assert tight.max() <= 32.0 * 1.03
    assert info['max_violation_steps'] <= 32.0 * 0.03
    assert max(info['multipliers']) > 0.0


def test_gaussian_log_prob_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    states = rng.normal(size=(2, layout.OBS_DIM))
    means = rng.normal(size=(2, layout.OBS_DIM))
    scales = rng.uniform(0.5, 2.0, size=(2, layout.OBS_DIM))
    _, gradient = gaussian_log_prob(states.copy(), means, scales)
    epsilon = 1e-6
    for dim in (0, 3, 30):
        shifted = states.copy()
        shifted[:, dim] += epsilon
        numeric = (gaussian_log_prob(shifted, means, scales)[0]
                   - gaussian_log_prob(states.copy(), means, scales)[0]) / epsilon
        assert np.allclose(numeric, gradient[:, dim], atol=1e-4)


def test_tidy_states_makes_valid_observations():
    state = np.zeros(layout.OBS_DIM)
    state[layout.TCP_ORN] = [3.5, -3.5, 0.1]
    state[layout.GRIPPER_ACTION] = 0.3
    state[layout.ROBOT_OBS_DIM + layout.LIGHTBULB] = 0.7
    state[layout.ROBOT_OBS_DIM + layout.LED] = 1.6
    state[layout.ROBOT_OBS_DIM + layout.DRAWER] = 0.5
    state[layout.GRIPPER_WIDTH] = -0.01
    tidy = tidy_states(state)
    assert np.all(np.abs(tidy[list(layout.ANGLE_DIMS)]) <= np.pi)
    assert tidy[layout.GRIPPER_ACTION] == layout.GRIPPER_OPEN
    assert tidy[layout.ROBOT_OBS_DIM + layout.LIGHTBULB] == 1.0
    assert tidy[layout.ROBOT_OBS_DIM + layout.LED] == 1.0
    assert tidy[layout.ROBOT_OBS_DIM + layout.DRAWER] == layout.DRAWER_RANGE[1]
    assert tidy[layout.GRIPPER_WIDTH] == 0.0


def test_proposer_and_distance_shapes_and_explicit_gradients():
    models = tiny_models(mixtures=4, seed=2)
    obs, goal = torch.randn(5, layout.OBS_DIM), torch.randn(5, layout.OBS_DIM)
    logits, means, scales = models.proposer.mixture(obs, goal)
    assert logits.shape == (5, 4) and means.shape == scales.shape == (5, 4, layout.OBS_DIM)
    assert bool((scales > 0).all())
    assert models.proposer.log_prob(obs, goal, goal).shape == (5,)
    first = obs.clone().requires_grad_(True)
    second = goal.clone().requires_grad_(True)
    steps = models.distance(first, second)
    grad_first, grad_second = torch.autograd.grad(steps.sum(), [first, second])
    explicit = models.distance.steps_and_gradients(obs, goal)
    assert explicit[0].shape == (5,) and bool((explicit[0] >= 0).all())
    assert torch.allclose(explicit[0], steps, atol=1e-6)
    assert torch.allclose(explicit[1], grad_first, atol=1e-5)
    assert torch.allclose(explicit[2], grad_second, atol=1e-5)


def test_pair_sampler_takes_subgoals_k_steps_ahead_in_the_same_segment(tiny_play):
    split = load_split(tiny_play / 'training', progress=False)
    sampler = PairSampler(split, horizon=8, max_goal_distance=40, seed=0)
    batch = sampler.sample(64)
    obs = np.asarray(split.obs)
    for state, subgoal, goal, steps in zip(batch['obs'], batch['subgoal'], batch['goal'],
                                           batch['goal_steps']):
        row = int(np.flatnonzero(np.all(np.isclose(obs, state, atol=1e-6), axis=1))[0])
        segment = int(np.searchsorted(split.episode_bounds[:, 1], row))
        assert row + steps <= split.episode_bounds[segment, 1]
        assert np.allclose(obs[row + min(8, steps)], subgoal, atol=1e-6)
        assert np.allclose(obs[row + steps], goal, atol=1e-6)
    assert np.all((batch['steps'] >= 0) & (batch['steps'] <= 40))
    again = PairSampler(split, horizon=8, max_goal_distance=40, seed=0).sample(64)
    assert all(np.array_equal(batch[key], again[key]) for key in batch)
    far = PairSampler(split, horizon=8, max_goal_distance=40, seed=0, min_goal_distance=8)
    steps = far.sample(256)['goal_steps']   # nearer only where a segment ends first
    assert steps.max() <= 40 and np.mean(steps >= 8) > 0.9


@pytest.fixture(scope='module')
def subgoal_run(tiny_play, tmp_path_factory):
    """Train tiny subgoal models for four steps; return the run directory."""
    run = tmp_path_factory.mktemp('subgoal') / 'run'
    train_tiny_subgoal(tiny_play, run)
    return run


def test_subgoal_training_resumes_exactly(subgoal_run, tiny_play, tmp_path):
    half = tmp_path / 'half'
    common = ['--no-progress', *TINY_SUBGOAL_OVERRIDES, f'data_path={tiny_play}',
              f'output_dir={half}']
    assert subgoal_train.main([*common, 'train.steps=4', '--until', '2']) == 0
    assert subgoal_train.main([*common, 'train.steps=4', '--resume']) == 0
    resumed = ckpt.load_checkpoint(half / ckpt.LAST_CHECKPOINT, lambda values: values)
    whole = ckpt.load_checkpoint(subgoal_run / ckpt.LAST_CHECKPOINT, lambda values: values)
    assert resumed['step'] == whole['step'] == 4
    for key, value in whole['model'].items():
        assert torch.equal(value, resumed['model'][key]), key
    steps = [json.loads(line)['step'] for line in
             (half / 'metrics.jsonl').read_text().splitlines()]
    assert steps == sorted(steps)
    assert subgoal_train.main([*common, 'train.steps=4']) == 2  # a run is there: no --resume


def test_robot_part_proposer_plans_the_robot_and_takes_the_scene_from_the_goal():
    models = tiny_models(mixtures=3, seed=3, subgoal_part='robot')
    obs, goal = torch.randn(4, layout.OBS_DIM), torch.randn(4, layout.OBS_DIM)
    logits, means, scales = models.proposer.mixture(obs, goal)
    assert logits.shape == (4, 3) and means.shape == scales.shape == (4, 3, layout.OBS_DIM)
    robot = layout.ROBOT_OBS_DIM
    assert torch.equal(means[..., robot:], goal[:, None, robot:].expand(4, 3, -1))
    assert bool((scales[..., robot:] < 1e-2).all()) and bool((scales > 0).all())
    # The likelihood ignores the scene: any scene in the subgoal scores the same.
    subgoal = torch.randn(4, layout.OBS_DIM)
    other = subgoal.clone()
    other[:, robot:] = torch.randn(4, layout.OBS_DIM - robot)
    assert torch.allclose(models.proposer.log_prob(obs, goal, subgoal),
                          models.proposer.log_prob(obs, goal, other))
    _, metrics = models({'obs': obs, 'goal': goal, 'subgoal': subgoal, 'first': obs,
                         'second': goal, 'steps': torch.full((4,), 5.0)})
    assert np.isfinite(metrics['subgoal_nll'])
    # Contact subgoals keep the scene as it is: the state's scene part instead of the goal's.
    contact = tiny_models(mixtures=3, seed=3, subgoal_part='robot', subgoal_scene='state')
    means = contact.proposer.mixture(obs, goal)[1]
    assert torch.equal(means[..., robot:], obs[:, None, robot:].expand(4, 3, -1))


def test_scene_goal_input_ignores_the_goals_robot_part():
    models = tiny_models(mixtures=3, seed=4, goal_input='scene')
    obs, goal = torch.randn(4, layout.OBS_DIM), torch.randn(4, layout.OBS_DIM)
    other = goal.clone()
    other[:, :layout.ROBOT_OBS_DIM] = torch.randn(4, layout.ROBOT_OBS_DIM)
    for first, second in zip(models.proposer.mixture(obs, goal),
                             models.proposer.mixture(obs, other)):
        assert torch.equal(first, second)
    moved = goal.clone()
    moved[:, layout.ROBOT_OBS_DIM + layout.DRAWER] += 0.1
    assert not torch.equal(models.proposer.mixture(obs, moved)[1],
                           models.proposer.mixture(obs, goal)[1])


def test_planner_metadata_sets_the_planner_and_a_bad_value_is_refused(planned_model, tmp_path):
    model_dir = tmp_path / 'handover'
    shutil.copytree(planned_model, model_dir)
    path = model_dir / SUBGOAL_FILE
    model = onnx.load(str(path))
    entry = next(prop for prop in model.metadata_props if prop.key == 'handover')
    assert entry.value == '1.0'   # the export writes the planner's settings
    entry.value = '2.5'
    onnx.save(model, str(path))
    assert OnnxPolicy(str(model_dir)).subgoal_planner.settings.handover == 2.5
    assert OnnxPolicy(str(model_dir), planner_settings=PlannerSettings()
                      ).subgoal_planner.settings.handover == 1.0
    entry.value = '-1'
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r"subgoal.onnx: metadata \[.*'handover'\]: handover"):
        OnnxPolicy(str(model_dir))
    entry.value = '1.0'
    mode = next(prop for prop in model.metadata_props if prop.key == 'after_contact')
    assert mode.value == 'goal'
    mode.value = 'proposer'
    onnx.save(model, str(path))
    assert OnnxPolicy(str(model_dir)).subgoal_planner.settings.after_contact == 'proposer'
    mode.value = 'wander'
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match=r'subgoal.onnx: metadata .*after_contact must be one'):
        OnnxPolicy(str(model_dir))


@pytest.mark.parametrize('overrides, message', [
    (['model.horizon=64', 'model.max_goal_distance=32'], 'max_goal_distance'),
    (['train.precision=fp8'], 'precision'),
    (['model.horizn=3'], 'unknown'),
    (['model.subgoal_part=scene'], 'subgoal_part'),
    (['model.subgoal_scene=future'], 'subgoal_scene'),
    (['train.subgoal_target=random'], 'subgoal_target'),
    (['model.goal_input=robot'], 'goal_input'),
    (['model.horizon=16', 'train.min_goal_distance=17'], 'min_goal_distance'),
    (['train.contact_lead=-1'], 'contact_lead'),
])
def test_subgoal_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


@pytest.fixture(scope='module')
def planned_model(subgoal_run, tiny_play, tmp_path_factory):
    """Export the tiny subgoal models next to a fixture actor; return the directory."""
    return write_planned_model_dir(tmp_path_factory.mktemp('planned'),
                                   subgoal_run / ckpt.LAST_CHECKPOINT, tiny_play)


def test_subgoal_export_parity_and_metadata(planned_model):
    report = json.loads((planned_model / 'subgoal_parity.json').read_text())
    assert max(report['random'], report['real']) <= report['tolerance']
    meta = {p.key: p.value for p in onnx.load(str(planned_model / SUBGOAL_FILE)).metadata_props}
    assert meta['kind'] == 'subgoal' and meta['horizon'] == '8'
    assert meta['plan_mode'] == 'best_of_n'


@pytest.mark.parametrize('mode', ['sample', 'best_of_n', 'collocation'])
@pytest.mark.parametrize('deterministic', [True, False])
def test_policy_plans_subgoals_in_every_mode(planned_model, mode, deterministic):
    policy = OnnxPolicy(str(planned_model), plan_mode=mode, deterministic=deterministic, seed=3)
    rng = np.random.default_rng(4)
    obs, goal = rng.normal(0, 0.1, layout.OBS_DIM), rng.normal(0, 0.1, layout.OBS_DIM)
    obs[layout.GRIPPER_ACTION] = goal[layout.GRIPPER_ACTION] = 1.0
    for _ in range(10):
        action = policy.act(obs, goal)
        assert action.shape == (7,) and np.all(np.abs(action[:6]) <= 1.0)
    assert policy.plan_mode == mode and policy.last_plan_s > 0.0
    assert policy.subgoal is not None and np.all(np.isfinite(policy.subgoal))
    repeat = OnnxPolicy(str(planned_model), plan_mode=mode, deterministic=deterministic, seed=3)
    assert np.array_equal(repeat.act(obs, goal), OnnxPolicy(
        str(planned_model), plan_mode=mode, deterministic=deterministic, seed=3).act(obs, goal))


def planned_subgoal(planned_model):
    """
    Plan once without a contact radius; return obs, goal, the subgoal and its TCP distance.

    :param planned_model: the model directory.
    :return: obs (39,), goal (39,), subgoal (39,) and the subgoal's TCP distance from obs (m).
    """
    rng = np.random.default_rng(5)
    obs, goal = rng.normal(0, 0.1, layout.OBS_DIM), rng.normal(0, 0.1, layout.OBS_DIM)
    obs[layout.GRIPPER_ACTION] = goal[layout.GRIPPER_ACTION] = 1.0
    probe = OnnxPolicy(str(planned_model), plan_mode='sample', deterministic=True,
                       planner_settings=PlannerSettings(handover=0.0))
    probe.act(obs, goal)
    subgoal = probe.subgoal.astype(np.float64)
    return obs, goal, subgoal, tcp_distance(subgoal, obs)


def test_reaching_a_contact_subgoal_hands_the_goal_over_until_reset(planned_model):
    obs, goal, subgoal, reach = planned_subgoal(planned_model)
    assert not np.allclose(subgoal, goal, atol=1e-6)
    # The hand within the radius of the planned subgoal: the goal itself, kept past replans.
    on = OnnxPolicy(str(planned_model), plan_mode='sample', deterministic=True,
                    planner_settings=PlannerSettings(handover=0.0, contact_radius_m=reach + 0.01))
    on.act(obs, goal)
    assert np.allclose(on.subgoal, goal, atol=1e-6)
    far = obs.copy()
    far[layout.TCP_POS] += 1.0
    for _ in range(on.replan_every + 1):
        on.act(far, goal)
    assert np.allclose(on.subgoal, goal, atol=1e-6) and on.replans == 2
    on.reset()
    assert on.subgoal is None and not on._latched


def test_after_contact_proposer_keeps_planning_and_replans_once_per_arrival(planned_model):
    obs, goal, subgoal, reach = planned_subgoal(planned_model)
    settings = PlannerSettings(handover=0.0, contact_radius_m=reach + 0.01,
                               after_contact='proposer')
    # Planned within the radius: the proposer's subgoal, no latch, no replan at every step.
    near = OnnxPolicy(str(planned_model), plan_mode='sample', deterministic=True,
                      planner_settings=settings)
    for _ in range(5):
        near.act(obs, goal)
    assert np.allclose(near.subgoal, subgoal, atol=1e-5)
    assert not near.goal_handed_over and near.replans == 1
    # Planned outside it, then the hand arrives: one replan at once.
    settings = PlannerSettings(handover=0.0, contact_radius_m=reach / 2, after_contact='proposer')
    moving = OnnxPolicy(str(planned_model), plan_mode='sample', deterministic=True,
                        planner_settings=settings)
    moving.act(obs, goal)
    arrived = obs.copy()
    arrived[layout.TCP_POS] = subgoal[layout.TCP_POS]
    moving.act(arrived, goal)
    moving.act(arrived, goal)
    assert moving.replans == 2 and not moving.goal_handed_over
    assert not np.allclose(moving.subgoal, goal, atol=1e-6)


def test_planned_model_defaults_to_its_mode_and_old_models_run_direct(planned_model, tmp_path):
    assert OnnxPolicy(str(planned_model)).plan_mode == 'best_of_n'
    old = write_model_dir(tmp_path)
    policy = OnnxPolicy(str(old))
    assert policy.plan_mode == 'direct' and policy.subgoal is None
    policy.act(np.zeros(layout.OBS_DIM), np.zeros(layout.OBS_DIM))
    with pytest.raises(ModelError, match='needs subgoal.onnx'):
        OnnxPolicy(str(old), plan_mode='collocation')
    with pytest.raises(ModelError, match='plan_mode'):
        OnnxPolicy(str(planned_model), plan_mode='teleport')


def _rewrite_metadata(path, **changes):
    """Change metadata_props of an ONNX file in place."""
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(changes)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))


@pytest.mark.parametrize('name, changes, message', [
    (SUBGOAL_FILE, {'layout_hash': 'deadbeef'}, 'subgoal.onnx has layout_hash'),
    (KSTEP_FILE, {'horizon': '9'}, 'kstep.onnx has horizon'),
    (SUBGOAL_FILE, {'plan_mode': 'wish'}, 'plan_mode'),
    (KSTEP_FILE, {'kind': 'subgoal'}, 'kind'),
])
def test_disagreeing_subgoal_graphs_are_refused(planned_model, tmp_path, name, changes, message):
    model_dir = tmp_path / 'model'
    shutil.copytree(planned_model, model_dir)
    _rewrite_metadata(model_dir / name, **changes)
    with pytest.raises(ModelError, match=message):
        OnnxPolicy(str(model_dir))


def test_missing_kstep_graph_is_refused(planned_model, tmp_path):
    model_dir = tmp_path / 'model'
    shutil.copytree(planned_model, model_dir)
    (model_dir / KSTEP_FILE).unlink()
    with pytest.raises(ModelError, match='kstep.onnx does not exist'):
        OnnxPolicy(str(model_dir))


@pytest.mark.parametrize('mode', ['sample', 'best_of_n', 'collocation'])
@pytest.mark.parametrize('deterministic', [True, False])
def test_a_non_finite_subgoal_holds_until_the_next_replan(planned_model, tmp_path, mode,
                                                          deterministic):
    model_dir = tmp_path / 'model'
    shutil.copytree(planned_model, model_dir)
    for name in (SUBGOAL_FILE, KSTEP_FILE):
        graph = onnx.load(str(model_dir / name))
        for weights in graph.graph.initializer:
            values = onnx.numpy_helper.to_array(weights)
            if values.dtype == np.float32 and values.ndim == 1 and values.size > 1:
                weights.CopyFrom(onnx.numpy_helper.from_array(
                    np.full_like(values, np.nan), weights.name))
        onnx.save(graph, str(model_dir / name))
    # Weights of NaN are refused at load (the test step), so the graphs fail after it here.
    with pytest.raises(ModelError, match='subgoal.onnx: a test step on a neutral state gave '
                                         'non-finite values'):
        OnnxPolicy(str(model_dir))
    policy = OnnxPolicy(str(planned_model), plan_mode=mode, deterministic=deterministic)
    planner = policy.subgoal_planner
    planner._subgoal = onnxruntime.InferenceSession(str(model_dir / SUBGOAL_FILE))
    planner._kstep = onnxruntime.InferenceSession(str(model_dir / KSTEP_FILE))
    obs = np.zeros(layout.OBS_DIM)
    obs[layout.GRIPPER_ACTION] = layout.GRIPPER_CLOSE
    for _ in range(policy.replan_every):
        action = policy.act(obs, np.full(layout.OBS_DIM, 0.5))
        assert np.array_equal(action, [0, 0, 0, 0, 0, 0, layout.GRIPPER_CLOSE])
    assert policy.subgoal_failures == 1 and policy.subgoal is None
    policy.act(obs, np.full(layout.OBS_DIM, 0.5))  # the next period plans again
    assert policy.subgoal_failures == 2


def test_subgoal_benchmark_reports_every_plan_mode(planned_model, tiny_play, capsys):
    assert bench_subgoals.main(['--model', str(planned_model), '--data', str(tiny_play),
                                '--pairs', '5', '--deterministic']) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {'direct', 'sample', 'best_of_n', 'collocation'}
    assert report['collocation']['replan_p99_ms'] >= report['collocation']['replan_p50_ms'] > 0
    assert 0.0 <= report['collocation']['goal_handed_over'] <= 1.0
    assert bench_subgoals.main(['--model', str(tiny_play), '--data', str(tiny_play)]) == 2


def test_proposer_error_reports_each_kind_of_task(planned_model, capsys):
    assert proposer_error.main(['--model', str(planned_model), '--episodes', '1', '--tasks',
                                'open_drawer,turn_on_led']) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line['family'] for line in lines} == {'MoveDoor', 'ToggleLight'}
    assert all(line['nearest_component_error_m'] <= line['mode_error_m'] for line in lines)


@pytest.mark.parametrize('part', oracle_subgoals.PARTS)
def test_oracle_subgoal_diagnosis_reports_json(tmp_path, capsys, part):
    model_dir = write_model_dir(tmp_path)
    assert oracle_subgoals.main(['--model', str(model_dir), '--episodes', '1', '--tasks',
                                 'turn_on_led', '--lookahead', '8', '--part', part]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report['lookahead'] == 8 and set(report['per_task']) == {'turn_on_led'}
    assert report['part'] == part and 0.0 <= report['mean_success'] <= 1.0
