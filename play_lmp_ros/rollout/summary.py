"""
Sum a rollout up: one line per goal, the JSON summary and its one-line form.

Also what the summary needs around it: which policy the policy node runs, and, for --json, a
stdout that carries the summary alone.
"""

import contextlib
from dataclasses import asdict
import os
import sys
from typing import Any, Dict, Iterator, List, TextIO

from play_lmp_ros.rollout.client import GoalOutcome, RolloutClient
from play_lmp_ros.rollout.options import RolloutOptions


def describe_policy(client: RolloutClient) -> Dict[str, Any]:
    """
    Ask the policy node which backend and model it runs.

    :param client: the client node.
    :return: {'backend': ..., 'model': ..., 'mode': ...}; values None when it does not answer.
    """
    values = client.remote_parameters('policy_node', ['backend', 'model_dir', 'mode'])
    backend = values.get('backend')
    model = values.get('model_dir')
    if backend == 'onnx' and not model:
        model = 'bundled'
    elif backend == 'scripted':
        model = None
    return {'backend': backend, 'model': model, 'mode': values.get('mode')}


def format_line(index: int, total: int, outcome: GoalOutcome) -> str:
    """
    Format one goal's line.

    :param index: 1-based goal number.
    :param total: number of goals.
    :param outcome: its outcome.
    :return: e.g. '[2/3] open_drawer  succeeded  71 steps  2.4 s'.
    """
    width = len(str(total))
    return (f'[{index:>{width}}/{total}] {outcome.task:<26} {outcome.outcome:<40} '
            f'{outcome.steps:>4} steps {outcome.elapsed_s:6.1f} s')


def summarize(outcomes: List[GoalOutcome], policy: Dict[str, Any],
              options: RolloutOptions, files: Dict[str, str],
              interrupted: bool = False, namespace: str = '') -> Dict[str, Any]:
    """
    Build the JSON summary.

    :param outcomes: the goals' outcomes so far.
    :param policy: describe_policy's answer.
    :param options: the run's options.
    :param files: written files by kind.
    :param interrupted: the run was stopped before its last goal.
    :param namespace: the play table's namespace.
    :return: the summary.
    """
    successes = sum(outcome.success for outcome in outcomes)
    return {
        'goals': len(outcomes),
        'successes': successes,
        'success_rate': successes / len(outcomes) if outcomes else 0.0,
        'backend': policy.get('backend'),
        'model': policy.get('model'),
        'mode': policy.get('mode'),
        'seed': options.seed,
        'attached': options.attach,
        'namespace': namespace,
        'interrupted': interrupted,
        'results': [asdict(outcome) for outcome in outcomes],
        'files': files,
    }


def summary_line(summary: Dict[str, Any]) -> str:
    """
    Sum a run up in one line: the successes and the files written.

    :param summary: summarize()'s answer.
    :return: e.g. '3/4 goals succeeded; summary: out/rollout/summary.json, video: ...'.
    """
    files = ', '.join(f'{kind}: {path}' for kind, path in sorted(
        summary['files'].items(), key=lambda item: item[0] != 'summary'))
    interrupted = ' (interrupted)' if summary['interrupted'] else ''
    return f'{summary["successes"]}/{summary["goals"]} goals succeeded{interrupted}; {files}'


@contextlib.contextmanager
def stdout_for_json_only() -> Iterator[TextIO]:
    """
    Send everything written to file descriptor 1 to stderr, C libraries included.

    pybullet prints to the C stdout; with --json, stdout must carry the summary alone.

    :return: a text stream on the original stdout, for the summary.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(os.dup(saved), 'w') as original:
            yield original
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
