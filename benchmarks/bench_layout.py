"""Layout control: the cost of pipe(prompt, layout="auto") against plain generation, same pipeline, seed and steps.

With a layout every step runs ONE batched UNet call over, per waveform, the unconditional row, the whole prompt
and one row per event, instead of the plain call's two rows: the floor is the ratio of rows, (events + 2) / 2 for
guided generation. The benchmark counts the UNet calls and rows, and compares the time ratio with that floor.

    python benchmarks/bench_layout.py --size real          # CPU, 10 DDIM steps, 10.24 s, 2-event prompts
    python benchmarks/bench_layout.py --size tiny
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _models as M  # noqa: E402

VARIANTS = ("layout", "plain")
PROMPT = "a dog barks then a car horn honks"  # 2 events: 4 UNet rows a step with guidance, against 2


def build_parser():
    parser = C.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=M.SIZES, default="real")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 10)")
    parser.add_argument("--seconds", type=float, default=None, help="default 10.24 real, the UNet's size tiny")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def build(args, names):
    import torch

    from tclap_gen.pipelines import TClapAudioLDMPipeline

    tclap = M.tclap_for(args.size, args.seed)
    components = M.generator_components(args.size, tclap.projection_dim, args.seed, sampling_rate=16000)
    pipe = TClapAudioLDMPipeline.from_components(tclap, **components)
    pipe.set_progress_bar_config(disable=True)
    rows, forward = [], pipe.unet.forward

    def counted(sample, *a, **k):
        rows.append(sample.shape[0])
        return forward(sample, *a, **k)

    pipe.unet.forward = counted
    calls = {}

    def runner(name):
        def run():
            rows.clear()
            audio = pipe(PROMPT, num_inference_steps=args.steps, audio_length_in_s=args.seconds,
                         generator=torch.Generator().manual_seed(args.seed),
                         layout="auto" if name == "layout" else None).audios
            calls[name] = list(rows)
            return audio

        return run

    return {name: runner(name) for name in names}, calls


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.quick:
        args.size, args.steps = "tiny", args.steps or 2
    args.steps = args.steps or 10
    if args.seconds is None and args.size == "real":
        args.seconds = 10.24
    C.check_args(args, default_repeats=3 if args.size == "real" else 20,
                 default_threads=1 if args.size == "tiny" else None)
    if args.only:
        return C.run_only(args, VARIANTS, lambda name: build(args, [name])[0][name])

    memory = None if args.no_memory else C.memory_per_variant(__file__, argv, list(VARIANTS))
    variants, calls = build(args, VARIANTS)
    started = time.perf_counter()
    timings = C.interleaved(variants, args.repeats, args.warmup)
    rows_ratio = sum(calls["layout"]) / sum(calls["plain"])
    figures = {
        "paired_ratio_layout_over_plain": round(timings.paired_ratio("layout", "plain"), 4),
        "ratio_layout_over_plain": round(timings.ratio("layout", "plain"), 4),
        "unet_calls_per_step": {name: len(calls[name]) / args.steps for name in VARIANTS},
        "unet_rows_per_call": {name: calls[name][0] for name in VARIANTS},
        "rows_ratio_floor": round(rows_ratio, 4),
        "timed_s": round(time.perf_counter() - started, 1),
    }
    result = {
        "benchmark": "layout",
        "command": C.command_line(__file__, argv),
        "environment": C.environment(),
        "config": {"size": args.size, "steps": args.steps, "seconds": args.seconds, "prompt": PROMPT,
                   "repeats": args.repeats, "warmup": args.warmup},
        "figures": figures,
        "targets": [
            C.target("UNet calls per step with layout", figures["unet_calls_per_step"]["layout"], 1.0),
            C.target("time ratio layout / plain over the rows floor", round(
                figures["paired_ratio_layout_over_plain"] / rows_ratio, 4), 1.10),
        ],
    }
    C.report(result, timings, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
