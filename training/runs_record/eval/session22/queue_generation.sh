#!/bin/bash
# Session 22, after queue_tclap.sh: what judges generated clips with mini's T-CLAP. mini's generations are unchanged
# (run 46 froze the text tower: the UNet's conditions are bit-identical), which the first step checks on three
# prompts against session 20's clips; so the STEAM-form table re-judges session 20's clips (runs/steam, made by
# steam_mini_scale/commands.sh) with the new grounding model instead of generating them again. Then the gallery and
# the scorer's comparison of generated clips (100 prompts, with and without layout). About 2 hours on one thread.
# Session 22 ran all but the comparison, stopped after 15 minutes for lack of time; rerun that last line alone.
cd "$(dirname "$0")/../../../.."; export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1
O=training/runs_record/eval/session22; K=../shared/data/kitchen20/metadata.csv; U=../shared/data/uiowa/metadata.csv
B=.venv/bin; S=runs/steam; T=runs/s22/steam; mkdir -p $T $O/steam
head -3 $S/prompts.jsonl > $T/prompts3.jsonl
$B/tclap-gen batch $T/prompts3.jsonl --out $T/check --model mini --layout none --candidates 1 --rerank none --no-html > /dev/null 2>&1
$B/python - $S/gen-mini-none $T/check > $O/steam/identical.txt <<'PY'
import sys, numpy as np, soundfile as sf
from pathlib import Path
old, new = map(Path, sys.argv[1:])
for wav in sorted(new.glob("*.wav")):
    a, b = sf.read(old / wav.name)[0], sf.read(wav)[0]
    print(wav.name, "identical" if a.shape == b.shape and np.array_equal(a, b) else f"DIFFERENT (max {np.abs(a - b).max()})")
PY
for name in in_order reversed gen-mini-none gen-mini-auto gen-mini-clap-none gen-mini-clap-auto; do
  $B/tclap-gen eval generation $S/$name --captions $S/captions.json --reference $S/in_order --json > $O/steam/$name.json 2> $T/$name.err
done
$B/python training/runs_record/eval/steam_mini_scale/table.py $O/steam > $O/steam/table.md
find samples/gallery -type f ! -name README.md -delete
$B/tclap-gen batch samples/prompts/gallery.txt --out samples/gallery --candidates 4 --rerank temporal --seconds 5 --seed 0 \
  --layout auto > $O/gallery.log 2>&1
$B/python scripts/compare_generation.py --clips $K $U --n 100 --layout > $O/compare_generation.md 2> runs/s22/compare_generation.err
echo done > $O/queue_generation.DONE
