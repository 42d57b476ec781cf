"""Exploration (issue 15, scorer presence): audio prototypes as presence evidence. The text side of the T-CLAP
recognises a 1 s window poorly; its AUDIO side may do better against audio. Each class's evidence in a window:
  text   cos(window, text of the class) (today's rule, as presence_schemes.py's first row but with the other
         classes only as competitors, no "silence" / "background noise": the same for every scheme here)
  proto  cos(window, P_c), P_c the normalised mean of the train-side recordings' loud windows of class c
  blend  cos(window, text) + a * cos(window, P_c)
  knn    mean of the k highest cos(window, train window of class c)
margin = the class's evidence minus the strongest other class's; a mix's score per class = its best loud window.
Threshold fitted on the 600 TRAINING mixes at a false presence of 0.10 (and Youden), applied unchanged to the
held-out sets. Cells: recall / false presence.
Usage: prototype_presence.py MODEL WINDOWS.npz PROTOTYPE_WINDOWS.npz"""
import sys
import numpy as np
from tclap_gen.scoring import TemporalScorer
model, path, proto_path = sys.argv[1:4]
d, p = np.load(path), np.load(proto_path)
classes = [str(c) for c in d["classes"]]
assert classes == [str(c) for c in p["classes"]]
scorer = TemporalScorer.from_pretrained(model, calibration=None)
T = scorer._embed_texts(classes).cpu().numpy()
bank, bank_label = p["emb"], p["label"]
# a class with no loud train window (branch rustling) keeps its text embedding as its prototype
P = np.stack([bank[bank_label == c].mean(0) if (bank_label == c).any() else T[c] for c in range(len(classes))])
P /= np.linalg.norm(P, axis=1, keepdims=True)
sets = ["train", "project", "gap", "overlap", "levels", "short", "long"]


def margin(evidence):
    """(windows, classes) evidence minus the strongest other class's."""
    top2 = np.sort(evidence, 1)[:, -2:]
    strongest_other = np.where(evidence >= top2[:, 1:], top2[:, :1], top2[:, 1:])
    return evidence - strongest_other


def knn(emb, k):
    cos = emb @ bank.T
    out = np.empty((len(emb), len(classes)))
    for c in range(len(classes)):
        own = cos[:, bank_label == c]
        out[:, c] = np.sort(own, 1)[:, -k:].mean(1) if own.shape[1] else emb @ T[c]
    return out


def per_mix(name, evidence_fn):
    emb, loud, mix, y = (d[f"{name}_{k}"] for k in ("emb", "loud", "mix", "y"))
    m = margin(evidence_fn(emb))
    out = np.full(y.shape, -np.inf)
    for k in range(len(y)):
        rows = (mix == k) & loud
        if rows.any():
            out[k] = m[rows].max(0)
    return out, y


def thresholds(score, y):
    c = np.unique(score[np.isfinite(score)])
    pos, neg = np.sort(score[y]), np.sort(score[~y])
    rec = 1 - np.searchsorted(pos, c, side="left") / len(pos)
    fal = 1 - np.searchsorted(neg, c, side="left") / len(neg)
    return c[np.argmax(rec - fal)], c[np.flatnonzero(fal <= 0.10)[0]]


def report(label, evidence_fn):
    scores = {s: per_mix(s, evidence_fn) for s in sets}
    for rule, thr in zip(("youden", "false<=0.10"), thresholds(*scores["train"])):
        cells = [f"{(sc[y] >= thr).mean():.2f}/{(sc[~y] >= thr).mean():.3f}" for sc, y in (scores[s] for s in sets)]
        print(f"{label} ({rule}) | " + " | ".join(cells), flush=True)


print(f"{len(bank)} prototype windows; scheme | " + " | ".join(sets))
report("text", lambda e: e @ T.T)
report("proto", lambda e: e @ P.T)
for a in (0.5, 1.0, 2.0):
    report(f"blend a={a}", lambda e, a=a: e @ T.T + a * (e @ P.T))
for k in (1, 5, 20):
    report(f"knn k={k}", lambda e, k=k: knn(e, k))
