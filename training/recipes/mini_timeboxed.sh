#!/usr/bin/env bash
# The time-boxed mini chain that made the SHIPPED mini weights on one H100 (2026-11-26, 313 s in all):
# the mini T-CLAP and the mini-clap baseline (TCLAP_STEPS steps each) run side by side with the generator's VAE
# (VAE_S seconds) and vocoder (GEN_S seconds); then the UNet on the T-CLAP's audio embeddings until DEADLINE_S,
# then the pipeline is assembled in float16 and packed into 15 MB parts under $OUT. The full-length recipe is
# training/recipes/mini.sh; this one exists because a GPU lease here is 15 minutes.
#
#   TCLAP_STEPS=350 VAE_S=120 GEN_S=200 DEADLINE_S=290 DATA=path/to/data bash training/recipes/mini_timeboxed.sh
#
# DATA holds kitchen20/, uiowa/ (the shipped run used an Ogg/Opus copy made by compress_data.py, to fit the
# upload to the GPU machine) and captions/audiocaps/train.csv + captions/clotho/development.csv. On a machine
# without this package installed, WHEELS=dir installs wheels from dir and the package is laid out in /tmp/pkg.
set -uo pipefail
T0=$(date +%s); DEADLINE_S=${DEADLINE_S:-400}
left() { echo $(( DEADLINE_S - ($(date +%s) - T0) )); }
if [ -n "${WHEELS:-}" ]; then
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
rm -rf /tmp/pkg; mkdir -p /tmp/pkg && cp -r tclap_gen /tmp/pkg/ && cp -r pipelines /tmp/pkg/tclap_gen/pipelines \
  && cp -r training /tmp/pkg/tclap_gen/training && cp -r samples /tmp/pkg/tclap_gen/samples
export PYTHONPATH=/tmp/pkg:/tmp/site
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3 TOKENIZERS_PARALLELISM=false
R=${RUNS:-/tmp/runs}; mkdir -p $R/logs; D=$(realpath "${DATA:-../shared/data}")
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
python3 -c "import torch, transformers, diffusers; print(torch.__version__, transformers.__version__, diffusers.__version__)"
TCLAP_STEPS=${TCLAP_STEPS:-450}; GEN_S=${GEN_S:-200}; VAE_STEPS=${VAE_STEPS:-3000}; VOC_STEPS=${VOC_STEPS:-3000}
tclap() { python3 -P -m tclap_gen.training.train_tclap --config $1 --data-root $D --output-dir $R/$2 \
  --set "mixed_precision='${MP:-bf16}'" --set optim.max_steps=$TCLAP_STEPS --set optim.warmup_steps=50 --set eval.at_start=false > $R/logs/$2.log 2>&1; }
gen() { python3 -P -m tclap_gen.training.train_generator --config ${GEN_CONFIG:-generator-mini} --data-root ${GEN_DATA:-$D} --output-dir $R/generator \
  --set "mixed_precision='${MP:-bf16}'" --resume "$@"; }
tclap ${TCLAP_CONFIG:-mini} tclap & P1=$!
tclap ${CLAP_CONFIG:-mini-clap} clap & P2=$!
gen --stage vae --set vae.steps=$VAE_STEPS --set vae.time_budget_s=${VAE_S:-110} > $R/logs/vae.log 2>&1 & P3=$!
gen --stage vocoder --set vocoder.steps=$VOC_STEPS --set vocoder.time_budget_s=$GEN_S > $R/logs/vocoder.log 2>&1 & P4=$!
wait $P1; echo "tclap exit $? at $(( $(date +%s) - T0 )) s"; tail -3 $R/logs/tclap.log
UNET_S=$(( $(left) - 75 ))
wait $P3; echo "vae exit $?"; tail -2 $R/logs/vae.log
UNET_S=$(( $(left) - 60 ))
echo "unet budget $UNET_S s"
gen --stage unet --set unet.tclap=$R/tclap/final --set unet.pool_size=${UNET_POOL:-3072} --set unet.time_budget_s=$UNET_S > $R/logs/unet.log 2>&1
echo "unet exit $? at $(( $(date +%s) - T0 )) s"; tail -3 $R/logs/unet.log
wait $P2; echo "clap exit $?"; tail -3 $R/logs/clap.log
wait $P4; echo "vocoder exit $?"; tail -2 $R/logs/vocoder.log
gen --stage assemble --set unet.tclap=$R/tclap/final --set assemble.output=$R/mini --fp16-weights > $R/logs/assemble.log 2>&1
echo "assemble exit $?"; tail -3 $R/logs/assemble.log
python3 - <<PY
# the baseline travels in float16 (the upload back is capped); the pipeline's weights already are
import torch
from safetensors.torch import load_file, save_file
for f in ["$R/clap/final/model.safetensors"]:
    t = load_file(f); save_file({k: v.half() if v.is_floating_point() else v for k, v in t.items()}, f, metadata={"format": "pt"})
PY
cd $R && rm -rf generator/*/checkpoints generator/*/model generator/unet/pool.safetensors tclap/checkpoints clap/checkpoints tclap/final
tar -czf /tmp/mini.tgz --exclude='*.tmp' mini clap logs generator tclap 2>/dev/null
ls -la /tmp/mini.tgz; split -b 15M /tmp/mini.tgz ${OUT:-/tmp/out}/mini.tgz.part-
echo "total $(( $(date +%s) - T0 )) s"
