#!/bin/bash
# Session 17's installed pair, lane B (one thread): condition use, mini-clap's fidelity (as lane A's for mini), mini on
# 100 two-event prompts with and without layout (the precision issue 16's bar needs), then the gallery.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session17; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/condition_use.py --pipelines mini mini-clap --clips $K $U > $O/condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini-clap --events 2 3 --layout --json-out $O/fidelity_mini-clap.json > $O/fidelity_mini-clap.md 2>$O/fidelity_mini-clap.err
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini --pairs 100 --events 2 --layout --json-out $O/fidelity_mini_100.json > $O/fidelity_mini_100.md 2>$O/fidelity_mini_100.err
find samples/gallery -type f ! -name README.md -delete
.venv/bin/tclap-gen batch samples/prompts/gallery.txt --out samples/gallery --candidates 4 --rerank temporal --seconds 5 --seed 0 \
  --layout auto > $O/gallery.log 2>&1
echo done > $O/queue_b.DONE
