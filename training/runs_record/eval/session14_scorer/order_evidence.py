"""Exploration: global order probability (scorer.score) and per-window cosines of the two events, for 2-event mixes
in both orders: training mixes (to fit a combination) and the held-out sets of validate_scorer.
Usage: order_evidence.py MODEL OUT.npz"""
import sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "scripts")
from validate_scorer import heldout_mixes, reversed_index
from tclap_gen.datasets import MixupDataset, split_clip_lists
from tclap_gen.scoring import TemporalScorer
from tclap_gen.order_transfer import MIXING_STYLES
model, out = sys.argv[1], sys.argv[2]
clips = [Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")]
scorer = TemporalScorer.from_pretrained(model)
train, held = split_clip_lists(clips)
def run(examples):
    rows = []
    for e in examples:
        a, b = e.timeline[0].phrase, e.timeline[1].phrase
        temb = scorer._embed_texts([a, b])
        j = reversed_index(e.caption, e.negatives)
        row = []
        for wave in (e.audio, e.audio_negatives[j]):
            w = scorer.prepare(wave, e.sampling_rate)
            p = scorer.score(w, scorer.sampling_rate, e.caption).order_probability
            times, emb = scorer.window_embeddings(w)
            cos = (emb @ temb.T).cpu().numpy()
            lev = scorer.window_levels_db(w)
            row.append((p, times, cos, lev))
        rows.append(row)
    return rows
data = {}
tr = MixupDataset(train, seconds=5.0, num_events=(2, 2), length=300, seed=0)
data["train"] = run(tr[i] for i in range(len(tr)))
print("train", flush=True)
pj = MixupDataset(held, sampling_rate=scorer.sampling_rate, seconds=5.0, num_events=(2, 2), length=300, seed=1234 + 2)
data["project"] = run(pj[i] for i in range(len(pj)))
for style in MIXING_STYLES:
    data[style] = run(heldout_mixes(held, style, 100, 1234))
    print(style, flush=True)
import pickle
with open(out, "wb") as f:
    pickle.dump(data, f)
