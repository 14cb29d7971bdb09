"""Tests of the Play-LMP / Play-GCBC model, its DLML action head and its configuration."""

import dataclasses
import math
from pathlib import Path

import numpy as np
from play_lmp_ros.core import layout
import pytest

torch = pytest.importorskip('torch')

from play_lmp_training.play_lmp import (  # noqa: E402, I100 (torch first)
    dlml_log_prob, FEATURE_DIM, load_config, ModelConfig,
    normalization_from_data, PlayLMP, TrainConfig)

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'config' / 'training'
SMALL = ModelConfig(d_latent=8, recognizer_hidden=16, proposal_width=32, policy_hidden=32,
                    mixtures=3)
LENGTHS = (5, 8, 3, 8)
STEPS = 8


def make_batch(seed: int = 0, lengths=LENGTHS, steps: int = STEPS):
    """Build a random window batch shaped like WindowSampler's, as torch tensors."""
    rng = np.random.default_rng(seed)
    batch_size = len(lengths)
    obs = rng.normal(size=(batch_size, steps, layout.OBS_DIM)).astype(np.float32)
    obs[..., list(layout.ANGLE_DIMS)] = rng.uniform(
        -np.pi, np.pi, size=(batch_size, steps, len(layout.ANGLE_DIMS)))
    actions = rng.uniform(-1, 1, size=(batch_size, steps, layout.ACTION_DIM)).astype(np.float32)
    actions[..., -1] = np.sign(actions[..., -1])
    mask = np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
    obs[~mask] = 0.0
    actions[~mask] = 0.0
    goal = obs[np.arange(batch_size), np.asarray(lengths) - 1]
    return {'obs': torch.from_numpy(obs), 'actions': torch.from_numpy(actions),
            'mask': torch.from_numpy(mask), 'goal': torch.from_numpy(goal.copy()),
            'lengths': torch.tensor(lengths)}


def make_model(method: str, seed: int = 0, relative: bool = False) -> PlayLMP:
    """Build a small seeded model with non-trivial normalization."""
    torch.manual_seed(seed)
    model = PlayLMP(dataclasses.replace(SMALL, method=method, relative_features=relative))
    mean, std = normalization_from_data(
        np.random.default_rng(seed).normal(0.5, 2.0, size=(100, layout.OBS_DIM)))
    model.set_normalization(mean, std)
    return model


def single_dim_params(mean: float, log_scale: float, dtype=torch.float64):
    """Return (logits, means, log_scales) of one dim with one component, shape (1, 1, 1)."""
    return (torch.zeros(1, 1, 1, dtype=dtype), torch.full((1, 1, 1), mean, dtype=dtype),
            torch.full((1, 1, 1), log_scale, dtype=dtype))


def logistic_mass(mean: float, scale: float, low: float, high: float) -> float:
    """Integrate the logistic density over [low, high] with the trapezoid rule on a fine grid."""
    low = max(low, mean - 60 * scale)
    high = min(high, mean + 60 * scale)
    grid = np.linspace(low, high, 200001)
    z = (grid - mean) / scale
    density = np.exp(-z) / (scale * (1 + np.exp(-z)) ** 2)
    return float(np.trapezoid(density, grid))


