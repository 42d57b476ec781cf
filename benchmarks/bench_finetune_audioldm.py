"""The real-scale recipe's cost: seconds per step, hours per 1,000 steps and peak memory of
`tclap_gen.trainers.audioldm.finetune` on an AudioLDM-S-sized checkpoint (random weights, 185M-parameter UNet,
saved in diffusers format) conditioned on a full-size random T-CLAP (48 kHz, 10 s windows).

A step is what the recipe does: read and mix the batch's audio (DataLoader workers), log-mel, VAE encode (frozen),
T-CLAP audio embedding (frozen), UNet forward and backward, AdamW, EMA. The time per step is the median of the
steps after the first (the log's running mean, differenced); the final checkpoint's save is not in it.

    python benchmarks/bench_finetune_audioldm.py                                 # CPU: batch 2, fp32
    python benchmarks/bench_finetune_audioldm.py --device cuda --batch-size 32 --mixed-precision bf16
    python benchmarks/bench_finetune_audioldm.py --quick                         # tiny models: a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402
import _models as M  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny models: a smoke run of a few seconds")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default 2 on CPU, 32 on CUDA)")
    parser.add_argument("--steps", type=int, default=4, help="steps run (the first is not timed)")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step is not timed)")
    if args.batch_size is None:
        args.batch_size = 32 if args.device == "cuda" else 2
    return args


def build_checkpoint(folder: Path, quick: bool):
    """A diffusers AudioLDM folder (saved by diffusers' AudioLDMPipeline) and a T-CLAP folder; returns the UNet's
    parameter count."""
    from diffusers.pipelines.deprecated.audioldm import AudioLDMPipeline

    from tclap_gen.testing import save_tiny_audioldm, tiny_tclap

    if quick:
        tclap = tiny_tclap()
        save_tiny_audioldm(folder / "audioldm", tclap, norm_num_groups=4)
        tclap.save_pretrained(folder / "tclap")
        return None
    tclap = M.real_tclap()
    parts = M.generator_components("real", tclap.projection_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AudioLDMPipeline is deprecated in diffusers
        AudioLDMPipeline(text_encoder=tclap.export_text_encoder(), tokenizer=tclap.processor.tokenizer,
                         **parts).save_pretrained(folder / "audioldm")
    tclap.save_pretrained(folder / "tclap")
    return M.count_parameters(parts["unet"])


def main(argv=None) -> int:
    import torch

    from tclap_gen.trainers.audioldm import finetune, load_config

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        unet_parameters = build_checkpoint(root, args.quick)
        overrides = [
            f"audioldm={root / 'audioldm'}", f"tclap={root / 'tclap'}", f"output_dir={root / 'run'}",
            f"mixed_precision='{args.mixed_precision}'", f"steps={args.steps}", f"batch_size={args.batch_size}",
            "warmup_steps=0", "log_every=1", f"checkpoint_every={args.steps}", "ema_decay=0.9999",
            f"data.clips=[{C.REPO / 'tests' / 'data' / 'clips' / 'metadata.csv'}]", "data.heldout=false",
            "data.mixups=64", "data.num_workers=1",
        ] + (["data.seconds=1.28"] if args.quick else [])
        began = time.perf_counter()
        finetune(load_config("audioldm-finetune", overrides))
        wall = time.perf_counter() - began
        log = [json.loads(line) for line in (root / "run" / "unet" / "log.jsonl").read_text().splitlines()]
    start = next(r for r in log if r.get("event") == "start")
    steps = [r for r in log if "s_per_step" in r]
    elapsed = [r["s_per_step"] * r["step"] for r in steps]
    per_step = statistics.median(b - a for a, b in zip(elapsed, elapsed[1:]))
    if args.device == "cuda":
        peak = {"cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20}
    else:
        peak = {"peak_rss_mib": C.peak_rss_mib()}
    result = {
        "benchmark": "finetune_audioldm", "size": "tiny" if args.quick else "AudioLDM-S (random weights)",
        "device": args.device, "mixed_precision": args.mixed_precision, "global_batch": args.batch_size,
        "seconds": start["seconds"], "latents": start["latents"], "unet_parameters": unet_parameters,
        "steps_timed": len(steps) - 1, "s_per_step": per_step, "hours_per_1000_steps": per_step * 1000 / 3600,
        "wall_s": wall, **peak, "environment": C.environment(),
        "command": C.command_line("benchmarks/bench_finetune_audioldm.py", argv if argv is not None else sys.argv[1:]),
    }
    for key in ("size", "device", "mixed_precision", "global_batch", "seconds", "latents", "unet_parameters",
                "s_per_step", "hours_per_1000_steps", *peak):
        value = result[key]
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    if args.json:
        C.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
