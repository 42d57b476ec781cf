#!/usr/bin/env bash
# The time-boxed mini chain for a short GPU lease (the machines here are lent 15 minutes), which made every shipped
# part of `mini` and `mini-clap` (runs 1-4, 2026-11-26; logs and commands in training/runs_record/):
#   1. the mini T-CLAP and the mini-clap baseline side by side: TCLAP_STEPS steps each, stopped after TCLAP_S
#      seconds if not done (optim.time_budget_s); meanwhile the VAE and vocoder (VAE_S / VOCODER_S seconds),
#      unless REUSE=pipeline-folder takes them from an existing pipeline (run 2 reused run 1's, see below);
#   2. one UNet on each T-CLAP's audio embeddings, side by side (UNET_S seconds each, after building its pool);
#   3. both pipelines assembled in float16: $RUNS/mini and $RUNS/mini-clap.
#
#   DATA=path/to/data RUNS=runs/timeboxed bash training/recipes/mini_timeboxed.sh              # all from scratch
#   REUSE=tclap_gen/weights/mini TCLAP_S=320 UNET_S=140 DATA=... bash training/recipes/mini_timeboxed.sh  # = run 2
#
# Run 1 (313 s on an H100, 2026-11-26) trained the shipped VAE (1323 steps) and vocoder (2414 steps) this way with
# VAE_S=120 VOCODER_S=200; its T-CLAPs and UNet were replaced by run 2's. DATA holds kitchen20/, uiowa/ and
# captions/{audiocaps/train.csv,clotho/development.csv} (both runs used an Ogg/Opus copy made by compress_data.py,
# to fit the upload). The full-length recipe, with checkpoints and --resume at every stage, is mini.sh.
# TCLAP_SET / GEN_SET: extra "--set key=value" arguments for the T-CLAP / generator runs (e.g. a smoke run on a CPU).
# FROM=folder holding mini/ and mini-clap/ pipelines: fine-tune their T-CLAPs instead of starting from scratch;
# with KEEP_UNETS=1 their UNets are kept as they are (no UNet training), with KEEP_TCLAPS=1 their T-CLAPs (no
# T-CLAP training: new UNets on the kept T-CLAPs' embeddings; FROM=tclap_gen/weights REUSE=tclap_gen/weights/mini
# KEEP_TCLAPS=1 UNET_S=140 on a GPU retrains the shipped UNets for the shipped T-CLAPs); with UNET_INIT=1 the new
# UNets start from FROM's (a fine-tune: what run 4 did on a CPU, see runs_record). Runs 3 and 3b made the
# shipped T-CLAPs so, on a CPU, from run 2's pipelines (MP=no THREADS=1 WORKERS=1 and a TCLAP_SET; the exact
# commands are in training/runs_record/README.md).
set -uo pipefail
T0=$(date +%s)
PY=${PYTHON:-python}
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${THREADS:-3} TOKENIZERS_PARALLELISM=false
R=${RUNS:-runs/timeboxed}; mkdir -p "$R/logs"; D=$(realpath "${DATA:-../shared/data}")
MP=${MP:-bf16}; TCLAP_STEPS=${TCLAP_STEPS:-3000}; TCLAP_S=${TCLAP_S:-330}; UNET_S=${UNET_S:-150}
elapsed() { echo $(( $(date +%s) - T0 )); }
if [ -n "${KEEP_UNETS:-}${KEEP_TCLAPS:-}${UNET_INIT:-}" ] && [ -z "${FROM:-}" ]; then
  echo "KEEP_UNETS / KEEP_TCLAPS / UNET_INIT use the pipelines in FROM=folder: set FROM"; exit 2