@pytest.mark.parametrize('relative', [False, True])
@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_output_shapes(method, relative):
    """Every output has its documented shape for masks of varying length."""
    model = make_model(method, relative=relative)
    batch = make_batch()
    batch_size, mixtures = len(LENGTHS), SMALL.mixtures
    loss, metrics = model(batch)
    assert loss.shape == () and loss.dtype == torch.float32 and torch.isfinite(loss)
    assert set(metrics) == {'loss', 'nll', 'kl'}
    logits, means, log_scales = model.action_distribution(
        batch['obs'], batch['goal'], torch.zeros(batch_size, SMALL.d_latent))
    for tensor in (logits, means, log_scales):
        assert tensor.shape == (batch_size, STEPS, layout.ACTION_DIM, mixtures)
    h, c = model.initial_state(batch_size)
    assert h.shape == c.shape == (batch_size, SMALL.policy_hidden)
    plan = None
    if method == 'lmp':
        for tensor in (*model.recognize_plan(batch['obs'], batch['actions'], batch['mask']),
                       *model.propose_plan(batch['obs'][:, 0], batch['goal'])):
            assert tensor.shape == (batch_size, SMALL.d_latent)
        plan = torch.zeros(batch_size, SMALL.d_latent)
        assert set(model.validation_metrics(batch)) == {
            'loss', 'nll', 'kl', 'nll_posterior', 'nll_prior'}
    else:
        assert float(metrics['kl']) == 0.0
        assert not hasattr(model, 'recognizer') and not hasattr(model, 'proposal')
        with pytest.raises(ValueError):
            model.propose_plan(batch['obs'][:, 0], batch['goal'])
        assert model.config.d_latent == SMALL.d_latent
    outputs = model.step(batch['obs'][:, 0], batch['goal'], plan, h, c)
    for tensor in outputs[:3]:
        assert tensor.shape == (batch_size, layout.ACTION_DIM, mixtures)
    assert outputs[3].shape == outputs[4].shape == (batch_size, SMALL.policy_hidden)
    assert model.observation_features(batch['obs']).shape == (batch_size, STEPS, FEATURE_DIM)


@pytest.mark.parametrize('mean,log_scale,target', [
    (0.1, -2.0, 0.3), (-0.4, -4.0, -0.41), (0.0, 0.5, 0.95), (0.7, -3.0, -1.0),
    (0.2, -1.0, 1.0), (-0.99, -3.5, -1.0)])
def test_dlml_matches_numeric_integration(mean, log_scale, target):
    """A bin's probability is the logistic mass over the bin, or over the tail at a bound."""
    half_bin = 1.0 / 255
    low = -np.inf if target <= -1 + 1e-3 else target - half_bin
    high = np.inf if target >= 1 - 1e-3 else target + half_bin
    expected = logistic_mass(mean, math.exp(log_scale), low, high)
    log_prob = dlml_log_prob(*single_dim_params(mean, log_scale),
                             torch.tensor([[target]], dtype=torch.float64))
    assert log_prob.shape == (1,)
    assert math.exp(float(log_prob)) == pytest.approx(expected, rel=1e-4)


def test_dlml_tiny_probability_branch_uses_density():
    """Far in the tail the bin probability is the density times the bin width."""
    mean, log_scale, target = 0.0, -6.0, 0.5
    log_prob = dlml_log_prob(*single_dim_params(mean, log_scale),
                             torch.tensor([[target]], dtype=torch.float64))
    scale = math.exp(log_scale)
    z = (target - mean) / scale
    log_density = -z - math.log(scale) - 2 * math.log1p(math.exp(-z))
    assert float(log_prob) == pytest.approx(log_density + math.log(2 / 255), rel=1e-9)


