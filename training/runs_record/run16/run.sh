#!/bin/bash
# Run 16: run 14's recipe + same-events positives + SpecAugment.
cd "$(dirname "$0")/../../.."  # the repository root; runs/run2 holds run 2's pipelines (README)
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run16/mini-tclap \
  --set model.init=pretrained --set model.name=runs/run2/tclap_gen/weights/mini-clap --set "mixed_precision='no'" \
  --set model.audio_order_bias=3 --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set loss.same_events_positive=true --set data.freq_masks=2 --set data.freq_mask_width=4 \
  --set data.time_masks=2 --set data.time_mask_width=25 \
  --set optim.batch_size=16 --set optim.lr=1e-3 --set optim.warmup_steps=50 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=1 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
