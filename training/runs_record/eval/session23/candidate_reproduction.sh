#!/bin/bash
# Session 23: the miniature reproduction's T-CLAP-only rows (T-Classify on both held-out lists, 200 pairs; the linear
# probe on Kitchen20) for run RUN's float16 candidate (runs/s23/RUN-tclap, what candidate.sh builds), as
# session22/queue_tclap.sh measures an installed built-in. About 15 minutes. Usage: candidate_reproduction.sh RUN
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; M=runs/s23/$RUN-tclap; O=training/runs_record/eval/session23
for l in kitchen20 uiowa; do
  .venv/bin/tclap-gen eval tclassify --model $M --clips ../shared/data/$l/metadata.csv --split heldout --pairs 200 --json > $O/tclassify_${RUN}_$l.json 2>/dev/null
done
.venv/bin/tclap-gen eval probe --model $M --clips ../shared/data/kitchen20/metadata.csv --split heldout --json > $O/probe_${RUN}_kitchen20.json 2>/dev/null
echo done > runs/s23/$RUN.reproduction.DONE
