"""Exploration: calibration schemes on saved class margins (presence_margins.py). Recall = present classes found,
false = absent classes found, per held-out set; every scheme fitted on the 'train' mixes only."""
import sys
import numpy as np
d = np.load(sys.argv[1])
sets = ["project", "gap", "overlap", "levels", "short", "long"]
M, Y = d["train_m"], d["train_y"]
def youden(score, y):
    c = np.unique(score[np.isfinite(score)])
    pos, neg = np.sort(score[y]), np.sort(score[~y])
    rec = 1 - np.searchsorted(pos, c, side="left") / len(pos)
    fal = 1 - np.searchsorted(neg, c, side="left") / len(neg)
    return c, rec, fal
def at_false(score, y, target):
    c, rec, fal = youden(score, y)
    ok = np.flatnonzero(fal <= target)
    return c[ok[0]]
def report(name, transform, thr):
    row = [name]
    for s in sets:
        z = transform(d[f"{s}_m"]); y = d[f"{s}_y"]
        row.append(f"{(z[y] >= thr).mean():.2f}/{(z[~y] >= thr).mean():.3f}")
    print(" | ".join(row))
print("scheme | " + " | ".join(sets))
# A: one global offset (Youden, as today)
c, r, f = youden(M, Y); t = c[np.argmax(r - f)]
report(f"global youden ({t:.3f})", lambda m: m, t)
for target in (0.08, 0.10):
    report(f"global at train false {target}", lambda m: m, at_false(M, Y, target))
# B: per-class standardisation by the class's margins where absent (its null distribution)
mu = np.array([M[~Y[:, j], j].mean() for j in range(M.shape[1])])
sd = np.array([M[~Y[:, j], j].std() for j in range(M.shape[1])])
Z = (M - mu) / sd
c, r, f = youden(Z, Y); t = c[np.argmax(r - f)]
report(f"per-class z youden ({t:.2f})", lambda m: (m - mu) / sd, t)
for target in (0.08, 0.10):
    report(f"per-class z at train false {target}", lambda m: (m - mu) / sd, at_false(Z, Y, target))
# C: per-class offset only (centre by the null mean)
Zc = M - mu
for target in (0.08, 0.10):
    report(f"per-class centre at train false {target}", lambda m: m - mu, at_false(Zc, Y, target))
# D: per-class null quantile (empirical p-value)
null = [np.sort(M[~Y[:, j], j]) for j in range(M.shape[1])]
def pval(m):
    return np.stack([np.searchsorted(null[j], m[:, j], side="right") / len(null[j]) for j in range(m.shape[1])], 1)
P = pval(M)
for target in (0.08, 0.10):
    report(f"per-class null quantile at train false {target}", pval, at_false(P, Y, target))
# class counts
print("train mixes", len(M), "positives per class min/median", Y.sum(0).min(), np.median(Y.sum(0)))
