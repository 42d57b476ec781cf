#!/bin/bash
# Run 29: the mini-clap counterpart of runs 24 + 28. The same two legs from run 23's recognition-stage weights (run 22's
# recipe, 2,400 steps at lr 5e-4, then 600 steps at lr 2e-4), with no order term: temporal weight 0 and paraphrase
# weight 0 (the paraphrase term is the text-only order term: it too uses the order-switched captions). Same model
# (order bias 3, so only the losses differ), data, anchor and class-phrase terms. Add --resume to continue a leg.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
common=(--config mini --data-root ../shared/data --set model.init=pretrained --set "mixed_precision='no'"
  --set loss.temporal_weight=0 --set loss.paraphrase_weight=0 --set loss.anchor_weight=1
  --set loss.class_prompt_weight=1 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5
  --set optim.batch_size=16 --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0
  --set data.cache_mb=0 --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false)
if [ ! -f runs/run29/leg1/final/model.safetensors ]; then
  .venv/bin/python -m tclap_gen.training.train_tclap "${common[@]}" --output-dir runs/run29/leg1 \
    --set model.name=training/runs_record/run23/tclap --set model.audio_order_bias=3 \
    --set optim.lr=5e-4 --set optim.warmup_steps=100 --set optim.max_steps=2400 "$@" || exit 1
fi
.venv/bin/python -m tclap_gen.training.train_tclap "${common[@]}" --output-dir runs/run29/leg2 \
  --set model.name=runs/run29/leg1/final --set model.audio_order_bias=0 \
  --set optim.lr=2e-4 --set optim.warmup_steps=20 --set optim.max_steps=600 "$@"
