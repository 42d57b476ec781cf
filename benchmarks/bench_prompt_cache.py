"""Prompt-embedding cache in batch generation: batches with repeated prompts, with and without the cache.

A batch run generates prompts that repeat (several seeds of one prompt; the empty negative prompt of every item).
`samples.generate_batch.PromptEmbeddingCache` encodes each distinct text once per run; without it, every
pipeline call encodes its prompts and negative prompts again. The workload: `--distinct` prompts x `--copies`
items in round-robin order, `--batch-size` items per pipeline call, each item with its own seed, as
generate_batch does. Variants (timed in turn):

    cached / uncached                  whole runs: text encoding + generation of every batch
    encode_cached / encode_uncached    the text-encoding part alone (what the cache can save)

    python benchmarks/bench_prompt_cache.py --size real     # AudioLDM-S components, 5 steps, 2.56 s clips
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _models as M  # noqa: E402

VARIANTS = ("cached", "uncached", "encode_cached", "encode_uncached")
MEMORY_VARIANTS = ("cached", "uncached")


def build_parser():
    parser = C.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=M.SIZES, default="real")
    parser.add_argument("--distinct", type=int, default=4, help="distinct prompts")
    parser.add_argument("--copies", type=int, default=4, help="items per distinct prompt (different seeds)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 5; quick 2)")
    parser.add_argument("--seconds", type=float, default=None, help="audio per clip (default 2.56 real)")
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def resolve(args) -> None:
    if args.quick:
        args.size = "tiny"
        args.steps = args.steps or 2
        args.copies = min(args.copies, 2)
    args.steps = args.steps or 5
    if args.seconds is None and args.size == "real":
        args.seconds = 2.56
    C.check_args(args, default_repeats=3 if args.size == "real" else 10,
                 default_threads=1 if args.size == "tiny" else None)
    for name in ("distinct", "copies", "batch_size", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.distinct > len(M.PROMPTS):
        raise ValueError(f"--distinct must be at most {len(M.PROMPTS)}, got {args.distinct}")


def workload(args) -> list[list[tuple[str, int]]]:
    """Batches of (prompt, seed): distinct prompts in round-robin, so each batch holds several of them."""
    items = [(M.PROMPTS[i % args.distinct], args.seed + i) for i in range(args.distinct * args.copies)]
    return [items[i : i + args.batch_size] for i in range(0, len(items), args.batch_size)]


def build(args, names):
    import torch

    from tclap_gen.pipelines import TClapAudioLDMPipeline
    from tclap_gen.samples.generate_batch import PromptEmbeddingCache

    tclap = M.tclap_for(args.size, args.seed)
    components = M.generator_components(args.size, tclap.projection_dim, args.seed, sampling_rate=16000)
    pipe = TClapAudioLDMPipeline.from_components(tclap, **components)
    pipe.set_progress_bar_config(disable=True)
    batches = workload(args)
    device = pipe._execution_device
    stats = {}

    def generators(batch):
        return [torch.Generator().manual_seed(seed) for _, seed in batch]

    def call(batch, **inputs):
        return pipe(**inputs, audio_length_in_s=args.seconds, num_inference_steps=args.steps,
                    guidance_scale=args.guidance, generator=generators(batch), output_type="np").audios

    def cached():
        cache = PromptEmbeddingCache(pipe)  # one per run, as generate_batch makes one per run
        audio = [call(b, prompt_embeds=cache.get([p for p, _ in b]), negative_prompt_embeds=cache.get([""] * len(b)))
                 for b in batches]
        stats["cached_encodings"] = cache.computed
        return audio

    def uncached():
        return [call(b, prompt=[p for p, _ in b]) for b in batches]  # negative prompt: "" (the default)

    def encode_cached():
        cache = PromptEmbeddingCache(pipe)
        with torch.no_grad():
            for b in batches:
                cache.get([p for p, _ in b])
                cache.get([""] * len(b))

    def encode_uncached():
        with torch.no_grad():
            for b in batches:
                pipe.encode_prompt([p for p, _ in b], device, 1, True)  # prompts and "" negatives, as __call__

    table = {"cached": cached, "uncached": uncached, "encode_cached": encode_cached,
             "encode_uncached": encode_uncached}
    info = {"items": sum(len(b) for b in batches), "batches": len(batches),
            "uncached_encodings": sum(2 * len(b) for b in batches), "stats": stats}
    return {name: table[name] for name in names}, info


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    resolve(args)
    import numpy as np

    if args.only:
        return C.run_only(args, VARIANTS, lambda name: build(args, [name])[0][name])

    memory = None if args.no_memory else C.memory_per_variant(__file__, argv, list(MEMORY_VARIANTS))
    started = time.perf_counter()
    variants, info = build(args, VARIANTS)
    build_s = time.perf_counter() - started
    timings = C.interleaved(variants, args.repeats, args.warmup)
    # the cache must not change the audio: same embeddings, same seeds
    with_cache, without = variants["cached"](), variants["uncached"]()
    max_diff = max(float(np.abs(a - b).max()) for a, b in zip(with_cache, without))

    figures = {
        "items": info["items"],
        "batches": info["batches"],
        "text_encodings_uncached": info["uncached_encodings"],
        "text_encodings_cached": info["stats"].get("cached_encodings"),
        "ratio_cached_over_uncached": round(timings.ratio("cached", "uncached"), 4),
        "paired_ratio_cached_over_uncached": round(timings.paired_ratio("cached", "uncached"), 4),
        "ratio_encode_cached_over_uncached": round(timings.ratio("encode_cached", "encode_uncached"), 4),
        "encoding_share_of_uncached_run": round(timings.median("encode_uncached") / timings.median("uncached"), 4),
        "seconds_saved_per_item": round(
            (timings.median("uncached") - timings.median("cached")) / info["items"], 5),
        "max_abs_diff_cached_vs_uncached": max_diff,
        "build_s": round(build_s, 1),
    }
    result = {
        "benchmark": "prompt_cache",
        "command": C.command_line(__file__, argv),
        "environment": C.environment(),
        "config": {"size": args.size, "distinct": args.distinct, "copies": args.copies, "batch_size": args.batch_size,
                   "steps": args.steps, "seconds": args.seconds, "guidance": args.guidance,
                   "repeats": args.repeats, "warmup": args.warmup},
        "figures": figures,
        "targets": [
            C.target("cached / uncached run time", figures["ratio_cached_over_uncached"], 1.0, "<"),
            C.target("max |audio difference| cached vs uncached", max_diff, 1e-5),
        ],
    }
    C.report(result, timings, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
