#!/usr/bin/env bash
# Judge a finished UNet leg of session 18 as run 38 was (run38/judge.sh): assemble its pipeline in float16, keep the
# float16 UNet in the leg's record, then condition use and fidelity with 2- and 3-event prompts with and without
# layout (the installed pair's command, prompts and seeds). About 45 minutes on one thread.
# Usage: judge.sh RUN BUILTIN   (e.g. judge.sh run39 mini-clap: the pipeline is runs/RUN/gen-BUILTIN/pipeline)
set -euo pipefail
cd "$(dirname "$0")/../../.."  # the repository root
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; NAME=$2; O=training/runs_record/$RUN; P=runs/$RUN/gen-$NAME/pipeline
K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
bash $O/run.sh --stage assemble --fp16-weights > runs/$RUN-assemble.log 2>&1
mkdir -p $O/unet && cp $P/unet/* $O/unet/ && cp runs/$RUN/gen-$NAME/unet/done.json runs/$RUN/gen-$NAME/unet/log.jsonl $O/
.venv/bin/python scripts/condition_use.py --pipelines $P $NAME --clips $K $U > $O/condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines $P --events 2 3 --layout \
  --json-out $O/fidelity.json > $O/fidelity.md 2>runs/$RUN-fidelity.err
