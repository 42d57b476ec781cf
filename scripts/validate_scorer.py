#!/usr/bin/env python
"""Validate the TemporalScorer on real recordings with known event times.

Builds 2- and 3-event mix-ups (tclap_gen.datasets.MixupDataset) from the HELD-OUT clips of one or more clip lists
(split by recording source with tclap_gen.datasets.split_clip_lists, each list on its own as the mini recipe splits them), scores each
mix-up against its true caption, and scores the same segments in reversed order against the same caption.
Prints, by number of events:

- timeline order accuracy: share of mix-ups whose order_correct is True (STEAM rule);
- global order accuracy: share whose prompt gets the highest T-CLAP probability among its orders;
- trend order accuracy: share whose order_trend is > 0 (the events' cosines follow the prompt's order);
- presence recall: share of events found (present);
- false presence: share of events found when the same audio is scored against the caption of the next mix-up
  that names none of its classes: what the presence recall costs in false alarms;
- onset / offset MAE (s) over the events found;
- reversed judged wrong: share of reversed mix-ups with order_correct False (timeline; also among those whose
  events were all found, so that missed events do not count as order judgements), with the prompt not
  ranked first (global) and with order_trend <= 0 (trend).

Example (the README's table):
    python scripts/validate_scorer.py --model mini --clips ../shared/data/kitchen20/metadata.csv \
        ../shared/data/uiowa/metadata.csv --n 100
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tclap_gen.captions import parse_events
from tclap_gen.datasets import (HELDOUT_FRACTION, HELDOUT_SEED, MixupDataset, label_to_phrase, load_labelled_clips,
                                read_clip_lists, split_clip_lists)
from tclap_gen.order_transfer import MIXING_STYLES, SAMPLING_RATE, mix_two_timed
from tclap_gen.scoring import TemporalScorer


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mini", help="T-CLAP: built-in name, folder or Hub id (default: mini)")
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--n", type=int, default=100, help="mix-ups per number of events (default 100)")
    parser.add_argument("--events", type=int, nargs="+", default=[2, 3], help="numbers of events (default 2 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="mix-up length in seconds (default 5)")
    parser.add_argument("--seed", type=int, default=1234, help="seed of the mix-ups (default 1234)")
    parser.add_argument("--heldout-seed", type=int, default=HELDOUT_SEED)
    parser.add_argument("--heldout-fraction", type=float, default=HELDOUT_FRACTION)
    parser.add_argument("--all-clips", action="store_true", help="use every clip, not only the held-out ones")
    parser.add_argument("--window", type=float, default=None, help="scorer window_s (default: scorer's)")
    parser.add_argument("--hop", type=float, default=None, help="scorer hop_s (default: scorer's)")
    parser.add_argument("--threshold", type=float, default=0.5, help="presence threshold (default 0.5)")
    parser.add_argument("--no-contrast", action="store_true", help="do not use the model's trained classes as competitors")
    parser.add_argument("--mixer", default="project", choices=["project", *MIXING_STYLES],
                        help="project: the training mixer (datasets.MixupDataset, 2-3 events); or one of "
                             "order_transfer's held-out mixers (2 events, 'A then B')")
    parser.add_argument("--plots", type=Path, default=None, help="write the first few reports' PNGs here")
    parser.add_argument("--plot-count", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if any(k < 2 for k in args.events):
        parser.error("--events must be 2 or more")
    if args.mixer != "project" and args.events != [2]:
        if "--events" in (argv if argv is not None else sys.argv[1:]):
            parser.error("the held-out mixers make 2-event mixes only: --events 2")
        args.events = [2]
    return args


def load_heldout(args) -> list:
    if args.all_clips:
        return read_clip_lists(args.clips)
    _, heldout = split_clip_lists(args.clips, seed=args.heldout_seed, test_fraction=args.heldout_fraction)
    if not heldout:
        raise SystemExit("the held-out split is empty: give more clips or use --all-clips")
    return heldout


def heldout_mixes(records, style: str, n: int, seed: int) -> list:
    """n two-event mixes by order_transfer's `style` mixer, in the shape evaluate() reads from MixupDataset items:
    the caption "A then B" over the class phrases, the reversed mix as the one audio negative, the true spans."""
    waves_by_label: dict[str, list] = {}
    for wave, label in load_labelled_clips(records, SAMPLING_RATE):  # the rate the held-out mixers work at
        waves_by_label.setdefault(label, []).append(wave)
    labels = sorted(waves_by_label)
    rng = random.Random(f"validate-scorer:{seed}:{style}")
    examples = []
    for _ in range(n):
        a, b = rng.sample(labels, 2)
        ab, ba, spans, _ = mix_two_timed(rng.choice(waves_by_label[a]), rng.choice(waves_by_label[b]), style, rng)
        first, second = label_to_phrase(a), label_to_phrase(b)
        timeline = [SimpleNamespace(label=label, phrase=phrase, onset=onset, offset=offset)
                    for label, phrase, (onset, offset) in zip((a, b), (first, second), spans)]
        examples.append(SimpleNamespace(audio=ab, sampling_rate=SAMPLING_RATE, caption=f"{first} then {second}",
                                        negatives=[f"{second} then {first}"], audio_negatives=[ba], timeline=timeline))
    return examples


def reversed_index(caption: str, negatives: list[str]) -> int | None:
    """Index of the negative that states the caption's events in reversed order."""
    wanted = parse_events(caption).events[::-1]
    for j, negative in enumerate(negatives):
        if parse_events(negative).events == wanted:
            return j
    return None


