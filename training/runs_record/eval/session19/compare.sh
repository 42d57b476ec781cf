#!/bin/bash
# Session 19, one thread: the scorer's comparison of generated clips (100 two-event prompts, with and without
# layout="auto") on the pair installed in session 18 (mini: run 28's T-CLAP + run 40's UNet; mini-clap: run 29's +
# run 33's; both run 37's decoder and run 5's vocoder). Same command as eval/session17/queue_a.sh's.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session19; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/compare_generation.py --clips $K $U --n 100 --layout > $O/compare_generation.md 2>$O/compare_generation.err
