"""Unpack parts of a TClapAudioLDMPipeline folder as FINISHED stages of a train_generator run, so that a recipe
can reuse them (float32) and retrain or re-assemble around them.

    python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/x/gen-mini vae vocoder
    python training/recipes/unpack_pipeline.py tclap_gen/weights/mini runs/x/gen-mini vae vocoder unet

Each part goes to RUN/<part>/model with RUN/<part>/done.json taken from the folder's generator_training.json,
which is what `train_generator --resume` reads as "this stage is done".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PARTS = ("vae", "vocoder", "unet")


def unpack(source: Path, run: Path, parts: list[str]) -> dict:
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from tclap_gen.vocoder import load_vocoder

    record_file = source / "generator_training.json"
    if not record_file.is_file():
        raise FileNotFoundError(f"{record_file} not found: is {source} a pipeline folder made by train_generator?")
    record = json.loads(record_file.read_text())
    loaders = {
        "vae": lambda folder: AutoencoderKL.from_pretrained(folder, torch_dtype=torch.float32),
        "unet": lambda folder: UNet2DConditionModel.from_pretrained(folder, torch_dtype=torch.float32),
        "vocoder": lambda folder: load_vocoder(folder, dtype=torch.float32),
    }
    done = {}
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}: choose from {PARTS}")
        loaders[part](source / part).save_pretrained(run / part / "model")
        (run / part / "done.json").write_text(json.dumps(record[part]))
        done[part] = record[part]
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a TClapAudioLDMPipeline folder")
    parser.add_argument("run", type=Path, help="the train_generator output folder to fill")
    parser.add_argument("parts", nargs="+", help=f"any of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    try:
        done = unpack(args.source, args.run, args.parts)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"unpack_pipeline: error: {error}", file=sys.stderr)
        return 2
    print("unpacked from", args.source, done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
