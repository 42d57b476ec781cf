#!/usr/bin/env bash
# Run 11 (1 thread): the shipped mini UNet fine-tuned on the shipped mini T-CLAP's embeddings with Min-SNR weighting.
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run11/gen-mini vae vocoder
python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run11/gen-mini --resume --set unet.tclap=tclap_gen/weights/mini --set unet.init=tclap_gen/weights/mini \
  --set unet.batch_size=32 --set unet.steps=1500 --set unet.learning_rate=3e-4 --set unet.warmup_steps=50 \
  --set unet.snr_gamma=5 --set unet.pool_size=4096 --set unet.pool_workers=1 --set unet.checkpoint_every=100 \
  --set unet.log_every=20 --set unet.time_budget_s=7200
