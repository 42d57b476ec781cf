"""Exploration (session 17), on a DEVELOPMENT draw: does moving the text embeddings toward the audio embeddings the
UNet learned on (the "modality gap") make class phrases more recognisable? t' = normalize(t + a * (mu_audio -
mu_text)), mu_audio the mean of the UNet pool's embeddings, mu_text that of 264 train-side captions (64 class
phrases, 200 "A then B"); the "" unconditional embedding unchanged, as in training. One clip per held-out class
phrase, clip i seeded 1000 + i (the fidelity rows use 0 + i), judged by the fidelity classifier.
Usage: gap_shift_dev.py PIPELINE POOL A [A ...]   (POOL: e.g. runs/run32/gen-mini/unet/pool.safetensors)"""
import json, random, sys
from pathlib import Path
import torch, torch.nn.functional as F
from safetensors.torch import load_file
from tclap_gen.datasets import label_to_phrase, split_clip_lists
from tclap_gen.fidelity import SoundClassifier, _shares, classify, generate_clips
from tclap_gen.generate import load_pipeline

pipeline, pool, alphas = sys.argv[1], sys.argv[2], [float(a) for a in sys.argv[3:]]
train, heldout = split_clip_lists([Path("../shared/data/kitchen20/metadata.csv"), Path("../shared/data/uiowa/metadata.csv")])
clf = SoundClassifier.load(Path("training/runs_record/eval/classifier-526f202d2bab"))
labels = sorted({r.label for r in heldout if r.label in set(clf.classes)})
targets = [clf.classes.index(l) for l in labels]
pipe = load_pipeline(pipeline, device="cpu")
embed = pipe._embed_texts
train_labels = sorted({r.label for r in train})
rng = random.Random(0)
bank = [label_to_phrase(l) for l in train_labels] + [
    " then ".join(label_to_phrase(l) for l in rng.sample(train_labels, 2)) for _ in range(200)]
with torch.no_grad():
    mu_t = embed(bank, "cpu").float().mean(0)
mu_a = load_file(pool)["embeddings"].float().mean(0)
for a in alphas:
    def shifted(texts, device, a=a):
        e = embed(texts, device)
        moved = F.normalize(e.float() + a * (mu_a - mu_t).to(e.device), dim=-1).to(e.dtype)
        keep = torch.tensor([t == "" for t in texts], device=e.device)[:, None]
        return torch.where(keep, e, moved)
    pipe._embed_texts = shifted
    waves = generate_clips(pipe, [label_to_phrase(l) for l in labels], 5.12, 50, 2.5, seed=1000)
    print(json.dumps({"pipeline": pipeline, "alpha": a, **_shares(classify(clf, waves, 16000), targets)}), flush=True)
