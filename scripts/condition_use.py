#!/usr/bin/env python
"""Does a pipeline's UNet use its condition? On held-out single clips (the held-out side of the recipes' split), its
diffusion loss with each clip's own T-CLAP audio embedding (what it was trained on), with another clip's, and with the
unconditional ("" text) embedding, at the same noise and at timesteps spread evenly over the schedule
(tclap_gen.trainers.generator.condition_use). Equal losses mean the UNet ignores its condition; gain = other / own - 1.

    python scripts/condition_use.py --pipelines mini mini-clap --clips ../shared/data/kitchen20/metadata.csv \
        ../shared/data/uiowa/metadata.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from tclap_gen.datasets import SingleClipDataset, split_clip_lists
from tclap_gen.generate import load_pipeline
from tclap_gen.trainers.audioldm import mel_config_for
from tclap_gen.trainers.generator import condition_use, latents_and_embeddings, unconditional_embedding


@torch.no_grad()
def measure(name: str, records, n: int, seconds: float) -> dict:
    pipe = load_pipeline(name, device="cpu")  # by name: a built-in mini-clap borrows mini's VAE and vocoder
    tclap, mel = pipe.get_tclap(), mel_config_for(pipe.vocoder)
    clips = SingleClipDataset(records, sampling_rate=mel.sampling_rate, seconds=seconds, seed=0)
    samples = int(round(seconds * mel.sampling_rate))
    waves = np.zeros((min(n, len(clips)), samples), dtype=np.float32)
    for i in range(len(waves)):
        wave = clips[i].audio[:samples]
        waves[i, : wave.size] = wave
    latents, embeddings = latents_and_embeddings(waves, pipe.vae, tclap, mel, "cpu")
    use = condition_use(pipe.unet, latents, embeddings, unconditional_embedding(tclap), pipe.scheduler.alphas_cumprod,
                        pipe.scheduler.config.prediction_type)
    return {"pipeline": name, "clips": len(waves), **use}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", nargs="+", default=["mini", "mini-clap"], help="built-in names or folders")
    parser.add_argument("--clips", nargs="+", required=True, type=Path, help="clip lists (path,label[,fold,source_id])")
    parser.add_argument("--n", type=int, default=128, help="held-out clips (default 128)")
    parser.add_argument("--seconds", type=float, default=5.12, help="example length (default 5.12: 512 mel frames)")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2 (another clip's embedding is the control)")
    _, heldout = split_clip_lists(args.clips)
    print("| pipeline | clips | loss, own embedding | another clip's | unconditional | gain (other / own - 1) |")
    print("|---|---|---|---|---|---|")
    for name in args.pipelines:
        r = measure(name, heldout, args.n, args.seconds)
        print(f"| {r['pipeline']} | {r['clips']} | {r['own']:.4f} | {r['other']:.4f} | {r['empty']:.4f} | {r['gain']:+.4f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
