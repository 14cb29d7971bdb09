"""
Evaluate goal-conditioned policies on the play table with CALVIN's oracle, beside baselines.

    python -m play_lmp_training.evaluate --model <dir> [--model <dir> ...] \
        --protocol single|chain \
        [--goal-source imagined|validation|both] [--data data/play] [--episodes N] \
        [--modes deterministic,sampled] [--baselines hold,open-gripper,untrained|none] \
        [--tasks a,b] [--workers W] [--seed S] [--out DIR]

The policies run through play_lmp_ros.core (OnnxPolicy, PlayTableSim, GoalJudge, TaskOracle):
the code the ROS nodes run.  Success is CALVIN's oracle between the start and the current
state, judged every CHECK_EVERY (2) steps and at the last step, as the goal server does.

- single, goal source ``imagined`` (the default and the headline: what users of the goal server
  get): for each task, seeded random scenes (PlayTableSim.reset_random) where the task is
  feasible; the goal is GoalJudge.imagine_goal's, the goal server's own goal making (the
  scripted skill run in a scratch simulator); an episode is kept only when the oracle sees
  exactly that task between start and goal.  Up to 240 steps.
- single, goal source ``validation``: start and goal are the first and last state of held-out
  windows of --data's validation split in which the oracle sees exactly their annotated task
  (CALVIN's training-time rollout protocol), drawn per --seed by a seeded permutation of all
  matching windows; a task with fewer windows gets fewer episodes (no imagined top-up).
  ``both`` runs both and reports them apart, imagined first.
- chain: CALVIN's long-horizon protocol with state goals: chains of five tasks from five
  distinct task categories (tasks.TASK_CATEGORIES), each chain made from a random start scene by
  running the skills in a scratch simulator; each subtask's goal is imagined from the robot's
  current state, 360 steps per subtask.  Reported: success of 1..5 tasks in a row, the average
  length, and how many chains ended because no goal could be made from the state the policy
  left (GoalError) apart from those the policy failed.

Rows: every --model in every --modes (``deterministic``: plan means and mixture modes, shown as
``<name> (det)``; ``sampled``: seeded sampling, ``<name> (sampled)``), then the baselines
(play_lmp_training/baselines.py): hold (zero motion, the start state's gripper), open-gripper (zero
motion, gripper open), untrained (the first model's architecture with random weights) and, on
request, scripted (the scripted skills through the same policy interface: the expert's ceiling).

Statistics (single protocol).  An episode that hold or open-gripper solves is *trivial*: both
always run for that check, whatever --baselines shows, and every row's episode results carry
the flag.  The headline figures leave trivial episodes out: the mean over tasks (of the tasks
with a non-trivial episode) and the pooled rate over all non-trivial episodes; the all-episode
figures are reported beside them.  Per-task and pooled intervals are Wilson 95% score
intervals.  The interval of the mean over T tasks is the normal approximation
mean +- z sqrt(sum_i p_i (1 - p_i) / n_i) / T, clipped to [0, 1]; it treats tasks as fixed and
episodes as independent, and shrinks to nothing when every p_i is 0 or 1.  Success is also
reported per goal distance (imagined: the scripted skill's steps; validation: the window's
steps) in the bins of DISTANCE_BINS.

Outputs: <out>/<row>/results.json per row (summary and per-episode results, each with its goal
source); <out>/<report>.md, .json, .png (per-task bars or SR(1..5)) and, for the single
protocol, <out>/<report>_distance.png, where <report> is ``single``, ``chain``, or
``single_imagined`` and ``single_validation`` for --goal-source both.  Every episode and chain
runs in a fresh simulator and is seeded by its own index, and goal and chain making run one job
per task or chain index, so results do not depend on --workers.
"""

import argparse
import json
import os
from pathlib import Path
import re
import sys
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_ros.core.policy import ACTOR_FILE, load_metadata, ModelError, OnnxPolicy
from play_lmp_ros.core.subgoals import PLAN_MODES
from play_lmp_ros.core.tasks import TASK_NAMES, TaskOracle
from play_lmp_training import baselines
from play_lmp_training.calvin_dataset import DatasetError, read_language
from play_lmp_training.evaluation.episodes import (make_chains, single_episodes, SOURCE_IMAGINED,
                                                   SOURCE_VALIDATION, SOURCES)
from play_lmp_training.evaluation.reports import summary_lines, write_report
from play_lmp_training.evaluation.rollouts import (DETERMINISTIC, MODE_LABELS, MODEL, PolicySpec,
                                                   run_chain_row, run_single_row)
from play_lmp_training.evaluation.summaries import (mark_trivial, summarize_chain,
                                                    summarize_single, trivial_flags)

