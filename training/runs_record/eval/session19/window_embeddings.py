"""Exploration (issue 15, scorer presence): the timeline windows' audio embeddings of a T-CLAP on the calibration
mixes (600 training mixes, as presence_margins.py) and on validate_scorer's held-out mixes (project mixer n=300, five
held-out mixers n=100), with each window's loudness mask and each mix's present classes, saved to an npz so that
presence schemes (window normalisation, soft competitors, smoothing, text ensembles) can be compared offline.
Usage: window_embeddings.py MODEL OUT.npz"""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "scripts")
from validate_scorer import heldout_mixes
from tclap_gen.datasets import MixupDataset, split_clip_lists
from tclap_gen.scoring import TemporalScorer
from tclap_gen.order_transfer import MIXING_STYLES
model, out = sys.argv[1], sys.argv[2]
clips = [Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")]
scorer = TemporalScorer.from_pretrained(model, calibration=None)
classes = scorer.tclap.info.extra["classes"]
train, held = split_clip_lists(clips)
def run(examples):
    emb, loud, mix, y = [], [], [], []
    for k, (wave, sr, present) in enumerate(examples):
        wave = scorer.prepare(wave, sr)
        _, e = scorer.window_embeddings(wave)
        emb.append(e.cpu().numpy()); mix += [k] * len(e)
        loud.append(scorer.is_loud(scorer.window_levels_db(wave)))
        y.append([c in present for c in classes])
    return dict(emb=np.concatenate(emb), loud=np.concatenate(loud), mix=np.array(mix), y=np.array(y))
sets = {}
tr = MixupDataset(train, seconds=5.0, num_events=(2, 3), length=600, seed=0)
sets["train"] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in (tr[i] for i in range(len(tr))))
print("train done", flush=True)
pj = MixupDataset(held, sampling_rate=scorer.sampling_rate, seconds=5.0, num_events=(2, 2), length=300, seed=1234 + 2)
sets["project"] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in (pj[i] for i in range(len(pj))))
for style in MIXING_STYLES:
    sets[style] = run((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in heldout_mixes(held, style, 100, 1234))
    print(style, "done", flush=True)
np.savez(out, classes=np.array(classes), **{f"{k}_{f}": v[f] for k, v in sets.items() for f in v})
