#!/bin/bash
# Run 45: run 43 went on: its final T-CLAP trained for 1,200 more steps of the same recipe (window term, text tower
# frozen; a new cosine schedule from lr 2e-4, seed 1 for other draws), to see whether presence keeps rising with
# steps (run 43's window loss: 2.33 over its first 50 steps, 1.44 over its last 300). Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run45/mini-tclap \
  --set seed=1 --set model.init=pretrained --set model.name=runs/run43/mini-tclap/final --set "mixed_precision='no'" \
  --set model.audio_order_bias=0 --set model.freeze_text=true --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 \
  --set loss.anchor_weight=1 --set loss.class_prompt_weight=1 --set loss.window_class_weight=1 \
  --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
