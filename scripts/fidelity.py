#!/usr/bin/env python
"""Fidelity of every generator stage on held-out recordings, judged by a sound classifier of our own.

The classifier (tclap_gen.fidelity.SoundClassifier) is trained on the TRAIN side of the held-out split only (cached
under --classifier-dir, named by a hash of its recipe and clip list). On the HELD-OUT clips (their loudest
--seconds) it judges: the originals; Griffin-Lim from their log-mel (the floor); each pipeline's vocoder on that
log-mel, and any --vocoder folder; the log-mel through each pipeline's VAE and vocoder; clips generated from
each class's phrase, and from the T-CLAP audio embedding of one held-out clip per class (the conditioning the UNet
was trained on, apart from the gap between text and audio embeddings); and prompts of 2 (and with --events 2 3,
3) events "A then B [then C]" (all events found, in order, how often two classes that are absent get "found", and
the found events' onset and offset errors against the spans layout="auto" plans), with --layout also generated
with layout="auto", with --candidates N also as the best of N re-ranked by the pipeline's temporal scorer, next to
real held-out recordings mixed in that order. Shares, ratios to the originals' top-1, and spectral distances
(log-mel L1, multi-resolution STFT) of the reconstructions.

    python scripts/fidelity.py --clips ../shared/data/kitchen20/metadata.csv ../shared/data/uiowa/metadata.csv \
        --pipelines mini mini-clap --json-out runs/fidelity/mini.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from tclap_gen.audio import atomic_write, level
from tclap_gen.datasets import load_labelled_clips, split_clip_lists
from tclap_gen.fidelity import ClassifierRecipe, SoundClassifier, measure, train_classifier


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--pipelines", nargs="*", default=["mini"], help="pipelines to judge (names or folders)")
    parser.add_argument("--vocoder", nargs="*", default=[], type=Path, help="extra vocoder folders to judge")
    parser.add_argument("--pairs", type=int, default=40, help="2-event prompts (default 40)")
    parser.add_argument("--per-class", type=int, default=1, help="generated clips per class phrase (default 1)")
    parser.add_argument("--seconds", type=float, default=5.12)
    parser.add_argument("--steps", type=int, default=50, help="denoising steps (default 50)")
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier-dir", type=Path, default=Path("training/runs_record/eval"),
                        help="where the judge is cached (the one behind the README figures is committed there)")
    parser.add_argument("--classifier-steps", type=int, default=ClassifierRecipe.steps)
    parser.add_argument("--events", nargs="+", type=int, default=[2], metavar="N",
                        help="multi-event prompts to judge: 2 for \"A then B\", 3 for \"A then B then C\" (default 2)")
    parser.add_argument("--layout", action="store_true",
                        help="also judge the multi-event prompts generated with layout=\"auto\" (same seeds)")
    parser.add_argument("--candidates", type=int, default=1,
                        help="also judge the multi-event prompts as the best of N candidates re-ranked by the "
                             "pipeline's temporal scorer (default 1: not judged)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the rows here (JSON)")
    args = parser.parse_args(argv)
    for name in ("pairs", "per_class", "steps", "classifier_steps", "candidates"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(n < 2 or n > 8 for n in args.events):
        parser.error(f"--events: each count must be 2 to 8, got {args.events}")
    if args.seconds <= 1.0:
        parser.error("--seconds must be more than 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    train, heldout = split_clip_lists(args.clips)
    recipe = ClassifierRecipe(steps=args.classifier_steps)
    folder = args.classifier_dir / f"classifier-{recipe.key(train)}"
    if (folder / "model.safetensors").is_file():
        classifier = SoundClassifier.load(folder)
    else:
        train_waves = [(level(w), label) for w, label in load_labelled_clips(train)]
        classifier = train_classifier([w for w, _ in train_waves], [l for _, l in train_waves], recipe,
                                      log=lambda line: print(line, file=sys.stderr))
        classifier.save(folder)
    known = set(classifier.classes)
    heldout_waves = [(w, label) for w, label in load_labelled_clips(heldout) if label in known]  # measure levels them

    from tclap_gen.generate import load_pipeline
    from tclap_gen.vocoder import load_vocoder

    pipelines = {name: load_pipeline(name, device="cpu") for name in args.pipelines}
    vocoders = {str(path): load_vocoder(path, dtype=torch.float32).eval() for path in args.vocoder}
    rows = measure(classifier, heldout_waves, pipelines, vocoders=vocoders, pairs=args.pairs,
                   per_class=args.per_class, seconds=args.seconds, steps=args.steps, guidance=args.guidance,
                   seed=args.seed, layout=args.layout, event_counts=tuple(args.events), candidates=args.candidates,
                   log=lambda line: print(line, file=sys.stderr))
    result = {"classifier": str(folder), "heldout_clips": len(heldout_waves), "classes": len(classifier.classes),
              "config": {k: v for k, v in vars(args).items() if k != "clips"},
              "rows": rows}
    if args.json_out is not None:
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2, default=str) + "\n"))  # paths as text
    print(f"{len(heldout_waves)} held-out clips, {len(classifier.classes)} classes; classifier {folder}")
    print("| what the classifier hears | clips | top-1 | top-5 | top-1 / originals' | log-mel L1 | MR-STFT |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        if "top1" in row:
            cells = [row["clips"], f"{row['top1']:.2f}", f"{row['top5']:.2f}", f"{row['top1_ratio_to_original']:.2f}",
                     f"{row['log_mel_l1']:.2f}" if "log_mel_l1" in row else "-",
                     f"{row['mr_stft']:.2f}" if "mr_stft" in row else "-"]
            print(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    print()
    print("| multi-event clips | clips | all events found | in the prompt's order | absent classes found "
          "| onset error (s) | offset error (s) |")
    print("|---|---|---|---|---|---|---|")
    cell = lambda value: "-" if value is None else f"{value:.2f}"  # noqa: E731 (a share or seconds, or none)
    for name, row in rows.items():
        if "all_found" in row:
            print(f"| {name} | {row['clips']} | {row['all_found']:.2f} | {row['in_order']:.2f} | "
                  f"{cell(row['absent_found'])} | {cell(row['onset_error_s'])} | {cell(row['offset_error_s'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
