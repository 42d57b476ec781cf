#!/usr/bin/env python
"""Real two-event mixes of HELD-OUT recordings in AudioTime's layout, to validate and run `tclap-gen eval generation`.

Writes, under --out:
- in_order/ID.wav: clip A then clip B, mixed by one of order_transfer's held-out mixers (not the training mixer);
- reversed/ID.wav: the same two segments, B then A;
- captions.json: AudioTime's caption format {ID: {"caption": "A then B", "event": {A: [[on, off]], B: [[on, off]]}}}
  with the in-order mix's true spans and the model's class phrases as labels;
- prompts.jsonl: {"id", "prompt"} per ID, for `tclap-gen batch` (generated clips then land as ID.wav).

The held-out clips are those the mini recipes hold out (`datasets.split_clip_lists`). Then, e.g. (the README's table):

    python scripts/audiotime_mixes.py --clips ../shared/data/kitchen20/metadata.csv ../shared/data/uiowa/metadata.csv \
        --n 100 --out runs/steam
    tclap-gen eval generation runs/steam/in_order --captions runs/steam/captions.json --json
    tclap-gen eval generation runs/steam/reversed --captions runs/steam/captions.json --json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tclap_gen.audio import atomic_write, save_audio
from tclap_gen.datasets import HELDOUT_FRACTION, HELDOUT_SEED, label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.order_transfer import MIXING_STYLES, SAMPLING_RATE, mix_two_timed


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--n", type=int, default=100, help="mixes (default 100)")
    parser.add_argument("--mixer", default="gap", choices=MIXING_STYLES, help="order_transfer's held-out mixer")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    _, heldout = split_clip_lists(args.clips, seed=HELDOUT_SEED, test_fraction=HELDOUT_FRACTION)
    waves_by_label: dict[str, list] = {}
    for wave, label in load_labelled_clips(heldout, SAMPLING_RATE):
        waves_by_label.setdefault(label, []).append(wave)
    labels = sorted(waves_by_label)
    rng = random.Random(f"audiotime-mixes:{args.seed}:{args.mixer}")
    captions, prompts = {}, []
    for k in range(args.n):
        a, b = rng.sample(labels, 2)
        ab, ba, spans, _ = mix_two_timed(rng.choice(waves_by_label[a]), rng.choice(waves_by_label[b]), args.mixer, rng)
        clip_id = f"mix_{k:04d}"
        save_audio(args.out / "in_order" / f"{clip_id}.wav", ab, SAMPLING_RATE)
        save_audio(args.out / "reversed" / f"{clip_id}.wav", ba, SAMPLING_RATE)
        first, second = label_to_phrase(a), label_to_phrase(b)
        caption = f"{first} then {second}"
        captions[clip_id] = {"caption": caption, "event": {first: [[round(spans[0][0], 3), round(spans[0][1], 3)]],
                                                           second: [[round(spans[1][0], 3), round(spans[1][1], 3)]]}}
        prompts.append({"id": clip_id, "prompt": caption})
    atomic_write(args.out / "captions.json", lambda tmp: Path(tmp).write_text(json.dumps(captions, indent=1)))
    atomic_write(args.out / "prompts.jsonl",
                 lambda tmp: Path(tmp).write_text("".join(json.dumps(p) + "\n" for p in prompts)))
    print(f"{args.n} mixes ({args.mixer}) of {len(heldout)} held-out clips, {len(labels)} classes -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
