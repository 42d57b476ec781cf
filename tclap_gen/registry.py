"""Built-in model names, both TClapAudioLDMPipeline folders whose T-CLAP is split, diffusers-style, into `tclap/`
(ClapModel), `tokenizer/` and `feature_extractor/` subfolders. `mini` conditions on the mini T-CLAP; `mini-clap`
is the baseline: the plain CLAP trained with the same recipe and temporal weight 0, with a UNet trained the same
way on its audio embeddings. The two share one VAE and one vocoder, stored once, in `mini/` (SHARED_COMPONENTS:
TClapAudioLDMPipeline.from_pretrained fills them in). Either name also loads as a TClap (its `tclap/` part)."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
BUILTIN_MODELS = {"mini": WEIGHTS_DIR / "mini", "mini-clap": WEIGHTS_DIR / "mini-clap"}
TCLAP_SUBFOLDER = "tclap"
# built-in name -> {component: the built-in whose folder holds it}: copies the package does not carry
SHARED_COMPONENTS = {"mini-clap": {"vae": "mini", "vocoder": "mini"}}


def resolve_builtin(name_or_path: str | Path) -> str | Path:
    """Map a built-in name to its folder; an existing folder or a Hub id ("owner/name") is returned unchanged.
    Anything else is a FileNotFoundError that says what was looked for: a path-like name that is no folder would
    otherwise reach the Hub client, whose message is about repository ids."""
    key = str(name_or_path)
    if key in BUILTIN_MODELS:
        folder = BUILTIN_MODELS[key]
        if not folder.is_dir():
            raise FileNotFoundError(
                f"built-in model {key!r} is not installed at {folder}; train it with the recipe in training/ "
                "(see README, 'The mini models')"
            )
        return folder
    path = Path(key)
    if path.exists() and not path.is_dir():
        raise FileNotFoundError(f"model {key!r}: {path} is a file; a model is a built-in name, a folder or a Hub id")
    if not path.exists() and (path.is_absolute() or key.startswith(".") or key.count("/") != 1 or key.endswith("/")):
        raise FileNotFoundError(
            f"model {key!r}: not a built-in name ({', '.join(BUILTIN_MODELS)}), no such folder, and not a Hub id "
            "of the form owner/name"
        )
    return name_or_path


def is_pipeline_folder(path) -> bool:
    """A diffusers pipeline folder that holds a T-CLAP component."""
    folder = Path(path)
    return (folder / "model_index.json").is_file() and (folder / TCLAP_SUBFOLDER / "config.json").is_file()
