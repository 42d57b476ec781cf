#!/bin/bash
# Run 43: run 28's T-CLAP (training/runs_record/run28/tclap) trained on for 1,200 steps of run 28's recipe with the
# window term (loss.window_class_weight): one loud 1 s window of every example, repeat-padded as the scorer's windows
# are, must pick the phrases of the events sounding in it among every training class's. The text tower is frozen, so
# the text embeddings the UNets learned on stay as they are. Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run43/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run28/tclap --set "mixed_precision='no'" \
  --set model.audio_order_bias=0 --set model.freeze_text=true --set loss.temporal_weight=1 --set loss.paraphrase_weight=1 \
  --set loss.anchor_weight=1 --set loss.class_prompt_weight=1 --set loss.window_class_weight=1 \
  --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
