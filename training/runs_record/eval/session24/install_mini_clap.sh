#!/bin/bash
# Session 24: install run 51's float16 T-CLAP (runs/s24/run51-tclap, judged by candidate.sh run51) as mini-clap's, as
# session 23 installed run 50 for mini: its model.safetensors copied into the built-in, calibrated there by the
# README's command (--write), kept as training/runs_record/run51/tclap. Its text tower equals run 48's tensor for
# tensor (frozen), so mini-clap's UNet conditions and generations do not change. About 5 minutes.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
M=runs/s24/run51-tclap; O=training/runs_record/eval/session24
K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
cp $M/model.safetensors tclap_gen/weights/mini-clap/tclap/model.safetensors
.venv/bin/python scripts/calibrate_scorer.py --model tclap_gen/weights/mini-clap --clips $K $U --n 300 --write \
  > $O/calibration_mini-clap.log 2>&1
rm -rf training/runs_record/run51/tclap && cp -r $M training/runs_record/run51/tclap
# The candidate's tclap_config.json records run 51's own recipe (the copied weights alone left run 48's there); its
# calibration is the one written above, to the last digit (calibration_mini-clap.log against run51.calibration.log).
# mini's got the same fix from run 50's record (its installed file still described run 46's recipe).
cp training/runs_record/run51/tclap/tclap_config.json tclap_gen/weights/mini-clap/tclap/tclap_config.json
cp training/runs_record/run50/tclap/tclap_config.json tclap_gen/weights/mini/tclap/tclap_config.json