def test_dlml_sums_to_one_over_bins():
    """The probabilities of all 256 bin centres of one mixture dim sum to 1."""
    centres = torch.linspace(-1, 1, 256, dtype=torch.float64).unsqueeze(-1)
    logits = torch.tensor([[[0.3, -1.0, 1.2]]], dtype=torch.float64).expand(256, 1, 3)
    means = torch.tensor([[[-0.9, 0.2, 0.6]]], dtype=torch.float64).expand(256, 1, 3)
    log_scales = torch.tensor([[[-3.0, -1.5, -4.0]]], dtype=torch.float64).expand(256, 1, 3)
    total = torch.exp(dlml_log_prob(logits, means, log_scales, centres)).sum()
    assert float(total) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_optimizer_steps_lower_loss_and_keep_buffers(method):
    """Train with AdamW and clipping: the loss drops and the normalization buffers stay."""
    model = make_model(method)
    batch = make_batch(seed=3)
    parameter_ids = {id(parameter) for parameter in model.parameters()}
    assert id(model.obs_mean) not in parameter_ids and id(model.obs_std) not in parameter_ids
    buffers = (model.obs_mean.clone(), model.obs_std.clone())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    before = float(model.validation_metrics(batch)['nll'])
    for _ in range(25):
        loss, _ = model(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    assert float(model.validation_metrics(batch)['nll']) < before - 0.5
    assert torch.equal(model.obs_mean, buffers[0]) and torch.equal(model.obs_std, buffers[1])
    assert 'obs_mean' in model.state_dict() and 'linear_dims' not in model.state_dict()


def test_angle_features_are_continuous_across_pi():
    """Observations on either side of the +-pi wrap give nearly identical features."""
    model = make_model('lmp')
    obs = torch.zeros(2, layout.OBS_DIM)
    obs[0, layout.ANGLE_DIMS[0]] = math.pi - 1e-4
    obs[1, layout.ANGLE_DIMS[0]] = -math.pi + 1e-4
    features = model.observation_features(obs)
    assert torch.allclose(features[0], features[1], atol=1e-3)


def test_relative_features_measure_goal_and_block_offsets():
    """Relative features hold scaled goal differences, wrapped angle gaps and block offsets."""
    model = make_model('gcbc', relative=True)
    obs = torch.zeros(1, layout.OBS_DIM)
    goal = torch.zeros(1, layout.OBS_DIM)
    obs[0, layout.ANGLE_DIMS[0]] = math.pi - 1e-4
    goal[0, layout.ANGLE_DIMS[0]] = -math.pi + 1e-4
    obs[0, layout.TCP_POS] = torch.tensor([0.1, -0.2, 0.5])
    red = layout.ROBOT_OBS_DIM + layout.block_slice(0).start
    obs[0, red:red + 3] = torch.tensor([0.2, -0.2, 0.45])
    goal[0, red:red + 3] = torch.tensor([0.1, 0.0, 0.5])
    goal[0, 0] = 0.3
    features = model.relative_features(obs, goal)[0]
    linear_count = layout.OBS_DIM - len(layout.ANGLE_DIMS)
    assert features.shape == (linear_count + 2 * len(layout.ANGLE_DIMS) + 18,)
    assert float(features[0]) == pytest.approx(0.2 / float(model.obs_std[0]), rel=1e-5)
    assert float(features[linear_count]) == pytest.approx(0.0, abs=1e-3)
    assert float(features[linear_count + len(layout.ANGLE_DIMS)]) == pytest.approx(1.0, abs=1e-6)
    block_offsets = features[-18:].reshape(2, 3, 3)
    assert torch.allclose(block_offsets[0, 0], torch.tensor([1.0, 0.0, -0.5]), atol=1e-5)
    assert torch.allclose(block_offsets[1, 0], torch.tensor([0.0, 2.0, 0.0]), atol=1e-5)
    widths = {relative: make_model('lmp', relative=relative).conditioning_features(obs, goal)
              for relative in (False, True)}
    assert widths[False].shape == (1, 2 * FEATURE_DIM)
    assert widths[True].shape == (1, 2 * FEATURE_DIM + features.shape[0])


@pytest.mark.parametrize('relative', [False, True])
@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_padded_steps_do_not_affect_loss(method, relative):
    """Changing observations and actions at masked steps leaves loss and metrics unchanged."""
    model = make_model(method, relative=relative)
    batch = make_batch(seed=4)
    changed = {key: value.clone() for key, value in batch.items()}
    padding = ~batch['mask']
    changed['obs'][padding] = 100.0
    changed['actions'][padding] = 0.7
    torch.manual_seed(5)
    loss, _ = model(batch)
    torch.manual_seed(5)
    loss_changed, _ = model(changed)
    assert loss_changed.item() == pytest.approx(loss.item(), abs=1e-6)
    for key, value in model.validation_metrics(batch).items():
        assert float(model.validation_metrics(changed)[key]) == pytest.approx(
            float(value), abs=1e-6)


@pytest.mark.parametrize('relative', [False, True])
@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_step_reproduces_window_forward(method, relative):
    """Stepping the actor with explicit state gives the training forward's per-step outputs."""
    model = make_model(method, relative=relative)
    batch = make_batch(seed=6)
    plan = torch.randn(len(LENGTHS), SMALL.d_latent) if method == 'lmp' else None
    with torch.no_grad():
        window_outputs = model.action_distribution(batch['obs'], batch['goal'], plan)
        h, c = model.initial_state(len(LENGTHS))
        for t in range(STEPS):
            *step_outputs, h, c = model.step(batch['obs'][:, t], batch['goal'], plan, h, c)
            for window_output, step_output in zip(window_outputs, step_outputs):
                assert torch.allclose(window_output[:, t], step_output, atol=1e-5)


def test_normalization_from_data():
    """Statistics skip the angle dims and floor constant dims' std to 1."""
    obs = np.random.default_rng(7).normal(3.0, 2.0, size=(5000, layout.OBS_DIM))
    obs[:, 0] = 0.25
    mean, std = normalization_from_data(obs)
    assert mean.dtype == std.dtype == np.float32 and mean.shape == (layout.OBS_DIM,)
    assert std[0] == 1.0 and mean[0] == pytest.approx(0.25)
    assert np.all(mean[list(layout.ANGLE_DIMS)] == 0) and np.all(std[list(layout.ANGLE_DIMS)] == 1)
    assert std[1] == pytest.approx(2.0, rel=0.05)
    with pytest.raises(ValueError):
        make_model('lmp').set_normalization(mean, np.zeros_like(std))


def test_seed_config_loads_to_seed_numbers():
    """seed.yaml holds the seed's hyperparameters; cpu_default.yaml loads too."""
    config = load_config(CONFIG_DIR / 'seed.yaml', [])
    assert config.model == ModelConfig()
    assert (config.train.batch_size, config.train.steps, config.train.window,
            config.train.min_window, config.train.seed) == (1024, 50001, 64, 32, 42)
    assert (config.train.lr, config.train.weight_decay, config.train.grad_clip,
            config.train.beta) == (3e-4, 1e-4, 1.0, 0.01)
    assert (config.train.checkpoint_every, config.train.eval_every,
            config.train.val_batches) == (1000, 1000, 256)
    cpu = load_config(CONFIG_DIR / 'cpu_default.yaml', [])
    assert cpu.model.policy_hidden < config.model.policy_hidden
    assert cpu.train.batch_size < config.train.batch_size


def test_config_overrides_and_errors():
    """Overrides are parsed and typed; unknown keys and bad values raise naming them."""
    config = load_config(CONFIG_DIR / 'seed.yaml', [
        'model.method=gcbc', 'train.lr=1e-3', 'train.steps=10', 'data_path=/tmp/play'])
    assert config.model.method == 'gcbc' and config.model.d_latent == 64
    assert config.train.lr == 1e-3 and config.train.steps == 10
    assert config.data_path == '/tmp/play'
    with pytest.raises(ValueError, match='model.hiden.*policy_hidden'):
        load_config(None, ['model.hiden=3'])
    with pytest.raises(ValueError, match='trian'):
        load_config(None, ['trian.lr=1'])
    with pytest.raises(ValueError, match='key.sub=value'):
        load_config(None, ['train.lr'])
    with pytest.raises(ValueError, match='-5'):
        load_config(None, ['train.batch_size=-5'])
    with pytest.raises(ValueError, match='transformer'):
        ModelConfig(method='transformer')
    with pytest.raises(ValueError, match='min_window'):
        TrainConfig(window=16, min_window=32)
    with pytest.raises(ValueError, match='goal_horizon'):
        TrainConfig(window=32, min_window=16, goal_horizon=20)
    with pytest.raises(ValueError, match='relative_features'):
        ModelConfig(relative_features='yes')
    with pytest.raises(ValueError, match='mixtures'):
        ModelConfig(mixtures=0)


def test_unknown_yaml_key_raises(tmp_path):
    """A misspelt key in a YAML file is an error naming it."""
    path = tmp_path / 'bad.yaml'
    path.write_text('train:\n  batchsize: 3\n', encoding='utf-8')
    with pytest.raises(ValueError, match='train.batchsize'):
        load_config(path, [])
