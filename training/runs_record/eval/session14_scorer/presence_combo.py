"""Exploration: presence from several window settings' margins combined by a logistic regression fitted on the
training mixes. Usage: presence_combo.py A.npz B.npz ..."""
import sys
import numpy as np
import torch
ds = [np.load(p) for p in sys.argv[1:]]
sets = ["project", "gap", "overlap", "levels", "short", "long"]
def feats(s):
    f = np.stack([d[f"{s}_m"] for d in ds], -1)
    f = np.where(np.isfinite(f), f, -1.0)
    return f.reshape(-1, f.shape[-1]), ds[0][f"{s}_y"].reshape(-1)
X, y = feats("train")
Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
wt = torch.where(yt > 0, 0.5 / yt.mean(), 0.5 / (1 - yt.mean()))
w = torch.zeros(X.shape[1] + 1, dtype=torch.float64, requires_grad=True)
opt = torch.optim.LBFGS([w], max_iter=200)
def closure():
    opt.zero_grad(); z = Xt @ w[:-1] + w[-1]
    loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).mean() + 1e-4 * (w[:-1] ** 2).sum()
    loss.backward(); return loss
opt.step(closure)
W = w.detach().numpy(); print("coef", W)
class _C:
    def decision_function(self, A): return A @ W[:-1] + W[-1]
clf = _C()
st = clf.decision_function(X)
for target in (0.08, 0.10, None):
    c = np.unique(st); pos, neg = np.sort(st[y]), np.sort(st[~y])
    rec = 1 - np.searchsorted(pos, c, side="left") / len(pos); fal = 1 - np.searchsorted(neg, c, side="left") / len(neg)
    t = c[np.argmax(rec - fal)] if target is None else c[np.flatnonzero(fal <= target)[0]]
    row = [f"target {target}"]
    for s in sets:
        Xs, ys = feats(s); z = clf.decision_function(Xs)
        row.append(f"{(z[ys] >= t).mean():.2f}/{(z[~ys] >= t).mean():.3f}")
    print(" | ".join(row))
