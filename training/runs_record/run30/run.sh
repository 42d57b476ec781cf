#!/usr/bin/env bash
# Run 30 (1 thread, beside run 29): the velocity-objective UNet on the candidate T-CLAP's embeddings (run 28). Starts
# from run 27's UNet (run 11's with the projection redrawn, 200 steps of v-prediction; runs/run27 from its run.sh), a
# pool of 2,048 examples of run 28's embeddings with half of them single clips (recognition first), 1,200 steps of
# batch 16, lr 3e-4, EMA 0.995, no Min-SNR. Resumes where it stopped (--resume).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run30/gen-mini vae vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run30/gen-mini --resume --set unet.tclap=training/runs_record/run28/tclap \
  --set unet.init=runs/run27/gen-mini/unet/model --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=1200 --set unet.learning_rate=3e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.995 \
  --set unet.pool_size=2048 --set unet.single_fraction=0.5 --set unet.pool_workers=0 --set unet.checkpoint_every=100 \
  --set unet.log_every=20 "$@"
