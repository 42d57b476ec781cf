"""Built-in model names. `mini` is a TClapAudioLDMPipeline folder whose `tclap/` subfolder is the mini T-CLAP;
`mini-clap` is the plain-CLAP baseline trained with the same recipe and temporal weight 0."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUILTIN_MODELS = {"mini": WEIGHTS_DIR / "mini", "mini-clap": WEIGHTS_DIR / "mini-clap"}
TCLAP_SUBFOLDER = "tclap"


def resolve_builtin(name_or_path: str | Path) -> str | Path:
    """Map a built-in name to its folder; anything else (a folder, a Hub id) is returned unchanged."""
    key = str(name_or_path)
    if key in BUILTIN_MODELS:
        folder = BUILTIN_MODELS[key]
        if not folder.is_dir():
            raise FileNotFoundError(
                f"built-in model {key!r} is not installed at {folder}; train it with the recipe in training/ "
                "(see README, 'The mini models')"
            )
        return folder
    return name_or_path


def resolve_tclap_folder(name_or_path: str | Path) -> str | Path:
    """Where the T-CLAP of a name lives: a pipeline folder holds it in its `tclap/` subfolder."""
    resolved = resolve_builtin(name_or_path)
    folder = Path(resolved)
    if folder.is_dir() and (folder / "model_index.json").is_file() and (folder / TCLAP_SUBFOLDER).is_dir():
        return folder / TCLAP_SUBFOLDER
    return resolved
