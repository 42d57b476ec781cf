"""Exploration (session 20), on a DEVELOPMENT draw: plain "A then B" prompts over held-out classes (40 prompts,
picks and clip seeds from seed 1000; the fidelity table uses seed 0), judged by the fidelity classifier as
`fidelity._judge_sequences` judges them (both events found, in order). One row per pipeline and guidance scale.
Usage: two_event_dev.py PIPELINE GUIDANCE [GUIDANCE ...]"""
import json, sys
from pathlib import Path
from tclap_gen.datasets import label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.fidelity import SoundClassifier, _judge_sequences
from tclap_gen.generate import load_pipeline

pipeline, scales = sys.argv[1], [float(g) for g in sys.argv[2:]]
_, heldout = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
waves = [(w, label) for w, label in load_labelled_clips(heldout) if label in set(clf.classes)]
pipe = load_pipeline(pipeline, device="cpu")
for g in scales:
    rows = {}
    _judge_sequences(rows, clf, waves, {pipeline: pipe}, 2, 40, 5.12, 50, g, 1000, label_to_phrase, False,
                     log=lambda line: None)
    for name, row in rows.items():
        print(json.dumps({"pipeline": pipeline, "guidance": g, "row": name, **row}), flush=True)
