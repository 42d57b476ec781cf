"""Exploration (session 15): does a stronger classifier-free guidance make the generated sounds more recognisable?
On a DEVELOPMENT draw: one clip per class phrase of the held-out labels (the fidelity table's prompts) but with other
seeds (clip i seeded 1000 + i; the fidelity rows use 0 + i), judged by the fidelity classifier (top-1 / top-5), at
each guidance scale. Usage: guidance_sweep.py PIPELINE G [G ...]"""
import json
import sys
from pathlib import Path

from tclap_gen.datasets import label_to_phrase, split_clip_lists
from tclap_gen.fidelity import SoundClassifier, _shares, classify, generate_clips
from tclap_gen.generate import load_pipeline

pipeline, scales = sys.argv[1], [float(g) for g in sys.argv[2:]]
_, heldout = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
labels = sorted({r.label for r in heldout if r.label in set(clf.classes)})
targets = [clf.classes.index(l) for l in labels]
pipe = load_pipeline(pipeline, device="cpu")
for g in scales:
    waves = generate_clips(pipe, [label_to_phrase(l) for l in labels], 5.12, 50, g, seed=1000)
    shares = _shares(classify(clf, waves, 16000), targets)  # as fidelity.py counts top-1 / top-5
    print(json.dumps({"pipeline": pipeline, "guidance": g, **shares}), flush=True)
