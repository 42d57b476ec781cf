#!/bin/bash
# val.sh MODEL OUT [extra validate args]: project mixer n=300, then the five held-out mixers n=100, 2 events.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
M=$1; O=$2; shift 2; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
.venv/bin/python scripts/validate_scorer.py --model $M --clips $K $U --n 300 --events 2 "$@" 2>/dev/null > $O.project.md
for mx in gap overlap levels short long; do
  .venv/bin/python scripts/validate_scorer.py --model $M --clips $K $U --n 100 --events 2 --mixer $mx "$@" 2>/dev/null > $O.$mx.md
done
echo done > $O.DONE
