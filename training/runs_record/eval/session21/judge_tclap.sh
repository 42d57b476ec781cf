#!/usr/bin/env bash
# Session 21: mini with another T-CLAP under the installed UNet (run 40's, trained on run 28's text embeddings), judged
# as session18/judge.sh judges a UNet leg: assembled in float16 as session18/assemble.sh does (run 37's VAE, the
# installed vocoder) but with unet.tclap=TCLAP, then condition use and fidelity with 2- and 3-event prompts with and
# without layout (the installed pair's command, prompts and seeds). About 45 minutes on one thread.
# Usage: judge_tclap.sh TAG TCLAP_FOLDER   (-> runs/s21/gen-TAG/pipeline, records in eval/session21/TAG.*)
set -euo pipefail
cd "$(dirname "$0")/../../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
TAG=$1; TCLAP=$2; R=runs/s21/gen-$TAG; O=training/runs_record/eval/session21
K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
rm -rf "$R" && mkdir -p "$R/unet/model" "$R/vae"
cp training/runs_record/run40/unet/* "$R/unet/model/" && cp training/runs_record/run40/done.json "$R/unet/"
cp -r training/runs_record/run37/vae/model training/runs_record/run37/vae/done.json "$R/vae/"
.venv/bin/python training/recipes/unpack_pipeline.py tclap_gen/weights/mini "$R" vocoder
bash training/runs_record/run40/run.sh --output-dir "$R" --stage assemble --fp16-weights --set unet.tclap=$TCLAP \
  --set vae.init=runs/run35/gen-mini/vae/model --set vae.decoder_only=true --set vae.adversarial_weight=0.1 \
  --set vae.steps=600 --set vae.batch_size=8 --set vae.learning_rate=1e-4 --set vae.warmup_steps=20 > $R.assemble.log 2>&1
.venv/bin/python scripts/condition_use.py --pipelines $R/pipeline mini --clips $K $U > $O/$TAG.condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines $R/pipeline --events 2 3 --layout \
  --json-out $O/$TAG.fidelity.json > $O/$TAG.fidelity.md 2>$R.fidelity.err
