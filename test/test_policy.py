"""OnnxPolicy and sample_dlml against tiny real ONNX models run by onnxruntime."""

import logging
import os

import numpy as np
import onnx
from onnx_fixtures import (
    D_LATENT, default_metadata, HIDDEN_SIZE, make_actor, NAN_GOAL_X, REPLAN_EVERY,
    write_model_dir)
from play_lmp_ros.core import layout
from play_lmp_ros.core.policies import replan_period
import play_lmp_ros.core.policy as policy_module
from play_lmp_ros.core.policy import (
    ModelError, NonFiniteOutputError, OnnxPolicy, REQUIRED_METADATA_KEYS, sample_dlml)
import pytest


def observation(seed: int) -> np.ndarray:
    """
    Return a reproducible finite 39-D state.

    :param seed: selects the state.
    :return: (39,) float64.
    """
    return np.random.default_rng(seed).uniform(-1.0, 1.0, layout.OBS_DIM)


OBS = observation(10)
GOAL = observation(11)


def rollout(policy: OnnxPolicy, steps: int) -> np.ndarray:
    """
    Step the policy with a fixed obs and goal.

    :param policy: the policy.
    :param steps: number of steps.
    :return: (steps, 7) actions.
    """
    return np.array([policy.act(OBS, GOAL) for _ in range(steps)])


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_loads_and_steps_valid_actions(tmp_path, method):
    """Both methods load, expose their metadata and produce valid relative actions."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path, method)))
    assert policy.method == method
    assert policy.d_latent == (D_LATENT if method == 'lmp' else 0)
    assert policy.hidden_size == HIDDEN_SIZE
    assert policy.replan_every == REPLAN_EVERY
    assert set(REQUIRED_METADATA_KEYS) <= set(policy.metadata)
    for index in range(12):
        action = policy.act(observation(index), GOAL)
        assert action.shape == (layout.ACTION_DIM,)
        layout.check_relative_action(action)
        assert action[6] in (layout.GRIPPER_OPEN, layout.GRIPPER_CLOSE)
    assert policy.steps == 12
    assert policy.last_inference_s > 0.0


def test_step_returns_a_new_array(tmp_path):
    """Changing a returned action changes nothing inside the policy."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path)), deterministic=True)
    first = policy.act(OBS, GOAL)
    first[:] = 99.0
    policy.reset()
    np.testing.assert_array_less(np.abs(policy.act(OBS, GOAL)), 1.0 + 1e-12)


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
@pytest.mark.parametrize('replan_every', [None, 3])
def test_replans_at_steps_zero_k_2k(tmp_path, method, replan_every):
    """Replanning happens at steps 0, k, 2k, ... counted from reset()."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path, method)), replan_every=replan_every)
    k = replan_every or REPLAN_EVERY
    replans_after_step = []
    for _ in range(2 * k + 2):
        policy.act(OBS, GOAL)
        replans_after_step.append(policy.replans)
    expected = [step // k + 1 for step in range(2 * k + 2)]
    assert replans_after_step == expected
    policy.reset()
    policy.act(OBS, GOAL)
    assert policy.replans == expected[-1] + 1, 'reset() must make the next step replan'
    assert policy.steps == 1


@pytest.mark.parametrize('method', ['lmp', 'gcbc'])
def test_recurrent_state_resets_at_replan(tmp_path, method):
    """In deterministic mode step k repeats step 0, while steps in between differ (recurrence)."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path, method)), deterministic=True)
    actions = rollout(policy, REPLAN_EVERY + 1)
    np.testing.assert_array_equal(actions[REPLAN_EVERY], actions[0])
    assert not np.array_equal(actions[1], actions[0]), 'the LSTM state should change actions'
    policy.reset()
    np.testing.assert_array_equal(policy.act(OBS, GOAL), actions[0])


def test_deterministic_mode_is_reproducible(tmp_path):
    """Two deterministic policies with different seeds produce the same actions."""
    model_dir = str(write_model_dir(tmp_path))
    first = rollout(OnnxPolicy(model_dir, deterministic=True, seed=1), 12)
    second = rollout(OnnxPolicy(model_dir, deterministic=True, seed=2), 12)
    np.testing.assert_array_equal(first, second)