MAX_CHAINS = 1000
GOAL_SOURCES = (SOURCE_IMAGINED, SOURCE_VALIDATION, 'both')
DEFAULT_BASELINES = (baselines.HOLD, baselines.OPEN_GRIPPER)


def row_directory(name: str) -> str:
    """
    Turn a row name into a directory name: 'play-lmp (det)' -> 'play-lmp-det'.

    :param name: the row name.
    :return: letters, digits, '.', '_' and '-' only.
    """
    return re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-') or 'row'


def check_model_names(names: Sequence[str]) -> None:
    """
    Refuse model names that are not plain file names, or that would share a row directory.

    Each name becomes part of a row directory under --out (row_directory), and a report
    names its rows by them.

    :param names: a display name per model.
    :raises ValueError: for an empty name, one with a path separator, '..' or a NUL, or two
        names that give the same row directory.
    """
    separators = {'/', '\\', os.sep} | ({os.altsep} if os.altsep else set())
    for name in names:
        if not name.strip() or name == '.' or '..' in name or '\0' in name or any(
                separator in name for separator in separators):
            raise ValueError(f'--name {name!r} is not a plain file name (it must not be empty, '
                             f"'.', or hold '..' or a path separator)")
    directories = [row_directory(name) for name in names]
    if len(set(directories)) != len(directories):
        raise ValueError(f'model names {list(names)} give the row directories {directories}; '
                         'they must differ')


def row_specs(model_dirs: Sequence[str], names: Sequence[str], modes: Sequence[str],
              baseline_names: Sequence[str], plan_mode: Optional[str] = None,
              untrained_dir: Optional[str] = None) -> List[PolicySpec]:
    """
    List the report's rows: every model in every mode, then the baselines.

    :param model_dirs: exported model directories.
    :param names: a display name per model.
    :param modes: 'deterministic' and/or 'sampled'.
    :param baseline_names: from baselines.BASELINES.
    :param plan_mode: passed to the models' OnnxPolicy (not to the untrained one).
    :param untrained_dir: the untrained model's directory (when 'untrained' is a baseline).
    :return: the rows, in report order.
    """
    specs = [PolicySpec(f'{name} ({MODE_LABELS[mode]})', MODEL, str(model_dir), mode, plan_mode)
             for model_dir, name in zip(model_dirs, names) for mode in modes]
    for baseline in baseline_names:
        if baseline == baselines.UNTRAINED:
            specs += [PolicySpec(f'{baseline} ({MODE_LABELS[mode]})', baseline, untrained_dir,
                                 mode) for mode in modes]
        else:
            specs.append(PolicySpec(baseline, baseline))
    return specs


def _row_summary(spec: PolicySpec, protocol: str, seed: int,
                 notes: Mapping[str, object]) -> dict:
    """Describe a row for its summaries: kind, model, mode, metadata."""
    row = {'model': spec.name, 'kind': spec.kind, 'model_dir': spec.model_dir,
           'mode': spec.mode, 'plan_mode': spec.plan_mode, 'protocol': protocol, 'seed': seed}
    if spec.model_dir is not None:
        row['metadata'] = load_metadata(os.path.join(spec.model_dir, ACTOR_FILE))
    if spec.kind == baselines.UNTRAINED:
        row['architecture_sources'] = dict(notes.get('untrained_sources', {}))
    return row


