#!/usr/bin/env python
"""T-Classify of T-CLAPs on held-out recordings, per phrasing family and per mixing style (tclap_gen.order_transfer):
the phrasings and mixers of training next to ones training never produces.

    python scripts/order_transfer.py --models mini mini-clap --clips ../shared/data/kitchen20/metadata.csv \
        ../shared/data/uiowa/metadata.csv --pairs 200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tclap_gen.datasets import label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.model import TClap
from tclap_gen.order_transfer import (BLIND_MEAN, HELDOUT_FAMILIES, HELDOUT_MEAN, MIXING_STYLES, TRAINING_FAMILIES,
                                     build_pairs, embed_pairs, evaluate_transfer, parser_reading)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mini", "mini-clap"], help="T-CLAPs (names or folders)")
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--pairs", type=int, default=200, help="clip pairs per mixing style (default 200)")
    parser.add_argument("--styles", nargs="+", default=list(MIXING_STYLES), choices=MIXING_STYLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--canonicalize", action="store_true",
                        help="also measure each model with captions rewritten by captions.canonical_caption")
    parser.add_argument("--summary", action="store_true",
                        help="one row per model: the held-out families' mean per mixing style and over all of them")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    _, heldout = split_clip_lists(args.clips)
    waves_by_label: dict[str, list] = {}
    for wave, label in load_labelled_clips(heldout):
        waves_by_label.setdefault(label, []).append(wave)
    pairs = build_pairs(waves_by_label, args.pairs, args.styles, args.seed)
    results, columns = {}, []
    for name in args.models:
        model = TClap.from_pretrained(name)
        audio = embed_pairs(model, pairs)
        results[name] = evaluate_transfer(model, pairs, audio_embeddings=audio)
        columns.append(name)
        if args.canonicalize:
            results[f"{name} (canonicalised)"] = evaluate_transfer(model, pairs, canonicalize=True, audio_embeddings=audio)
            columns.append(f"{name} (canonicalised)")
    reading = parser_reading([(label_to_phrase(a), label_to_phrase(b)) for a, b in pairs.labels])
    if args.json:
        print(json.dumps({"pairs": args.pairs, "heldout_clips": sum(map(len, waves_by_label.values())),
                          "parser_reading": reading, "results": results}, indent=2))
        return 0
    print("captions whose order the caption grammar reads right: "
          + ", ".join(f"{name} {share:.2f}" for name, share in reading.items()))
    if args.summary:
        print(summary_table(results, columns, args.styles))
        return 0
    print(f"\n{args.pairs} pairs of held-out clips ({len(waves_by_label)} classes) per style; A2T / T2A / group "
          "(chance 0.50 / 0.50 / 0.17)")
    families = list(TRAINING_FAMILIES) + list(HELDOUT_FAMILIES) + [HELDOUT_MEAN, BLIND_MEAN]
    for style in args.styles:
        print(f"\nmixing style: {style}\n")
        print("| phrasing family | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for family in families:
            kind = "training" if family in TRAINING_FAMILIES else "held out"
            cells = [" / ".join(f"{results[m][style][family][k]:.2f}" for k in ("a2t", "t2a", "group"))
                     for m in columns]
            label = family if family in (HELDOUT_MEAN, BLIND_MEAN) else f"{family} ({kind})"
            print(f"| {label} | " + " | ".join(cells) + " |")
    return 0


def summary_table(results: dict, columns: list[str], styles: list[str]) -> str:
    """Models as rows; per mixing style and over all styles, the held-out families' mean A2T / T2A / group."""
    lines = ["| model | " + " | ".join(styles) + " | all styles |", "|---" * (len(styles) + 2) + "|"]
    for name in columns:
        rows = [results[name][style][HELDOUT_MEAN] for style in styles]
        cells = [" / ".join(f"{row[k]:.2f}" for k in ("a2t", "t2a", "group")) for row in rows]
        cells.append(" / ".join(f"{sum(row[k] for row in rows) / len(rows):.2f}" for k in ("a2t", "t2a", "group")))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
