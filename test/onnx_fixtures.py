"""Tiny planner / actor ONNX models that follow the contract of play_lmp_ros.core.policy."""

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
from play_lmp_ros.core import layout

D_LATENT = 4
HIDDEN_SIZE = 8
MIXTURES = 3
REPLAN_EVERY = 5
OPSET = 17
IR_VERSION = 8


def default_metadata(method: str = 'lmp') -> Dict[str, str]:
    """
    Return a complete, valid metadata_props dict for the tiny models.

    :param method: 'lmp' or 'gcbc'.
    :return: key -> string value.
    """
    return {
        'format_version': '1',
        'method': method,
        'd_latent': str(D_LATENT if method == 'lmp' else 0),
        'hidden_size': str(HIDDEN_SIZE),
        'mixtures': str(MIXTURES),
        'bins': '256',
        'replan_every': str(REPLAN_EVERY),
        'control_hz': str(layout.CONTROL_HZ),
        'action_type': 'relative',
        'layout_hash': layout.layout_hash(),
        'training_data': 'tiny-fixture',
        'code_version': 'test',
    }


def _weight(rng: np.random.Generator, name: str, shape, scale: float = 0.3) -> TensorProto:
    """
    Return a random float32 initializer.

    :param rng: the generator.
    :param name: initializer name.
    :param shape: its shape.
    :param scale: standard deviation.
    :return: the tensor.
    """
    return numpy_helper.from_array(
        (rng.standard_normal(shape) * scale).astype(np.float32), name)


def _float_input(name: str, width: int) -> onnx.ValueInfoProto:
    """
    Return a [B, width] float32 graph input or output.

    :param name: its name.
    :param width: its second dim.
    :return: the value info.
    """
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ['B', width])


def _make_model(graph: onnx.GraphProto, metadata: Dict[str, str]) -> onnx.ModelProto:
    """
    Wrap a graph in a checked model carrying the metadata.

    :param graph: the graph.
    :param metadata: metadata_props.
    :return: the model.
    """
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


def make_planner(metadata: Dict[str, str], obs_dim: int = layout.OBS_DIM) -> onnx.ModelProto:
    """
    Build a planner: plan_mean = [obs, goal] W + b, plan_std = softplus([obs, goal] V) + 0.05.

    :param metadata: metadata_props; d_latent sets D.
    :param obs_dim: width of the obs and goal inputs (39 unless testing a mismatch).
    :return: the model.
    """
    rng = np.random.default_rng(1)
    d_latent = int(metadata.get('d_latent', D_LATENT))
    nodes = [
        helper.make_node('Concat', ['obs', 'goal'], ['x'], axis=1),
        helper.make_node('MatMul', ['x', 'w_mean'], ['x_w']),
        helper.make_node('Add', ['x_w', 'b_mean'], ['plan_mean']),
        helper.make_node('MatMul', ['x', 'w_std'], ['x_v']),
        helper.make_node('Softplus', ['x_v'], ['std_raw']),
        helper.make_node('Add', ['std_raw', 'std_floor'], ['plan_std']),
    ]
    initializers = [
        _weight(rng, 'w_mean', (2 * obs_dim, d_latent)),
        _weight(rng, 'b_mean', (d_latent,)),
        _weight(rng, 'w_std', (2 * obs_dim, d_latent)),
        numpy_helper.from_array(np.array([0.05], dtype=np.float32), 'std_floor'),
    ]
    graph = helper.make_graph(
        nodes, 'planner', [_float_input('obs', obs_dim), _float_input('goal', obs_dim)],
        [_float_input('plan_mean', d_latent), _float_input('plan_std', d_latent)],
        initializers)
    return _make_model(graph, metadata)


# Goal x above which a NAN_FAR_GOAL actor outputs NaN means.
NAN_GOAL_X = 1.0


