#!/usr/bin/env python
"""How order-blind is a T-CLAP? For 2-event mix-ups of held-out clips, the cosine between the embeddings of the
two orders, for each tower:

- text: "A then B" against the same caption with the events swapped (its order negative);
- audio: the mix-up against the same two clips mixed in the other order (its audio negative);
- margin: s(AB audio, AB text) - s(AB audio, BA text) + s(BA audio, BA text) - s(BA audio, AB text), in cosine
  units; > 0 when the model pairs each order with its own caption.

A cosine of 1 means the tower cannot tell the orders apart. It also prints the audio cosine between "a tone, then
noise" and "noise, then a tone", each half of the window: HTSAT stacks the window's time chunks along the frequency
axis, so swapping two halves is a cyclic shift of its input image, to which its convolutions, relative position
biases and (cyclically) shifted windows are blind, and the final average pool removes what is left.
`--model tiny` measures a randomly initialised tiny T-CLAP.

    python scripts/order_similarity.py --model mini --clips ../shared/data/kitchen20/metadata.csv --n 40
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tclap_gen.datasets import MixupDataset, split_clip_lists
from tclap_gen.model import TClap
from tclap_gen.testing import tiny_tclap


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mini")
    parser.add_argument("--clips", nargs="+", required=True, type=Path)
    parser.add_argument("--n", type=int, default=40, help="mix-ups (default 40)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    _, heldout = split_clip_lists(args.clips)
    mixups = MixupDataset(heldout, sampling_rate=16000, seconds=5.0, num_events=(2, 2), length=args.n, seed=args.seed)
    tclap = tiny_tclap(seed=0) if args.model == "tiny" else TClap.from_pretrained(args.model)
    text_cos, audio_cos, margins = [], [], []
    for index in range(args.n):
        example = mixups[index]
        audio = tclap.embed_audio([example.audio, example.audio_negatives[0]], sampling_rate=16000)
        text = tclap.embed_text([example.caption, example.negatives[0]])
        similarity = audio @ text.T
        text_cos.append(float(text[0] @ text[1]))
        audio_cos.append(float(audio[0] @ audio[1]))
        margins.append(float(similarity[0, 0] - similarity[0, 1] + similarity[1, 1] - similarity[1, 0]))
    print(f"{args.model}, {args.n} held-out 2-event mix-ups: mean cosine between the two orders: "
          f"text {np.mean(text_cos):.4f}, audio {np.mean(audio_cos):.4f}; mean margin {np.mean(margins):+.5f}")
    rate, half = tclap.sampling_rate, tclap.max_samples // 2
    tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(half) / rate)
    noise = 0.1 * np.random.default_rng(0).standard_normal(half)
    halves = tclap.embed_audio([np.concatenate([tone, noise]), np.concatenate([noise, tone])], sampling_rate=rate)
    print(f"audio cosine, tone then noise vs noise then tone (halves of the window): {float(halves[0] @ halves[1]):.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
