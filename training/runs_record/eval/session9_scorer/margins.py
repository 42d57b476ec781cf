"""Collect each trained class's best window margin on training mixes (two halves split by source) and held-out mixes."""
import sys, numpy as np, time
sys.path.insert(0, "scripts")
from tclap_gen.datasets import MixupDataset, split_clip_lists, split_by_source
from tclap_gen.scoring import TemporalScorer
from validate_scorer import heldout_mixes

clips = ["../shared/data/kitchen20/metadata.csv", "../shared/data/uiowa/metadata.csv"]
model, window, hop, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
scorer = TemporalScorer.from_pretrained(model, window_s=window, hop_s=hop, calibration=None)
classes = scorer.tclap.info.extra["classes"]
texts, rivals = scorer.class_rivals(classes)
emb = scorer._embed_texts(texts)
train, heldout = split_clip_lists(clips)
a, b = split_by_source(train, 0.5, seed=1)
seconds = scorer.tclap.max_samples / scorer.sampling_rate
out = {}
def collect(name, examples):
    t = time.time(); M, L = [], []
    for wave, sr, present in examples:
        M.append(scorer.class_margins(scorer.prepare(wave, sr), emb, rivals)); L.append([c in present for c in classes])
    out[name + "_m"], out[name + "_l"] = np.array(M), np.array(L)
    np.savez(f"runs/scorer/margins_{model}_w{window:g}_h{hop:g}.npz", classes=np.array(classes), **out)
    print(name, len(M), f"{time.time()-t:.0f}s", flush=True)
for name, recs in (("A", a), ("B", b)):
    ds = MixupDataset(recs, seconds=seconds, num_events=(2, 3), length=n, seed=0)
    collect(name, ((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in (ds[i] for i in range(len(ds)))))
for style in ("gap", "levels", "short", "long", "overlap"):
    ex = heldout_mixes(heldout, style, 100, 1234)
    collect(style, ((e.audio, e.sampling_rate, {t.phrase for t in e.timeline}) for e in ex))
np.savez(f"runs/scorer/margins_{model}_w{window:g}_h{hop:g}.npz", classes=np.array(classes), **out)
