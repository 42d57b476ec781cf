"""How much of a sound survives each stage of the generator, judged by a sound classifier of our own.

The judge (`SoundClassifier`) is a small CNN trained only on the TRAIN side of the held-out split, on a
time-frequency representation the generator never uses (96 mel bands from a 512-point STFT with a 128-sample hop,
against the generator's 64 bands, 1024 points, 160 samples), so that reproducing the generator's own log-mel is not
enough to fool it. On held-out recordings it gives:

- `classify`: class probabilities of a whole clip (the mean of its 2 s windows' probabilities);
- `event_tracks`: class probabilities in sliding windows, from which `sequence_found` decides whether a prompt's
  events are there and in its order, and `found_span` where each one is.

Reference points for any vocoder: `griffin_lim` (phase reconstruction with no learning) from the same log-mel, and
two spectral distances between a reconstruction and its original (`log_mel_l1`, `multi_resolution_stft_distance`).
scripts/fidelity.py runs the whole measurement.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .audio import level, loudest_excerpt
from .mel import MelConfig, log_mel, mel_filters

# The classifier's own features: not the generator's log-mel (see the module docstring).
CLASSIFIER_MEL = MelConfig(n_fft=512, win_length=512, hop_length=128, n_mels=96)


class SoundClassifier(nn.Module):
    """Log-mel (CLASSIFIER_MEL) -> 5 conv blocks -> mean over frequency -> mean + max over time -> class logits."""

    def __init__(self, classes: list[str], channels: tuple[int, ...] = (16, 32, 64, 128, 256), dropout: float = 0.3):
        super().__init__()
        self.classes = list(classes)
        self.channels = tuple(channels)
        self.input_norm = nn.BatchNorm2d(1)
        blocks, previous = [], 1
        for width in channels:  # one 3x3 conv a level keeps a training step under a second on one CPU core
            blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.AvgPool2d(2)]
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(previous, len(classes))

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        return log_mel(wave, CLASSIFIER_MEL).unsqueeze(1)  # (B, 1, frames, mels)

    def forward(self, wave: torch.Tensor, spec_augment: torch.Generator | None = None) -> torch.Tensor:
        x = self.features(wave)
        if spec_augment is not None:
            x = _mask(x, spec_augment)
        x = self.blocks(self.input_norm(x)).mean(dim=3)  # (B, C, frames)
        x = x.mean(dim=2) + x.amax(dim=2)
        return self.head(self.dropout(x))

    # -------------------------------------------------------------- saving (safetensors + a JSON of the classes)
    def save(self, folder: Path) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(folder / "model.safetensors.tmp"))
        (folder / "model.safetensors.tmp").replace(folder / "model.safetensors")
        (folder / "classes.json.tmp").write_text(json.dumps({"classes": self.classes, "channels": self.channels}))
        (folder / "classes.json.tmp").replace(folder / "classes.json")

    @classmethod
    def load(cls, folder: Path) -> "SoundClassifier":
        from safetensors.torch import load_file

        meta = json.loads((folder / "classes.json").read_text())
        model = cls(meta["classes"], tuple(meta["channels"]))
        model.load_state_dict(load_file(str(folder / "model.safetensors")))
        return model.eval()


def _mask(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SpecAugment: one random band of up to 12 mel bins and one stretch of up to 1/5 of the frames set to the
    clip's mean, per example."""
    batch, _, frames, mels = x.shape
    r = torch.rand(batch, 4, generator=generator)
    f_width, f_start = (r[:, 0] * 12).long(), (r[:, 1] * mels).long()
    t_width, t_start = (r[:, 2] * frames / 5).long(), (r[:, 3] * frames).long()
    f = torch.arange(mels)[None]
    t = torch.arange(frames)[None]
    f_mask = (f >= f_start[:, None]) & (f < (f_start + f_width)[:, None])  # (B, mels)
    t_mask = (t >= t_start[:, None]) & (t < (t_start + t_width)[:, None])  # (B, frames)
    mask = (f_mask[:, None, None, :] | t_mask[:, None, :, None]).to(x.device)
    return torch.where(mask, x.mean(dim=(2, 3), keepdim=True), x)