def test_sampling_is_reproducible_per_seed(tmp_path):
    """Sampling repeats with the same seed and differs with another."""
    model_dir = str(write_model_dir(tmp_path))
    first = rollout(OnnxPolicy(model_dir, seed=7), 12)
    again = rollout(OnnxPolicy(model_dir, seed=7), 12)
    other = rollout(OnnxPolicy(model_dir, seed=8), 12)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_sample_dlml_does_not_clip():
    """Clipping belongs to step(); the sampler returns raw values, as the seed does."""
    rng = np.random.default_rng(0)
    raw = sample_dlml(np.zeros((7, 1)), np.full((7, 1), 3.0), np.full((7, 1), -6.0), rng)
    assert np.all(raw > 2.9), 'sample_dlml itself does not clip'


@pytest.mark.parametrize('gripper_mean, expected', [(0.4, 1.0), (-0.4, -1.0)])
def test_step_binarizes_gripper_sign(tmp_path, monkeypatch, gripper_mean, expected):
    """The gripper becomes +1 when the sample is > 0, else -1; motion is clipped to [-1, 1]."""
    def fake_sample(logits, means, log_scales, rng, deterministic=False):
        return np.array([5.0, -5.0, 0.5, 0.0, 1.0, -1.0, gripper_mean], np.float32)

    monkeypatch.setattr(policy_module, 'sample_dlml', fake_sample)
    action = OnnxPolicy(str(write_model_dir(tmp_path))).act(OBS, GOAL)
    np.testing.assert_array_equal(action, [1.0, -1.0, 0.5, 0.0, 1.0, -1.0, expected])


def test_sample_dlml_dominant_component_gives_its_mean():
    """With one dominant component, samples average to its mean with the logistic spread."""
    rng = np.random.default_rng(0)
    logits = np.tile([10.0, 0.0, 0.0], (7, 1))
    means = np.tile([0.3, -0.5, 0.8], (7, 1))
    log_scales = np.full((7, 3), np.log(0.05))
    samples = np.array([sample_dlml(logits, means, log_scales, rng) for _ in range(4000)])
    assert samples.shape == (4000, 7)
    np.testing.assert_allclose(samples.mean(axis=0), 0.3, atol=0.01)
    # A logistic with scale s has standard deviation s * pi / sqrt(3).
    np.testing.assert_allclose(samples.std(axis=0), 0.05 * np.pi / np.sqrt(3), rtol=0.1)


def test_sample_dlml_respects_mixture_weights():
    """Each component is chosen with its softmax weight."""
    rng = np.random.default_rng(1)
    logits = np.tile(np.log([0.2, 0.8]), (7, 1))
    means = np.tile([-0.5, 0.5], (7, 1))
    log_scales = np.full((7, 2), -5.0)
    samples = np.array([sample_dlml(logits, means, log_scales, rng) for _ in range(4000)])
    np.testing.assert_allclose((samples > 0).mean(axis=0), 0.8, atol=0.03)


def test_sample_dlml_deterministic_takes_most_likely_mean():
    """Deterministic mode returns the mean of the highest-logit component, drawing nothing."""
    rng = np.random.default_rng(2)
    state = rng.bit_generator.state
    logits = np.zeros((7, 3))
    logits[np.arange(7), np.arange(7) % 3] = 1.0
    means = np.tile([0.1, 0.2, 0.3], (7, 1))
    action = sample_dlml(logits, means, np.zeros((7, 3)), rng, deterministic=True)
    np.testing.assert_allclose(action, [0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1], rtol=1e-6)
    assert rng.bit_generator.state == state


def test_sample_dlml_rejects_mismatched_shapes():
    """Shapes other than one shared (A, K) raise ValueError."""
    with pytest.raises(ValueError, match='shape'):
        sample_dlml(np.zeros((7, 3)), np.zeros((7, 2)), np.zeros((7, 3)),
                    np.random.default_rng(0))


def remove(path):
    """Delete a file."""
    os.remove(path)


