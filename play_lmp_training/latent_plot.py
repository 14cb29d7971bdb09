"""The latent-space picture: PCA of planner latents on validation windows, coloured by task."""

from typing import Optional, Tuple

import numpy as np
from play_lmp_training.calvin_dataset import PlaySplit, read_language
from play_lmp_training.play_lmp.modeling import PlayLMP
import torch

MIN_WINDOWS = 3


def pca_2d(points: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """
    Project points onto their two principal components.

    :param points: (N, D) with N >= 2.
    :return: (N, 2) projections and the (2,) explained variance ratios.
    """
    centered = points - points.mean(axis=0)
    _, singular, components = np.linalg.svd(centered, full_matrices=False)
    variance = singular ** 2
    ratios = variance[:2] / max(variance.sum(), 1e-12)
    return centered @ components[:2].T, ratios


@torch.no_grad()
def planner_latents(model: PlayLMP, split: PlaySplit) -> Optional[Tuple[np.ndarray, list]]:
    """
    Compute the prior plan mean of every task-annotated window of a split.

    :param model: an 'lmp' model.
    :param split: a split with language annotations.
    :return: (N, d_latent) plan means and the N task labels, or None without annotations.
    """
    annotations = read_language(split.split_dir)
    if annotations is None or len(annotations.tasks) < MIN_WINDOWS:
        return None
    rows = split.rows_of_frames(annotations.frame_ranges)
    start = torch.as_tensor(np.asarray(split.obs[rows[:, 0]]), dtype=torch.float32)
    goal = torch.as_tensor(np.asarray(split.obs[rows[:, 1]]), dtype=torch.float32)
    model.eval()
    mean, _ = model.propose_plan(start, goal)
    return mean.numpy(), list(annotations.tasks)


def latent_projection_figure(model: PlayLMP, split: PlaySplit):
    """
    Draw the PCA of the prior plans of a split's annotated windows, one colour per task.

    :param model: an 'lmp' model.
    :param split: the validation split.
    :return: a matplotlib figure, or None when the split has too few annotated windows.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    latents = planner_latents(model, split)
    if latents is None:
        return None
    plans, tasks = latents
    projected, ratios = pca_2d(plans.astype(np.float64))
    names = sorted(set(tasks))
    colours = plt.get_cmap('tab20')
    figure, axes = plt.subplots(figsize=(10, 6))
    for index, name in enumerate(names):
        chosen = np.array([task == name for task in tasks])
        # tab20 has 20 colours; the marker tells tasks with the same colour apart.
        axes.scatter(projected[chosen, 0], projected[chosen, 1], s=20,
                     color=colours(index % 20), marker='os^D'[index // 20 % 4],
                     label=f'{name} ({int(chosen.sum())})')
    axes.set_xlabel(f'PC 1 ({100 * ratios[0]:.0f}% of variance)')
    axes.set_ylabel(f'PC 2 ({100 * ratios[1]:.0f}% of variance)')
    axes.set_title(f'Planner latents (prior plan means) on {split.name} windows, by oracle task',
                   fontsize=10)
    axes.legend(fontsize=6, ncol=2, loc='center left', bbox_to_anchor=(1.0, 0.5))
    figure.tight_layout()
    return figure
