"""Generation: TClapAudioLDMPipeline against diffusers' AudioLDMPipeline on identical components, seed and steps.

Both pipelines share one UNet, VAE and vocoder; AudioLDMPipeline's text encoder is the T-CLAP's own text tower
(`TClap.export_text_encoder()`), so the two must give the same audio and the ratio of their times is the cost of
our pipeline's extra work. Sizes: `tiny` (the test components: per-call overhead dominates) and `real`
(AudioLDM-S: 185M-parameter UNet, RoBERTa-base conditioner, random weights).

    python benchmarks/bench_generation.py --size real              # CPU, 10 DDIM steps, 10.24 s, CFG 2.5
    python benchmarks/bench_generation.py --size tiny
    python benchmarks/bench_generation.py --size real --device cuda --dtype float16 --steps 50
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _models as M  # noqa: E402

VARIANTS = ("tclap", "audioldm")
TOLERANCE = 1e-5  # max |difference| between the two pipelines' samples that still counts as the same audio


def build_parser():
    parser = C.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=M.SIZES, default="real")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 10)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="audio per clip (default 10.24 real, the UNet's sample size tiny)")
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--prompts", type=int, default=1, help="prompts per call (one clip each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32")
    return parser


def resolve(args) -> None:
    if args.quick:
        args.size = "tiny"
        args.steps = args.steps or 2
    args.steps = args.steps or 10
    if args.seconds is None and args.size == "real":
        args.seconds = 10.24
    C.check_args(args, default_repeats=3 if args.size == "real" else 20,
                 default_threads=1 if args.size == "tiny" else None)
    if args.steps < 1 or args.prompts < 1:
        raise ValueError("--steps and --prompts must be at least 1")
    if args.prompts > len(M.PROMPTS):
        raise ValueError(f"--prompts must be at most {len(M.PROMPTS)}, got {args.prompts}")
    if args.device.startswith("cuda") and not C.cuda_available():
        raise ValueError(f"--device {args.device}: CUDA is not available here")


def build(args, names):
    """The variants' callables (each returns its audio) and facts about the models."""
    import torch
    from diffusers.pipelines.deprecated.audioldm import AudioLDMPipeline

    from tclap_gen.pipelines import TClapAudioLDMPipeline

    dtype = getattr(torch, args.dtype)
    tclap = M.tclap_for(args.size, args.seed) if ("tclap" in names or args.size == "tiny") else None
    projection_dim = tclap.projection_dim if tclap is not None else 512
    components = M.generator_components(args.size, projection_dim, args.seed, sampling_rate=16000)
    info = {name: M.count_parameters(components[name]) for name in ("unet", "vae", "vocoder")}

    prompts = M.PROMPTS[: args.prompts]
    pipes = {}
    if "tclap" in names:
        pipes["tclap"] = TClapAudioLDMPipeline.from_components(tclap, **components)
        info["tclap"] = M.count_parameters(tclap.model)
    if "audioldm" in names:
        if tclap is not None:  # the very same text tower as the T-CLAP's
            text_encoder, tokenizer = tclap.export_text_encoder(), tclap.processor.tokenizer
        else:  # a memory run of AudioLDM alone: a text tower of the same size, without building the audio tower
            text_encoder, tokenizer = M.real_text_encoder(args.seed)
        info["audioldm_text_encoder"] = M.count_parameters(text_encoder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # AudioLDMPipeline is deprecated and says so
            pipes["audioldm"] = AudioLDMPipeline(
                vae=components["vae"], text_encoder=text_encoder, tokenizer=tokenizer, unet=components["unet"],
                scheduler=copy.deepcopy(components["scheduler"]), vocoder=components["vocoder"],
            )
    for pipe in pipes.values():
        pipe.to(args.device)
        if dtype != torch.float32:
            pipe.to(dtype=dtype)
        pipe.set_progress_bar_config(disable=True)

    outputs = {}

    def runner(name):
        pipe = pipes[name]

        def run():
            audio = pipe(
                prompts, num_inference_steps=args.steps, guidance_scale=args.guidance,
                audio_length_in_s=args.seconds, generator=torch.Generator().manual_seed(args.seed),
            ).audios
            outputs[name] = audio
            return audio

        return run

    return {name: runner(name) for name in names}, outputs, info


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    resolve(args)
    import numpy as np

    if args.only:
        return C.run_only(args, VARIANTS, lambda name: build(args, [name])[0][name])

    # memory first, in fresh processes, while this one holds nothing big
    memory = None if args.no_memory else C.memory_per_variant(__file__, argv, list(VARIANTS))
    started = time.perf_counter()
    variants, outputs, info = build(args, VARIANTS)
    build_s = time.perf_counter() - started
    timings = C.interleaved(variants, args.repeats, args.warmup, args.device)

    ours, theirs = outputs["tclap"], outputs["audioldm"]
    max_diff = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")
    audio_s = ours.shape[-1] / 16000
    figures = {
        "ratio_tclap_over_audioldm": round(timings.ratio("tclap", "audioldm"), 4),
        "paired_ratio_tclap_over_audioldm": round(timings.paired_ratio("tclap", "audioldm"), 4),
        "audio_shape": list(ours.shape),
        "audio_seconds_per_clip": round(audio_s, 4),
        "max_abs_diff": max_diff,
        "max_abs_audio": float(np.abs(theirs).max()),  # random weights: the scale the difference compares with
        "bitwise_identical": bool(ours.shape == theirs.shape and np.array_equal(ours, theirs)),
        "build_s": round(build_s, 1),
        "parameters_M": {k: round(v / 1e6, 2) for k, v in info.items()},
    }
    for name in VARIANTS:
        median = timings.median(name)
        figures[f"{name}_seconds_per_clip"] = round(median / args.prompts, 4)
        figures[f"{name}_seconds_per_audio_second"] = round(median / (args.prompts * audio_s), 4)
        figures[f"{name}_steps_per_s"] = round(args.steps / median, 3)
    result = {
        "benchmark": "generation",
        "command": C.command_line(__file__, argv),
        "environment": C.environment(),
        "config": {"size": args.size, "steps": args.steps, "seconds": args.seconds, "guidance": args.guidance,
                   "prompts": args.prompts, "device": args.device, "dtype": args.dtype, "repeats": args.repeats,
                   "warmup": args.warmup},
        "figures": figures,
        "targets": [
            C.target("time ratio TClapAudioLDMPipeline / AudioLDMPipeline (paired)",
                     figures["paired_ratio_tclap_over_audioldm"], 1.03),
            C.target("max |audio difference|", max_diff, TOLERANCE),
        ],
    }
    C.report(result, timings, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
