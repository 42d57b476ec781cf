#!/bin/bash
# Run 48: the mini-clap counterpart of run 46. Run 29's plain CLAP (training/runs_record/run29/tclap) trained on for
# 1,200 steps with the window term at weight 0.5 and the text tower frozen, as run 46 did from run 28, with no order
# term (temporal and paraphrase weight 0, as run 29). Its text embeddings stay run 29's, so mini-clap's UNet (run 33)
# needs no new leg; the scorer's baseline gets the same presence training as mini's. Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run48/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run29/tclap --set "mixed_precision='no'" \
  --set model.audio_order_bias=0 --set model.freeze_text=true --set loss.temporal_weight=0 --set loss.paraphrase_weight=0 \
  --set loss.anchor_weight=1 --set loss.class_prompt_weight=1 --set loss.window_class_weight=0.5 \
  --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
