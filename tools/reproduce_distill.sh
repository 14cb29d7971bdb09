#!/bin/bash
# Re-create the distilled student (the bundled default) and its figures from nothing: DAgger
# from the scripted experts in four runs, each from the last one's weights, replaying the
# aggregates before it: A (fresh, beta 1 halved per iteration), B (beta 0, a lower learning
# rate), A's and B's aggregates relabelled by today's experts, D (on the relabelled states) and
# E (extra episodes where the student fails, expert takeovers), then the per-iteration pictures
# and the held-out evaluation beside the play-only model and the baselines.  About 4 h on a
# 2-core CPU.  A killed step continues where it stopped when the script is run again.  Run from
# the repository root after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}

# distill RUN [key=value | --init CKPT ...]: one distillation run into RUN, skipped once its
# model is exported, resumed when RUN already holds a checkpoint.
distill() {
  local run=$1 resume=
  shift
  [ -f "$run/model/actor.onnx" ] && return
  [ -f "$run/last.pt" ] && resume=--resume
  $PY -m play_lmp_training.distill --config config/training/distill.yaml $resume "$@" \
    dagger.workers="$WORKERS" output_dir="$run"
}
distill_a=runs/distill
distill_b=runs/distill_b
relabelled_a=runs/distill_relabelled2
relabelled_b=runs/distill_b_relabelled2
distill_d=runs/distill_d
distill_e=runs/distill_e
distill $distill_a dagger.iterations=10 dagger.episodes_per_task=12 dagger.chains=30 \
  train.steps_per_iteration=3000
distill $distill_b --init $distill_a/last.pt "replay_from=[$distill_a]" dagger.iterations=5 \
  dagger.episodes_per_task=12 dagger.chains=30 dagger.expert_fraction=0.0 \
  train.steps_per_iteration=4000 train.lr=3e-4 train.lr_final=3e-5 dagger.seed=1 train.seed=1
for pair in "$distill_a:$relabelled_a" "$distill_b:$relabelled_b"; do
  [ -d "${pair#*:}/aggregate" ] || \
    $PY -m play_lmp_training.distillation.relabel "${pair%%:*}" "${pair#*:}"
done
# D stops after 4 iterations; E starts from D's weights after 3 (iter_002.pt), so D's last
# iteration of training is not used, its rollouts are.
distill $distill_d --init $distill_b/last.pt "replay_from=[$relabelled_a,$relabelled_b]" \
  dagger.iterations=4 dagger.episodes_per_task=12 dagger.chains=40 dagger.expert_fraction=0.0 \
  train.steps_per_iteration=4000 train.lr=3e-4 train.lr_final=3e-5 dagger.seed=2 train.seed=2
distill $distill_e --init $distill_d/iter_002.pt \
  "replay_from=[$relabelled_a,$relabelled_b,$distill_d]" dagger.iterations=4 \
  dagger.episodes_per_task=8 dagger.failure_episodes=160 dagger.takeover_fraction=0.3 \
  dagger.chains=30 dagger.expert_fraction=0.0 train.steps_per_iteration=4000 train.lr=3e-4 \
  train.lr_final=3e-5 dagger.seed=3 train.seed=3
$PY -m play_lmp_training.distillation.report $distill_a --out out/results/distill_iterations_a.png
$PY -m play_lmp_training.distillation.report $distill_b --out out/results/distill_iterations_b.png
$PY -m play_lmp_training.distillation.report $distill_e --out out/results/distill_iterations_e.png
# The headline, on the held-out seed 1 (no distillation seed makes its scenes).
$PY -m play_lmp_training.evaluate --model $distill_b/model --model $distill_a/model \
  --model $distill_e/model --model play_lmp_ros/models/play_lmp --name distilled \
  --name distilled-first-run --name distilled-run-e --name play-lmp --protocol single --goal-source imagined --episodes 30 --seed 1 \
  --modes deterministic --baselines hold,open-gripper,untrained --workers "$WORKERS" \
  --out out/results/distill_single
$PY -m play_lmp_training.evaluate --model $distill_b/model --model $distill_e/model \
  --model play_lmp_ros/models/play_lmp --name distilled --name distilled-run-e \
  --name play-lmp --protocol chain --episodes 100 --seed 1 --baselines none \
  --modes deterministic --workers "$WORKERS" --out out/results/distill_chain
