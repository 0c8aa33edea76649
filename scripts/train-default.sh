#!/usr/bin/env bash
# Reproduces the embedded default quirky model (SPEC §2 "The embedded default"), the way the paper's models were
# made: first a small model that knows the truth, then the quirk taught to three new blocks on top of it (the truthful
# 4-layer model computes its answer in its last block, so teaching the quirk there erased the truth everywhere; new
# blocks that start as the identity leave all four truthful blocks as they were).
# Why three blocks, lr 5e-4, 1,600 steps and these seeds: models/default/provenance/README.md.
#   usage: bash scripts/train-default.sh [WORK_DIR]      (≈ 20 min on 2 cores; resumable: rerun to continue)
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-work/default}
Q="node bin/quirky.js"

# 2-digit addition; 4,000 base examples per crosstab cell
$Q datasets create addition --out "$WORK/data" --base-examples 4000 --max-digits 2 --n-validation 2000 --n-test 2000

# stage 1: from scratch on truthful labels (both names labelled by the truth), answer loss + next-token loss
$Q train --from-scratch models/tiny-neox.json --dataset "$WORK/data/addition" --out "$WORK/stage1" --truthful \
  --method first --steps 900 --batch-size 128 --accum-steps 1 --lr 1e-3 --decay cosine --warmup 0.05 \
  --weight-decay 0.1 --aux-weight 1 --seed 1 --max-eval 500

# stage 2: the quirk (Bob's labels in Bob's prompts), taught to three blocks appended on top
$Q train --model "$WORK/stage1" --dataset "$WORK/data/addition" --out "$WORK/quirky" --mode full --add-blocks 3 \
  --method first --steps 1600 --batch-size 128 --accum-steps 1 --lr 5e-4 --decay cosine --warmup 0.05 \
  --weight-decay 0.1 --seed 6 --init-seed 11 --max-eval 500
echo "default model: $WORK/quirky"