def evaluate(scorer: TemporalScorer, dataset: MixupDataset, plots: Path | None, plot_count: int, tag: str) -> dict:
    order_ok, global_ok, found, onset_err, offset_err, false_found = [], [], [], [], [], []
    rev_wrong, rev_found_wrong, rev_global_wrong, seconds = [], [], [], []
    trend_ok, rev_trend_wrong = [], []
    examples = [dataset[index] for index in range(len(dataset))]  # built once: the false-presence check reads others
    for index, example in enumerate(examples):
        start = time.perf_counter()
        report = scorer.score(example.audio, example.sampling_rate, example.caption)
        seconds.append(time.perf_counter() - start)
        truth = example.timeline  # temporal order, like report.events
        if [e.text for e in report.events] != [t.phrase for t in truth]:
            raise RuntimeError(f"caption {example.caption!r} parsed to {[e.text for e in report.events]}, "
                               f"expected {[t.phrase for t in truth]}")
        order_ok.append(bool(report.order_correct))
        if report.order_trend is not None:
            trend_ok.append(report.order_trend > 0)
        if report.order_probability is not None:
            global_ok.append(report.order_probability >= max(p for _, p in report.order_candidates))
        for event, true_event in zip(report.events, truth):
            found.append(event.present)
            if event.present:
                onset_err.append(abs(event.onset - true_event.onset))
                offset_err.append(abs(event.offset - true_event.offset))
        if plots is not None and index < plot_count:
            report.plot(plots / f"{tag}_{index:03d}.png")

        j = reversed_index(example.caption, example.negatives)
        if j is None:
            raise RuntimeError(f"no reversed-order negative for {example.caption!r}: {example.negatives}")
        reverse = scorer.score(example.audio_negatives[j], example.sampling_rate, example.caption)
        rev_wrong.append(reverse.order_correct is False)
        if all(e.present for e in reverse.events):  # wrong for the order, not because an event was missed
            rev_found_wrong.append(reverse.order_correct is False)
        if reverse.order_trend is not None:
            rev_trend_wrong.append(reverse.order_trend <= 0)
        if reverse.order_probability is not None:
            rev_global_wrong.append(reverse.order_probability < max(p for _, p in reverse.order_candidates))
        if plots is not None and index < plot_count:
            reverse.plot(plots / f"{tag}_{index:03d}_reversed.png")

        # false presence: the same audio against the caption of the next mix-up that names none of these classes
        labels = {t.label for t in truth}
        for step in range(1, len(examples)):
            other = examples[(index + step) % len(examples)]
            if not labels & {t.label for t in other.timeline}:
                wrong = scorer.score(example.audio, example.sampling_rate, other.caption)
                false_found.extend(e.present for e in wrong.events)
                break

    return {"order_ok": order_ok, "global_ok": global_ok, "found": found, "onset_err": onset_err,
            "offset_err": offset_err, "false_found": false_found, "rev_wrong": rev_wrong, "rev_found_wrong": rev_found_wrong, "rev_global_wrong": rev_global_wrong,
            "trend_ok": trend_ok, "rev_trend_wrong": rev_trend_wrong, "seconds": seconds}


