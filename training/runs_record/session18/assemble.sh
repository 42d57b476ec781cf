#!/usr/bin/env bash
# Session 18: a built-in assembled from a text-conditioned UNet leg, in float16, as session17/assemble.sh does:
#   mini      = the leg's UNet (on run 28's embeddings) + run 37's decoder + the shipped vocoder + run 28's T-CLAP
#   mini-clap = the leg's UNet (on run 29's embeddings) + the same VAE and vocoder + run 29's T-CLAP
# -> runs/session18/gen-NAME/pipeline (training/recipes/install_builtin.py installs it).
# Usage: assemble.sh NAME:RUN ...   (session 18 installed mini:run40; mini-clap kept run 33's UNet)
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
PY=${PY:-.venv/bin/python}; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
for pair in "$@"; do
  IFS=: read -r name unet <<< "$pair"
  R=runs/session18/gen-$name
  rm -rf "$R" && mkdir -p "$R/unet/model" "$R/vae"
  cp training/runs_record/$unet/unet/* "$R/unet/model/" && cp training/runs_record/$unet/done.json "$R/unet/"
  cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json "$R/vae/"
  $PY training/recipes/unpack_pipeline.py tclap_gen/weights/mini "$R" vocoder
  # the UNet leg's own flags (its run.sh, with the output folder and stage replaced; it names its T-CLAP) and the
  # VAE runs' (35 then 37), so that generator_training.json records them
  bash training/runs_record/$unet/run.sh --output-dir "$R" --stage assemble --fp16-weights \
    --set vae.init=runs/run35/gen-mini/vae/model --set vae.decoder_only=true --set vae.adversarial_weight=0.1 \
    --set vae.steps=600 --set vae.batch_size=8 --set vae.learning_rate=1e-4 --set vae.warmup_steps=20
done