def make_actor(metadata: Dict[str, str], obs_dim: int = layout.OBS_DIM,
               nan: str = '') -> onnx.ModelProto:
    """
    Build an actor whose outputs depend on obs, goal, plan and the recurrent state.

    h_out = tanh(h + x W_h), c_out = tanh(c + x W_c) with x = [obs, goal(, plan)]; the mixture
    heads are affine maps of h_out reshaped to [B, 7, K], so the recurrence shows in the actions.

    :param metadata: metadata_props; method, d_latent, hidden_size and mixtures set the shapes.
    :param obs_dim: width of the obs and goal inputs (39 unless testing a mismatch).
    :param nan: '' for finite outputs; 'always': the means times NaN (NaN weights, refused at
        load); 'far_goal': the means times sqrt(NAN_GOAL_X - goal x), NaN only for goals with x
        above NAN_GOAL_X (a model that fails at run time, not on the load check).
    :return: the model.
    """
    rng = np.random.default_rng(2)
    hidden = int(metadata.get('hidden_size', HIDDEN_SIZE))
    mixtures = int(metadata.get('mixtures', MIXTURES))
    with_plan = metadata.get('method', 'lmp') == 'lmp'
    d_latent = int(metadata.get('d_latent', D_LATENT)) if with_plan else 0
    head = layout.ACTION_DIM * mixtures
    inputs = [_float_input('obs', obs_dim), _float_input('goal', obs_dim)]
    features = ['obs', 'goal']
    if with_plan:
        inputs.append(_float_input('plan', d_latent))
        features.append('plan')
    inputs += [_float_input('h', hidden), _float_input('c', hidden)]
    nodes = [
        helper.make_node('Concat', features, ['x'], axis=1),
        helper.make_node('MatMul', ['x', 'w_h'], ['x_h']),
        helper.make_node('Add', ['h', 'x_h'], ['h_pre']),
        helper.make_node('Tanh', ['h_pre'], ['h_out']),
        helper.make_node('MatMul', ['x', 'w_c'], ['x_c']),
        helper.make_node('Add', ['c', 'x_c'], ['c_pre']),
        helper.make_node('Tanh', ['c_pre'], ['c_out']),
    ]
    initializers = [
        _weight(rng, 'w_h', (2 * obs_dim + d_latent, hidden)),
        _weight(rng, 'w_c', (2 * obs_dim + d_latent, hidden)),
        numpy_helper.from_array(np.array([-1, layout.ACTION_DIM, mixtures]), 'head_shape'),
    ]
    for name in ('logits', 'means', 'log_scales'):
        flat = f'{name}_flat'
        nodes += [
            helper.make_node('MatMul', ['h_out', f'w_{name}'], [f'{name}_mm']),
            helper.make_node('Add', [f'{name}_mm', f'b_{name}'], [flat]),
        ]
        initializers += [_weight(rng, f'w_{name}', (hidden, head)),
                         _weight(rng, f'b_{name}', (head,))]
        if name == 'means' and nan == 'always':
            nodes.append(helper.make_node('Mul', [flat, 'nan'], ['means_nan']))
            initializers.append(numpy_helper.from_array(np.array([np.nan], np.float32), 'nan'))
            flat = 'means_nan'
        elif name == 'means' and nan == 'far_goal':
            nodes += [
                helper.make_node('Slice', ['goal', 'zero', 'one', 'one'], ['goal_x']),
                helper.make_node('Sub', ['nan_goal_x', 'goal_x'], ['room']),
                helper.make_node('Sqrt', ['room'], ['nan_factor']),
                helper.make_node('Mul', [flat, 'nan_factor'], ['means_nan']),
            ]
            initializers += [numpy_helper.from_array(np.array([0]), 'zero'),
                             numpy_helper.from_array(np.array([1]), 'one'),
                             numpy_helper.from_array(np.array([NAN_GOAL_X], np.float32),
                                                     'nan_goal_x')]
            flat = 'means_nan'
        if name == 'log_scales':
            # Keep the logistic scales small so that samples stay near the means.
            nodes.append(helper.make_node('Add', [flat, 'scale_shift'], ['log_scales_shift']))
            initializers.append(
                numpy_helper.from_array(np.array([-3.0], np.float32), 'scale_shift'))
            flat = 'log_scales_shift'
        nodes.append(helper.make_node('Reshape', [flat, 'head_shape'], [name]))
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ['B', layout.ACTION_DIM, mixtures])
        for name in ('logits', 'means', 'log_scales')
    ] + [_float_input('h_out', hidden), _float_input('c_out', hidden)]
    graph = helper.make_graph(nodes, 'actor', inputs, outputs, initializers)
    return _make_model(graph, metadata)


def write_model_dir(tmp_path: Path, method: str = 'lmp', nan: str = '',
                    obs_dim: int = layout.OBS_DIM,
                    planner_metadata: Optional[Dict[str, Optional[str]]] = None,
                    **metadata_overrides: Optional[str]) -> Path:
    """
    Write actor.onnx (and planner.onnx for lmp) into tmp_path / 'model' and return that dir.

    :param tmp_path: the test's temporary directory.
    :param method: 'lmp' or 'gcbc'.
    :param nan: make the actor output NaN means: 'always' or 'far_goal' (see make_actor).
    :param obs_dim: width of the graphs' obs and goal inputs.
    :param planner_metadata: overrides applied to the planner's metadata only.
    :param metadata_overrides: overrides applied to both models' metadata; None removes a key.
    :return: the model directory.
    """
    metadata = default_metadata(method)
    metadata.update(metadata_overrides)
    metadata = {key: value for key, value in metadata.items() if value is not None}
    model_dir = tmp_path / 'model'
    model_dir.mkdir(exist_ok=True)
    onnx.save(make_actor(metadata, obs_dim, nan), str(model_dir / 'actor.onnx'))
    if method == 'lmp':
        planner_meta = {**metadata, **(planner_metadata or {})}
        planner_meta = {key: value for key, value in planner_meta.items() if value is not None}
        onnx.save(make_planner(planner_meta, obs_dim), str(model_dir / 'planner.onnx'))
    return model_dir
