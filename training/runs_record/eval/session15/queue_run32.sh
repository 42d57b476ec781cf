#!/bin/bash
# Run 32 judged beside the shipped mini: assemble (float16), condition use, fidelity with 2- and 3-event prompts with
# and without layout="auto" (the shipped mini's 2-event rows are in session14_shipped/fidelity.md, same prompts and seeds).
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session15; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
bash training/runs_record/run32/run.sh --stage assemble --fp16-weights > $O/run32_assemble.log 2>&1
.venv/bin/python scripts/condition_use.py --pipelines runs/run32/gen-mini/pipeline mini --clips $K $U > $O/run32_condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines runs/run32/gen-mini/pipeline --events 2 3 --layout --json-out $O/run32_fidelity.json > $O/run32_fidelity.md 2>$O/run32_fidelity.err
echo done > $O/queue_run32.DONE
