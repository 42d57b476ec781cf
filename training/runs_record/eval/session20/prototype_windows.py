"""Exploration (issue 15, scorer presence): the loud 1 s timeline windows of every TRAIN-side recording (Kitchen20 +
UIowa, the T-CLAP recipe's split), embedded by a T-CLAP's audio tower, with each window's class index; saved so
that audio prototypes of the classes can be tried as presence evidence (prototype_presence.py).
Usage: prototype_windows.py MODEL OUT.npz"""
import sys
from pathlib import Path
import numpy as np
from tclap_gen.datasets import label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.scoring import TemporalScorer
model, out = sys.argv[1], sys.argv[2]
scorer = TemporalScorer.from_pretrained(model, calibration=None)
classes = list(scorer.tclap.info.extra["classes"])
train, _ = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
emb, label, clip = [], [], []
for k, (wave, name) in enumerate(load_labelled_clips(train, scorer.sampling_rate)):
    wave = scorer.prepare(wave, scorer.sampling_rate)
    _, e = scorer.window_embeddings(wave)
    loud = scorer.is_loud(scorer.window_levels_db(wave))
    emb.append(e.cpu().numpy()[loud]); label += [classes.index(label_to_phrase(name))] * int(loud.sum()); clip += [k] * int(loud.sum())
np.savez(out, emb=np.concatenate(emb), label=np.array(label), clip=np.array(clip), classes=np.array(classes))
print(len(label), "windows from", k + 1, "clips")
