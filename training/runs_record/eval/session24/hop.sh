#!/bin/bash
# Session 24: the scorer's presence with overlapping windows (1 s windows, hop 0.5 s) on the installed mini T-CLAP
# (run 50): class margins on training and held-out mixes (session14_scorer/presence_margins.py) and the calibration
# schemes on them (presence_calib.py), to compare with hop 1 s (eval/session21/presence_calib_run46.txt for run 46;
# the hop-1 row of run 50 is printed beside it by the same script). Session 23's hop.sh prepared this, not run.
# Why: on levels and short, events under 2 s are found less often; with side-by-side windows a short segment may
# have no window of its own. About 40 minutes on one thread per hop. NOT RUN in session 24 (the cores went to runs
# 51 and 52 and their judging).
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session24; P=training/runs_record/eval/session14_scorer
for hop in 1.0 0.5; do
  .venv/bin/python $P/presence_margins.py mini runs/s24/margins_hop$hop.npz "hop_s=$hop" > runs/s24/hop$hop.log 2>&1
  .venv/bin/python $P/presence_calib.py runs/s24/margins_hop$hop.npz > $O/presence_calib_hop$hop.txt
done
echo done > runs/s24/hop.DONE
