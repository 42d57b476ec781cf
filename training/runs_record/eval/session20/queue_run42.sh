#!/bin/bash
# Session 20, one thread, after run 42's training: the development draw of plain "A then B" prompts (two_event_dev.py
# at guidance 2.5, as run 40 was measured), then session18/judge.sh as runs 38-41 were judged, then the development
# draw of class phrases.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
while [ ! -f runs/run42/gen-mini/unet/done.json ]; do sleep 30; done
bash training/runs_record/run42/run.sh --stage assemble --fp16-weights > runs/run42-assemble.log 2>&1
.venv/bin/python training/runs_record/eval/session20/two_event_dev.py runs/run42/gen-mini/pipeline 2.5 \
  > training/runs_record/eval/session20/two_event_dev_run42.jsonl 2>runs/run42-two-event.err
bash training/runs_record/session18/judge.sh run42 mini
.venv/bin/python training/runs_record/eval/session17/gap_shift_dev.py runs/run42/gen-mini/pipeline \
  runs/run42/gen-mini/unet/pool.safetensors 0 > training/runs_record/eval/session20/dev_class_phrases_mini_run42.jsonl 2>runs/run42-dev.err
echo done > runs/run42-queue.DONE
