"""A model directory with tiny subgoal graphs, for the planner, policy and node tests."""

from pathlib import Path

from onnx_fixtures import write_model_dir
from play_lmp_training import checkpoint as ckpt
from play_lmp_training.subgoal import export as subgoal_export, train as subgoal_train

TINY_SUBGOAL_OVERRIDES = [
    'model.horizon=8', 'model.max_goal_distance=40', 'model.width=32', 'model.depth=2',
    'model.mixtures=3', 'model.distance_width=16', 'model.distance_depth=2',
    'train.batch_size=16', 'train.val_batches=2', 'train.eval_every=2',
    'train.checkpoint_every=2', 'train.num_threads=1']


def train_tiny_subgoal(data: Path, run: Path, steps: int = 4) -> Path:
    """
    Train tiny subgoal models on a dataset.

    :param data: dataset root.
    :param run: the run's output directory.
    :param steps: optimizer steps.
    :return: the run's last checkpoint.
    """
    assert subgoal_train.main(['--no-progress', *TINY_SUBGOAL_OVERRIDES, f'train.steps={steps}',
                               f'data_path={data}', f'output_dir={run}']) == 0
    return run / ckpt.LAST_CHECKPOINT


def write_planned_model_dir(tmp_path: Path, checkpoint: Path, data: Path,
                            plan_mode: str = 'best_of_n') -> Path:
    """
    Write a fixture actor and planner, then export the subgoal graphs next to them.

    :param tmp_path: where the model directory goes (tmp_path / 'model').
    :param checkpoint: a subgoal checkpoint.
    :param data: dataset root, for real-state parity.
    :param plan_mode: the directory's default plan mode.
    :return: the model directory.
    """
    model_dir = write_model_dir(tmp_path)
    assert subgoal_export.main(['--checkpoint', str(checkpoint), '--model-dir', str(model_dir),
                                '--data', str(data), '--plan-mode', plan_mode]) == 0
    return model_dir
