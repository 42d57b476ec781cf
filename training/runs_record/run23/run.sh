#!/bin/bash
# Run 23: run 21 continued: 800 more steps of the recognition stage (lr 3e-4, warmup 20, cosine).
# same-events positives, SpecAugment. Judged by zero-shot and the linear probe on held-out Kitchen20.
cd "$(dirname "$0")/../../.."  # the repository root; runs/run2 holds run 2's pipelines (README)
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run23/mini-tclap \
  --set model.init=pretrained --set model.name=runs/run21/mini-tclap/final --set "mixed_precision='no'" \
  --set loss.temporal_weight=0 --set data.mixture.0.weight=0.7 --set data.mixture.1.weight=0.3 \
  --set loss.same_events_positive=true --set loss.class_prompt_weight=1 --set data.freq_masks=2 --set data.freq_mask_width=4 \
  --set data.time_masks=2 --set data.time_mask_width=25 \
  --set optim.batch_size=16 --set optim.lr=3e-4 --set optim.warmup_steps=20 --set optim.max_steps=800 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=1 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
