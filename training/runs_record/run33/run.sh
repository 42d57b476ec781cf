#!/usr/bin/env bash
# Run 33 (1 thread): run 32's recipe for mini-clap. Run 31's UNet (v-prediction on run 29's embeddings, 1,200
# steps) trained on: a NEW pool of 4,096 examples (seed 1: other crops, gains and mixes than run 31's; half single
# clips), 2,400 steps of batch 16 at lr 2e-4 (warmup 50, cosine), EMA 0.998. Resumes where it stopped (--resume); the
# pool alone takes about 20 minutes.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run33/gen-mini-clap vae vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run33/gen-mini-clap --resume --set seed=1 --set unet.tclap=training/runs_record/run29/tclap \
  --set unet.init=training/runs_record/run31/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=2400 --set unet.learning_rate=2e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
  --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set unet.pool_workers=0 --set unet.checkpoint_every=100 \
  --set unet.log_every=20 "$@"
