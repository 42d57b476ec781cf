#!/usr/bin/env bash
# The paper's ablations at mini scale: which order negatives the temporal loss uses (the caption with its events'
# order switched, the same clips mixed in another order, or both) and how much it weighs (0, 0.25, 0.5, 1).
#
# Every variant fine-tunes the SAME plain CLAP (run 2's mini-clap: contrastive loss only, no order skill, group
# score 0 on held-out mixes) with run 3's recipe (audio order bias 3, paraphrase term 1, batch 16, lr 1e-3) for
# STEPS steps; only the temporal loss differs. Then every variant is judged on held-out recordings, mixers and
# phrasing families (scripts/order_transfer.py) and by zero-shot on Kitchen20's held-out clips.
#
#   git archive 49a3a5f tclap_gen/weights/mini-clap | tar -x -C runs/run2     # run 2's mini-clap
#   DATA=../shared/data OUT=runs/ablations bash training/recipes/ablations.sh
#
# Interrupted? Run it again: finished variants are skipped, an unfinished one resumes from its checkpoint.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-runs/ablations}
START=${START:-runs/run2/tclap_gen/weights/mini-clap}
STEPS=${STEPS:-300}
PAIRS=${PAIRS:-200}
PYTHON=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# name  temporal_weight  order_negatives
VARIANTS="
weight-0 0 both
weight-0.25 0.25 both
weight-0.5 0.5 both
weight-1 1 both
captions-only 0.5 captions
audio-only 0.5 audio
"

while read -r name weight negatives; do
    [ -n "$name" ] || continue
    run="$OUT/$name"
    [ -f "$run/final/tclap_config.json" ] && { echo "$name: done"; continue; }
    resume=()
    [ -d "$run/checkpoints" ] && resume=(--resume)
    echo "$name: temporal weight $weight, negatives $negatives, $STEPS steps"
    "$PYTHON" -m tclap_gen.training.train_tclap --config mini --data-root "$DATA" --output-dir "$run" "${resume[@]}" \
        --set model.init=pretrained --set model.name="$START" --set model.audio_order_bias=3 \
        --set loss.temporal_weight="$weight" --set loss.order_negatives="$negatives" --set loss.paraphrase_weight=1 \
        --set optim.batch_size=16 --set optim.lr=1e-3 --set optim.warmup_steps=50 --set optim.max_steps="$STEPS" \
        --set "mixed_precision='no'" --set data.num_workers=1 --set data.cache_mb=0 --set checkpoint_every=50 \
        --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false
done <<< "$VARIANTS"

# the common start is judged beside the six
names=(start) models=("$START")
while read -r name _; do [ -n "$name" ] && names+=("$name") && models+=("$OUT/$name/final"); done <<< "$VARIANTS"
"$PYTHON" scripts/order_transfer.py --models "${models[@]}" --clips "$DATA/kitchen20/metadata.csv" \
    "$DATA/uiowa/metadata.csv" --pairs "$PAIRS" --canonicalize --summary > "$OUT/order_transfer.md"
for i in "${!names[@]}"; do
    mkdir -p "$OUT/${names[$i]}"
    "$PYTHON" -m tclap_gen.cli eval zeroshot --model "${models[$i]}" --clips "$DATA/kitchen20/metadata.csv" \
        --split heldout --json > "$OUT/${names[$i]}/zeroshot_kitchen20.json"
done