def evaluate(model_dirs: Sequence[str], names: Sequence[str], protocol: str,
             data_path: Optional[str], episodes: int, workers: int, seed: int, out: Path,
             tasks: Sequence[str] = TASK_NAMES, progress: bool = True,
             modes: Sequence[str] = (DETERMINISTIC,), goal_source: str = SOURCE_IMAGINED,
             baseline_names: Sequence[str] = DEFAULT_BASELINES,
             plan_mode: Optional[str] = None) -> Dict[str, List[dict]]:
    """
    Evaluate models and baselines on one protocol and write the reports.

    :param model_dirs: exported model directories.
    :param names: a display name per model.
    :param protocol: 'single' or 'chain'.
    :param data_path: dataset root with the held-out split (validation goals).
    :param episodes: episodes per task (single) or chains (chain).
    :param workers: worker processes.
    :param seed: seed of the episodes, the chains and the policies.
    :param out: output directory.
    :param tasks: tasks of the single protocol.
    :param progress: show progress bars.
    :param modes: 'deterministic' and/or 'sampled'.
    :param goal_source: 'imagined', 'validation' or 'both' (single protocol).
    :param baseline_names: baselines to report (hold, open-gripper, untrained).
    :param plan_mode: passed to the models' OnnxPolicy as plan_mode= when not None.
    :return: report name ('single', 'single_imagined', ..., 'chain') -> one summary per row.
    """
    out.mkdir(parents=True, exist_ok=True)
    notes: Dict[str, object] = {}
    untrained_dir = None
    if baselines.UNTRAINED in baseline_names:
        untrained_dir = str(out / 'untrained-model')
        notes['untrained_sources'] = baselines.write_untrained_model(
            OnnxPolicy(model_dirs[0]).metadata, Path(untrained_dir), seed)
    specs = row_specs(model_dirs, names, modes, baseline_names, plan_mode, untrained_dir)
    if protocol == 'chain':
        return _evaluate_chain(specs, episodes, workers, seed, out, progress, notes)
    sources = list(SOURCES) if goal_source == 'both' else [goal_source]
    jobs = []
    for source in sources:
        jobs += list(enumerate(single_episodes(source, episodes, seed, tasks, data_path,
                                               workers=workers, progress=progress)))
    results: Dict[str, List[dict]] = {}
    # Hold and open-gripper always run: they decide which episodes are trivial.
    for spec in sorted(specs, key=lambda spec: spec.kind not in DEFAULT_BASELINES):
        results[spec.name] = run_single_row(spec, jobs, workers, seed, progress)
    for baseline in DEFAULT_BASELINES:
        if baseline not in results:
            results[baseline] = run_single_row(PolicySpec(baseline, baseline), jobs, workers,
                                               seed, progress, 'single (trivial check)')
    flags = trivial_flags(*(results[baseline] for baseline in DEFAULT_BASELINES))
    rows = [_row_summary(spec, 'single', seed, notes) for spec in specs]
    reports: Dict[str, List[dict]] = {}
    for source in sources:
        stem = 'single' if len(sources) == 1 else f'single_{source}'
        reports[stem] = []
        for spec, row in zip(specs, rows):
            mine = mark_trivial([r for r in results[spec.name] if r['source'] == source], flags)
            summary = summarize_single(mine, tasks)
            summary.update(row, goal_source=source, episodes_per_task=episodes)
            reports[stem].append(summary)
    for index, spec in enumerate(specs):
        by_source = {source: reports[stem][index] for source, stem in zip(sources, reports)}
        row_out = out / row_directory(spec.name)
        row_out.mkdir(parents=True, exist_ok=True)
        (row_out / 'results.json').write_text(json.dumps(
            {'summary': by_source[sources[0]], 'summaries': by_source,
             'episodes': mark_trivial(results[spec.name], flags)}, indent=1))
    names_out = [spec.name for spec in specs]
    for source, stem in zip(sources, reports):
        write_report(out, stem, names_out, reports[stem], 'single',
                     f'single protocol, {source} goals (seed {seed}, up to {episodes} '
                     f'episodes per task)', f'single, {source} goals')
    return reports


def _evaluate_chain(specs: Sequence[PolicySpec], count: int, workers: int, seed: int,
                    out: Path, progress: bool, notes: Mapping[str, object]
                    ) -> Dict[str, List[dict]]:
    """Run the chain protocol for every row and write its reports."""
    jobs = list(enumerate(make_chains(count, seed, workers, progress)))
    summaries = []
    for spec in specs:
        results = run_chain_row(spec, jobs, workers, seed, progress)
        summary = summarize_chain(results)
        summary.update(_row_summary(spec, 'chain', seed, notes))
        row_out = out / row_directory(spec.name)
        row_out.mkdir(parents=True, exist_ok=True)
        (row_out / 'results.json').write_text(
            json.dumps({'summary': summary, 'episodes': results}, indent=1))
        summaries.append(summary)
    write_report(out, 'chain', [spec.name for spec in specs], summaries, 'chain',
                 f'chain protocol (seed {seed}, {count} chains)')
    return {'chain': summaries}


