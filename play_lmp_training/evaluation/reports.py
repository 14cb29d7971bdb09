"""
Render the evaluation's summaries: Markdown tables, plots, the report files and printed lines.

A report is one protocol (and, for the single protocol, one goal source) over every row:
<stem>.md, <stem>.json and <stem>.png, plus <stem>_distance.png for the single protocol; rates
are shown with their intervals, as '40% [16-69]'.
"""

import json
from pathlib import Path
from typing import List, Mapping, Optional, Sequence

import numpy as np
from play_lmp_training.evaluation.episodes import CHAIN_LENGTH
from play_lmp_training.evaluation.summaries import bin_labels


def _percent(rate: Optional[float], interval: Optional[Sequence[float]], digits: int = 0,
             bold: bool = False) -> str:
    """Format a rate and its interval as '40% [16-69]' ('n/a' without episodes)."""
    if rate is None:
        return 'n/a'
    value = f'{100 * rate:.{digits}f}%'
    if bold:
        value = f'**{value}**'
    low, high = interval
    return f'{value} [{100 * low:.{digits}f}-{100 * high:.{digits}f}]'


def single_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render single-protocol summaries as Markdown tables: per task, then per goal distance.

    :param names: row names (model and mode, baselines).
    :param summaries: from summarize_single, one per row, over the same episodes.
    :return: the tables.
    """
    first = summaries[0]
    lines = ['| task | episodes | trivial | ' + ' | '.join(names) + ' |',
             '|---|---:|---:|' + '---:|' * len(names)]
    for task, entry in first['per_task'].items():
        cells = [_percent(summary['per_task'][task]['non_trivial']['success_rate'],
                          summary['per_task'][task]['non_trivial']['interval'])
                 for summary in summaries]
        lines.append(f'| {task} | {entry["episodes"]} | {entry["trivial"]} | '
                     + ' | '.join(cells) + ' |')
    episodes, trivial = first['episodes'], first['trivial_episodes']
    rows = [('**mean over tasks** (non-trivial)', lambda s: s, 'mean', True),
            ('pooled (non-trivial)', lambda s: s, 'pooled', False),
            ('mean over tasks (all episodes)', lambda s: s['all_episodes'], 'mean', False),
            ('pooled (all episodes)', lambda s: s['all_episodes'], 'pooled', False)]
    for label, part, figure, bold in rows:
        cells = [_percent(part(summary)[f'{figure}_success'], part(summary)[f'{figure}_interval'],
                          1, bold) for summary in summaries]
        lines.append(f'| {label} | {episodes} | {trivial} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'Success by goal distance (steps from start to goal; non-trivial episodes):',
              '', '| goal distance | episodes | ' + ' | '.join(names) + ' |',
              '|---|---:|' + '---:|' * len(names)]
    for label, entry in first['per_distance'].items():
        cells = [_percent(summary['per_distance'][label]['success_rate'],
                          summary['per_distance'][label]['interval']) for summary in summaries]
        lines.append(f'| {label} | {entry["episodes"]} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def chain_markdown(names: Sequence[str], summaries: Sequence[dict]) -> str:
    """
    Render chain summaries as a Markdown table (one row per model and mode, and baseline).

    :param names: row names.
    :param summaries: from summarize_chain, one per row.
    :return: the table.
    """
    lines = ['| model | chains | ' + ' | '.join(f'SR({n})' for n in range(1, CHAIN_LENGTH + 1))
             + ' | avg. length | goal failures | policy failures |',
             '|---|---:|' + '---:|' * (CHAIN_LENGTH + 3)]
    for name, summary in zip(names, summaries):
        rates = ' | '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
        lines.append(f'| {name} | {summary["chains"]} | {rates} | '
                     f'{summary["average_length"]:.2f} | {summary["goal_failures"]} | '
                     f'{summary["policy_failures"]} |')
    return '\n'.join(lines) + '\n'


def pyplot():
    """Import matplotlib's pyplot on the Agg backend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_single(names: Sequence[str], summaries: Sequence[dict], path: Path,
                title: str = 'single protocol') -> None:
    """
    Draw per-task success on non-trivial episodes as grouped horizontal bars.

    :param names: row names.
    :param summaries: from summarize_single.
    :param path: PNG to write.
    :param title: the plot's title prefix.
    """
    plt = pyplot()
    tasks = list(summaries[0]['per_task'])
    height = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(8, 0.28 * len(tasks) * max(1, len(names) / 3) + 1.5))
    for offset, (name, summary) in enumerate(zip(names, summaries)):
        rates = [100 * (summary['per_task'][task]['success_rate'] or 0.0) for task in tasks]
        mean = summary['mean_success']
        label = f'{name} (mean {100 * mean:.1f}%)' if mean is not None else name
        axes.barh(np.arange(len(tasks)) + offset * height, rates, height=height, label=label)
    axes.set_yticks(np.arange(len(tasks)) + 0.4 - height / 2)
    axes.set_yticklabels(tasks, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel('success rate on non-trivial episodes (%)')
    axes.set_title(f'{title}: per-task success (CALVIN oracle)')
    axes.legend(loc='lower right', fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_distance(names: Sequence[str], summaries: Sequence[dict], path: Path,
                  title: str = 'single protocol') -> None:
    """
    Draw success against goal distance, one line per row.

    :param names: row names.
    :param summaries: from summarize_single.
    :param path: PNG to write.
    :param title: the plot's title prefix.
    """
    plt = pyplot()
    labels = bin_labels()
    counts = [summaries[0]['per_distance'][label]['episodes'] for label in labels]
    figure, axes = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(len(labels))
    for name, summary in zip(names, summaries):
        rates = [summary['per_distance'][label]['success_rate'] for label in labels]
        axes.plot(positions, [np.nan if rate is None else 100 * rate for rate in rates],
                  marker='o', label=name)
    axes.set_xticks(positions)
    axes.set_xticklabels([f'{label}\n(n={count})' for label, count in zip(labels, counts)],
                         fontsize=8)
    axes.set_xlabel('goal distance (steps)')
    axes.set_ylabel('success rate, non-trivial episodes (%)')
    axes.set_ylim(-2, 102)
    axes.set_title(f'{title}: success by goal distance')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_chain(names: Sequence[str], summaries: Sequence[dict], path: Path) -> None:
    """
    Draw SR(1..5) per row as grouped bars.

    :param names: row names.
    :param summaries: from summarize_chain.
    :param path: PNG to write.
    """
    plt = pyplot()
    width = 0.8 / len(names)
    figure, axes = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(1, CHAIN_LENGTH + 1)
    for offset, (name, summary) in enumerate(zip(names, summaries)):
        axes.bar(positions + offset * width, [100 * rate for rate in summary['success_rates']],
                 width=width, label=f'{name} (avg. length {summary["average_length"]:.2f})')
    axes.set_xticks(positions + 0.4 - width / 2)
    axes.set_xticklabels([str(n) for n in positions])
    axes.set_xlabel('tasks completed in a row')
    axes.set_ylabel('success rate (%)')
    axes.set_ylim(0, 100)
    axes.set_title('chain protocol (5-task chains, distinct categories, state goals)')
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(out: Path, stem: str, names: Sequence[str], summaries: Sequence[dict],
                 protocol: str, heading: str, title: str = '') -> None:
    """
    Write <stem>.md, .json and the plots (titled title).

    :param out: output directory.
    :param stem: the report's name, e.g. 'single', 'single_validation' or 'chain'.
    :param names: row names.
    :param summaries: from summarize_single or summarize_chain, one per row.
    :param protocol: 'single' or 'chain'.
    :param heading: the Markdown heading.
    :param title: the single protocol plots' title prefix.
    """
    if protocol == 'single':
        table = single_markdown(names, summaries)
        plot_single(names, summaries, out / f'{stem}.png', title)
        plot_distance(names, summaries, out / f'{stem}_distance.png', title)
    else:
        table = chain_markdown(names, summaries)
        plot_chain(names, summaries, out / f'{stem}.png')
    (out / f'{stem}.md').write_text(f'## {heading}\n\n{table}')
    (out / f'{stem}.json').write_text(json.dumps(list(summaries), indent=1))


def summary_lines(protocol: str, reports: Mapping[str, List[dict]]) -> List[str]:
    """
    Sum every row of every report up in one line: mean with interval and pooled, or SR(1..5).

    :param protocol: 'single' or 'chain'.
    :param reports: report name -> one summary per row, as evaluate returns them.
    :return: the lines, a heading line before each single-protocol report's rows.
    """
    lines = []
    for stem, summaries in reports.items():
        if protocol == 'chain':
            for summary in summaries:
                rates = ' '.join(f'{100 * rate:.0f}%' for rate in summary['success_rates'])
                lines.append(f'{summary["model"]}: SR(1..5) {rates}, average length '
                             f'{summary["average_length"]:.2f}, goal failures '
                             f'{summary["goal_failures"]}, policy failures '
                             f'{summary["policy_failures"]} ({summary["chains"]} chains)')
            continue
        lines.append(f'{stem} ({summaries[0]["goal_source"]} goals; non-trivial episodes):')
        for summary in summaries:
            lines.append(
                f'  {summary["model"]}: mean '
                f'{_percent(summary["mean_success"], summary["mean_interval"], 1)} over '
                f'{summary["tasks_in_mean"]} tasks, pooled '
                f'{_percent(summary["pooled_success"], summary["pooled_interval"], 1)} '
                f'({summary["pooled_episodes"]} episodes, {summary["trivial_episodes"]} '
                f'trivial left out)')
    return lines
