#!/bin/bash
# Run 25: run 24 with the temporal term at weight 1.5 (for the group score), 2,000 steps
# (add --resume to continue).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run25/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run23/tclap --set "mixed_precision='no'" \
  --set model.audio_order_bias=3 --set loss.temporal_weight=1.5 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=5e-4 --set optim.warmup_steps=100 --set optim.max_steps=2000 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
