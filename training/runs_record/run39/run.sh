#!/usr/bin/env bash
# Run 39 (1 thread): mini-clap's counterpart of run 38. Run 33's UNet (on run 29's plain-CLAP embeddings) fine-tuned
# with half of its examples conditioned on the CLAP TEXT embedding of their caption (unet.text_condition_fraction=0.5).
# Same settings as run 38: a new pool of 4,096 examples (seed 2), 1,200 steps of batch 16 at lr 1e-4 (warmup 50,
# cosine), EMA 0.998, on run 37's VAE. Resumes where it stopped.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
R=runs/run39/gen-mini-clap
[ -d $R/vae/model ] || { mkdir -p $R/vae && cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json $R/vae/; }
[ -d $R/vocoder ] || .venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini $R vocoder
.venv/bin/python -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root ../shared/data \
  --output-dir $R --resume --set seed=2 --set unet.tclap=training/runs_record/run29/tclap \
  --set unet.init=training/runs_record/run33/unet --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
  --set unet.steps=1200 --set unet.learning_rate=1e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
  --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set unet.text_condition_fraction=0.5 \
  --set unet.pool_workers=0 --set unet.checkpoint_every=100 --set unet.log_every=20 "$@"
