#!/bin/bash
# The shipped mini-clap on 3-event prompts, with and without layout="auto" (issue 16's 3-event rows).
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session15; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini-clap --events 3 --layout --json-out $O/mini-clap_3events.json > $O/mini-clap_3events.md 2>$O/mini-clap_3events.err
echo done > $O/queue_3events.DONE
