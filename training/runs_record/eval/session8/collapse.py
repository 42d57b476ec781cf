"""Session 8's diagnostic of the mini UNet: how many distinct sounds the judge hears in a folder of clips, and
whether a higher guidance scale makes class-phrase clips recognisable. Run from the repository root:

    python training/runs_record/eval/session8/collapse.py diversity runs/steam/in_order runs/steam/gen-mini-none
    python training/runs_record/eval/session8/collapse.py guidance mini 2.5,6,12
"""

import collections
import glob
import json
import sys
from pathlib import Path

import numpy as np
import torch

from tclap_gen.audio import load_audio
from tclap_gen.datasets import label_to_phrase
from tclap_gen.fidelity import SoundClassifier, classify, generate_clips
from tclap_gen.generate import load_pipeline

JUDGE = Path("training/runs_record/eval/classifier-526f202d2bab")


def diversity(folders):
    judge = SoundClassifier.load(JUDGE)
    for folder in folders:
        waves = [load_audio(path, sampling_rate=16000)[0] for path in sorted(glob.glob(f"{folder}/*.wav"))[:60]]
        probs = classify(judge, waves)
        top = collections.Counter(judge.classes[i] for i in probs.argmax(1))
        print(json.dumps({"folder": folder, "clips": len(waves), "distinct_top1": len(top),
                          "most_common": top.most_common(4)}))


def guidance(name, scales):
    judge = SoundClassifier.load(JUDGE)
    labels = sorted(judge.classes)[::2]  # 32 of the 64 classes
    targets = np.array([judge.classes.index(label) for label in labels])
    pipe = load_pipeline(name, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    for scale in scales:
        probs = classify(judge, generate_clips(pipe, [label_to_phrase(l) for l in labels], 5.12, 50, scale, 0))
        print(json.dumps({"pipeline": name, "guidance": scale, "top1": float((probs.argmax(1) == targets).mean()),
                          "top5": float(np.mean([t in np.argsort(-row)[:5] for row, t in zip(probs, targets)])),
                          "distinct_top1": len(set(probs.argmax(1).tolist()))}))


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "diversity":
        diversity(sys.argv[2:])
    else:
        guidance(sys.argv[2], [float(x) for x in sys.argv[3].split(",")])
