#!/usr/bin/env bash
# After run 38: its pipeline (float16; run 28's T-CLAP, run 37's VAE, run 5's vocoder), then condition use and
# fidelity with 2- and 3-event prompts with and without layout, the same command, prompts and seeds as the installed
# mini's rows (eval/session17/fidelity_mini.md). About 70 minutes on one thread.
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/run38; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
bash $O/run.sh --stage assemble --fp16-weights > runs/run38-assemble.log 2>&1
.venv/bin/python scripts/condition_use.py --pipelines runs/run38/gen-mini/pipeline mini --clips $K $U > $O/condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines runs/run38/gen-mini/pipeline --events 2 3 --layout \
  --json-out $O/fidelity.json > $O/fidelity.md 2>runs/run38-fidelity.err
.venv/bin/python $O/text_use.py training/runs_record/run32/unet runs/run38/gen-mini/unet/model > $O/text_use.md 2>/dev/null
