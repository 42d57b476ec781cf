#!/bin/bash
# Run 51: the mini-clap counterpart of run 50. Run 48 (mini-clap's installed plain CLAP, training/runs_record/run48/
# tclap) trained on for 1,200 steps of its recipe (window term 0.5, text tower frozen, no order term) on new batches
# (seed 1) at lr 1e-4 with the noise floor under half the examples, as run 50 did from run 46, so that the baseline
# gets the same presence training as mini. Its text embeddings stay run 29's, so mini-clap's UNet needs no new leg.
# Add --resume to continue (session 23 started it near its end; the next session resumes it).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run51/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run48/tclap --set "mixed_precision='no'" \
  --set seed=1 --set model.audio_order_bias=0 --set model.freeze_text=true --set loss.temporal_weight=0 \
  --set loss.paraphrase_weight=0 --set loss.anchor_weight=1 --set loss.class_prompt_weight=1 \
  --set loss.window_class_weight=0.5 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=1e-4 --set optim.warmup_steps=20 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set data.noise_floor_probability=0.5 --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
