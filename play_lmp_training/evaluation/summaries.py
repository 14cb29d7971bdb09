"""
Sum the evaluation's per-episode and per-chain results up, with their intervals.

Per-task and pooled success rates carry Wilson 95% score intervals, the mean over tasks a
normal-approximation interval; an episode that the hold or open-gripper baseline solves is
flagged trivial and left out of the headline figures; success is also binned by goal distance
(DISTANCE_BINS), and chains are summed up as SR(1..5) and their average length.
"""

import math
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np
from play_lmp_training.evaluation.episodes import CHAIN_LENGTH

Z_95 = 1.96
# Goal distance bins in steps: (first, last), last None for open-ended.
DISTANCE_BINS = ((0, 31), (32, 63), (64, 95), (96, 127), (128, None))


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> Tuple[float, float]:
    """
    Wilson score interval of a binomial proportion.

    :param successes: number of successes, 0 <= successes <= trials.
    :param trials: number of trials.
    :param z: standard normal quantile (1.96: 95%).
    :return: (low, high) in [0, 1]; (0, 1) for no trials.
    :raises ValueError: on negative counts or more successes than trials.
    """
    if trials < 0 or not 0 <= successes <= max(trials, 0):
        raise ValueError(f'need 0 <= successes <= trials, got {successes} of {trials}')
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    z2 = z * z
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials)) / (
        1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(counts: Sequence[Tuple[int, int]], z: float = Z_95) -> Tuple[float, float]:
    """
    Normal-approximation interval of the mean of per-task success rates.

    variance = sum_i p_i (1 - p_i) / n_i / T^2 over the T tasks; the interval is
    mean +- z sqrt(variance), clipped to [0, 1].

    :param counts: (successes, trials) per task, trials >= 1.
    :param z: standard normal quantile.
    :return: (low, high); (0, 1) for no tasks.
    """
    if not counts:
        return 0.0, 1.0
    rates = [successes / trials for successes, trials in counts]
    mean = float(np.mean(rates))
    variance = sum(rate * (1 - rate) / trials
                   for rate, (_, trials) in zip(rates, counts)) / len(counts) ** 2
    half = z * math.sqrt(variance)
    return max(0.0, mean - half), min(1.0, mean + half)


def distance_bin(distance: int) -> str:
    """
    Name the DISTANCE_BINS bin of a goal distance.

    :param distance: steps, >= 0.
    :return: e.g. '32-63' or '128+'.
    """
    for first, last in DISTANCE_BINS:
        if last is None or distance <= last:
            return f'{first}+' if last is None else f'{first}-{last}'
    raise AssertionError('the last distance bin is open-ended')


def bin_labels() -> List[str]:
    """Return the DISTANCE_BINS labels in order."""
    return [distance_bin(first) for first, _ in DISTANCE_BINS]


def trivial_flags(*baseline_results: Sequence[dict]) -> Dict[Tuple[str, int], bool]:
    """
    Flag the episodes that any of the given baselines (hold, open-gripper) solved.

    :param baseline_results: per-episode results of each baseline, over the same episodes.
    :return: (source, index) -> trivial.
    """
    flags: Dict[Tuple[str, int], bool] = {}
    for results in baseline_results:
        for result in results:
            key = (result['source'], result['index'])
            flags[key] = flags.get(key, False) or bool(result['success'])
    return flags


def mark_trivial(results: Sequence[dict], flags: Mapping[Tuple[str, int], bool]) -> List[dict]:
    """
    Copy per-episode results with their 'trivial' flag.

    :param results: per-episode results.
    :param flags: from trivial_flags.
    :return: new dicts with 'trivial' set.
    """
    return [dict(result, trivial=bool(flags.get((result['source'], result['index']), False)))
            for result in results]


def _rate_entry(successes: int, trials: int) -> dict:
    """Return successes, trials, the rate (None without trials) and its Wilson interval."""
    return {'episodes': trials, 'successes': successes,
            'success_rate': successes / trials if trials else None,
            'interval': list(wilson_interval(successes, trials)) if trials else None}


def summarize_distance(results: Sequence[dict]) -> Dict[str, dict]:
    """
    Success per goal-distance bin.

    :param results: per-episode results with 'distance' and 'success'.
    :return: bin label -> {episodes, successes, success_rate, interval}, every bin listed.
    """
    counts = {label: [0, 0] for label in bin_labels()}
    for result in results:
        entry = counts[distance_bin(int(result['distance']))]
        entry[0] += bool(result['success'])
        entry[1] += 1
    return {label: _rate_entry(successes, trials)
            for label, (successes, trials) in counts.items()}


def _aggregate(per_task: Mapping[str, dict], key: str) -> dict:
    """Mean over tasks and pooled rate, with intervals, of one per-task count set."""
    counts = [(entry[key]['successes'], entry[key]['episodes']) for entry in per_task.values()
              if entry[key]['episodes']]
    successes = sum(count[0] for count in counts)
    trials = sum(count[1] for count in counts)
    return {'mean_success': (float(np.mean([s / n for s, n in counts])) if counts else None),
            'mean_interval': list(mean_interval(counts)) if counts else None,
            'tasks_in_mean': len(counts),
            'pooled_success': successes / trials if trials else None,
            'pooled_interval': list(wilson_interval(successes, trials)) if trials else None,
            'pooled_episodes': trials}


def summarize_single(results: List[dict], tasks: Sequence[str]) -> dict:
    """
    Aggregate single-protocol results per task, overall and per goal distance.

    Headline figures ('mean_success', 'pooled_success' and their intervals) leave trivial
    episodes out; the same figures over all episodes are under 'all_episodes'.

    :param results: per-episode results ('trivial' missing counts as False).
    :param tasks: the evaluated tasks (a task without episodes is listed with none).
    :return: {'per_task': {task: {...}}, headline figures, 'all_episodes', 'per_distance',
        'per_distance_all', 'episodes', 'trivial_episodes', 'tasks_without_episodes',
        'tasks_only_trivial'}.
    """
    per_task = {}
    for task in tasks:
        mine = [result for result in results if result['task'] == task]
        kept = [result for result in mine if not result.get('trivial', False)]
        per_task[task] = {
            'episodes': len(mine), 'trivial': len(mine) - len(kept),
            'non_trivial': _rate_entry(sum(r['success'] for r in kept), len(kept)),
            'all': _rate_entry(sum(r['success'] for r in mine), len(mine))}
        per_task[task]['success_rate'] = per_task[task]['non_trivial']['success_rate']
    summary = _aggregate(per_task, 'non_trivial')
    summary.update({
        'per_task': per_task, 'all_episodes': _aggregate(per_task, 'all'),
        'per_distance': summarize_distance(
            [result for result in results if not result.get('trivial', False)]),
        'per_distance_all': summarize_distance(results),
        'episodes': len(results),
        'trivial_episodes': sum(bool(result.get('trivial', False)) for result in results),
        'tasks_without_episodes': [task for task, entry in per_task.items()
                                   if not entry['episodes']],
        'tasks_only_trivial': [task for task, entry in per_task.items()
                               if entry['episodes'] and not entry['non_trivial']['episodes']]})
    return summary


def summarize_chain(results: List[dict]) -> dict:
    """
    Aggregate chain results: success rate of 1..5 tasks in a row, the average length, failures.

    :param results: per-chain results.
    :return: {'success_rates': [5 floats], 'average_length', 'chains', 'goal_failures',
        'policy_failures'}.
    """
    completed = np.array([result['completed'] for result in results])
    goal_failures = sum(bool(result.get('goal_failure', False)) for result in results)
    return {'success_rates': [float(np.mean(completed >= n)) for n in
                              range(1, CHAIN_LENGTH + 1)],
            'average_length': float(completed.mean()), 'chains': len(results),
            'goal_failures': goal_failures,
            'policy_failures': int(np.sum(completed < CHAIN_LENGTH)) - goal_failures}
