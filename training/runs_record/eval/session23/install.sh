#!/bin/bash
# Session 23: install run RUN's float16 T-CLAP (runs/s23/RUN-tclap, judged by candidate.sh and
# candidate_reproduction.sh) as mini's, as session 22 installed run 46: its model.safetensors copied into the
# built-in, calibrated there by the README's command (--write), kept as training/runs_record/RUN/tclap; then what
# the grounding model judges: session 20's STEAM-form clips re-judged (mini's generations do not change: the text
# tower is run 28's, tensor for tensor) and the gallery regenerated (its candidates are reranked by the scorer).
# About 30 minutes on one thread. Usage: install.sh RUN
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
RUN=$1; M=runs/s23/$RUN-tclap; O=training/runs_record/eval/session23; B=.venv/bin; S=runs/steam
K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv; mkdir -p $O/steam runs/s23/steam
cp $M/model.safetensors tclap_gen/weights/mini/tclap/model.safetensors
$B/python scripts/calibrate_scorer.py --model tclap_gen/weights/mini --clips $K $U --n 300 --write > $O/calibration_mini.log 2>&1
rm -rf training/runs_record/$RUN/tclap && cp -r $M training/runs_record/$RUN/tclap
for name in in_order reversed gen-mini-none gen-mini-auto gen-mini-clap-none gen-mini-clap-auto; do
  $B/tclap-gen eval generation $S/$name --captions $S/captions.json --reference $S/in_order --json > $O/steam/$name.json 2> runs/s23/steam/$name.err
done
$B/python training/runs_record/eval/steam_mini_scale/table.py $O/steam > $O/steam/table.md
find samples/gallery -type f ! -name README.md -delete
$B/tclap-gen batch samples/prompts/gallery.txt --out samples/gallery --candidates 4 --rerank temporal --seconds 5 --seed 0 \
  --layout auto > $O/gallery.log 2>&1
echo done > runs/s23/install.DONE
