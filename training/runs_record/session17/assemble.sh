#!/usr/bin/env bash
# Session 17 (no GPU lent, so run 36 did not run): the installed pair assembled from the CPU runs, in float16.
#   mini      = run 32's UNet (on run 28's embeddings) + run 37's decoder + the shipped vocoder + run 28's T-CLAP
#   mini-clap = run 33's UNet (on run 29's embeddings) + the same VAE and vocoder + run 29's T-CLAP
# -> runs/session17/gen-{mini,mini-clap}/pipeline (training/recipes/install_builtin.py installs them).
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
PY=${PY:-.venv/bin/python}; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
for pair in mini:run28:run30:run32 mini-clap:run29:run31:run33; do
  IFS=: read -r name tclap init unet <<< "$pair"
  R=runs/session17/gen-$name
  rm -rf "$R" && mkdir -p "$R/unet/model" "$R/vae"
  cp training/runs_record/$unet/unet/* "$R/unet/model/" && cp training/runs_record/$unet/done.json "$R/unet/"
  cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json "$R/vae/"
  $PY training/recipes/unpack_pipeline.py tclap_gen/weights/mini "$R" vocoder
  # the flags of the UNet runs (32 / 33) and the VAE runs (35 then 37), so that generator_training.json records them
  $PY -m tclap_gen.training.train_generator --config generator-mini --stage assemble --data-root ../shared/data \
    --output-dir "$R" --fp16-weights --set seed=1 --set "unet.tclap=training/runs_record/$tclap/tclap" \
    --set "unet.init=training/runs_record/$init/unet" --set unet.prediction_type=v_prediction --set unet.batch_size=16 \
    --set unet.steps=2400 --set unet.learning_rate=2e-4 --set unet.warmup_steps=50 --set unet.ema_decay=0.998 \
    --set unet.pool_size=4096 --set unet.single_fraction=0.5 --set vae.init=runs/run35/gen-mini/vae/model \
    --set vae.decoder_only=true --set vae.adversarial_weight=0.1 --set vae.steps=600 --set vae.batch_size=8 \
    --set vae.learning_rate=1e-4 --set vae.warmup_steps=20
done
