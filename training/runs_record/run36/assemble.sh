#!/usr/bin/env bash
# After run 36 (run.sh on the GPU machine): the two returned float16 UNets as finished unet stages, then both
# pipelines assembled in float16 with the shipped T-CLAPs (run 28 / run 29), the shipped vocoder, and the shipped
# VAE or the finished VAE stage VAE_STAGE (a folder with model/ and done.json, e.g. runs/run35/gen-mini/vae).
#   bash training/runs_record/run36/assemble.sh FILES_DIR     (FILES_DIR: where the run returned unet-*.safetensors)
# -> runs/run36/gen-mini/pipeline and runs/run36/gen-mini-clap/pipeline (install_builtin.py installs them).
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
FILES=$1; PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
for pair in mini:run28:run30 mini-clap:run29:run31; do
  IFS=: read -r name tclap init <<< "$pair"
  R=runs/run36/gen-$name
  rm -rf "$R" && mkdir -p "$R/unet/model"
  cp "$FILES/unet-$name.safetensors" "$R/unet/model/diffusion_pytorch_model.safetensors"
  cp "training/runs_record/$init/unet/config.json" "$R/unet/model/config.json"  # run 36 keeps the architecture
  tar xzf "$FILES/logs.tgz" -O "gen-$name/unet/done.json" > "$R/unet/done.json"
  $PY training/recipes/unpack_pipeline.py tclap_gen/weights/mini "$R" vocoder
  if [ -n "${VAE_STAGE:-}" ]; then
    mkdir -p "$R/vae" && cp -r "$VAE_STAGE/model" "$VAE_STAGE/done.json" "$R/vae/"
  else
    $PY training/recipes/unpack_pipeline.py tclap_gen/weights/mini "$R" vae
  fi
  # the flags of run 36 (run.sh), so that the pipeline's generator_training.json records its recipe
  $PY -m tclap_gen.training.train_generator --config generator-mini --stage assemble --data-root ../shared/data \
    --output-dir "$R" --fp16-weights --set seed=2 --set "unet.tclap=training/runs_record/$tclap/tclap" \
    --set "unet.init=training/runs_record/$init/unet" --set unet.prediction_type=v_prediction --set unet.batch_size=128 \
    --set unet.steps=3000 --set unet.learning_rate=3e-4 --set unet.warmup_steps=100 --set unet.ema_decay=0.999 \
    --set unet.pool_size=12288 --set unet.single_fraction=0.5
done
