import sys, pickle, numpy as np
d = pickle.load(open(sys.argv[1], "rb"))
classes, T, rivals = d["classes"], d["text_emb"], d["rivals"]
C = len(classes); idx = {c: i for i, c in enumerate(classes)}
def norm(x): return x / np.linalg.norm(x, axis=-1, keepdims=True)
def protos(halves, beta):
    P = T.copy()
    if beta is None: return P
    for c in range(C):
        w = [e for h, p, e in d["clips"] if h in halves and p == classes[c] and len(e)]
        if not w: continue
        a = norm(norm(np.concatenate(w)).mean(0))
        P[c] = a if beta == "audio" else norm(T[c] + beta * a)
    return P
def margins(mixes, P):
    M, L = [], []
    for emb, present in mixes:
        if not len(emb): M.append(np.full(C, -np.inf)); L.append([c in present for c in classes]); continue
        cos = norm(emb) @ P.T
        M.append([(cos[:, i] - cos[:, r].max(1)).max() for i, r in enumerate(rivals)]); L.append([c in present for c in classes])
    return np.array(M), np.array(L)
def curve(m, l):
    cand = np.unique(m[np.isfinite(m)]); pos = np.sort(m[l]); neg = np.sort(m[~l])
    return cand, 1 - np.searchsorted(pos, cand, "left") / len(pos), 1 - np.searchsorted(neg, cand, "left") / len(neg)
def fit(m, l, rule):
    cand, r, f = curve(m.ravel(), l.ravel())
    if rule == "youden": return np.full(C, cand[np.argmax(r - f)])
    offs = np.full(C, cand[np.flatnonzero(f <= 0.1)[0]])
    if rule == "perclass":
        for c in range(C):
            neg = m[~l[:, c], c]; neg = neg[np.isfinite(neg)]; offs[c] = np.quantile(neg, 0.9)
    return offs
def score(m, l, o): hit = m >= o[None]; return hit[l].mean(), hit[~l].mean()
styles = ["gap", "levels", "short", "long", "overlap"]
for beta in [None, "audio", 0.5, 1.0, 2.0]:
    PA = protos({"A"}, beta); mA, lA = margins(d["A"], PA); mB, lB = margins(d["B"], PA)
    Pall = protos({"A", "B"}, beta)
    for rule in ["youden", "global", "perclass"]:
        row = [f"{beta}/{rule}", "A->B %.2f/%.2f" % score(mB, lB, fit(mA, lA, rule))]
        # held-out: prototypes from A, thresholds from B mixes (clips the prototypes never saw)
        oB = fit(mB, lB, rule)
        row += [s + " %.2f/%.2f" % score(*margins(d[s], PA), oB) for s in styles if s in d]
        print("  ".join(row), flush=True)
    row = [f"{beta} oracle recall@fp0.1"]
    for s in styles:
        if s in d:
            c, r, f = curve(*[x.ravel() for x in margins(d[s], Pall)]); row.append(s + " %.2f" % r[np.flatnonzero(f <= 0.1)[0]])
    print("  ".join(row), flush=True)
