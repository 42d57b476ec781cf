"""Exploration: fidelity's 2-event rows for run 30's pipeline without and with layout="auto" (same prompts/seeds)."""
from pathlib import Path
from tclap_gen.datasets import split_clip_lists, load_labelled_clips
from tclap_gen.fidelity import SoundClassifier, _judge_sequences
from tclap_gen.audio import level
from tclap_gen.generate import load_pipeline
from tclap_gen.datasets import label_to_phrase
_, held = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
heldout = [(w, l) for w, l in load_labelled_clips(held) if l in set(clf.classes)]
rows = {}
_judge_sequences(rows, clf, heldout, {"run30": load_pipeline("runs/run30/gen-mini/pipeline", device="cpu")}, 2, 40,
                 5.12, 50, 2.5, 0, label_to_phrase, True, print)
