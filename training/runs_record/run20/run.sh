#!/bin/bash
# Run 20: the order stage from run 19 (recognition stage): run 14's recipe (order bias 3, temporal 1, paraphrase 1,
# anchor 1, singles and mix-ups at 0.5 each, lr 1e-3) plus the class-phrase term, one cosine schedule of 2,000 steps
# resumed in legs (add --resume to continue).
cd "$(dirname "$0")/../../.."  # the repository root; runs/run2 holds run 2's pipelines (README)
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run20/mini-tclap \
  --set model.init=pretrained --set model.name=runs/run19/mini-tclap/final --set "mixed_precision='no'" \
  --set model.audio_order_bias=3 --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=1e-3 --set optim.warmup_steps=50 --set optim.max_steps=2000 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=1 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
