#!/bin/bash
# Session 21: a copy of run RUN's final T-CLAP calibrated as the shipped ones are (scripts/calibrate_scorer.py, 300
# training mixes, --write into the copy), then the scorer's validation on held-out mixes (session13_scorer/val.sh:
# project mixer n=300 and the five held-out mixers n=100) at its defaults. About 30 minutes on one thread.
# Usage: calibrate_validate.sh RUN [RECORDS]   (-> runs/s21/RUN-tclap, records RECORDS/RUN.*, default eval/session21)
cd "$(dirname "$0")/../../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; M=runs/s21/$RUN-tclap; O=${2:-training/runs_record/eval/session21}
rm -rf $M && cp -r runs/$RUN/mini-tclap/final $M
.venv/bin/python scripts/calibrate_scorer.py --model $M --clips ../shared/data/kitchen20/metadata.csv \
  ../shared/data/uiowa/metadata.csv --n 300 --write > $O/$RUN.calibration.log 2>&1
bash training/runs_record/eval/session13_scorer/val.sh $M $O/$RUN
