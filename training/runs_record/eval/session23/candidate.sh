#!/bin/bash
# Session 23: judge run RUN's final T-CLAP as an install candidate for mini, on the float16 copy that would be
# installed (runs/s23/RUN-tclap; also kept as training/runs_record/RUN/tclap): the scorer calibration as the README
# makes it (calibrate_scorer.py, 300 training mixes, --write), the scorer's validation at its defaults (val.sh), the
# levels mixer with and without its noise floor (levels_noise.py) on one thread; order transfer (200 pairs, five
# mixers, canonicalised) and zero-shot on both held-out lists on the other. About 35 minutes.
# Usage: candidate.sh RUN   (records in eval/session23: RUN.*)
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; M=runs/s23/$RUN-tclap; O=training/runs_record/eval/session23; K=../shared/data/kitchen20/metadata.csv
U=../shared/data/uiowa/metadata.csv
while [ ! -f runs/$RUN/mini-tclap/final/model.safetensors ]; do sleep 60; done
rm -rf $M && .venv/bin/python -c "import sys, torch; from tclap_gen.model import TClap
TClap.from_pretrained(sys.argv[1], dtype=torch.float16).save_pretrained(sys.argv[2])" runs/$RUN/mini-tclap/final $M
( .venv/bin/python scripts/order_transfer.py --models $M --clips $K $U --pairs 200 --canonicalize --summary \
    > $O/order_transfer_$RUN.md 2> runs/s23/$RUN.order.err
  for set in kitchen20 uiowa; do
    .venv/bin/tclap-gen eval zeroshot --model $M --clips ../shared/data/$set/metadata.csv --split heldout --json \
      > $O/zeroshot_${set}_$RUN.json 2>/dev/null
  done
  echo done > runs/s23/$RUN.order.DONE ) &
.venv/bin/python scripts/calibrate_scorer.py --model $M --clips $K $U --n 300 --write > $O/$RUN.calibration.log 2>&1
bash training/runs_record/eval/session13_scorer/val.sh $M $O/$RUN
.venv/bin/python $O/levels_noise.py $M > $O/levels_noise_$RUN.txt 2>/dev/null
wait
echo done > runs/s23/$RUN.candidate.DONE
