#!/bin/bash
# Session 19, one thread, after run 41's training: judge it as runs 38-40 were (session18/judge.sh), then the
# development draw of class phrases (other seeds than the table's) that session 18 ran for run 40.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
while [ ! -f runs/run41/gen-mini/unet/done.json ]; do sleep 30; done
bash training/runs_record/session18/judge.sh run41 mini
.venv/bin/python training/runs_record/eval/session17/gap_shift_dev.py runs/run41/gen-mini/pipeline \
  runs/run41/gen-mini/unet/pool.safetensors 0 > training/runs_record/eval/session19/dev_class_phrases_mini_run41.jsonl 2>runs/run41-dev.err
echo done > runs/run41-queue.DONE
