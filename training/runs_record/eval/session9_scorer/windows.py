"""Loud-window embeddings (2 s windows, 1 s hop) of training clips, training mixes (halves A, B) and held-out mixes."""
import sys, pickle, time, numpy as np
sys.path.insert(0, "scripts")
from tclap_gen.datasets import MixupDataset, split_clip_lists, split_by_source, label_to_phrase, load_labelled_clips
from tclap_gen.scoring import TemporalScorer
from validate_scorer import heldout_mixes

clips = ["../shared/data/kitchen20/metadata.csv", "../shared/data/uiowa/metadata.csv"]
model, window, hop = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
scorer = TemporalScorer.from_pretrained(model, window_s=window, hop_s=hop, calibration=None)
classes = scorer.tclap.info.extra["classes"]
texts = classes + list(scorer.background_texts)
out = {"classes": classes, "texts": texts, "text_emb": scorer._embed_texts(texts).numpy(),
       "rivals": scorer.class_rivals(classes)[1]}
def loud(wave):
    wave = scorer.prepare(wave, 16000)
    _, emb = scorer.window_embeddings(wave)
    lv = scorer.window_levels_db(wave)
    keep = (lv >= scorer.silence_db) & (lv >= lv.max() - scorer.dynamic_range_db)
    return emb[keep].numpy()
train, heldout = split_clip_lists(clips)
a, b = split_by_source(train, 0.5, seed=1)
half = {str(r.path): "A" for r in a} | {str(r.path): "B" for r in b}
t = time.time()
out["clips"] = [(half[str(r.path)], label_to_phrase(r.label), loud(w)) for r, (w, _) in zip(train, load_labelled_clips(train))]
print("clips", time.time() - t, flush=True)
for name, recs in (("A", a), ("B", b)):
    ds = MixupDataset(recs, seconds=5.0, num_events=(2, 3), length=200, seed=0)
    out[name] = [(loud(e.audio), {t.phrase for t in e.timeline}) for e in (ds[i] for i in range(len(ds)))]
    print(name, time.time() - t, flush=True)
for style in ("gap", "levels", "short", "long", "overlap"):
    out[style] = [(loud(e.audio), {t.phrase for t in e.timeline}) for e in heldout_mixes(heldout, style, 100, 1234)]
    print(style, time.time() - t, flush=True)
    pickle.dump(out, open(f"runs/scorer/windows_{model}_w{window:g}.pkl", "wb"))
