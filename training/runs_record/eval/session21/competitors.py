"""Exploration (issue 15, scorer presence): the choice of competitor on saved 1 s window embeddings. A class's margin
in a window is its text cosine minus the k-th strongest other class's (k = 1 is today's rule), or its softmax
probability over the classes at a temperature, or its cosine minus the mean over the classes (and the raw cosine);
a mix's score per class = its best loud window. Threshold fitted on the 600 TRAINING mixes at a false presence of
0.10, applied unchanged to the held-out sets (cells: recall / false presence), as session20/prototype_presence.py.
Usage: competitors.py MODEL WINDOWS.npz   (WINDOWS.npz from session20/prototype_windows.py; about a minute)"""
import sys
import numpy as np
from tclap_gen.scoring import TemporalScorer
model, path = sys.argv[1:3]
d = np.load(path)
classes = [str(c) for c in d["classes"]]
T = TemporalScorer.from_pretrained(model, calibration=None)._embed_texts(classes).cpu().numpy()
sets = ["train", "project", "gap", "overlap", "levels", "short", "long"]


def kth_margin(cos, k):
    ranked = np.sort(cos, 1)
    kth, next_one = ranked[:, -k][:, None], ranked[:, -k - 1][:, None]
    return cos - np.where(cos >= kth, next_one, kth)  # a class among the top k is compared with the (k+1)-th


def softmax(cos, t):
    z = cos / t
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def per_mix(name, rule):
    emb, loud, mix, y = (d[f"{name}_{k}"] for k in ("emb", "loud", "mix", "y"))
    m = rule(emb @ T.T)
    out = np.full(y.shape, -np.inf)
    for k in range(len(y)):
        rows = (mix == k) & loud
        if rows.any():
            out[k] = m[rows].max(0)
    return out, y


def threshold_at_false(score, y, false=0.10):
    c = np.unique(score[np.isfinite(score)])
    neg = np.sort(score[~y])
    return c[np.flatnonzero(1 - np.searchsorted(neg, c, side="left") / len(neg) <= false)[0]]


def report(label, rule):
    scores = {s: per_mix(s, rule) for s in sets}
    thr = threshold_at_false(*scores["train"])
    print(f"{label} | " + " | ".join(f"{(sc[y] >= thr).mean():.2f}/{(sc[~y] >= thr).mean():.3f}"
                                     for sc, y in (scores[s] for s in sets)), flush=True)


print("rule | " + " | ".join(sets))
for k in (1, 2, 3, 5, 10):
    report(f"k-th strongest other, k={k}", lambda c, k=k: kth_margin(c, k))
report("raw cosine", lambda c: c)
for t in (0.02, 0.05, 0.1):
    report(f"softmax t={t}", lambda c, t=t: softmax(c, t))
report("minus the mean over classes", lambda c: c - c.mean(1, keepdims=True))
