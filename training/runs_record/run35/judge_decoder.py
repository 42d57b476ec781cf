"""Run 35's decoder judged as scripts/fidelity.py judges the VAE: the held-out clips' log-mel through the VAE and
the shipped vocoder, top-1 / top-5 of the fidelity classifier and log-mel L1 to the original; with --generate also
one clip per held-out class phrase from the shipped mini with this VAE (fidelity's prompts and seeds).
Usage: judge_decoder.py VAE_WEIGHTS [--generate]   (VAE_WEIGHTS: a .safetensors file: a checkpoint's model.safetensors
or the final vae/model's; "shipped" for the shipped VAE)."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from tclap_gen.audio import level, loudest_excerpt
from tclap_gen.datasets import label_to_phrase, load_labelled_clips, split_clip_lists
from tclap_gen.fidelity import (SoundClassifier, _shares, classify, generate_clips, log_mel_l1, run_vocoder,
                                vae_round_trip)
from tclap_gen.generate import load_pipeline
from tclap_gen.mel import log_mel

source, generate = sys.argv[1], "--generate" in sys.argv
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
_, heldout = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
heldout = [(w, l) for w, l in load_labelled_clips(heldout) if l in set(clf.classes)]
samples = int(5.12 * 16000)
clips = [np.pad(level(loudest_excerpt(w, samples)), (0, samples))[:samples] for w, _ in heldout]
targets = [clf.classes.index(l) for _, l in heldout]
pipe = load_pipeline("mini", device="cpu")
if source != "shipped":
    state = load_file(source)
    pipe.vae.load_state_dict({k: v.to(pipe.vae.dtype) for k, v in state.items()})
waves = [run_vocoder(pipe.vocoder, vae_round_trip(pipe.vae, log_mel(torch.from_numpy(c)))) for c in clips]
row = {"vae": source, **_shares(classify(clf, waves), targets),
       "log_mel_l1": float(np.mean([log_mel_l1(w, c) for w, c in zip(waves, clips)]))}
if generate:
    labels = sorted({l for _, l in heldout})
    gen = generate_clips(pipe, [label_to_phrase(l) for l in labels], 5.12, 50, 2.5, seed=0)
    row["generated"] = _shares(classify(clf, gen), [clf.classes.index(l) for l in labels])
print(json.dumps(row), flush=True)
