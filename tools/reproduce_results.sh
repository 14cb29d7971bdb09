#!/bin/bash
# Re-create the README's learning results from nothing: play data, the subgoal models, the
# bundled model directory with its subgoal graphs, and every evaluation table, in that order.
# About 2 h 30 min on a 2-core CPU (the Play-LMP actor itself comes from the bundled model; its
# own training commands are in the README).  Run from the repository root after `make build`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORKERS=${WORKERS:-2}

[ -d data/play2/validation ] || \
  $PY -m training.collect --out data/play2 --frames 300000 --workers "$WORKERS" --seed 0
# The bundled proposer (uniform hindsight goals) and the event-aligned variant that measured worse.
[ -f runs/subgoal/summary.json ] || \
  $PY -m training.subgoal.train --config config/training/subgoal.yaml \
    output_dir=runs/subgoal train.num_threads=1
[ -f runs/subgoal_ev/summary.json ] || \
  $PY -m training.subgoal.train --config config/training/subgoal.yaml \
    output_dir=runs/subgoal_ev train.num_threads=1 train.event_goal_fraction=0.8

# The bundled actor and planner without subgoals (direct), and with each proposer once per mode.
mkdir -p runs/export/direct && cp play_lmp_ros/models/default/{actor,planner}.onnx runs/export/direct/
for run in subgoal subgoal_ev; do
  for mode in sample best_of_n collocation; do
    rm -rf "runs/export/${run}_$mode" && cp -r runs/export/direct "runs/export/${run}_$mode"
    $PY -m training.subgoal.export --checkpoint "runs/$run/last.pt" \
      --model-dir "runs/export/${run}_$mode" --data data/play2 --plan-mode "$mode"
  done
  # Plan modes, on the tuning seed (100).
  $PY -m training.evaluate --model runs/export/direct --model "runs/export/${run}_sample" \
    --model "runs/export/${run}_best_of_n" --model "runs/export/${run}_collocation" \
    --name direct --name sample --name best_of_n --name collocation --protocol single \
    --goal-source imagined --episodes 10 --seed 100 --workers "$WORKERS" \
    --out "out/results/plan_modes_$run"
done
# The headline, on a held-out seed (1): imagined goals, 30 per task, beside the baselines.
$PY -m training.evaluate --model runs/export/direct --model runs/export/subgoal_collocation \
  --name direct --name subgoals --protocol single --goal-source imagined --episodes 30 \
  --seed 1 --modes deterministic,sampled --baselines hold,open-gripper,untrained \
  --workers "$WORKERS" --out out/results/imagined
$PY -m training.evaluate --model runs/export/direct --model runs/export/subgoal_collocation \
  --name direct --name subgoals --protocol single --goal-source validation --data data/play2 \
  --episodes 30 --seed 1 --modes deterministic,sampled --workers "$WORKERS" \
  --out out/results/validation
$PY -m training.evaluate --model runs/export/direct --model runs/export/subgoal_collocation \
  --name direct --name subgoals --protocol chain --episodes 100 --seed 1 --baselines none \
  --modes deterministic,sampled \
  --workers "$WORKERS" --out out/results/chain
# What perfect subgoals would give this actor (the skill's own states 32 steps ahead).
$PY -m training.oracle_subgoals --model runs/export/direct --episodes 10 --seed 100 \
  --lookahead 32 --workers "$WORKERS" > out/results/oracle_subgoals.json
$PY -m training.bench_subgoals --model play_lmp_ros/models/default --data data/play2 \
  --pairs 300 --deterministic > out/results/replan_latency.json
