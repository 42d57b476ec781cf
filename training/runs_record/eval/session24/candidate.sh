#!/bin/bash
# Session 24: judge run RUN's final T-CLAP as an install candidate, on the float16 copy that would be installed
# (runs/s24/RUN-tclap): session 23's candidate.sh and candidate_reproduction.sh in one, usable for mini (run 52) and
# mini-clap (run 51). One lane: the scorer calibration as the README makes it (calibrate_scorer.py, 300 training
# mixes, --write), the scorer's validation at its defaults (val.sh), the levels mixer with and without its noise
# floor (eval/session23/levels_noise.py). The other lane: order transfer (200 pairs, five mixers, canonicalised),
# zero-shot and T-Classify on both held-out lists, the probe on Kitchen20. About 50 minutes on two threads.
# Usage: candidate.sh RUN   (records in eval/session24: RUN.*, *_RUN.*)
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; M=runs/s24/$RUN-tclap; O=training/runs_record/eval/session24; K=../shared/data/kitchen20/metadata.csv
U=../shared/data/uiowa/metadata.csv; B=.venv/bin
while [ ! -f runs/$RUN/mini-tclap/final/model.safetensors ]; do sleep 60; done
rm -rf $M && $B/python -c "import sys, torch; from tclap_gen.model import TClap
TClap.from_pretrained(sys.argv[1], dtype=torch.float16).save_pretrained(sys.argv[2])" runs/$RUN/mini-tclap/final $M
( $B/python scripts/order_transfer.py --models $M --clips $K $U --pairs 200 --canonicalize --summary \
    > $O/order_transfer_$RUN.md 2> runs/s24/$RUN.order.err
  for set in kitchen20 uiowa; do
    $B/tclap-gen eval zeroshot --model $M --clips ../shared/data/$set/metadata.csv --split heldout --json \
      > $O/zeroshot_${set}_$RUN.json 2>/dev/null
    $B/tclap-gen eval tclassify --model $M --clips ../shared/data/$set/metadata.csv --split heldout --pairs 200 --json \
      > $O/tclassify_${RUN}_$set.json 2>/dev/null
  done
  $B/tclap-gen eval probe --model $M --clips $K --split heldout --json > $O/probe_${RUN}_kitchen20.json 2>/dev/null
  echo done > runs/s24/$RUN.order.DONE ) &
$B/python scripts/calibrate_scorer.py --model $M --clips $K $U --n 300 --write > $O/$RUN.calibration.log 2>&1
bash training/runs_record/eval/session13_scorer/val.sh $M $O/$RUN
$B/python training/runs_record/eval/session23/levels_noise.py $M > $O/levels_noise_$RUN.txt 2>/dev/null
wait
echo done > runs/s24/$RUN.candidate.DONE
