#!/usr/bin/env bash
# Run 31 (1 thread): the mini-clap counterpart of run 30. Run 30's recipe (run 27's UNet: its float16 copy in run27/unet, v-prediction, a pool of
# 2,048 examples with half single clips, 1,200 steps of batch 16, lr 3e-4, EMA 0.995) on the embeddings of run 29's
# plain CLAP (training/runs_record/run29/tclap). Resumes where it stopped (--resume).
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/run31/gen-mini-clap vae vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir runs/run31/gen-mini-clap --resume --set unet.tclap=training/runs_record/run29/tclap \
  --set unet.init=training/runs_record/run27/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=1200 --set unet.learning_rate=3e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.995 \
  --set unet.pool_size=2048 --set unet.single_fraction=0.5 --set unet.pool_workers=0 --set unet.checkpoint_every=100 \
  --set unet.log_every=20 "$@"
