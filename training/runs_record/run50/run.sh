#!/bin/bash
# Run 50: run 46 (mini's installed T-CLAP) trained on for 1,200 more steps of its recipe (window term 0.5, text tower
# frozen, new data seed 1, lr 1e-4) with a noise floor under half the training examples (data.noise_floor_*, new
# this session: coloured noise, slope 0-2, 30-60 dB under the example's RMS). Why: on the levels mixer the scorer
# finds 0.64 of the events with the mixer's faint white noise floor (40 dB under the louder event) and 0.77 without
# it (eval/session23/levels_noise.py): the audio tower was trained on digitally silent backgrounds only. The
# augmentation covers the levels mixer's kind of floor (white noise about 38 dB under the mix), so that mixer is no
# longer held out for its noise floor (its 6-12 dB level differences still are; training gains are 0-6 dB).
# Run 49 (the same without the noise, to attribute the gain) was stopped at step 110 for the cores. The text tower
# stays run 28's. Add --resume to continue.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python -m tclap_gen.training.train_tclap --config mini --data-root ../shared/data --output-dir runs/run50/mini-tclap \
  --set model.init=pretrained --set model.name=training/runs_record/run46/tclap --set "mixed_precision='no'" \
  --set seed=1 --set model.audio_order_bias=0 --set model.freeze_text=true --set loss.temporal_weight=1 \
  --set loss.paraphrase_weight=1 --set loss.anchor_weight=1 --set loss.class_prompt_weight=1 \
  --set loss.window_class_weight=0.5 --set data.mixture.0.weight=0.5 --set data.mixture.1.weight=0.5 \
  --set optim.batch_size=16 --set optim.lr=1e-4 --set optim.warmup_steps=20 --set optim.max_steps=1200 \
  --set optim.time_budget_s=20000 --set checkpoint_every=100 --set data.num_workers=0 --set data.cache_mb=0 \
  --set data.noise_floor_probability=0.5 --set eval.at_start=false --set eval.every_steps=0 --set eval.at_end=false "$@"
