#!/bin/bash
# Issue 15 (scorer presence): once run RUN's T-CLAP is final, its window margins on training and held-out mixes
# (session14_scorer/presence_margins.py) and the calibration schemes on them (presence_calib.py), to compare with
# run 28's presence_calib_run28.txt at the same training false presence. Usage: presence_run.sh RUN (e.g. run43)
cd "$(dirname "$0")/../../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
run=$1
while [ ! -f runs/$run/mini-tclap/final/model.safetensors ] || pgrep -f "output-dir runs/$run/" > /dev/null; do sleep 60; done
.venv/bin/python training/runs_record/eval/session14_scorer/presence_margins.py runs/$run/mini-tclap/final runs/s21/margins_$run.npz
.venv/bin/python training/runs_record/eval/session14_scorer/presence_calib.py runs/s21/margins_$run.npz \
  > training/runs_record/eval/session21/presence_calib_$run.txt
