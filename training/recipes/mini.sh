#!/usr/bin/env bash
# Train the built-in `mini` models end to end, on the train side of Kitchen20 + UIowa:
#   1. the T-CLAP (training/configs/mini.yaml) and the plain-CLAP baseline `mini-clap` (mini-clap.yaml);
#      meanwhile, in the background, the generator's VAE and vocoder (they need no T-CLAP);
#   2. the generator's UNet, conditioned on the T-CLAP's audio embeddings, and the same for the baseline;
#   3. the TClapAudioLDMPipeline folders $OUT/mini and $OUT/mini-clap around them.
# Every stage resumes from its newest complete checkpoint and a finished stage is skipped, so after an
# interruption run the same command again.
#
#   DATA_ROOT=../shared/data OUT=runs/mini bash training/recipes/mini.sh
#
# Environment: DATA_ROOT (folder holding kitchen20/, uiowa/ and captions/), OUT (output folder), PYTHON
# (interpreter), MIXED_PRECISION (no | bf16 | fp16; default bf16 on a CUDA GPU, else no), FP16_WEIGHTS=1 (save
# the pipeline's weights in float16), and the recipes: TCLAP_CONFIG (mini), CLAP_CONFIG (mini-clap; "none"
# skips the baseline), GENERATOR_CONFIG (generator-mini). A smoke run of the whole chain in about two minutes:
#   TCLAP_CONFIG=smoke CLAP_CONFIG=none GENERATOR_CONFIG=generator-tiny OUT=/tmp/mini-smoke bash training/recipes/mini.sh
# On one GPU the recipe takes about 20 minutes; on a CPU, days (shrink the steps with --set for a CPU run).
set -euo pipefail

cd "$(dirname "$0")/../.."
DATA_ROOT=${DATA_ROOT:-../shared/data}
OUT=${OUT:-runs/mini}
PYTHON=${PYTHON:-python}
TCLAP_CONFIG=${TCLAP_CONFIG:-mini}
CLAP_CONFIG=${CLAP_CONFIG:-mini-clap}
GENERATOR_CONFIG=${GENERATOR_CONFIG:-generator-mini}
if [ -z "${MIXED_PRECISION:-}" ]; then
    if "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        MIXED_PRECISION=bf16
    else
        MIXED_PRECISION=no
    fi
fi
mkdir -p "$OUT/logs"
echo "mini recipe: data $DATA_ROOT, output $OUT, mixed precision $MIXED_PRECISION"

# --set values are YAML: mixed_precision is quoted, since a bare `no` reads as false.
generator() {
    "$PYTHON" -m tclap_gen.training.train_generator --config "$GENERATOR_CONFIG" --data-root "$DATA_ROOT" \
        --output-dir "${GENERATOR_OUT:-$OUT/generator}" --set "mixed_precision='$MIXED_PRECISION'" --resume "$@"
}

tclap() {  # tclap RECIPE FOLDER: train unless FOLDER/final already holds the model
    if [ -f "$OUT/$2/final/config.json" ]; then
        echo "$1: $OUT/$2/final exists; skipped"
        return 0
    fi
    "$PYTHON" -m tclap_gen.training.train_tclap --config "$1" --data-root "$DATA_ROOT" \
        --output-dir "$OUT/$2" --set "mixed_precision='$MIXED_PRECISION'" --resume
}

# 1. VAE and vocoder in the background while the T-CLAP and the baseline train.
generator --stage vae >"$OUT/logs/vae.log" 2>&1 &
vae_pid=$!
generator --stage vocoder >"$OUT/logs/vocoder.log" 2>&1 &
vocoder_pid=$!
stop_background() { kill "$vae_pid" "$vocoder_pid" 2>/dev/null || true; }
trap stop_background EXIT  # a failed T-CLAP run stops them too

tclap "$TCLAP_CONFIG" tclap 2>&1 | tee "$OUT/logs/tclap.log"
if [ "$CLAP_CONFIG" != "none" ]; then
    tclap "$CLAP_CONFIG" clap 2>&1 | tee "$OUT/logs/clap.log"
fi

status=0
wait "$vae_pid" || { echo "vae stage failed: see $OUT/logs/vae.log" >&2; status=1; }
wait "$vocoder_pid" || { echo "vocoder stage failed: see $OUT/logs/vocoder.log" >&2; status=1; }
trap - EXIT
[ "$status" -eq 0 ] || exit "$status"

# 2. A UNet on each T-CLAP's audio embeddings (the baseline's reuses the same VAE and vocoder);
# 3. the pipeline folders $OUT/mini and $OUT/mini-clap.
fp16_flag=""
if [ "${FP16_WEIGHTS:-0}" = "1" ]; then
    fp16_flag=--fp16-weights
fi
pipeline() {  # pipeline NAME T-CLAP-FOLDER GENERATOR-FOLDER
    GENERATOR_OUT=$3 generator --stage unet --set "unet.tclap=$2" 2>&1 | tee "$OUT/logs/unet-$1.log"
    GENERATOR_OUT=$3 generator --stage assemble --set "unet.tclap=$2" --set "assemble.output=$OUT/$1" $fp16_flag \
        2>&1 | tee "$OUT/logs/assemble-$1.log"
}
pipeline mini "$OUT/tclap/final" "$OUT/generator"
if [ "$CLAP_CONFIG" != "none" ]; then
    mkdir -p "$OUT/generator-clap"
    for stage in vae vocoder; do
        [ -d "$OUT/generator-clap/$stage" ] || cp -r "$OUT/generator/$stage" "$OUT/generator-clap/"
    done
    pipeline mini-clap "$OUT/clap/final" "$OUT/generator-clap"
fi
echo "done: pipelines $OUT/mini and $OUT/mini-clap"
