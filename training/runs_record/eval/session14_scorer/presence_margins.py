"""Exploration: class margins (scoring.class_margins) of a T-CLAP on training mixes (calibration data) and on the
held-out mixes validate_scorer builds (project mixer 2 events n=300, five held-out mixers n=100), saved to an npz
so that calibration schemes can be compared offline. Usage: presence_margins.py MODEL OUT.npz [scorer kwargs, e.g. 'window_s=2.0, hop_s=1.0']"""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "scripts")
from validate_scorer import heldout_mixes
from tclap_gen.datasets import MixupDataset, split_clip_lists, label_to_phrase
from tclap_gen.scoring import TemporalScorer
from tclap_gen.order_transfer import MIXING_STYLES
model, out = sys.argv[1], sys.argv[2]
kw = eval("dict(" + sys.argv[3] + ")") if len(sys.argv) > 3 else {}
clips = [Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")]
scorer = TemporalScorer.from_pretrained(model, calibration=None, **kw)
classes = scorer.tclap.info.extra["classes"]
texts, rivals = scorer.class_rivals(classes)
text_emb = scorer._embed_texts(texts)
train, held = split_clip_lists(clips)
def run(examples):
    m, y = [], []
    for wave, sr, present in examples:
        m.append(scorer.class_margins(scorer.prepare(wave, sr), text_emb, rivals))
        y.append([c in present for c in classes])
    return np.array(m), np.array(y)
sets = {}
tr = MixupDataset(train, seconds=5.0, num_events=(2, 3), length=600, seed=0)
sets["train"] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in (tr[i] for i in range(len(tr))))
print("train done", flush=True)
pj = MixupDataset(held, sampling_rate=scorer.sampling_rate, seconds=5.0, num_events=(2, 2), length=300, seed=1234 + 2)
sets["project"] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in (pj[i] for i in range(len(pj))))
for style in MIXING_STYLES:
    sets[style] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in heldout_mixes(held, style, 100, 1234))
    print(style, "done", flush=True)
np.savez(out, classes=np.array(classes), **{f"{k}_m": v[0] for k, v in sets.items()}, **{f"{k}_y": v[1] for k, v in sets.items()})
