"""Training: one T-CLAP step against the floor of the same work, and the data loader against what a step consumes.

A T-CLAP step: the audio tower on the batch's clips and their audio order negatives (the same segments mixed in
other orders), the text tower on the captions and their order-negative captions, TClapLoss (contrastive +
0.5 x temporal), backward, AdamW, logit-scale clamp. Variants (timed in turn on one fixed batch):

    tclap       the T-CLAP step
    floor       the same forwards and backward (negatives included: they enter the loss with weight 0, so
                backward still runs through them) with a plain symmetric contrastive loss: the floor of the work
    clap_only   a plain CLAP step on the positives alone (no negatives): what the negatives cost, for reference

Data: MixupDataset over labelled clips (default the repo's tests/data/clips), collated in the DataLoader as the
trainer does (resample to the model's rate, CLAP features, token ids). Measured: the loader alone (samples/s,
after its first batch) and a loop of real T-CLAP steps fed by it (the share of time the loop waits for data),
for each `--workers` setting.

    python benchmarks/bench_training.py --size real            # full-size CLAP, 10 s at 48 kHz, batch 4
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _models as M  # noqa: E402

VARIANTS = ("tclap", "floor", "clap_only")
DEFAULT_CLIPS = C.REPO / "tests" / "data" / "clips" / "metadata.csv"
DATA_RATE = 16000  # the clips' rate (the trainer's data.sampling_rate); the collator resamples to the model's


def build_parser():
    parser = C.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=M.SIZES, default="real")
    parser.add_argument("--batch-size", type=int, default=None, help="examples per step (default 4; quick 2)")
    parser.add_argument("--seconds", type=float, default=None, help="example length (default: the model's window)")
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="metadata.csv of labelled clips")
    parser.add_argument("--workers", default=None, help="comma-separated DataLoader worker counts (default 0,1)")
    parser.add_argument("--loader-batches", type=int, default=None, help="batches timed from the loader alone")
    parser.add_argument("--loop-steps", type=int, default=None, help="steps of the fed loop per worker setting")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def resolve(args) -> None:
    if args.quick:
        args.size = "tiny"
        args.batch_size = args.batch_size or 2
        args.workers = args.workers or "0"
        args.loader_batches = args.loader_batches or 2
        args.loop_steps = args.loop_steps or 2
    args.batch_size = args.batch_size or 4
    args.workers = [int(w) for w in str(args.workers or "0,1").split(",")]
    args.loader_batches = args.loader_batches or 6
    args.loop_steps = args.loop_steps or 4
    C.check_args(args, default_repeats=3 if args.size == "real" else 10,
                 default_threads=1 if args.size == "tiny" else None)
    if args.batch_size < 2:
        raise ValueError(f"--batch-size must be at least 2 (a contrastive loss needs pairs), got {args.batch_size}")
    if any(w < 0 for w in args.workers) or args.loader_batches < 1 or args.loop_steps < 2:
        raise ValueError("--workers must be >= 0, --loader-batches >= 1 and --loop-steps >= 2")
    if not args.clips.is_file():
        raise FileNotFoundError(f"--clips {args.clips}: no such metadata file")


class Collate:
    """The trainer's own collator (tclap_gen.trainers.tclap.FeatureCollator: features and tokens in the loader's
    workers), fed plain examples; it takes (example, unusable files) pairs."""

    def __init__(self, tclap):
        from tclap_gen.trainers.tclap import FeatureCollator

        self.collator = FeatureCollator(tclap.processor.feature_extractor, tclap.processor.tokenizer, DATA_RATE)

    def __call__(self, examples) -> dict:
        return self.collator([(example, []) for example in examples])


def build(args):
    import torch

    from tclap_gen.datasets import MixupDataset, read_clip_metadata
    from tclap_gen.losses import TClapLoss, clamp_logit_scale, contrastive_loss

    tclap = M.tclap_for(args.size, args.seed)
    model = tclap.model.train()
    seconds = args.seconds or tclap.max_samples / tclap.sampling_rate
    dataset = MixupDataset(read_clip_metadata(args.clips), sampling_rate=DATA_RATE, seconds=seconds,
                           length=100_000, seed=args.seed)
    collate = Collate(tclap)
    batch = collate([dataset[i] for i in range(args.batch_size)])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    scales = (model.logit_scale_a, model.logit_scale_t)
    loss_fn = TClapLoss(temporal_weight=0.5)

    def embed(b, negatives=True):
        n = len(b["anchor_mask"])
        feats, ids, mask = b["input_features"], b["input_ids"], b["attention_mask"]
        if not negatives:
            feats, ids, mask = feats[:n], ids[:n], mask[:n]
        audio = model.get_audio_features(input_features=feats).pooler_output
        text = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        return audio, text

    def finish(loss):
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        clamp_logit_scale(scales)
        return float(loss.detach())

    def tclap_step(b=batch):
        audio, text = embed(b)
        return finish(loss_fn.batch_loss(audio, text, b, scales).total)  # the objective training runs

    def floor_step(b=batch):
        n = len(b["anchor_mask"])
        audio, text = embed(b)
        loss = contrastive_loss(audio[:n], text[:n], scales) + 0.0 * (audio[n:].sum() + text[n:].sum())
        return finish(loss)

    def clap_step(b=batch):
        audio, text = embed(b, negatives=False)
        return finish(contrastive_loss(audio, text, scales))

    info = {
        "seconds": round(seconds, 3),
        "model_rate": tclap.sampling_rate,
        "clap_parameters_M": round(M.count_parameters(model) / 1e6, 2),
        "audio_inputs_per_step": int(batch["input_features"].shape[0]),
        "text_inputs_per_step": int(batch["input_ids"].shape[0]),
        "positives_per_step": len(batch["anchor_mask"]),
    }
    steps = {"tclap": tclap_step, "floor": floor_step, "clap_only": clap_step}
    return steps, dataset, collate, info


def loader(dataset, collate, batch_size: int, workers: int, offset: int = 0):
    import torch
    from torch.utils.data import DataLoader, Subset

    # fresh items (the trainer draws new mix-ups every step), not the fixed batch the step timings reuse
    items = Subset(dataset, range(offset, len(dataset)))
    return DataLoader(items, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
                      prefetch_factor=4 if workers else None, persistent_workers=False,
                      generator=torch.Generator().manual_seed(0))


def loader_throughput(dataset, collate, batch_size: int, workers: int, batches: int) -> dict:
    """Samples/s of the loader alone, timed after its first batch (worker start-up reported apart)."""
    started = time.perf_counter()
    iterator = iter(loader(dataset, collate, batch_size, workers, offset=10_000 * (workers + 1)))
    next(iterator)
    first = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - started
    del iterator
    return {"first_batch_s": round(first, 3), "samples_per_s": round(batches * batch_size / elapsed, 3)}


def fed_loop(step, dataset, collate, batch_size: int, workers: int, steps: int) -> dict:
    """Real steps fed by the loader: how long each step waited for its batch."""
    iterator = iter(loader(dataset, collate, batch_size, workers, offset=50_000 + 10_000 * workers))
    waits, totals = [], []
    for _ in range(steps):
        started = time.perf_counter()
        batch = next(iterator)
        waited = time.perf_counter() - started
        step(batch)
        waits.append(waited)
        totals.append(time.perf_counter() - started)
    del iterator
    steady_wait, steady_total = sum(waits[1:]), sum(totals[1:])  # the first batch includes worker start-up
    return {
        "first_wait_s": round(waits[0], 3),
        "wait_share": round(steady_wait / steady_total, 4),
        "wait_share_with_first_batch": round(sum(waits) / sum(totals), 4),
        "median_step_with_wait_s": round(sorted(totals[1:])[len(totals[1:]) // 2], 4),
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    resolve(args)

    if args.only:
        return C.run_only(args, VARIANTS, lambda name: build(args)[0][name])

    memory = None if args.no_memory else C.memory_per_variant(__file__, argv, list(VARIANTS))
    steps, dataset, collate, info = build(args)
    timings = C.interleaved(steps, args.repeats, args.warmup)
    consumed = args.batch_size / timings.median("tclap")
    data = {}
    for workers in args.workers:
        data[f"workers_{workers}"] = {
            **loader_throughput(dataset, collate, args.batch_size, workers, args.loader_batches),
            **fed_loop(steps["tclap"], dataset, collate, args.batch_size, workers, args.loop_steps),
        }
        data[f"workers_{workers}"]["loader_over_consumption"] = round(
            data[f"workers_{workers}"]["samples_per_s"] / consumed, 3)

    figures = {
        **info,
        "ratio_tclap_over_floor": round(timings.ratio("tclap", "floor"), 4),
        "paired_ratio_tclap_over_floor": round(timings.paired_ratio("tclap", "floor"), 4),
        "ratio_tclap_over_clap_only": round(timings.ratio("tclap", "clap_only"), 4),
        "tclap_step_s": round(timings.median("tclap"), 4),
        "step_consumes_samples_per_s": round(consumed, 3),
        "data": data,
    }
    targets = [C.target("T-CLAP step / floor (paired)", figures["paired_ratio_tclap_over_floor"], 1.10)]
    for key, row in data.items():
        targets.append(C.target(f"share of loop time waiting for data ({key.replace('_', ' ')})",
                                row["wait_share"], 0.05, "<"))
    result = {
        "benchmark": "training",
        "command": C.command_line(__file__, argv),
        "environment": C.environment(),
        "config": {"size": args.size, "batch_size": args.batch_size, "seconds": info["seconds"],
                   "clips": str(args.clips), "workers": args.workers, "repeats": args.repeats,
                   "warmup": args.warmup},
        "figures": figures,
        "targets": targets,
    }
    C.report(result, timings, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