def _comma_list(text: str, allowed: Sequence[str], what: str) -> List[str]:
    """
    Split a comma-separated option, keeping the order and dropping repeats.

    :raises ValueError: naming an unknown entry and the allowed ones.
    """
    items: List[str] = []
    for item in (part.strip() for part in text.split(',')):
        if item not in allowed:
            raise ValueError(f'{what}: unknown entry {item!r}; choose from {", ".join(allowed)}')
        if item not in items:
            items.append(item)
    return items


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--model', action='append', required=True,
                        help='exported model directory (repeat to compare models)')
    parser.add_argument('--name', action='append', default=None,
                        help='display name per --model (default: the directory name)')
    parser.add_argument('--protocol', choices=('single', 'chain'), default='single',
                        help='single goals, or chains of five distinct task categories')
    parser.add_argument('--goal-source', choices=GOAL_SOURCES, default=None,
                        help='single protocol: imagined (goals made as the goal server makes '
                             'them, the default), '
                             'validation (held-out windows of --data) or both')
    parser.add_argument('--data', default=None,
                        help='dataset root whose validation split gives the held-out windows')
    parser.add_argument('--episodes', type=int, default=10,
                        help=f'episodes per task (single) or chains (chain, at most '
                             f'{MAX_CHAINS})')
    parser.add_argument('--tasks', default=None, help='comma-separated subset of tasks (single)')
    parser.add_argument('--modes', default=None,
                        help='comma-separated: deterministic (default), sampled')
    parser.add_argument('--deterministic', action='store_true',
                        help='same as --modes deterministic')
    parser.add_argument('--baselines', default=','.join(DEFAULT_BASELINES),
                        help='comma-separated: hold, open-gripper, untrained, scripted; or none')
    parser.add_argument('--plan-mode', default=None, choices=PLAN_MODES,
                        help="subgoal plan mode of every --model (default: each model's own)")
    parser.add_argument('--workers', type=int, default=1, help='worker processes')
    parser.add_argument('--seed', type=int, default=0, help='seed')
    parser.add_argument('--out', default='out/eval', help='output folder')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def _resolve(args: argparse.Namespace) -> Tuple[List[str], List[str], List[str], List[str],
                                                str]:
    """
    Check the arguments and resolve names, tasks, modes, baselines and the goal source.

    :raises ValueError: naming the first problem.
    :raises ModelError: for a bad model directory.
    """
    names = args.name or [Path(model).resolve().name for model in args.model]
    tasks = TASK_NAMES if args.tasks is None else [t.strip() for t in args.tasks.split(',')]
    if len(names) != len(args.model):
        raise ValueError(f'give one --name per --model ({len(args.model)} models, '
                         f'{len(names)} names)')
    if len(set(names)) != len(names) or set(names) & set(baselines.BASELINES):
        raise ValueError(f'model names must be distinct and differ from the baselines, got '
                         f'{names}')
    check_model_names(names)
    if args.episodes < 1 or args.workers < 1 or args.seed < 0:
        raise ValueError('--episodes and --workers must be >= 1, --seed >= 0')
    if args.protocol == 'chain' and args.episodes > MAX_CHAINS:
        raise ValueError(f'at most {MAX_CHAINS} chains, got --episodes {args.episodes}')
    modes = _comma_list(args.modes or DETERMINISTIC, tuple(MODE_LABELS), '--modes')
    if args.deterministic and modes != [DETERMINISTIC]:
        raise ValueError('--deterministic means --modes deterministic; give one of them')
    baseline_names = ([] if args.baselines.strip() == 'none'
                      else _comma_list(args.baselines, baselines.BASELINES, '--baselines'))
    goal_source = args.goal_source or SOURCE_IMAGINED
    if args.protocol == 'chain' and goal_source != SOURCE_IMAGINED:
        raise ValueError('chains imagine every goal from the current state; --goal-source is '
                         'for the single protocol')
    TaskOracle().require_known(tasks)
    for model in args.model:
        OnnxPolicy(model, plan_mode=args.plan_mode)
    if goal_source != SOURCE_IMAGINED:
        if args.data is None:
            raise ValueError(f'--goal-source {goal_source} needs --data (a dataset root with a '
                             f'validation split)')
        if read_language(Path(args.data) / 'validation') is None:
            raise ValueError(f'{args.data}/validation has no lang_annotations: validation '
                             f'goals need task-annotated windows')
    if args.data is not None and not os.path.isdir(args.data):
        raise ValueError(f'dataset {args.data} does not exist')
    return names, list(tasks), modes, baseline_names, goal_source


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the evaluation CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: exit code: 0, or 2 on bad arguments, a bad model or a bad dataset.
    """
    args = parse_args(argv)
    try:
        names, tasks, modes, baseline_names, goal_source = _resolve(args)
    except (ValueError, ModelError, DatasetError) as error:
        print(f'evaluate: {error}', file=sys.stderr)
        return 2
    if args.data is not None and args.protocol == 'single' and goal_source == SOURCE_IMAGINED:
        print('evaluate: --data is not used with imagined goals (see --goal-source)',
              file=sys.stderr)
    reports = evaluate(args.model, names, args.protocol, args.data, args.episodes, args.workers,
                       args.seed, Path(args.out), tasks, not args.no_progress, modes,
                       goal_source, baseline_names, args.plan_mode)
    for line in summary_lines(args.protocol, reports):
        print(line)
    print(f'reports in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
