"""Install an assembled pipeline folder (train_generator --stage assemble --fp16-weights) as a built-in model,
tclap_gen/weights/NAME: every part except those the registry shares from another built-in (SHARED_COMPONENTS:
mini-clap takes mini's VAE and vocoder). The new folder is written beside the old one and renamed into place.

    python training/recipes/install_builtin.py runs/run30/gen-mini/pipeline mini
    python training/recipes/install_builtin.py runs/run31/gen-mini-clap/pipeline mini-clap
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from tclap_gen.registry import BUILTIN_MODELS, SHARED_COMPONENTS, WEIGHTS_DIR, is_pipeline_folder
from tclap_gen.trainers.checkpoints import replace_dir


def install(source: Path, name: str, weights_dir: Path = WEIGHTS_DIR) -> Path:
    if name not in BUILTIN_MODELS:
        raise ValueError(f"name must be one of {sorted(BUILTIN_MODELS)}, got {name!r}")
    if not is_pipeline_folder(source):
        raise FileNotFoundError(f"{source}: not a pipeline folder (model_index.json and tclap/config.json)")
    record = json.loads((source / "generator_training.json").read_text())
    if not record.get("fp16_weights"):
        raise ValueError(f"{source} holds float32 weights: assemble with --fp16-weights (the 60 MB budget)")
    shared = SHARED_COMPONENTS.get(name, {})
    target = Path(weights_dir) / name
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp, ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in shared])
    replace_dir(tmp, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="assembled pipeline folder")
    parser.add_argument("name", help="built-in name: mini or mini-clap")
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR, help="default: the package's weights")
    args = parser.parse_args(argv)
    try:
        print(install(args.source, args.name, args.weights_dir))
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
