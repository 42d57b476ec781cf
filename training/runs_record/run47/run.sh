#!/usr/bin/env bash
# Run 47 (1 thread): the installed UNet (run 40's) moved onto run 44's T-CLAP (the window term with both towers
# training: the scorer's presence rose, but its text embeddings moved from run 28's, and run 40's UNet under them
# made class phrases recognisable at top-1 0.31 against 0.41: eval/session21/run40-run44.fidelity.md). Run 40's
# recipe from its UNet on run 44's embeddings: new pool (seed 6), 500 steps of batch 16 at lr 1e-4 (warmup 50,
# cosine), text fraction 0.8, EMA 0.998, run 37's VAE. Resumes.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
R=runs/run47/gen-mini
[ -d $R/vae/model ] || { mkdir -p $R/vae && cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json $R/vae/; }
[ -d $R/vocoder ] || .venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini $R vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir $R --resume --set seed=6 --set unet.tclap=training/runs_record/run44/tclap \
  --set unet.init=training/runs_record/run40/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=500 --set unet.learning_rate=1e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
  --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set unet.text_condition_fraction=0.8 \
  --set unet.pool_workers=0 --set unet.checkpoint_every=100 --set unet.log_every=20 "$@"
