#!/bin/bash
# Session 23: the last line of session 22's queue_generation.sh, which session 22 stopped for time: the scorer's
# comparison of generated clips (100 prompts, with and without layout), judged by the installed run 46 / run 48
# T-CLAPs. About 95 minutes on one thread.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session23; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
mkdir -p runs/s23
.venv/bin/python scripts/compare_generation.py --clips $K $U --n 100 --layout > $O/compare_generation.md.tmp \
  2> runs/s23/compare_generation.err && mv $O/compare_generation.md.tmp $O/compare_generation.md
echo done > runs/s23/compare_generation.DONE
