"""Exploration (session 14): layout="auto" with several `layout_weight` values (how much of the whole prompt's
prediction is kept everywhere) on a DEVELOPMENT set of 2-event prompts: 40 sequences of TRAIN-side clips' classes
drawn with seed 1 (the fidelity rows use held-out clips and seed 0), clip i seeded 1 + i. Judged as scripts/fidelity.py
judges (the project's classifier: both events found, in the prompt's order). Usage: sweep.py PIPELINE W [W ...]"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from tclap_gen.datasets import label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.fidelity import SoundClassifier, event_tracks, sequence_found
from tclap_gen.generate import load_pipeline

pipeline, weights = sys.argv[1], [float(w) for w in sys.argv[2:]]
train, _ = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
labels = sorted({r.label for r in train if r.label in set(clf.classes)})
index = {c: i for i, c in enumerate(clf.classes)}
rng = np.random.default_rng([1, 2])
sequences = []
while len(sequences) < 40:
    pair = [labels[i] for i in rng.choice(len(labels), 2, replace=False)]
    sequences.append(pair)
prompts = [" then ".join(label_to_phrase(l) for l in pair) for pair in sequences]
pipe = load_pipeline(pipeline, device="cpu")
for w in weights:
    found, ordered = [], []
    for start in range(0, 40, 8):
        gens = [torch.Generator().manual_seed(1 + start + i) for i in range(8)]
        out = pipe(prompt=prompts[start:start + 8], num_inference_steps=50, guidance_scale=2.5, audio_length_in_s=5.12,
                   generator=gens, layout="auto", layout_weight=w)
        for wave, pair in zip(out.audios, sequences[start:start + 8]):
            _, probs = event_tracks(clf, np.asarray(wave, np.float32), 16000)
            f, o = sequence_found(probs, [index[l] for l in pair])
            found.append(all(f)); ordered.append(o)
    print(json.dumps({"pipeline": pipeline, "layout_weight": w, "clips": 40, "all_found": float(np.mean(found)),
                      "in_order": float(np.mean(ordered))}), flush=True)
