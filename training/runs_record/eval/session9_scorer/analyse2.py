import sys, numpy as np
sys.path.insert(0, "runs/scorer")
d = np.load(sys.argv[1]); C = len(d["classes"])
def curve(m, l):
    cand = np.unique(m[np.isfinite(m)]); pos = np.sort(m[l]); neg = np.sort(m[~l])
    return cand, 1 - np.searchsorted(pos, cand, "left") / len(pos), 1 - np.searchsorted(neg, cand, "left") / len(neg)
def fit(m, l, rule, t):
    cand, r, f = curve(m.ravel(), l.ravel())
    g = cand[np.argmax(r - f)] if rule == "youden" else cand[np.flatnonzero(f <= t)[0]]
    offs = np.full(C, g)
    if rule == "perclass":
        for c in range(C):
            neg = m[~l[:, c], c]; neg = neg[np.isfinite(neg)]; offs[c] = np.quantile(neg, 1 - t)
    return offs
def score(m, l, offs):
    hit = m >= offs[None, :]; return hit[l].mean(), hit[~l].mean()
styles = [k[:-2] for k in d.files if k.endswith("_m") and k[:-2] not in ("A", "B")]
for rule, t in [("youden", 0), ("global", 0.1), ("perclass", 0.1), ("global", 0.15)]:
    o = fit(d["A_m"], d["A_l"], rule, t); row = [f"{rule}@{t}", "A->B %.2f/%.2f" % score(d["B_m"], d["B_l"], o)]
    o = fit(np.concatenate([d["A_m"], d["B_m"]]), np.concatenate([d["A_l"], d["B_l"]]), rule, t)
    row += [s + " %.2f/%.2f" % score(d[s + "_m"], d[s + "_l"], o) for s in styles]
    print("  ".join(row))
# recall at 10% false presence on each set (oracle, for the ROC's shape)
for s in ["A", "B"] + styles:
    cand, r, f = curve(d[s + "_m"].ravel(), d[s + "_l"].ravel()); print(s, "recall@fp0.1 %.2f" % r[np.flatnonzero(f <= 0.1)[0]], end="; ")
print()
