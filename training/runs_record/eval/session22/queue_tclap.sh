#!/bin/bash
# Session 22: mini's T-CLAP replaced by run 46's (text tower frozen, so its text embeddings and mini's generations are
# unchanged). What depends on the T-CLAP alone, on the installed mini: the scorer calibration (the README's command,
# --write), the scorer validation (val.sh), the miniature reproduction (T-Classify and zero-shot on both held-out
# lists, probe on Kitchen20) and order transfer on every family and mixer (mini and mini-clap). About 35 minutes.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session22; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/calibrate_scorer.py --model tclap_gen/weights/mini --clips $K $U --n 300 --write > $O/calibration_mini.log 2>&1
bash training/runs_record/eval/session13_scorer/val.sh tclap_gen/weights/mini $O/mini
for l in kitchen20 uiowa; do
  .venv/bin/tclap-gen eval tclassify --model mini --clips ../shared/data/$l/metadata.csv --split heldout --pairs 200 --json > $O/tclassify_mini_$l.json 2>/dev/null
  .venv/bin/tclap-gen eval zeroshot --model mini --clips ../shared/data/$l/metadata.csv --split heldout --json > $O/zeroshot_mini_$l.json 2>/dev/null
done
.venv/bin/tclap-gen eval probe --model mini --clips $K --split heldout --json > $O/probe_mini_kitchen20.json 2>/dev/null
.venv/bin/python scripts/order_transfer.py --models mini mini-clap --clips $K $U --pairs 200 --canonicalize > $O/order_transfer.md 2>/dev/null
echo done > $O/queue_tclap.DONE
