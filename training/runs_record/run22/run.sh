#!/bin/bash
# Run 22: the order stage from run 19 (recognition stage): run 14's recipe (order bias 3, temporal 1, paraphrase 1,
# anchor 1, singles and mix-ups at 0.5 each) plus the class-phrase term, at lr 5e-4 with warmup 100 (run 20, the same
# at 1e-3, collapsed), one cosine schedule of 1,600 steps (add --resume to continue).
cd "$(dirname "$0")/../../.."  # the repository root; runs/run2 holds run 2's pipelines (README)
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run22/mini-tclap \
  --set model.init=pretrained --set model.name=runs/run19/mini-tclap/final --set "mixed_precision='no'" \
  --set model.audio_order_bias=3 --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=5e-4 --set optim.warmup_steps=100 --set optim.max_steps=1600 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=1 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
