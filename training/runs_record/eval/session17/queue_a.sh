#!/bin/bash
# The pair installed in session 17 (mini: run 28's T-CLAP + run 32's UNet; mini-clap: run 29's + run 33's; both run 37's
# decoder), lane A (one thread): mini's fidelity with 2- and 3-event prompts, with and without layout="auto" (same
# prompts and seeds as session14_shipped/fidelity.md and session16/candidate_fidelity.md), then the scorer's comparison
# of generated clips with each pipeline also under layout="auto".
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session17; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini --events 2 3 --layout --json-out $O/fidelity_mini.json > $O/fidelity_mini.md 2>$O/fidelity_mini.err
.venv/bin/python scripts/compare_generation.py --clips $K $U --n 100 --layout > $O/compare_generation.md 2>$O/compare_generation.err
echo done > $O/queue_a.DONE
