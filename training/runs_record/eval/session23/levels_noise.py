"""Exploration (issue 15): what costs the scorer its presence on the `levels` mixer? Class margins (as
fit_calibration scores them, every class a one-event prompt, at the model's stored calibration) on validate_scorer's
100 held-out `levels` mixes, as built and with the mixer's noise floor left out (order_transfer adds white noise 40 dB
under the louder event; here its generator is replaced by one that draws zeros, so every other draw is the same).
Prints presence recall and false presence for both. Usage: levels_noise.py MODEL"""
import sys, types
from pathlib import Path
import numpy as np
sys.path.insert(0, "scripts")
import tclap_gen.order_transfer as ot
from validate_scorer import heldout_mixes
from tclap_gen.datasets import split_clip_lists
from tclap_gen.scoring import TemporalScorer


class ZeroNoise:
    def __init__(self, *seed):
        pass

    def standard_normal(self, n):
        return np.zeros(n)


scorer = TemporalScorer.from_pretrained(sys.argv[1])
classes = scorer.tclap.info.extra["classes"]
texts, rivals = scorer.class_rivals(classes)
text_emb = scorer._embed_texts(texts)
_, held = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
with_noise = ot.np
without_noise = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
without_noise.random = types.SimpleNamespace(default_rng=ZeroNoise)
for name, module in (("as built (noise floor)", with_noise), ("without the noise floor", without_noise)):
    ot.np = module
    found, false = [], []
    for e in heldout_mixes(held, "levels", 100, 1234):
        margins = scorer.class_margins(scorer.prepare(e.audio, e.sampling_rate), text_emb, rivals)
        present = {t.phrase for t in e.timeline}
        for c, m in zip(classes, margins):
            (found if c in present else false).append(m >= scorer.calibration.offset)
    print(f"{sys.argv[1]} levels, {name}: presence recall {np.mean(found):.3f}, false presence {np.mean(false):.3f}")
