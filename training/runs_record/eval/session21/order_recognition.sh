#!/bin/bash
# Issue 15: does a window-trained T-CLAP keep run 28's order and recognition? The README's commands for run 28
# ("Recognition first, then order"), on run RUN's final T-CLAP. Usage: order_recognition.sh RUN [RECORDS] (e.g. run43; records default eval/session21)
cd "$(dirname "$0")/../../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
run=$1 out=${2:-training/runs_record/eval/session21}
.venv/bin/python scripts/order_transfer.py --models runs/$run/mini-tclap/final --clips ../shared/data/kitchen20/metadata.csv \
  ../shared/data/uiowa/metadata.csv --pairs 200 --canonicalize --summary > $out/order_transfer_$run.md
for set in kitchen20 uiowa; do
  .venv/bin/tclap-gen eval zeroshot --model runs/$run/mini-tclap/final --clips ../shared/data/$set/metadata.csv \
    --split heldout --json > $out/zeroshot_${set}_$run.json
done
