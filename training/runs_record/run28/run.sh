#!/bin/bash
# Run 28: run 24 continued for 600 steps of its recipe at lr 2e-4 (warmup 20, cosine), for the group score
# (run 24 ended at 0.697 on held-out families, canonicalised). Order bias 0: run 24 already has it, and it is added in
# place on top of whatever the start holds. Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run28/mini-tclap \
  --set model.init=pretrained --set model.name=runs/run24/mini-tclap/final --set "mixed_precision='no'" \
  --set model.audio_order_bias=0 --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 \
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=600 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
