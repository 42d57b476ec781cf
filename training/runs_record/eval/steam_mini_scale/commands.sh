#!/usr/bin/env bash
# Issue 18's mini-scale table: real held-out mixes, then mini / mini-clap with and without layout, each judged by eval generation.
set -x
cd /work/main
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
B=.venv/bin
[ -f runs/steam/captions.json ] || $B/python scripts/audiotime_mixes.py --clips ../shared/data/kitchen20/metadata.csv ../shared/data/uiowa/metadata.csv --n 100 --out runs/steam
for ref in in_order reversed; do
  [ -f runs/steam/$ref.json ] || $B/tclap-gen eval generation runs/steam/$ref --captions runs/steam/captions.json --reference runs/steam/in_order --json > runs/steam/$ref.json
done
for cfg in "mini none" "mini-clap none" "mini auto" "mini-clap auto"; do
  set -- $cfg
  name=gen-$1-$2
  $B/tclap-gen batch runs/steam/prompts.jsonl --out runs/steam/$name --model $1 --layout $2 --candidates 1 --rerank none --no-html > runs/steam/$name.batch.txt 2>&1
  $B/tclap-gen eval generation runs/steam/$name --captions runs/steam/captions.json --reference runs/steam/in_order --json --csv runs/steam/$name.csv > runs/steam/$name.json 2> runs/steam/$name.err
done
echo ALLDONE