@dataclass
class ClassifierRecipe:
    """How the judge is trained; its hash names the cached classifier."""

    steps: int = 3000
    batch_size: int = 32
    crop_s: float = 2.0
    learning_rate: float = 2e-3
    seed: int = 0

    def key(self, records) -> str:
        listing = sorted(f"{r.path.name}:{r.label}" for r in records)
        payload = json.dumps({"recipe": self.__dict__, "clips": listing})
        return hashlib.sha1(payload.encode()).hexdigest()[:12]


def _loudest_crop(wave: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of `length` samples among those holding at least half the loudest crop's energy (a crop of
    silence would teach the classifier that silence is the class)."""
    if wave.size <= length:
        out = np.zeros(length, np.float32)
        start = int(rng.integers(0, length - wave.size + 1))
        out[start : start + wave.size] = wave
        return out
    energy = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
    starts = np.arange(0, wave.size - length + 1, 160)
    window_energy = energy[starts + length] - energy[starts]
    good = starts[window_energy >= 0.5 * window_energy.max()]
    start = int(rng.choice(good))
    return wave[start : start + length]


def train_classifier(waves: list[np.ndarray], labels: list[str], recipe: ClassifierRecipe = ClassifierRecipe(),
                     sampling_rate: int = 16000, log=print) -> SoundClassifier:
    """Train on levelled random crops with random gain (-9..0 dB) and SpecAugment; classes balanced by sampling
    each class equally often (UIowa has 3-4 recordings a class, Kitchen20 about 40)."""
    classes = sorted(set(labels))
    by_class = {c: [i for i, label in enumerate(labels) if label == c] for c in classes}
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    model = SoundClassifier(classes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.learning_rate, total_steps=recipe.steps,
                                                   pct_start=0.1)
    length = int(recipe.crop_s * sampling_rate)
    model.train()
    running = []
    for step in range(recipe.steps):
        picked = rng.integers(0, len(classes), recipe.batch_size)
        batch, targets = [], []
        for c in picked:
            index = by_class[classes[c]][int(rng.integers(0, len(by_class[classes[c]])))]
            gain = 10 ** (rng.uniform(-9.0, 0.0) / 20)
            batch.append(_loudest_crop(waves[index], length, rng) * gain)
            targets.append(c)
        logits = model(torch.from_numpy(np.stack(batch)), spec_augment=generator)
        loss = F.cross_entropy(logits, torch.tensor(targets), label_smoothing=0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running.append(loss.item())
        if (step + 1) % 250 == 0 or step + 1 == recipe.steps:
            log(json.dumps({"classifier_step": step + 1, "loss": round(float(np.mean(running)), 4)}))
            running = []
    return model.eval()


def _windows(wave: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, (W, window) frames); a wave shorter than one window is zero-padded to it."""
    if wave.size < window:
        wave = np.pad(wave, (0, window - wave.size))
    starts = np.arange(0, wave.size - window + 1, hop)
    return starts, np.stack([wave[s : s + window] for s in starts])


