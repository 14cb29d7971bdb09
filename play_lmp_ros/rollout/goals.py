"""
Parse the rollout's goal list: task names from --tasks, or task and state goals from a YAML file.

Pure Python (no rclpy): every goal becomes a GoalSpec, and an unknown task name is refused with
the closest known names.
"""

from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any, List, Optional, Tuple

from play_lmp_ros.core import layout
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
import yaml


@dataclass(frozen=True)
class GoalSpec:
    """
    One goal of the rollout.

    :param task: one of the 34 task names, or '' for a state goal.
    :param state: (39,) goal state in the observation layout when task is ''.
    :param timeout_s: wall-clock limit (s); 0 uses --timeout, then the server's default.
    """

    task: str = ''
    state: Optional[Tuple[float, ...]] = None
    timeout_s: float = 0.0

    @property
    def label(self) -> str:
        """Return the task name, or 'state' for an explicit goal state."""
        return self.task or 'state'


def unknown_task_message(name: str) -> str:
    """
    Describe an unknown task name with the closest known ones.

    :param name: the name given.
    :return: the message.
    """
    try:
        TaskOracle().require_known([name])
    except ValueError as error:
        return f'{error} (the 34 tasks: rollout --list-tasks)'
    return ''


def parse_task_list(text: str) -> List[GoalSpec]:
    """
    Parse --tasks: comma-separated task names.

    :param text: e.g. 'open_drawer,turn_on_led'.
    :return: one goal per name, in order.
    :raises ValueError: for an empty list or an unknown name (with the closest names).
    """
    names = [name.strip() for name in text.split(',') if name.strip()]
    if not names:
        raise ValueError('--tasks needs at least one task name')
    for name in names:
        if name not in TASK_NAMES:
            raise ValueError(unknown_task_message(name))
    return [GoalSpec(task=name) for name in names]


def parse_goal_entry(entry: Any, where: str) -> GoalSpec:
    """
    Parse one entry of a goals file.

    :param entry: {task: name, timeout_s: s} or {state: [39 floats], timeout_s: s}.
    :param where: the entry's position, for messages.
    :return: the goal.
    :raises ValueError: naming the entry and the problem.
    """
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: expected a mapping with task or state, got {entry!r}')
    unknown = set(entry) - {'task', 'state', 'timeout_s'}
    if unknown:
        raise ValueError(f'{where}: unknown keys {sorted(unknown)} (allowed: task, state, '
                         'timeout_s)')
    if ('task' in entry) == ('state' in entry):
        raise ValueError(f'{where}: give exactly one of task and state')
    timeout_s = entry.get('timeout_s', 0.0)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not (
            math.isfinite(timeout_s) and timeout_s >= 0.0):
        raise ValueError(f'{where}: timeout_s must be a number >= 0, got {timeout_s!r}')
    if 'task' in entry:
        task = entry['task']
        if not isinstance(task, str) or task not in TASK_NAMES:
            raise ValueError(f'{where}: {unknown_task_message(str(task))}')
        return GoalSpec(task=task, timeout_s=float(timeout_s))
    try:
        state = layout.check_vector(entry['state'], layout.OBS_DIM, 'state')
    except (TypeError, ValueError) as error:
        raise ValueError(f'{where}: {error}') from None
    return GoalSpec(state=tuple(float(v) for v in state), timeout_s=float(timeout_s))


def load_goals(path: Path) -> List[GoalSpec]:
    """
    Read a goals file: ``goals: [{task: open_drawer, timeout_s: 20}, {state: [39 floats]}]``.

    :param path: the YAML file.
    :return: the goals, in order.
    :raises ValueError: for a missing or malformed file, naming the file and the entry.
    """
    try:
        document = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ValueError(f'cannot read the goals file {path}: {error.strerror}') from None
    except yaml.YAMLError as error:
        raise ValueError(f'the goals file {path} is not valid YAML: {error}') from None
    if not isinstance(document, dict) or not isinstance(document.get('goals'), list) or not (
            document['goals']):
        raise ValueError(f'the goals file {path} must hold a non-empty list under "goals:"')
    return [parse_goal_entry(entry, f'{path}: goals[{index}]')
            for index, entry in enumerate(document['goals'])]
