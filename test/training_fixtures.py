"""A tiny experiment configuration for the training, export and evaluation tests."""

from pathlib import Path
from typing import List

REPO_ROOT = Path(__file__).resolve().parents[1]
CPU_DEFAULT = str(REPO_ROOT / 'config' / 'training' / 'cpu_default.yaml')

TINY_OVERRIDES = [
    'model.d_latent=8', 'model.recognizer_hidden=16', 'model.proposal_width=32',
    'model.proposal_depth=1', 'model.policy_hidden=32', 'model.mixtures=3',
    'model.replan_every=8', 'model.relative_features=true', 'train.batch_size=8',
    'train.window=16', 'train.min_window=8',
    'train.val_batches=2', 'train.eval_every=1000', 'train.checkpoint_every=1000',
    'train.num_threads=1', 'train.keep_every=0', 'train.sim_check_every=0',
]


def tiny_arguments(data: Path, output: Path, method: str = 'lmp', steps: int = 6,
                   extra: List[str] = ()) -> List[str]:
    """
    Build training CLI arguments for a tiny run.

    :param data: dataset root.
    :param output: the run's output directory.
    :param method: 'lmp' or 'gcbc'.
    :param steps: optimizer steps.
    :param extra: more key=value overrides (applied last).
    :return: argv for play_lmp_training.train.main.
    """
    return ['--config', CPU_DEFAULT, '--no-progress', *TINY_OVERRIDES,
            f'model.method={method}', f'train.steps={steps}', f'data_path={data}',
            f'output_dir={output}', *extra]
