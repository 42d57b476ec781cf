#!/bin/bash
# The shipped pair (session 14: mini = run 28's T-CLAP + run 30's UNet, mini-clap = run 29's + run 31's), judged:
# the miniature reproduction (T-Classify and zero-shot on both held-out lists, probe on Kitchen20), order transfer
# on every family and mixer, the scorer of mini-clap on the six mixer sets, and the gallery.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session14_shipped; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
for m in mini mini-clap; do
  for l in kitchen20 uiowa; do
    .venv/bin/tclap-gen eval tclassify --model $m --clips ../shared/data/$l/metadata.csv --split heldout --pairs 200 --json > $O/tclassify_${m}_$l.json 2>/dev/null
    .venv/bin/tclap-gen eval zeroshot --model $m --clips ../shared/data/$l/metadata.csv --split heldout --json > $O/zeroshot_${m}_$l.json 2>/dev/null
  done
  .venv/bin/tclap-gen eval probe --model $m --clips $K --split heldout --json > $O/probe_${m}_kitchen20.json 2>/dev/null
done
.venv/bin/python scripts/order_transfer.py --models mini mini-clap --clips $K $U --pairs 200 --canonicalize > $O/order_transfer.md 2>/dev/null
bash training/runs_record/eval/session13_scorer/val.sh training/runs_record/run29/tclap training/runs_record/eval/session14_scorer/run29
find samples/gallery -type f ! -name README.md -delete
.venv/bin/tclap-gen batch samples/prompts/gallery.txt --out samples/gallery --candidates 4 --rerank temporal --seconds 5 --seed 0 \
  --layout auto > $O/gallery.log 2>&1
echo done > $O/queue_a.DONE