@torch.no_grad()
def event_tracks(model: SoundClassifier, wave: np.ndarray, sampling_rate: int = 16000, window_s: float = 1.0,
                 hop_s: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(window centres in seconds, (W, classes) probabilities) of the levelled wave in sliding windows."""
    window, hop = int(window_s * sampling_rate), int(hop_s * sampling_rate)
    starts, frames = _windows(level(wave), window, hop)
    probs = torch.softmax(model(torch.from_numpy(frames)), dim=-1).numpy()
    return (starts + window / 2) / sampling_rate, probs


@torch.no_grad()
def classify(model: SoundClassifier, waves: list[np.ndarray], sampling_rate: int = 16000) -> np.ndarray:
    """(N, classes): the mean of each clip's 2 s windows' probabilities (hop 1 s)."""
    return np.stack([event_tracks(model, w, sampling_rate, window_s=2.0, hop_s=1.0)[1].mean(axis=0) for w in waves])


def windows_in_top_k(probs: np.ndarray, cls: int, top_k: int = 3) -> np.ndarray:
    """(W,) bool: the windows of (W, classes) probabilities in which class `cls` ranks in the top `top_k`."""
    ranks = (-probs).argsort(axis=1).argsort(axis=1)  # rank of every class in every window, 0 = top
    return ranks[:, cls] < top_k


def class_found(probs: np.ndarray, cls: int, top_k: int = 3) -> bool:
    """Whether class `cls` ranks in the top `top_k` of some window of (W, classes) probabilities."""
    return bool(windows_in_top_k(probs, cls, top_k).any())


def sequence_found(probs: np.ndarray, classes: list[int], top_k: int = 3) -> tuple[list[bool], bool]:
    """From sliding-window probabilities (W, classes): per class of `classes` (in the prompt's order) whether it is
    found (`class_found`), and whether all are found with their most probable windows in that order."""
    found = [class_found(probs, c, top_k) for c in classes]
    peaks = [int(probs[:, c].argmax()) for c in classes]
    return found, all(found) and all(p < q for p, q in zip(peaks, peaks[1:]))


def found_span(centres: np.ndarray, probs: np.ndarray, cls: int, window_s: float = 1.0,
               top_k: int = 3) -> tuple[float, float] | None:
    """(onset, offset) in seconds: from the start of the first window in which `cls` ranks in the top `top_k` to
    the end of the last one; None when it never does."""
    hits = np.flatnonzero(windows_in_top_k(probs, cls, top_k))
    if hits.size == 0:
        return None
    return float(centres[hits[0]] - window_s / 2), float(centres[hits[-1]] + window_s / 2)


# ------------------------------------------------------------------------------------------------ references
def griffin_lim(mel: torch.Tensor, config: MelConfig = MelConfig(), iterations: int = 32, seed: int = 0) -> torch.Tensor:
    """Waveform from a log-mel (frames, n_mels) of tclap_gen.mel by non-negative mel inversion and Griffin-Lim
    phase reconstruction (random initial phase): the floor a learned vocoder must clear."""
    filters = torch.from_numpy(mel_filters(config)).double()  # (bins, mels)
    target = mel.double().exp().T  # (mels, frames)
    # Non-negative least squares by multiplicative updates (the min-norm least-squares magnitude rings negative
    # between the filters' centres); 200 updates fit the mel to 1e-6 in log terms.
    magnitude = filters @ target / filters.sum(dim=1, keepdim=True).clamp_min(1e-8)
    for _ in range(200):
        magnitude = magnitude * (filters @ target) / (filters @ (filters.T @ magnitude)).clamp_min(1e-12)
    magnitude = magnitude.float()  # (bins, frames)
    window = torch.hann_window(config.win_length)
    length = mel.shape[0] * config.hop_length
    generator = torch.Generator().manual_seed(seed)
    phase = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=generator))
    stft = dict(n_fft=config.n_fft, hop_length=config.hop_length, win_length=config.win_length, window=window)
    for _ in range(iterations):
        wave = torch.istft(magnitude * phase, length=length, **stft)
        spectrum = torch.stft(wave, return_complex=True, **stft)[:, : magnitude.shape[1]]
        phase = spectrum / spectrum.abs().clamp_min(1e-8)
    return torch.istft(magnitude * phase, length=length, **stft)


def log_mel_l1(reconstruction: np.ndarray, original: np.ndarray) -> float:
    """Mean |log-mel difference| (the generator's 64-band log-mel, nats), over the common length."""
    n = min(reconstruction.size, original.size)
    a, b = (log_mel(torch.from_numpy(np.ascontiguousarray(x[:n], dtype=np.float32))) for x in (reconstruction, original))
    return float((a - b).abs().mean())


def multi_resolution_stft_distance(reconstruction: np.ndarray, original: np.ndarray,
                                   resolutions=((512, 128), (1024, 256), (2048, 512))) -> float:
    """Mean over STFT sizes of spectral convergence + mean |log-magnitude difference| (Parallel WaveGAN's
    auxiliary loss, as a distance), over the common length."""
    n = min(reconstruction.size, original.size)
    a, b = (torch.from_numpy(np.ascontiguousarray(x[:n], dtype=np.float32)) for x in (reconstruction, original))
    total = 0.0
    for n_fft, hop in resolutions:
        window = torch.hann_window(n_fft)
        p, t = (torch.stft(x, n_fft, hop, window=window, return_complex=True).abs() + 1e-5 for x in (a, b))
        total += float(torch.linalg.norm(t - p) / torch.linalg.norm(t)) + float((p.log() - t.log()).abs().mean())
    return total / len(resolutions)


# ------------------------------------------------------------------------------------------------ the measurement
def sequence_mix(waves: list[np.ndarray], sampling_rate: int, total_s: float, event_s: float = 2.0,
                 gap_s: float = 0.3, lead_s: float = 0.2) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The waves one after another, and each one's (start, end) in seconds: each one's loudest `event_s` (less when
    that many do not fit), levelled, with 10 ms fades, `lead_s` of silence before and `gap_s` between them (not the
    training mixer: no crossfade, no overlap, fixed gap)."""
    event_s = min(event_s, (total_s - lead_s - gap_s * (len(waves) - 1) - 0.2) / len(waves))
    total, event, fade = int(total_s * sampling_rate), int(event_s * sampling_rate), int(0.01 * sampling_rate)
    ramp = np.ones(event, np.float32)
    ramp[:fade], ramp[-fade:] = np.linspace(0, 1, fade), np.linspace(1, 0, fade)
    out, spans = np.zeros(total, np.float32), []
    for k, wave in enumerate(waves):
        start = int((lead_s + k * (event_s + gap_s)) * sampling_rate)
        piece = np.pad(level(loudest_excerpt(wave, event)), (0, event))[:event] * ramp
        out[start : start + event] = piece[: max(0, min(event, total - start))]
        spans.append((start / sampling_rate, (start + event) / sampling_rate))
    return out, spans


def _shares(probs: np.ndarray, targets: list[int]) -> dict:
    order = (-probs).argsort(axis=1)
    targets = np.asarray(targets)
    return {"clips": int(len(targets)),
            "top1": float((order[:, 0] == targets).mean()),
            "top5": float((order[:, :5] == targets[:, None]).any(axis=1).mean())}


@torch.no_grad()
def vae_round_trip(vae, mel: torch.Tensor) -> torch.Tensor:
    """log-mel (frames, mels) -> VAE posterior mode -> decoded log-mel, frames cut to a multiple of the VAE's
    downsampling and back."""
    scale = 2 ** (len(vae.config.block_out_channels) - 1)
    frames = mel.shape[0] - mel.shape[0] % scale
    x = mel[:frames][None, None].to(vae.dtype)
    return vae.decode(vae.encode(x).latent_dist.mode()).sample[0, 0].float()


@torch.no_grad()
def run_vocoder(vocoder, mel: torch.Tensor) -> np.ndarray:
    return vocoder(mel[None].to(vocoder.dtype))[0].float().numpy()


def measure(classifier: SoundClassifier, heldout: list[tuple[np.ndarray, str]], pipelines: dict, *,
            vocoders: dict | None = None, pairs: int = 40, per_class: int = 1, seconds: float = 5.12,
            steps: int = 50, guidance: float = 2.5, seed: int = 0, phrase=None, layout: bool = False,
            event_counts: tuple[int, ...] = (2,), candidates: int = 1, log=print) -> dict:
    """Every row of the fidelity table.

    heldout: (wave at 16 kHz, label) of held-out recordings whose labels the classifier knows. pipelines: name ->
    TClapAudioLDMPipeline (its vocoder, VAE + vocoder, and generation are judged). vocoders: name -> extra
    vocoders judged on the same log-mels. phrase: label -> the prompt phrase (default datasets.label_to_phrase).
    event_counts: the multi-event prompts judged ("A then B" for 2, "A then B then C" for 3), `pairs` of each;
    layout: also generate them with layout="auto". candidates > 1: also generate them as the best of that many,
    re-ranked by each pipeline's temporal scorer (as `tclap-gen generate --candidates N` does).
    """
    from .datasets import label_to_phrase

    phrase = phrase or label_to_phrase
    rate, samples = 16000, int(round(seconds * 16000))
    for name, pipe in pipelines.items():
        hop = int(np.prod(pipe.vocoder.config.upsample_rates))
        if (pipe.vocoder.config.model_in_dim, hop, pipe.sampling_rate) != (64, 160, rate):
            raise ValueError(
                f"pipeline {name}: its vocoder reads {pipe.vocoder.config.model_in_dim} mel bands at a hop of {hop} "
                f"samples and {pipe.sampling_rate} Hz; the measurement feeds tclap_gen.mel's 64 bands, 160, 16 kHz"
            )
    index = {c: i for i, c in enumerate(classifier.classes)}
    clips = [np.pad(level(loudest_excerpt(w, samples)), (0, samples))[:samples] for w, _ in heldout]
    targets = [index[label] for _, label in heldout]
    mels = [log_mel(torch.from_numpy(c)) for c in clips]
    rows: dict[str, dict] = {}

    def judge(name: str, waves: list[np.ndarray], judged_targets: list[int], references=None) -> None:
        row = _shares(classify(classifier, waves, rate), judged_targets)
        if references is not None:
            row["log_mel_l1"] = float(np.mean([log_mel_l1(w, r) for w, r in zip(waves, references)]))
            row["mr_stft"] = float(np.mean([multi_resolution_stft_distance(w, r) for w, r in zip(waves, references)]))
        rows[name] = row
        log(json.dumps({"row": name, **row}))

    judge("original", clips, targets)
    judge("Griffin-Lim (32 iterations) from the log-mel", [griffin_lim(m).numpy() for m in mels], targets, clips)
    all_vocoders = {f"vocoder of {name}": pipe.vocoder for name, pipe in pipelines.items()}
    all_vocoders.update({f"vocoder {name}": v for name, v in (vocoders or {}).items()})
    for name, vocoder in all_vocoders.items():
        judge(name, [run_vocoder(vocoder, m) for m in mels], targets, clips)
    for name, pipe in pipelines.items():
        waves = [run_vocoder(pipe.vocoder, vae_round_trip(pipe.vae, m)) for m in mels]
        judge(f"VAE + vocoder of {name}", waves, targets, clips)

    # Generation from one class phrase, and from "A then B [then C]" over held-out labels.
    labels = sorted({label for _, label in heldout})
    for name, pipe in pipelines.items():
        prompts = [phrase(label) for label in labels for _ in range(per_class)]
        waves = generate_clips(pipe, prompts, seconds, steps, guidance, seed)
        judge(f"generated by {name} from the class phrase", waves, [index[l] for l in labels for _ in range(per_class)])
        # The UNet learned on T-CLAP AUDIO embeddings: conditioned on those of one held-out clip per class, it shows
        # what the UNet makes of the conditioning it was trained on, apart from the gap between text and audio.
        first = [next(i for i, (_, l) in enumerate(heldout) if l == label) for label in labels]
        embeds = pipe.get_tclap().embed_audio([clips[i] for i in first], rate)
        waves = generate_clips(pipe, [None] * len(first), seconds, steps, guidance, seed, prompt_embeds=embeds)
        judge(f"generated by {name} from a held-out clip's audio embedding", waves, [targets[i] for i in first])
    for count in event_counts:
        _judge_sequences(rows, classifier, heldout, pipelines, count, pairs, seconds, steps, guidance, seed, phrase,
                         layout, log, candidates)
    original = rows["original"]["top1"]
    for row in rows.values():
        if "top1" in row:
            row["top1_ratio_to_original"] = row["top1"] / original if original else None
    return rows


def _judge_sequences(rows: dict, classifier, heldout, pipelines: dict, count: int, prompts_n: int, seconds: float,
                     steps: int, guidance: float, seed: int, phrase, layout: bool, log, candidates: int = 1) -> None:
    """The rows for prompts of `count` events over held-out labels: real recordings mixed in that order, then each
    pipeline's clips (with `layout`, its layout="auto" clips; with candidates > 1, its best of that many). Per row:
    all events found, in the prompt's order, two absent classes' false alarms, and the onset / offset error (s) of
    the found events against their planned spans (the mix's true spans for the real row; `layout.auto_spans` of the
    prompt for generated clips, which is where layout="auto" puts each event)."""
    from .layout import auto_spans

    rate = 16000
    index = {c: i for i, c in enumerate(classifier.classes)}
    labels = sorted({label for _, label in heldout})
    if len(labels) < count:
        raise ValueError(f"{count}-event prompts need {count} held-out classes, the clips have {len(labels)}")
    rng = np.random.default_rng([seed, count])
    picks = []
    while len(picks) < prompts_n:
        chosen = [int(i) for i in rng.choice(len(heldout), count, replace=False)]
        if len({heldout[i][1] for i in chosen}) == count:
            picks.append(chosen)
    sequences = [[heldout[i][1] for i in chosen] for chosen in picks]
    absent = []  # two classes named by no event (fewer when there are not that many): the finder's false alarms
    for labels_in in sequences:
        others = [index[x] for x in labels if x not in labels_in]
        absent.append([int(c) for c in rng.choice(others, min(2, len(others)), replace=False)])
    letters = " then ".join("ABCDEFGH"[:count])
    prompts = [" then ".join(phrase(label) for label in labels_in) for labels_in in sequences]

    def judge(name: str, waves: list[np.ndarray], planned: list[list[tuple[float, float]] | None]) -> None:
        found_all, ordered, false, onset, offset = [], [], [], [], []
        for wave, labels_in, controls, plan in zip(waves, sequences, absent, planned):
            centres, probs = event_tracks(classifier, wave, rate)
            found, in_order = sequence_found(probs, [index[l] for l in labels_in])
            found_all.append(all(found))
            ordered.append(in_order)
            false.extend(class_found(probs, c) for c in controls)
            for label, (start, end) in zip(labels_in, plan or []):
                span = found_span(centres, probs, index[label])
                if span is not None:
                    onset.append(abs(span[0] - start))
                    offset.append(abs(span[1] - end))
        rows[name] = {"clips": len(waves), "all_found": float(np.mean(found_all)), "in_order": float(np.mean(ordered)),
                      "absent_found": float(np.mean(false)) if false else None,
                      "onset_error_s": float(np.mean(onset)) if onset else None,
                      "offset_error_s": float(np.mean(offset)) if offset else None}
        log(json.dumps({"row": name, **rows[name]}))

    mixes = [sequence_mix([heldout[i][0] for i in chosen], rate, seconds) for chosen in picks]
    judge(f"{count} events: real held-out recordings, {letters}", [w for w, _ in mixes], [s for _, s in mixes])
    plans = []
    for prompt in prompts:  # where layout="auto" puts each event; None when the prompt does not parse into them
        spans = auto_spans(prompt, seconds)
        plans.append([(span.start, span.end) for span in spans] if len(spans) == count else None)
    for name, pipe in pipelines.items():
        judge(f"{count} events: generated by {name} from \"{letters}\"",
              generate_clips(pipe, prompts, seconds, steps, guidance, seed), plans)
        if layout:
            judge(f"{count} events: generated by {name} from \"{letters}\", layout auto",
                  generate_clips(pipe, prompts, seconds, steps, guidance, seed, layout="auto"), plans)
        if candidates > 1:
            judge(f"{count} events: generated by {name} from \"{letters}\", best of {candidates} by the temporal "
                  "scorer", generate_clips(pipe, prompts, seconds, steps, guidance, seed, candidates=candidates), plans)


# Candidate j > 0 of clip i is seeded with seed + i + j * CANDIDATE_SEED_STRIDE; candidate 0 is the plain clip.
CANDIDATE_SEED_STRIDE = 100_003


def generate_clips(pipe, prompts: list[str | None], seconds: float | None, steps: int, guidance: float, seed: int,
                   batch: int = 8, layout: str | None = None, prompt_embeds: torch.Tensor | None = None,
                   candidates: int = 1) -> list[np.ndarray]:
    """One clip per prompt (or per row of `prompt_embeds`), `batch` a call; clip i gets its own generator seeded
    with seed + i, so a clip does not depend on the batch it was made in. `layout` goes to the pipeline.
    candidates > 1: each clip is the best of that many re-ranked by the pipeline's temporal scorer
    (rerank="temporal"), the first of them being the clip made without candidates."""
    waves = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start : start + batch]
        generators = [torch.Generator().manual_seed(seed + start + i + j * CANDIDATE_SEED_STRIDE)
                      for i in range(len(chunk)) for j in range(candidates)]  # the pipeline's order: per prompt
        if prompt_embeds is None:
            inputs = {"prompt": chunk}
        else:
            inputs = {"prompt_embeds": prompt_embeds[start : start + batch]}
        if candidates > 1:
            inputs.update(num_waveforms_per_prompt=candidates, rerank="temporal")
        out = pipe(**inputs, num_inference_steps=steps, guidance_scale=guidance, audio_length_in_s=seconds,
                   generator=generators, layout=layout)
        waves.extend(np.asarray(a, np.float32) for a in out.audios)
    return waves
