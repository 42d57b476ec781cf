#!/bin/bash
# Session 24: the installed mini judged by its fidelity measurement with the 2-event prompts also generated as the
# best of 4 candidates re-ranked by the pipeline's temporal scorer (scripts/fidelity.py --candidates 4, new this
# session; candidate 0 of each prompt is the plain clip, so the plain row repeats session 18's seeds). The judge is
# the committed classifier; the T-CLAP that re-ranks is run 50's, which never saw the judge. About 50 minutes on one
# thread. Waits for run 51's training to end (the cores).
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session24; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
while [ ! -f runs/run51/mini-tclap/final/model.safetensors ]; do sleep 60; done
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini --events 2 --candidates 4 \
  --json-out $O/fidelity_best_of_4_mini.json > $O/fidelity_best_of_4_mini.md 2> runs/s24/fidelity_best_of.err
echo done > runs/s24/fidelity_best_of.DONE
