#!/bin/bash
# The shipped pair's generation: condition use, fidelity (class phrases, audio embeddings, 2-event prompts with and
# without layout="auto"), and the scorer's comparison of generated clips.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session14_shipped; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/condition_use.py --pipelines mini mini-clap --clips $K $U > $O/condition_use.md 2>/dev/null
.venv/bin/python scripts/fidelity.py --clips $K $U --pipelines mini mini-clap --events 2 --layout --json-out $O/fidelity.json > $O/fidelity.md 2>$O/fidelity.err
.venv/bin/python scripts/compare_generation.py --clips $K $U --n 100 > $O/compare_generation.md 2>/dev/null
echo done > $O/queue_b.DONE
