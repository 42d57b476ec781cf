#!/usr/bin/env bash
# Run 26 (1 thread, beside two T-CLAP runs): does a larger class-embedding projection make the UNet use its condition?
# Run 11's UNet (which ignores it: condition gain +0.3%) with the projection redrawn at std 1, 400 steps of batch 16 on
# the shipped mini T-CLAP's embeddings; the stage logs the condition use at its start and end (unet/log.jsonl).
# It was stopped after the step-200 checkpoint and finished there: `bash run.sh --set unet.steps=200`.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run26/gen-mini vae vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run26/gen-mini --resume --set unet.tclap=tclap_gen/weights/mini --set unet.init=training/runs_record/run11/unet \
  --set unet.class_embedding_init_std=1.0 --set unet.batch_size=16 --set unet.steps=400 --set unet.learning_rate=3e-4 \
  --set unet.warmup_steps=20 --set unet.snr_gamma=5 --set unet.ema_decay=0.99 --set unet.pool_size=1024 \
  --set unet.pool_workers=0 --set unet.checkpoint_every=100 --set unet.log_every=20 "$@"
