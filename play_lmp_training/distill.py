"""
Distil the scripted experts into one goal-conditioned policy by DAgger (PolyTask's route).

    python -m play_lmp_training.distill --config config/training/distill.yaml \
        [--init <checkpoint>|none] [key=value ...] [--resume]

Every iteration rolls the current student out on imagined goals and chains, labels every state
it visited with the expert of the goal's task, and trains the student on everything labelled so
far (play_lmp_training.distillation).  The run's folder holds last.pt, iter_NNN.pt, the
aggregate (aggregate/iter_NNN/rollout_MMMMM.npz), the students rolled out, metrics.jsonl and
TensorBoard logs; at the end the student is exported to <output_dir>/model (the ONNX contract
of training.export, with parity.json and a model card).  Labels come from scripted experts,
not from people or play.
"""

import argparse
import json
from pathlib import Path
import sys
from typing import List, Optional

from play_lmp_ros.core.cli_help import HelpFormatter
from play_lmp_training import checkpoint as ckpt
from play_lmp_training.distillation.aggregate import AggregateError
from play_lmp_training.distillation.configuration import DistillConfig
from play_lmp_training.distillation.training import Distiller
from play_lmp_training.export import check_parity, export_model, PARITY_TOLERANCE
from play_lmp_training.play_lmp.configuration import load_config

MODEL_DIR = 'model'


def model_card(config: DistillConfig, summary: dict, init: str) -> str:
    """
    Write the exported student's card.

    :param config: the run's configuration.
    :param summary: the last iteration's rollout summary.
    :param init: the checkpoint the student started from ('' for none).
    :return: Markdown.
    """
    dagger = config.dagger
    overall = {key: round(value, 3) for key, value in summary.items() if '/' not in key}
    return '\n'.join([
        f'# Distilled student ({config.model.method}), from scripted experts', '',
        '- **Labels.** Every state came from rollouts of the student itself (mixed with the '
        "expert's actions by beta); every label is the action of the task's scripted expert "
        '(core.skills.experts). The experts are scripted controllers that read the '
        "simulator's true state: nothing here was learned from people or from play alone.",
        f'- **Run.** {dagger.iterations} iterations of {dagger.episodes_per_task} imagined '
        f'goals per task and {dagger.chains} chains, beta {dagger.expert_fraction} x '
        f'{dagger.expert_decay}^i, DART noise {dagger.expert_noise}, '
        f'{config.train.steps_per_iteration} steps of batch {config.train.batch_size} per '
        f'iteration, play fraction {config.train.play_fraction}; started from '
        f'{init or "a fresh model"}.',
        f'- **Excluded tasks.** {", ".join(dagger.exclude_tasks) or "none"}.',
        f'- **Last rollouts.** {json.dumps(overall)}',
        '- Evaluate it on held-out seeds with `python -m play_lmp_training.evaluate --model '
        '<this folder> --protocol single --goal-source imagined`.', ''])


def main(argv: Optional[List[str]] = None) -> int:
    """
    Run the distillation CLI.

    :param argv: arguments (default sys.argv[1:]).
    :return: 0 when done, 1 on divergence or a failed parity check, 2 on bad configuration,
        checkpoints or aggregate files.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--config', required=True, help='YAML distillation configuration')
    parser.add_argument('overrides', nargs='*', help='key.sub=value overrides, e.g. '
                        'dagger.iterations=4 output_dir=runs/distill_b')
    parser.add_argument('--init', default='none',
                        help="checkpoint (training.train's or a distillation's) to start the "
                             "student from, or 'none'")
    parser.add_argument('--resume', action='store_true',
                        help='continue the run in output_dir from its last checkpoint')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides, DistillConfig)
        init = None if args.init == 'none' else args.init
        distiller = Distiller(config, init, args.resume, not args.no_progress)
        summary = distiller.run()
    except (ValueError, FileNotFoundError, ckpt.CheckpointError, AggregateError) as error:
        print(f'distill: {error}', file=sys.stderr)
        return 2
    except FloatingPointError as error:
        print(f'distill: stopped, {error}; the last good checkpoint is '
              f'{Path(config.output_dir) / ckpt.LAST_CHECKPOINT}', file=sys.stderr)
        return 1
    out = Path(config.output_dir) / MODEL_DIR
    export_model(distiller.model, out, config.model.replan_every,
                 f'distillation:{Path(config.output_dir).name}')
    report = check_parity(distiller.model, out)
    (out / 'parity.json').write_text(json.dumps(dict(report, tolerance=PARITY_TOLERANCE),
                                                indent=1))
    (out / 'README.md').write_text(model_card(config, summary, distiller.init))
    print(json.dumps(dict(summary, model=str(out), parity=report['random']), indent=1))
    return 0 if report['random'] <= PARITY_TOLERANCE else 1


if __name__ == '__main__':
    sys.exit(main())