fi
tclap() {  # tclap RECIPE FOLDER (the recipe names mini / mini-clap are also the pipeline folders' names)
  local init=(); [ -n "${FROM:-}" ] && init=(--set model.init=pretrained --set "model.name=$FROM/$1")
  $PY -m tclap_gen.training.train_tclap --config "$1" --data-root "$D" --output-dir "$R/$2" "${init[@]}" \
    --set "mixed_precision='$MP'" --set optim.max_steps="$TCLAP_STEPS" --set optim.time_budget_s="$TCLAP_S" \
    --set data.num_workers="${WORKERS:-6}" --set eval.at_start=false --set eval.every_steps=1000 --resume \
    ${TCLAP_SET:-} > "$R/logs/$2.log" 2>&1
}
gen() {  # gen FOLDER ARGS...: one generator run per T-CLAP (they share the VAE and vocoder)
  local out=$1; shift
  $PY -m tclap_gen.training.train_generator --config generator-mini --data-root "$D" --output-dir "$R/$out" \
    --set "mixed_precision='$MP'" --resume "$@" ${GEN_SET:-}
}

tclap_dir() {  # the T-CLAP that conditions pipeline $1
  if [ -n "${KEEP_TCLAPS:-}" ]; then echo "$FROM/$1"; else echo "$R/$1-tclap/final"; fi
}
if [ -z "${KEEP_TCLAPS:-}" ]; then
  tclap mini mini-tclap & P1=$!
  tclap mini-clap mini-clap-tclap & P2=$!
fi
if [ -n "${REUSE:-}" ]; then
  # the VAE and vocoder of an existing pipeline, as float32 finished stages of both generator runs
  for run in gen-mini gen-mini-clap; do
    $PY training/recipes/unpack_pipeline.py "$REUSE" "$R/$run" vae vocoder >> "$R/logs/reuse.log" 2>&1 \
      || { echo "reuse failed: see $R/logs/reuse.log"; exit 1; }
  done
else
  gen gen-mini --stage vae --set vae.time_budget_s="${VAE_S:-120}" > "$R/logs/vae.log" 2>&1 & P3=$!
  gen gen-mini --stage vocoder --set vocoder.time_budget_s="${VOCODER_S:-200}" > "$R/logs/vocoder.log" 2>&1 & P4=$!
  wait $P3 && wait $P4 || { echo "vae/vocoder failed: see $R/logs"; exit 1; }
  mkdir -p "$R/gen-mini-clap" && cp -r "$R/gen-mini/vae" "$R/gen-mini/vocoder" "$R/gen-mini-clap/"
fi
if [ -n "${KEEP_UNETS:-}" ]; then  # the kept UNets, for the assembly below
  for name in mini mini-clap; do
    $PY training/recipes/unpack_pipeline.py "$FROM/$name" "$R/gen-$name" unet >> "$R/logs/reuse.log" 2>&1 \
      || { echo "keeping the UNets failed: see $R/logs/reuse.log"; exit 1; }
  done
fi
if [ -z "${KEEP_TCLAPS:-}" ]; then
  wait $P1 || { echo "mini T-CLAP failed: see $R/logs/mini-tclap.log"; exit 1; }
  wait $P2 || { echo "mini-clap failed: see $R/logs/mini-clap-tclap.log"; exit 1; }
  echo "T-CLAPs done at $(elapsed) s"
fi
if [ -z "${KEEP_UNETS:-}" ]; then  # (a kept UNet stopped by its time budget is not "done": never retrain it)
  U=(--stage unet --set unet.pool_size="${UNET_POOL:-3072}" --set unet.time_budget_s="$UNET_S")
  unet_init() { [ -n "${UNET_INIT:-}" ] && echo "--set unet.init=$FROM/$1"; }
  gen gen-mini "${U[@]}" --set unet.tclap="$(tclap_dir mini)" $(unet_init mini) \
    > "$R/logs/unet-mini.log" 2>&1 & P5=$!
  gen gen-mini-clap "${U[@]}" --set unet.tclap="$(tclap_dir mini-clap)" $(unet_init mini-clap) \
    > "$R/logs/unet-mini-clap.log" 2>&1 & P6=$!
  wait $P5 && wait $P6 || { echo "a UNet failed: see $R/logs/unet-*.log"; exit 1; }
  echo "UNets done at $(elapsed) s"
fi
for name in mini mini-clap; do
  gen "gen-$name" --stage assemble --set unet.tclap="$(tclap_dir $name)" --set assemble.output="$R/$name" \
    --fp16-weights > "$R/logs/assemble-$name.log" 2>&1 || { echo "assembling $name failed"; exit 1; }
done
echo "done in $(elapsed) s: pipelines $R/mini and $R/mini-clap"
