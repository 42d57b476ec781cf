#!/usr/bin/env bash
# Run 36 (one H200, bf16, through a 15-minute lease): the final UNets of `mini` and `mini-clap`, side by side on the
# one GPU, each fine-tuned from its CPU-trained UNet (run 30 / run 31, one recipe) on its own T-CLAP's audio
# embeddings (run 28 / run 29): a new pool of POOL examples (seed 2, half single clips), STEPS steps of batch BATCH
# at lr 3e-4 (warmup 100, cosine), EMA 0.999, v-prediction; each run stops after BUDGET seconds of training if not
# done (unet.time_budget_s). Same VAE as both pipelines (unpacked float32 from the shipped mini).
#
# The upload to the GPU machine is capped at 64 MiB a call, so the inputs travel in two calls to one warm machine
# (prepare.py beside this file builds both and says how to make the calls):
#   .dev/c1: wheels (diffusers, soundfile, cffi, pycparser), gen/vae (unpack_pipeline.py ... vae), tclap = run 28,
#            unet = run 30, data/ = part of an Ogg/Opus copy of the TRAIN side of Kitchen20 + UIowa (compression
#            level 0.8, about 59 kb/s; its log-mel L1 to the FLAC is 0.035; metadata.csv lists every clip, so the
#            split is the recipes' own, and the held-out clips have no audio in it);
#   .dev/c2: tclap = run 29, unet = run 31, data/ = the rest of that copy.
# On the device: OUT=... bash training/runs_record/run36/run.sh   -> $OUT/unet-mini.safetensors,
# $OUT/unet-mini-clap.safetensors (float16 EMA weights; config = training/runs_record/run30/unet/config.json) and
# $OUT/logs.tgz (each run's log.jsonl, done.json, stdout). A CPU smoke run of the same script:
#   PY=.venv/bin/python MP=no STEPS=2 BATCH=2 POOL=8 WORKERS=0 BUDGET=60 WHEELS=none OUT=/tmp/out36 bash .../run.sh
set -uo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
PY=${PY:-python3}; MP=${MP:-bf16}; STEPS=${STEPS:-3000}; BATCH=${BATCH:-128}; POOL=${POOL:-12288}
WORKERS=${WORKERS:-7}; BUDGET=${BUDGET:-330}; OUT=${OUT:-/tmp/out36}
C1=$PWD/.dev/c1; C2=$PWD/.dev/c2; D=/tmp/run36/data; R=/tmp/run36
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
for f in "$C1/tclap" "$C1/unet" "$C1/gen/vae/done.json" "$C2/tclap" "$C2/unet" "$C1/data" "$C2/data"; do
  [ -e "$f" ] || { echo "run36: $f is missing (did the first upload reach this machine?)"; exit 3; }
done
mkdir -p "$OUT" "$D"
source training/recipes/device_env.sh "${WHEELS:-$C1/wheels}" || exit 4  # diffusers, soundfile; tclap_gen in /tmp/pkg
cp -r "$C1/data/." "$D/" && cp -r "$C2/data/." "$D/" || exit 5
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null

train() {  # train NAME TCLAP UNET_INIT
  mkdir -p "$R/gen-$1/vae" && cp -r "$C1/gen/vae/." "$R/gen-$1/vae/"
  $PY -P -m tclap_gen.training.train_generator --config generator-mini --stage unet --data-root "$D" \
    --output-dir "$R/gen-$1" --resume --set "mixed_precision='$MP'" --set seed=2 --set "unet.tclap=$2" \
    --set "unet.init=$3" --set unet.prediction_type=v_prediction --set "unet.batch_size=$BATCH" \
    --set "unet.steps=$STEPS" --set unet.learning_rate=3e-4 --set unet.warmup_steps=100 --set unet.ema_decay=0.999 \
    --set "unet.pool_size=$POOL" --set unet.single_fraction=0.5 --set "unet.pool_workers=$WORKERS" \
    --set "unet.checkpoint_every=$STEPS" --set unet.log_every=100 --set "unet.time_budget_s=$BUDGET" \
    > "$R/gen-$1/stdout.log" 2>&1
}
train mini "$C1/tclap" "$C1/unet" & A=$!
train mini-clap "$C2/tclap" "$C2/unet" & B=$!
wait $A; RA=$?; wait $B; RB=$?
echo "mini: exit $RA, mini-clap: exit $RB"

for name in mini mini-clap; do  # float16 EMA weights (the float32 file is over the 16 MiB a returned file may have)
  $PY - "$R/gen-$name/unet/model" "$OUT/unet-$name.safetensors" <<'PY'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(f"{sys.argv[1]}/diffusion_pytorch_model.safetensors")
save_file({k: v.half().contiguous() for k, v in weights.items()}, sys.argv[2])
PY
done
tar czf "$OUT/logs.tgz" -C "$R" --exclude='*.safetensors' --exclude=checkpoints --exclude=vae gen-mini gen-mini-clap
for name in mini mini-clap; do tail -n 3 "$R/gen-$name/unet/log.jsonl"; tail -n 2 "$R/gen-$name/stdout.log"; done
[ "$RA" = 0 ] && [ "$RB" = 0 ]
