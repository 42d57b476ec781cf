#!/usr/bin/env python
"""Generation in miniature: do the events come out in the prompt's order more often with the UNet trained on
T-CLAP embeddings (`mini`) than with the same recipe on plain-CLAP embeddings (`mini-clap`)?

Prompts are the captions of 2-event mix-ups of HELD-OUT real clips (tclap_gen.datasets.MixupDataset over
tclap_gen.datasets.split_clip_lists, as scripts/validate_scorer.py builds them). Each pipeline generates one clip per
prompt with the same seed; ONE T-CLAP (default: the mini) judges every clip, and the real mix-ups themselves,
judged the same way, give the ceiling. It judges twice: as TemporalScorer does by default (each window's event
competes with every class the model was trained on, through the model's calibration when it has one) and with no
class competitors (contrast_texts=None: only the prompt's other events, "silence" and "background noise").
Printed per judge and source:

- order accuracy: share of clips whose events the scorer finds in the prompt's order (order_correct, STEAM rule);
- both found: share of clips where the scorer finds every event;
- order accuracy among those (an order judgement, not a missed event);
- order trend: share whose events' cosines follow the prompt's order over the loud windows (order_trend > 0; it
  needs no event to pass the presence threshold, so both judges give it alike);
- global order: share whose prompt the scorer's T-CLAP prefers to the reversed caption (order_probability > 0.5);
- mean faithfulness.

With --layout each pipeline also generates every prompt with layout="auto" (same seeds), as its own source.

    python scripts/compare_generation.py --clips ../shared/data/kitchen20/metadata.csv \
        ../shared/data/uiowa/metadata.csv --n 100
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tclap_gen.audio import save_audio
from tclap_gen.datasets import MixupDataset, split_clip_lists
from tclap_gen.fidelity import generate_clips
from tclap_gen.generate import load_pipeline
from tclap_gen.scoring import TemporalScorer


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--pipelines", nargs="+", default=["mini", "mini-clap"], help="pipelines to compare")
    parser.add_argument("--scorer", default="mini", help="T-CLAP that judges every clip (default: mini)")
    parser.add_argument("--n", type=int, default=100, help="prompts (default 100)")
    parser.add_argument("--seed", type=int, default=4321, help="seed of the mix-ups and of each prompt's noise")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--seconds", type=float, default=5.0, help="clip length (default 5)")
    parser.add_argument("--batch", type=int, default=8, help="prompts per pipeline call")
    parser.add_argument("--layout", action="store_true", help='also generate with layout="auto" (same seeds)')
    parser.add_argument("--out", type=Path, default=None, help="also write every clip here (wav)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    return args


def judge(scorer: TemporalScorer, waves, sampling_rate: int, prompts: list[str]) -> dict:
    rows = []
    for wave, prompt in zip(waves, prompts):
        report = scorer.score(wave, sampling_rate, prompt)
        found = all(event.present for event in report.events)
        rows.append({"order": bool(report.order_correct), "found": found, "faithfulness": float(report.faithfulness),
                     "trend": None if report.order_trend is None else report.order_trend > 0,
                     "global": None if report.order_probability is None else report.order_probability > 0.5})
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    def share(values):
        values = [v for v in values if v is not None]
        return round(100.0 * float(np.mean(values)), 1) if values else None

    return {
        "clips": len(rows),
        "order_accuracy": share(r["order"] for r in rows),
        "both_found": share(r["found"] for r in rows),
        "order_accuracy_when_found": share(r["order"] for r in rows if r["found"]),
        "order_trend": share(r["trend"] for r in rows),
        "global_order": share(r["global"] for r in rows),
        "mean_faithfulness": round(float(np.mean([r["faithfulness"] for r in rows])), 3),
    }


def generate(pipe, prompts: list[str], args, layout: str | None) -> tuple[list[np.ndarray], float]:
    began = time.perf_counter()
    waves = generate_clips(pipe, prompts, args.seconds, args.steps, args.guidance, args.seed, batch=args.batch,
                           layout=layout)
    return waves, time.perf_counter() - began


def main(argv=None) -> int:
    args = parse_args(argv)
    _, heldout = split_clip_lists(args.clips)
    mixups = MixupDataset(heldout, sampling_rate=16000, seconds=args.seconds, num_events=(2, 2), length=args.n,
                          seed=args.seed)
    examples = [mixups[i] for i in range(args.n)]
    prompts = [example.caption for example in examples]
    scorer = TemporalScorer.from_pretrained(args.scorer)
    judges = {"class contrast": scorer, "no class contrast": TemporalScorer(scorer.tclap, contrast_texts=None)}

    def judge_all(waves, rate) -> dict:
        return {name: judge(j, waves, rate, prompts) for name, j in judges.items()}

    results = {"real held-out mix-ups (ceiling)": judge_all([e.audio for e in examples], 16000)}
    timing = {}
    for name in args.pipelines:
        pipe = load_pipeline(name)
        for layout in [None, "auto"] if args.layout else [None]:
            source = name if layout is None else f"{name}, layout={layout}"
            waves, seconds = generate(pipe, prompts, args, layout)
            results[source] = judge_all(waves, pipe.sampling_rate)
            timing[source] = round(seconds / len(waves), 2)
            if args.out is not None:
                folder = args.out / (Path(name).name + ("" if layout is None else f"-layout-{layout}"))  # a path -> its name
                for i, wave in enumerate(waves):
                    save_audio(folder / f"{i:03d}.wav", wave, pipe.sampling_rate)
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    config["clips"] = [str(c) for c in args.clips]
    if args.json:
        print(json.dumps({"config": config, "prompts": prompts, "results": results,
                          "generation_s_per_clip": timing}, indent=2))
        return 0
    print(f"{args.n} two-event prompts from held-out clips; judged by the {args.scorer} T-CLAP; "
          f"{args.steps} steps, guidance {args.guidance}, seed {args.seed}; seconds per clip {timing}")
    columns = ["order_accuracy", "both_found", "order_accuracy_when_found", "order_trend", "global_order",
               "mean_faithfulness"]
    print("| judge | source | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 2) + "|")
    for name in judges:
        for source, by_judge in results.items():
            print(f"| {name} | {source} | " + " | ".join(str(by_judge[name][c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