def overwrite_with_garbage(path):
    """Replace a file with bytes that are no protobuf."""
    with open(path, 'wb') as stream:
        stream.write(b'\xff\xfe not an onnx model \x00' * 8)


def truncate(path):
    """Cut a file in half, as an interrupted copy would."""
    with open(path, 'rb+') as stream:
        stream.truncate(os.path.getsize(path) // 2)


# Each case: model-directory arguments, a damage applied to one file afterwards (or None), and
# fragments the ModelError message must contain.
MODEL_ERROR_CASES = {
    # The directory itself is absent.
    'missing directory': ({}, ('', None), ['does not exist', 'nope']),
    # The actor file was not exported.
    'missing actor': ({}, ('actor.onnx', remove), ['actor.onnx', 'does not exist']),
    # An LMP export without its planner.
    'missing planner': ({}, ('planner.onnx', remove), ['planner.onnx', 'does not exist']),
    # A file of garbage bytes.
    'corrupt bytes': ({}, ('actor.onnx', overwrite_with_garbage),
                      ['actor.onnx', 'not a valid ONNX model']),
    # An interrupted copy.
    'truncated file': ({}, ('actor.onnx', truncate), ['actor.onnx', 'not a valid ONNX model']),
    # Exported by a tool that forgot a key.
    'missing metadata key': ({'code_version': None}, ('', None), ['code_version']),
    # A future format this package cannot read.
    'format version': ({'format_version': '2'}, ('', None), ['format_version', "'2'"]),
    # Trained on a different observation layout.
    'layout hash mismatch': ({'layout_hash': '0123456789abcdef'}, ('', None),
                             ['observation layout 0123456789abcdef', layout.layout_hash()]),
    # Absolute actions are not what the node sends.
    'wrong action type': ({'action_type': 'absolute'}, ('', None), ['action_type', 'absolute']),
    # Trained at another control rate.
    'control rate mismatch': ({'control_hz': '15'}, ('', None), ['control_hz 15', '30']),
    # Planner and actor from different exports.
    'method mismatch': ({'planner_metadata': {'method': 'gcbc'}}, ('', None),
                        ['planner.onnx', 'method', 'gcbc', 'lmp']),
    # Planner with another latent size.
    'd_latent mismatch': ({'planner_metadata': {'d_latent': '5'}}, ('', None),
                          ['planner.onnx', 'd_latent', '5']),
    # Graph built for a 40-D observation.
    'wrong obs width': ({'obs_dim': 40}, ('', None), ['obs', '40', '39']),
}


@pytest.mark.parametrize('case', sorted(MODEL_ERROR_CASES))
def test_model_errors_name_the_problem(tmp_path, case):
    """Every unusable model directory raises ModelError naming the file or key at fault."""
    arguments, (file_name, damage), fragments = MODEL_ERROR_CASES[case]
    model_dir = write_model_dir(tmp_path, **arguments)
    if case == 'missing directory':
        model_dir = tmp_path / 'nope'
    if damage is not None:
        damage(str(model_dir / file_name))
    with pytest.raises(ModelError) as raised:
        OnnxPolicy(str(model_dir))
    for fragment in fragments:
        assert fragment in str(raised.value)
    if file_name:
        assert file_name in str(raised.value)


def test_graph_shape_must_match_metadata(tmp_path):
    """A graph whose hidden size differs from its metadata is refused, naming the tensor."""
    metadata = default_metadata('gcbc')
    model = make_actor({**metadata, 'hidden_size': str(HIDDEN_SIZE + 1)})
    onnx.helper.set_model_props(model, metadata)
    model_dir = tmp_path / 'model'
    model_dir.mkdir()
    onnx.save(model, str(model_dir / 'actor.onnx'))
    with pytest.raises(ModelError, match=r"actor.onnx: (h|c)(_out)? has shape \['B', 9\]"):
        OnnxPolicy(str(model_dir))


def test_nan_output_raises_and_keeps_state(tmp_path):
    """Non-finite actor output at run time raises NonFiniteOutputError and advances nothing."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path, nan='far_goal')))
    far = GOAL.copy()
    far[0] = NAN_GOAL_X + 1.0
    for _ in range(2):
        with pytest.raises(NonFiniteOutputError, match='means'):
            policy.act(OBS, far)
        assert policy.steps == 0
        assert policy.replans == 0
    assert np.all(np.isfinite(policy.act(OBS, GOAL)))


def test_damaged_models_are_refused_at_load_naming_the_file(tmp_path):
    """Weights of NaN, a bit-flipped graph and absurd metadata fail at start, not at a goal."""
    with pytest.raises(ModelError, match=r'actor.onnx: a test step on a neutral state gave '
                                         r'non-finite values'):
        OnnxPolicy(str(write_model_dir(tmp_path, nan='always')))
    (tmp_path / 'flipped').mkdir()
    flipped = write_model_dir(tmp_path / 'flipped')
    actor = flipped / 'actor.onnx'
    data = bytearray(actor.read_bytes())
    rng = np.random.default_rng(0)
    # Flip bits in the graph's structure (its first half), where a flip breaks the model.
    for index in rng.choice(len(data) // 2, size=64, replace=False):
        data[index] ^= 0xFF
    actor.write_bytes(bytes(data))
    with pytest.raises(ModelError, match='actor.onnx'):
        OnnxPolicy(str(flipped))
    for name, value, message in (('bins', '1', 'bins must be at least 2'),
                                 ('bins', str(10 ** 9), 'bins must be at most'),
                                 ('replan_every', str(10 ** 6), 'replan_every must be at most'),
                                 ('replan_every', '1e30', 'replan_every must be an integer')):
        folder = tmp_path / f'{name}_{len(value)}'
        folder.mkdir()
        with pytest.raises(ModelError, match=f'actor.onnx: metadata {message}'):
            OnnxPolicy(str(write_model_dir(folder, **{name: value})))


@pytest.mark.parametrize('obs, goal, fragment', [
    (np.full(layout.OBS_DIM, np.nan), GOAL, 'obs has non-finite'),
    (OBS, np.append(GOAL, 0.0), 'goal must have 39 values'),
    (OBS[:38], GOAL, 'obs must have 39 values'),
    (OBS, np.where(np.arange(layout.OBS_DIM) == 3, np.inf, GOAL), 'goal has non-finite'),
])
def test_bad_inputs_raise_value_error(tmp_path, obs, goal, fragment):
    """An obs or goal that is not 39 finite numbers raises ValueError naming which."""
    policy = OnnxPolicy(str(write_model_dir(tmp_path)))
    with pytest.raises(ValueError, match=fragment):
        policy.act(obs, goal)
    assert policy.steps == 0


@pytest.mark.parametrize('replan_every', [-2, 2.5, True])
def test_bad_replan_every_raises_value_error(tmp_path, replan_every):
    """A replan interval that is not a positive integer is refused."""
    with pytest.raises(ValueError, match='replan_every'):
        OnnxPolicy(str(write_model_dir(tmp_path)), replan_every=replan_every)


def test_none_and_zero_replan_every_take_the_model_s(tmp_path):
    """One rule for "the model's period" (core.policies.replan_period): None and 0 alike."""
    model_dir = str(write_model_dir(tmp_path))
    period = int(OnnxPolicy(model_dir).metadata['replan_every'])
    assert [OnnxPolicy(model_dir, replan_every=value).replan_every
            for value in (None, 0, 3)] == [period, period, 3]
    assert replan_period(None, '7') == replan_period(0, 7) == 7


def test_unavailable_provider_falls_back_to_cpu(tmp_path, caplog):
    """A provider this onnxruntime lacks is dropped with a warning and CPU runs the model."""
    with caplog.at_level(logging.WARNING, logger='play_lmp_ros.core.policy'):
        policy = OnnxPolicy(str(write_model_dir(tmp_path)), providers=['CUDAExecutionProvider'])
    assert policy.active_providers == ['CPUExecutionProvider']
    assert 'CUDAExecutionProvider' in caplog.text
    layout.check_relative_action(policy.act(OBS, GOAL))
