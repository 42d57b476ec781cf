#!/usr/bin/env bash
# Run 42 (1 thread): run 40's UNet (mini's, installed in session 18: both events of a plain 2-event prompt found in
# 0.40 of clips against issue 14's 0.5; run 41's 1,000 more steps on the same pool mix did not help) goes on with
# every mix-up a 2-event one (unet.num_events=[2,2]; before: 2 or 3), so the pool holds twice as many 2-event
# examples while keeping half of it single clips. Text conditioning as run 40 (fraction 0.8), new pool (seed 5),
# 800 steps of batch 16 at lr 5e-5 (half of run 41's, to keep run 40's class phrases), warmup 50, cosine, EMA 0.998,
# run 37's VAE. Resumes from its checkpoints (every 100 steps) and its pool in runs/run42.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
R=runs/run42/gen-mini
[ -d $R/vae/model ] || { mkdir -p $R/vae && cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json $R/vae/; }
[ -d $R/vocoder ] || .venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini $R vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir $R --resume --set seed=5 --set unet.tclap=training/runs_record/run28/tclap \
  --set unet.init=training/runs_record/run40/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=800 --set unet.learning_rate=5e-5 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
  --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set 'unet.num_events=[2,2]' \
  --set unet.text_condition_fraction=0.8 \
  --set unet.pool_workers=0 --set unet.checkpoint_every=100 --set unet.log_every=20 "$@"
