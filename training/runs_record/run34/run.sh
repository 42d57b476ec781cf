#!/bin/bash
# Run 34: run 28's T-CLAP (training/runs_record/run28/tclap) trained on for 600 steps of run 28's recipe with the single
# clips cropped to a random 1-2.5 s (data.mixture.0.crop_s), so that the audio tower learns to recognise the short
# stretches of sound the scorer's 1 s windows hold. Order bias 0: the start already has it. Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run34/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run28/tclap --set "mixed_precision='no'" \
  --set model.audio_order_bias=0 --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set "data.mixture.0.crop_s=[1.0, 2.5]" \
  --set optim.batch_size=16 --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=600 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
