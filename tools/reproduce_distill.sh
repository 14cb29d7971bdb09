#!/bin/bash
# Re-create the distilled student (the bundled default) and its figures from nothing: DAgger
# from the scripted experts in two runs (the second continues the first's weights at a lower
# learning rate, replaying its aggregate), the per-iteration picture, and the held-out
# evaluation beside the play-only model and the baselines.  About 2 h on a 2-core CPU.  A killed
# step continues where it stopped when the script is run again.  Run from the repository root
# after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}

resume() {   # --resume when the run directory already holds a checkpoint
  if [ -f "$1/last.pt" ]; then echo --resume; fi
}
distill_a=runs/distill
distill_b=runs/distill_b
[ -f $distill_a/model/actor.onnx ] || \
  $PY -m play_lmp_training.distill --config config/training/distill.yaml $(resume $distill_a) \
    dagger.iterations=10 dagger.episodes_per_task=12 dagger.chains=30 \
    train.steps_per_iteration=3000 dagger.workers="$WORKERS" output_dir=$distill_a
[ -f $distill_b/model/actor.onnx ] || \
  $PY -m play_lmp_training.distill --config config/training/distill.yaml $(resume $distill_b) \
    --init $distill_a/last.pt "replay_from=[$distill_a]" dagger.iterations=5 \
    dagger.episodes_per_task=12 dagger.chains=30 dagger.expert_fraction=0.0 \
    train.steps_per_iteration=4000 train.lr=3e-4 train.lr_final=3e-5 dagger.seed=1 \
    train.seed=1 dagger.workers="$WORKERS" output_dir=$distill_b
$PY -m play_lmp_training.distillation.report $distill_a --out out/results/distill_iterations_a.png
$PY -m play_lmp_training.distillation.report $distill_b --out out/results/distill_iterations_b.png
# The headline, on the held-out seed 1 (no distillation seed makes its scenes).
$PY -m play_lmp_training.evaluate --model $distill_b/model --model $distill_a/model \
  --model play_lmp_ros/models/play_lmp --name distilled --name distilled-first-run \
  --name play-lmp --protocol single --goal-source imagined --episodes 30 --seed 1 \
  --modes deterministic --baselines hold,open-gripper,untrained --workers "$WORKERS" \
  --out out/results/distill_single
$PY -m play_lmp_training.evaluate --model $distill_b/model --model play_lmp_ros/models/play_lmp \
  --name distilled --name play-lmp --protocol chain --episodes 100 --seed 1 --baselines none \
  --modes deterministic --workers "$WORKERS" --out out/results/distill_chain
