"""The `tclap-gen` command line: generate, score, parse, eval, batch, train."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_MODEL = "mini"


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command not in ("train", "batch") and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.handler(args, extra) or 0
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError) as error:
        print(f"tclap-gen {args.command}: error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tclap-gen", description=__doc__)
    commands = parser.add_subparsers(dest="command")

    generate = commands.add_parser("generate", help="generate audio for prompts; writes .wav, .json and .png per prompt")
    generate.add_argument("prompts", nargs="+", metavar="PROMPT")
    generate.add_argument("--out", required=True, type=Path, help="output folder")
    add_generation_options(generate)
    generate.set_defaults(handler=run_generate)

    score = commands.add_parser("score", help="how faithfully AUDIO follows PROMPT's temporal order")
    score.add_argument("audio", type=Path)
    score.add_argument("prompt")
    score.add_argument("--model", default=DEFAULT_MODEL, help="T-CLAP: built-in name, folder or Hub id")
    score.add_argument("--json", action="store_true", help="print the report as JSON")
    score.add_argument("--plot", type=Path, help="also write the spectrogram with event curves to this PNG")
    score.add_argument("--no-contrast", action="store_true",
                       help="events compete only with each other, silence and background noise, not with every class "
                            "the model was trained on (and the model's calibration is not used): finds more, and more "
                            "that is not there")
    score.set_defaults(handler=run_score)

    parse = commands.add_parser("parse", help="parse a caption into events in temporal order")
    parse.add_argument("caption")
    parse.add_argument("--json", action="store_true")
    parse.set_defaults(handler=run_parse)

    evaluate = commands.add_parser("eval", help="evaluate a T-CLAP on labelled clips (tclassify, zeroshot, probe, retrieval) "
                                                 "or generated clips against their captions (generation)")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    for kind, text in (("tclassify", "T-Classify: is the caption in the right order preferred over the reversed one"),
                       ("zeroshot", "zero-shot classification of single clips"),
                       ("probe", "linear probe: logistic regression on the train clips' audio embeddings, scored "
                                 "on the held-out clips (needs --split heldout)"),
                       ("retrieval", "text-audio retrieval among 2-event mix-ups")):
        one = kinds.add_parser(kind, help=text)
        one.add_argument("--model", default=DEFAULT_MODEL)
        one.add_argument("--clips", required=True, type=Path, help="METADATA.csv with at least path,label")
        one.add_argument("--pairs", type=int, default=200, help="T-Classify and retrieval: number of 2-event mix-ups")
        one.add_argument("--seed", type=int, default=0)
        one.add_argument("--split", choices=["all", "heldout"], default="all",
                         help="heldout: only the clips the mini recipes hold out (split by source)")
        one.add_argument("--json", action="store_true")
        one.set_defaults(handler=run_eval)
    generation = kinds.add_parser("generation", help="generated clips DIR/ID.wav against AudioTime-format captions: "
                                                     "STEAM-form temporal metrics, CLAP score, FD and KL")
    generation.add_argument("dir", type=Path, metavar="DIR", help="folder of generated clips ID.wav")
    generation.add_argument("--captions", required=True, type=Path,
                            help='JSON {ID: {"caption": str, "event": {label: [[onset, offset], ...]}}} (AudioTime)')
    generation.add_argument("--reference", type=Path, help="folder of reference clips ID.wav: adds FD and KL")
    generation.add_argument("--model", default=DEFAULT_MODEL, help="T-CLAP of the grounding TemporalScorer")
    generation.add_argument("--embedding-model", help="CLAP for the CLAP score, FD and KL (default: --model)")
    generation.add_argument("--task", choices=["auto", "ordering", "timestamp", "duration", "frequency"], default="auto",
                            help="how to read the labels' values: auto = [onset, offset] pairs; duration = one duration "
                                 "per label; frequency = the onsets of its occurrences (AudioTime's files)")
    generation.add_argument("--csv", type=Path, help="write one row per (clip, label) to this CSV")
    generation.add_argument("--plot", type=Path, help="write the ordering outcomes and onsets to this PNG")
    generation.add_argument("--no-progress", action="store_true", help="no progress bar")
    generation.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    generation.set_defaults(handler=run_eval_generation)

    batch = commands.add_parser("batch", help="generate a prompts file (resumable; see samples/generate_batch.py)",
                                add_help=False)
    batch.set_defaults(handler=run_batch)

    train = commands.add_parser("train", help="fine-tune a CLAP into a T-CLAP (same options as training/train_tclap.py)",
                                add_help=False)
    train.set_defaults(handler=run_train)
    return parser


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help="pipeline: built-in name, folder or Hub id")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance scale")
    parser.add_argument("--seconds", type=float, default=None, help="audio length (default: the model's)")
    parser.add_argument("--candidates", type=int, default=1, help="waveforms generated per prompt")
    parser.add_argument("--rerank", choices=["temporal", "clap", "none"], default="temporal",
                        help="how to pick the kept candidate when --candidates > 1")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--layout", choices=["auto", "none"], default="none",
                        help="auto: each event of the prompt conditions its own stretch of time (see README)")
    parser.add_argument("--canonicalize", action="store_true",
                        help="condition on the prompt rewritten by its parsed order (\"B after A\" -> \"A then B\")")


def run_generate(args, _extra) -> int:
    from .generate import generate_to_folder

    if args.out.exists() and not args.out.is_dir():
        raise FileExistsError(f"--out {args.out} is a file; give a folder (made if missing)")
    for record in generate_to_folder(
        args.prompts, args.out, model=args.model, seed=args.seed, steps=args.steps, guidance=args.guidance,
        seconds=args.seconds, candidates=args.candidates, rerank=None if args.rerank == "none" else args.rerank,
        negative_prompt=args.negative_prompt, layout=None if args.layout == "none" else args.layout,
        canonicalize=args.canonicalize,
    ):
        print(f"{args.out / record['audio']}  faithfulness={record['score']['faithfulness']:.3f}  {record['prompt']!r}")
    return 0


def run_score(args, _extra) -> int:
    from .scoring import TemporalScorer

    if not args.audio.is_file():  # before loading a model, so that a typo fails at once
        raise FileNotFoundError(f"audio file not found: {args.audio}")
    contrast = None if args.no_contrast else "auto"
    report = TemporalScorer.from_pretrained(args.model, contrast_texts=contrast).score_file(args.audio, args.prompt)
    if args.plot:
        report.plot(args.plot)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0


def run_parse(args, _extra) -> int:
    from .captions import order_negatives, parse_events

    plan = parse_events(args.caption)
    if args.json:
        print(json.dumps({**plan.to_dict(), "order_negatives": order_negatives(args.caption)}, indent=2))
    else:
        print(plan)
    return 0


def run_eval(args, _extra) -> int:
    from .evaluation import format_result, run_eval as evaluate

    result = evaluate(args.kind, args.model, str(args.clips), pairs=args.pairs, seed=args.seed, split=args.split)
    print(json.dumps(result, indent=2) if args.json else format_result(args.kind, result))
    return 0


def run_eval_generation(args, _extra) -> int:
    from .eval_generation import evaluate_generation, read_audiotime_captions
    from .model import TClap
    from .scoring import TemporalScorer

    read_audiotime_captions(args.captions, args.task)  # a bad file fails before a model is loaded
    if not args.dir.is_dir():
        raise NotADirectoryError(f"DIR {args.dir}: not a folder of generated clips")
    scorer = TemporalScorer.from_pretrained(args.model)
    embedder = TClap.from_pretrained(args.embedding_model) if args.embedding_model else None
    report = evaluate_generation(args.dir, args.captions, scorer, embedder=embedder, reference=args.reference,
                                 task=args.task, progress=not args.no_progress)
    if args.csv:
        report.write_rows(args.csv)
    if args.plot:
        report.plot(args.plot)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0


def run_batch(_args, extra) -> int:
    from .samples.generate_batch import main as batch_main

    return batch_main(extra) or 0


def run_train(_args, extra) -> int:
    from .trainers.tclap import main as train_main

    return train_main(extra) or 0


if __name__ == "__main__":
    raise SystemExit(main())
