#!/bin/bash
# Re-create the README's play-learning results from nothing: play data, the subgoal models,
# the play-only model (play_lmp) with its subgoal graphs, and every evaluation table, in order.
# About 2 h on a 2-core CPU (the Play-LMP actor itself comes from the bundled play_lmp model; its own
# training commands are in the README).  Run from the repository root after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}

[ -d data/play2/validation ] || \
  $PY -m play_lmp_training.collect --out data/play2 --frames 300000 --workers "$WORKERS" --seed 0
# The bundled proposer (contact subgoals, the configuration's recipe) and the one that predicts
# the whole state 32 steps ahead (the earlier recipe, for comparison).
[ -f runs/subgoal/summary.json ] || \
  $PY -m play_lmp_training.subgoal.train --config config/training/subgoal.yaml output_dir=runs/subgoal
[ -f runs/subgoal_horizon/summary.json ] || \
  $PY -m play_lmp_training.subgoal.train --config config/training/subgoal.yaml \
    output_dir=runs/subgoal_horizon model.subgoal_part=full train.subgoal_target=horizon \
    train.steps=20000

# The play_lmp actor and planner without subgoals (direct), and with each proposer.
mkdir -p runs/export/direct && cp play_lmp_ros/models/play_lmp/{actor,planner}.onnx runs/export/direct/
rm -rf runs/export/contact runs/export/horizon
cp -r runs/export/direct runs/export/contact && cp -r runs/export/direct runs/export/horizon
$PY -m play_lmp_training.subgoal.export --checkpoint runs/subgoal/last.pt --model-dir runs/export/contact \
  --data data/play2 --plan-mode sample --contact-radius 0.03
$PY -m play_lmp_training.subgoal.export --checkpoint runs/subgoal_horizon/last.pt \
  --model-dir runs/export/horizon --data data/play2 --plan-mode collocation
# Plan modes, on the tuning seed (100).
for mode in sample best_of_n; do
  $PY -m play_lmp_training.evaluate --model runs/export/contact --name "contact-$mode" --plan-mode "$mode" \
    --protocol single --goal-source imagined --episodes 10 --seed 100 --workers "$WORKERS" \
    --modes deterministic,sampled --baselines none --out "out/results/plan_modes_contact_$mode"
done
# The headline, on a held-out seed (1): imagined goals, 30 per task, beside the baselines.
$PY -m play_lmp_training.evaluate --model runs/export/direct --model runs/export/horizon \
  --model runs/export/contact --name direct --name horizon-subgoals --name contact-subgoals \
  --protocol single --goal-source imagined --episodes 30 --seed 1 \
  --modes deterministic,sampled --baselines hold,open-gripper,untrained \
  --workers "$WORKERS" --out out/results/imagined
$PY -m play_lmp_training.evaluate --model runs/export/direct --model runs/export/contact \
  --name direct --name contact-subgoals --protocol single --goal-source validation \
  --data data/play2 --episodes 30 --seed 1 --modes deterministic,sampled --workers "$WORKERS" \
  --out out/results/validation
$PY -m play_lmp_training.evaluate --model runs/export/direct --model runs/export/contact \
  --name direct --name contact-subgoals --protocol chain --episodes 100 --seed 1 \
  --baselines none --modes deterministic,sampled --workers "$WORKERS" --out out/results/chain
# What perfect subgoals would give this actor: the skill's own states 32 steps ahead (whole,
# robot part only, scene part only) and the skill's state where the interaction starts.
for part in full robot scene contact; do
  $PY -m play_lmp_training.oracle_subgoals --model runs/export/direct --episodes 10 --seed 100 \
    --lookahead 32 --part "$part" --workers "$WORKERS" > "out/results/oracle_subgoals_$part.json"
done
$PY -m play_lmp_training.bench_subgoals --model play_lmp_ros/models/play_lmp --data data/play2 \
  --pairs 300 --deterministic > out/results/replan_latency.json
