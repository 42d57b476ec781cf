#!/usr/bin/env python
"""Fit the TemporalScorer's presence calibration of a T-CLAP on mixes of TRAINING clips, and store it in the model
folder so that the scorer uses it by default (tclap_gen.scoring.fit_calibration, save_calibration).

The clips are split by recording source exactly as the mini recipe splits them (tclap_gen.datasets.split_clip_lists);
only the train side is mixed here, so scripts/validate_scorer.py on the held-out side stays held out.

    python scripts/calibrate_scorer.py --model tclap_gen/weights/mini --clips ../shared/data/kitchen20/metadata.csv \
        ../shared/data/uiowa/metadata.csv --n 300 --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tclap_gen.datasets import MixupDataset, split_clip_lists
from tclap_gen.scoring import TemporalScorer, fit_calibration, save_calibration


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="T-CLAP or pipeline folder (or a built-in name without --write)")
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--n", type=int, default=300, help="training mixes of 2-3 events (default 300)")
    parser.add_argument("--window", type=float, default=1.0, help="timeline window in seconds (default 1)")
    parser.add_argument("--max-false-presence", type=float, default=None,
                        help="the false presence allowed on the training mixes (default: maximise recall - false)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="store the calibration in the model folder")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.max_false_presence is not None and not 0 <= args.max_false_presence <= 1:
        parser.error("--max-false-presence must be in [0, 1]")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    scorer = TemporalScorer.from_pretrained(args.model, window_s=args.window, calibration=None)
    classes = scorer.tclap.info.extra.get("classes") or []
    if not classes:
        print(f"error: --model {args.model}: its tclap_config.json lists no trained classes to calibrate against",
              file=sys.stderr)
        return 2
    train, _ = split_clip_lists(args.clips)
    mixes = MixupDataset(train, seconds=scorer.tclap.max_samples / scorer.sampling_rate, num_events=(2, 3),
                         length=args.n, seed=args.seed)

    def examples():
        for index in range(len(mixes)):
            example = mixes[index]
            yield example.audio, example.sampling_rate, {t.phrase for t in example.timeline}

    calibration = fit_calibration(scorer, examples(), classes, args.max_false_presence)
    print(json.dumps(calibration.to_dict(), indent=2))
    if args.write:
        print(f"written to {save_calibration(args.model, calibration)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
