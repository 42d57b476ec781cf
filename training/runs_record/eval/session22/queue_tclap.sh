#!/bin/bash
# Session 22: a built-in's T-CLAP replaced by one with the presence stage and its text tower frozen (mini: run 46,
# mini-clap: run 48), so its text embeddings and generations are unchanged. What depends on the T-CLAP alone, on the
# installed built-in: the scorer calibration (the README's command, --write), the scorer validation (val.sh), the
# miniature reproduction (T-Classify and zero-shot on both held-out lists, probe on Kitchen20) and order transfer on
# every family and mixer (mini and mini-clap). About 35 minutes. Usage: queue_tclap.sh NAME (mini or mini-clap)
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
N=$1; O=training/runs_record/eval/session22; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/calibrate_scorer.py --model tclap_gen/weights/$N --clips $K $U --n 300 --write > $O/calibration_$N.log 2>&1
bash training/runs_record/eval/session13_scorer/val.sh tclap_gen/weights/$N $O/$N
for l in kitchen20 uiowa; do
  .venv/bin/tclap-gen eval tclassify --model $N --clips ../shared/data/$l/metadata.csv --split heldout --pairs 200 --json > $O/tclassify_${N}_$l.json 2>/dev/null
  .venv/bin/tclap-gen eval zeroshot --model $N --clips ../shared/data/$l/metadata.csv --split heldout --json > $O/zeroshot_${N}_$l.json 2>/dev/null
done
.venv/bin/tclap-gen eval probe --model $N --clips $K --split heldout --json > $O/probe_${N}_kitchen20.json 2>/dev/null
.venv/bin/python scripts/order_transfer.py --models mini mini-clap --clips $K $U --pairs 200 --canonicalize > $O/order_transfer.md 2>/dev/null
echo done > $O/queue_tclap_$N.DONE
