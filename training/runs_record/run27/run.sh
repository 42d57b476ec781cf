#!/usr/bin/env bash
# Run 27 (1 thread, beside a T-CLAP run): run 26 with the velocity objective (unet.prediction_type=v_prediction):
# with the noise objective the high-noise steps, where the condition decides what the clip holds, weigh ~SNR (0.01)
# of the loss; the velocity weighs them ~1 (no Min-SNR: it would weigh them ~SNR again). Run 11's UNet, projection redrawn at std 1, 200 steps of batch 16 (pool: run 26's).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run27/gen-mini vae vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run27/gen-mini --resume --set unet.tclap=tclap_gen/weights/mini --set unet.init=training/runs_record/run11/unet \
  --set unet.class_embedding_init_std=1.0 --set unet.prediction_type=v_prediction --set unet.batch_size=16 --set unet.steps=200 --set unet.learning_rate=3e-4 \
  --set unet.warmup_steps=20 --set unet.ema_decay=0.99 --set unet.pool_size=1024 \
  --set unet.pool_workers=0 --set unet.checkpoint_every=100 --set unet.log_every=20 "$@"
