"""Exploration: order judged from the global T-CLAP probability, from the windows' timeline (slope of the events'
cosine difference over time), and from both (logistic regression fitted on training mixes). Usage: order_combo.py X.pkl"""
import pickle, sys
import numpy as np, torch
data = pickle.load(open(sys.argv[1], "rb"))
def feats(item, silence=-60.0, dyn=50.0):
    p, times, cos, lev = item
    p = min(max(p, 1e-6), 1 - 1e-6)
    g = np.log(p / (1 - p))
    loud = (lev >= silence) & (lev >= lev.max() - dyn)
    t, d = times[loud], (cos[loud, 0] - cos[loud, 1])
    if len(t) < 2:
        return [g, 0.0, 0.0]
    tn = (t - t.mean()) / (t.std() + 1e-9)
    slope = float(np.mean(tn * (d - d.mean())))
    # onset-ish: time of A's best window minus B's best window, in seconds
    gap = float(times[loud][np.argmax(cos[loud, 1])] - times[loud][np.argmax(cos[loud, 0])])
    return [g, -slope, gap]
def table(name, score_fn):
    row = [name]
    for s in ["project", "gap", "overlap", "levels", "short", "long"]:
        ab = np.array([score_fn(np.array(feats(r[0]))) for r in data[s]])
        ba = np.array([score_fn(np.array(feats(r[1]))) for r in data[s]])
        row.append(f"{(ab > 0).mean():.2f}/{(ba <= 0).mean():.2f}")
    print(" | ".join(row))
print("scheme | project | gap | overlap | levels | short | long   (right in order / reversed judged wrong)")
table("global", lambda f: f[0])
table("timeline slope", lambda f: f[1])
table("timeline best-window gap", lambda f: f[2])
X = np.array([feats(r[0]) for r in data["train"]] + [feats(r[1]) for r in data["train"]])
y = np.array([1.0] * len(data["train"]) + [0.0] * len(data["train"]))
for cols in ([0, 1], [0, 2], [0, 1, 2]):
    Xt, yt = torch.tensor(X[:, cols]), torch.tensor(y)
    w = torch.zeros(len(cols), dtype=torch.float64, requires_grad=True)  # no intercept: symmetric in the orders
    opt = torch.optim.LBFGS([w], max_iter=200)
    def closure():
        opt.zero_grad(); loss = torch.nn.functional.binary_cross_entropy_with_logits(Xt @ w, yt) + 1e-4 * (w ** 2).sum()
        loss.backward(); return loss
    opt.step(closure)
    W = w.detach().numpy()
    table(f"combined {cols} w={np.round(W, 2)}", lambda f, W=W, cols=cols: f[cols] @ W)
