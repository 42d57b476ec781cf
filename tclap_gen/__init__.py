"""tclap-gen: T-CLAP (temporal-enhanced CLAP) training, an AudioLDM pipeline conditioned on it, and a
temporal-order scorer.

The public names are imported lazily so that `import tclap_gen` stays fast and `tclap-gen parse` does not load
torch or diffusers.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "TClap": ".model",
    "TemporalScorer": ".scoring",
    "TClapAudioLDMPipeline": ".pipelines",
    "parse_events": ".captions",
    "order_negatives": ".captions",
    "EventPlan": ".captions",
    "VocosVocoder": ".vocoder",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module 'tclap_gen' has no attribute {name!r}")
