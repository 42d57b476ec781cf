"""Exploration (issue 15): presence schemes on saved window embeddings (window_embeddings.py). Each scheme turns a
mix's (windows, texts) cosines into one score per class; its threshold is fitted on the 600 TRAINING mixes (Youden,
and at a training false presence of 0.10) and applied unchanged to the held-out sets. Cells: recall / false presence.
Usage: presence_schemes.py MODEL WINDOWS.npz"""
import sys
import numpy as np
import torch
from tclap_gen.scoring import TemporalScorer
model, path = sys.argv[1], sys.argv[2]
d = np.load(path)
scorer = TemporalScorer.from_pretrained(model, calibration=None)
classes = [str(c) for c in d["classes"]]
texts, rivals = scorer.class_rivals(classes)
sets = ["train", "project", "gap", "overlap", "levels", "short", "long"]
TEMPLATES = ["{}", "the sound of {}", "{} can be heard", "a recording of {}", "{} in the background", "someone recording {}"]

def embed(templates):
    """(texts, D) text embeddings, each the normalised mean over `templates` (background texts kept as they are)."""
    rows = []
    for t in texts:
        forms = [f.format(t) for f in templates] if t in classes else [t]
        rows.append(torch.nn.functional.normalize(scorer._embed_texts(forms).mean(0), dim=-1))
    return torch.stack(rows).cpu().numpy()

def per_mix(name, fn, T):
    emb, loud, mix, y = (d[f"{name}_{k}"] for k in ("emb", "loud", "mix", "y"))
    cos = emb @ T.T
    out = np.full(y.shape, -np.inf)
    for k in range(len(y)):
        rows = mix == k
        if loud[rows].any():
            out[k] = fn(cos[rows], loud[rows])
    return out, y

def margins(cos):
    """(windows, classes) each class's cosine minus its strongest competitor's."""
    return np.stack([cos[:, i] - cos[:, r].max(1) for i, r in enumerate(rivals)], 1)

def soft_margins(cos, tau):
    return np.stack([cos[:, i] - tau * np.logaddexp.reduce(cos[:, r] / tau, axis=1) for i, r in enumerate(rivals)], 1)

def zwin(cos):
    return (cos - cos.mean(1, keepdims=True)) / cos.std(1, keepdims=True)

def best(m, loud):
    return m[loud].max(0)

def smooth2(m, loud):
    """the best mean over two neighbouring loud windows (one loud window: its own margin)."""
    m = np.where(loud[:, None], m, -np.inf)
    if len(m) < 2:
        return m.max(0)
    return ((m[1:] + m[:-1]) / 2).max(0)

def top2(m, loud):
    s = np.sort(m[loud], 0)
    return s[-2:].mean(0) if len(s) >= 2 else s[-1]

def thresholds(score, y):
    c = np.unique(score[np.isfinite(score)])
    pos, neg = np.sort(score[y]), np.sort(score[~y])
    rec = 1 - np.searchsorted(pos, c, side="left") / len(pos)
    fal = 1 - np.searchsorted(neg, c, side="left") / len(neg)
    return c[np.argmax(rec - fal)], c[np.flatnonzero(fal <= 0.10)[0]]

def report(label, fn, T):
    scores = {s: per_mix(s, fn, T) for s in sets}
    for rule, thr in zip(("youden", "false<=0.10"), thresholds(*scores["train"])):
        cells = [f"{(sc[y] >= thr).mean():.2f}/{(sc[~y] >= thr).mean():.3f}" for sc, y in (scores[s] for s in sets)]
        print(f"{label} ({rule}) | " + " | ".join(cells), flush=True)

T1 = embed(["{}"])
TE = embed(TEMPLATES)
print("scheme | " + " | ".join(sets))
for tname, T in (("plain text", T1), ("template ensemble", TE)):
    report(f"{tname}: margin, best window", lambda c, l: best(margins(c), l), T)
    report(f"{tname}: margin, best neighbouring pair", lambda c, l: smooth2(margins(c), l), T)
    report(f"{tname}: margin, top-2 windows", lambda c, l: top2(margins(c), l), T)
    report(f"{tname}: window z-norm margin, best window", lambda c, l: best(margins(zwin(c)), l), T)
    for tau in (0.01, 0.03):
        report(f"{tname}: soft margin tau {tau}, best window", lambda c, l, t=tau: best(soft_margins(c, t), l), T)
