#!/bin/bash
# Session 23: window levelling in the scorer (levelled_margins.py) on the installed mini T-CLAP, boost cap 40 dB,
# compared by presence_calib.py with run 46's unlevelled margins (eval/session21/presence_calib_run46.txt).
# Result (presence_calib_level40.txt): no gain - levels 0.64 / 0.114 at training false presence 0.08 (unlevelled
# 0.67 / 0.113), the other mixers within 0.02. The 12 dB cap was stopped unrun.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session23
for cap in 40; do
  .venv/bin/python $O/levelled_margins.py mini runs/s23/margins_level$cap.npz $cap > runs/s23/level$cap.log 2>&1
  .venv/bin/python training/runs_record/eval/session14_scorer/presence_calib.py runs/s23/margins_level$cap.npz > $O/presence_calib_level$cap.txt
done
echo done > runs/s23/levelled.DONE