def summarise(raw: dict) -> dict:
    def mean(values):
        return float(np.mean(values)) if values else None

    return {
        "mixups": len(raw["order_ok"]),
        "order_accuracy": mean(raw["order_ok"]),
        "global_order_accuracy": mean(raw["global_ok"]),
        "trend_order_accuracy": mean(raw["trend_ok"]),
        "presence_recall": mean(raw["found"]),
        "false_presence": mean(raw["false_found"]),
        "onset_mae_s": mean(raw["onset_err"]),
        "offset_mae_s": mean(raw["offset_err"]),
        "reversed_judged_wrong": mean(raw["rev_wrong"]),
        "reversed_judged_wrong_all_found": mean(raw["rev_found_wrong"]),
        "reversed_all_found": len(raw["rev_found_wrong"]),
        "reversed_global_judged_wrong": mean(raw["rev_global_wrong"]),
        "reversed_trend_judged_wrong": mean(raw["rev_trend_wrong"]),
        "seconds_per_score": mean(raw["seconds"]),
    }


def table(results: dict) -> str:
    columns = [
        ("events", None), ("mix-ups", "mixups"), ("order acc. (timeline)", "order_accuracy"),
        ("order acc. (global)", "global_order_accuracy"), ("order acc. (trend)", "trend_order_accuracy"),
        ("presence recall", "presence_recall"),
        ("false presence (other classes' caption)", "false_presence"),
        ("onset MAE (s)", "onset_mae_s"), ("offset MAE (s)", "offset_mae_s"),
        ("reversed judged wrong (timeline)", "reversed_judged_wrong"),
        ("reversed judged wrong, all events found (timeline)", "reversed_judged_wrong_all_found"),
        ("reversed judged wrong (global)", "reversed_global_judged_wrong"),
        ("reversed judged wrong (trend)", "reversed_trend_judged_wrong"),
    ]
    lines = ["| " + " | ".join(name for name, _ in columns) + " |", "|" + "---|" * len(columns)]
    for events, row in results.items():
        cells = [str(events)]
        for _, key in columns[1:]:
            value = row[key]
            cells.append("n/a" if value is None else (str(value) if isinstance(value, int) else f"{value:.3f}"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    records = load_heldout(args)
    kwargs = {"threshold": args.threshold}
    if args.window is not None:
        kwargs["window_s"] = args.window
    if args.hop is not None:
        kwargs["hop_s"] = args.hop
    if args.no_contrast:
        kwargs["contrast_texts"] = None
    scorer = TemporalScorer.from_pretrained(args.model, **kwargs)
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)

    results, pooled = {}, {}
    for count in args.events:
        if args.mixer == "project":
            dataset = MixupDataset(records, sampling_rate=scorer.sampling_rate, seconds=args.seconds,
                                   num_events=(count, count), length=args.n, seed=args.seed + count)
        else:
            dataset = heldout_mixes(records, args.mixer, args.n, args.seed)
        raw = evaluate(scorer, dataset, args.plots, args.plot_count, f"events{count}")
        results[count] = summarise(raw)
        for key, values in raw.items():
            pooled.setdefault(key, []).extend(values)
    if len(args.events) > 1:
        results["all"] = summarise(pooled)

    setup = {
        "model": str(args.model), "clips": [str(p) for p in args.clips], "heldout_clips": len(records),
        "all_clips": args.all_clips, "heldout_seed": args.heldout_seed, "heldout_fraction": args.heldout_fraction,
        "seconds": args.seconds, "seed": args.seed, "window_s": scorer.window_s, "hop_s": scorer.hop_s,
        "threshold": scorer.threshold, "contrast": "none" if args.no_contrast else "auto", "mixer": args.mixer,
        "calibrated": scorer.calibration is not None,
    }
    if args.json:
        print(json.dumps({"setup": setup, "results": {str(k): v for k, v in results.items()}}, indent=2))
    else:
        mixes = f"{args.seconds:g} s mix-ups" if args.mixer == "project" else f"mixes by the held-out {args.mixer!r} mixer"
        print(f"model {args.model}: {len(records)} {'clips' if args.all_clips else 'held-out clips'}, "
              f"{mixes}, {'calibrated' if scorer.calibration else 'uncalibrated'}, window {scorer.window_s:g} s, hop {scorer.hop_s:g} s, "
              f"threshold {scorer.threshold:g}")
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
