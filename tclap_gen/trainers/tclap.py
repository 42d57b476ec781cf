"""Fine-tune a CLAP into a T-CLAP (or train the plain-CLAP baseline) with Accelerate; the entry point is
training/train_tclap.py (`tclap-gen train`, `python -m tclap_gen.training.train_tclap`).

The loop, like Accelerate's examples: build the model and data, `accelerator.prepare`, then per micro-batch
`accumulate` -> forward -> loss -> `backward` -> clip -> step. Around it:

* Loss: TClapLoss (contrastive over the GLOBAL batch + temporal_weight x temporal) + anchor_weight x anchor,
  where the anchor keeps the text embeddings of captions that state no order close to the initial encoder's.
* Batches: `optim.batch_size` is the global batch per optimizer step; each process draws
  batch_size / (processes x accumulation) examples per micro-batch. Accelerate hands process p the p-th of
  every `processes` consecutive micro-batches of the (seeded, per-epoch) sample order, so the examples of a
  step are the same whatever the number of processes, and so are the gradients (the contrastive loss gathers
  the global batch; the temporal and anchor terms are re-weighted to their global mean; BatchNorm uses
  global-batch statistics), dropout masks aside. With gradient accumulation the contrastive negatives span one
  micro-batch of every process, not the whole step's batch.
* Features (mel spectrograms, token ids) are computed in the DataLoader workers; the loop only moves tensors.
* Checkpoints (tclap_gen.trainers.checkpoints): `save_state` into a temporary folder, renamed when complete;
  `--resume` takes the newest complete one and skips the batches already seen, so a resumed run ends where an uninterrupted one does.
* A NaN/Inf loss stops the run (exit code 3) before it reaches the weights; the last checkpoint stays.
* At the end: save_pretrained of model + processor (safetensors) with a model card, and summary.json.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import random
import shutil
import sys
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from tclap_gen.trainers.checkpoints import TRAINER_STATE, list_checkpoints, save_checkpoint, write_text
from tclap_gen.trainers.config import ConfigError, TrainConfig, add_recipe_arguments, dump_config, load_config

logger = logging.getLogger("tclap_gen.training")

EVAL_EPOCH = 1_000_003  # the dataset epoch the fixed evaluation batches are drawn from (never a training epoch)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or Inf; the run stopped without touching the last good checkpoint."""


# ----------------------------------------------------------------------------------------------------------
# Model


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span the global batch (summed over all processes).

    HTSAT normalises its mel input with a BatchNorm; with per-process statistics a 2-process run would not
    compute what a 1-process run on the same global batch computes. torch's SyncBatchNorm does this on GPUs
    only; this one works on any backend (gloo included). Same parameters and buffers as BatchNorm2d, so
    checkpoints and saved models are plain CLAP weights.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.track_running_stats:
            return super().forward(x)
        channels = x.shape[1]
        xd = x.double()
        local = torch.cat([
            xd.sum(dim=(0, 2, 3)), (xd * xd).sum(dim=(0, 2, 3)),
            xd.new_tensor([x.numel() // channels]),
        ])
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            if x.requires_grad:  # the statistics then carry gradient: use the differentiable collective
                from torch.distributed.nn.functional import all_reduce

                local = all_reduce(local)
            else:  # CLAP's case: the BatchNorm sees the mel features, which need no gradient
                local = local.detach().clone()
                dist.all_reduce(local)
        count = local[-1]
        mean = local[:channels] / count
        var = (local[channels : 2 * channels] / count - mean * mean).clamp_min(0.0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            unbiased = var * count / (count - 1).clamp_min(1.0)
            self.running_mean.mul_(1 - momentum).add_(momentum * mean.to(self.running_mean.dtype))
            self.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(self.running_var.dtype))
        scale = torch.rsqrt(var + self.eps)
        y = (xd - mean[None, :, None, None]) * scale[None, :, None, None]
        y = y.to(x.dtype)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def use_global_batchnorm(model: nn.Module) -> None:
    """Swap every BatchNorm2d of `model` for a GlobalBatchNorm2d holding the same tensors."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.BatchNorm2d:
                child.__class__ = GlobalBatchNorm2d  # same attributes, new forward


def set_dropout(model: nn.Module, p: float) -> None:
    """Set every dropout / drop-path probability of a CLAP (modules and config) to `p`."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
        if hasattr(module, "attention_dropout") and isinstance(module.attention_dropout, float):
            module.attention_dropout = p
        if type(module).__name__ == "ClapDropPath":
            module.drop_prob = p
    for sub in (model.config.text_config, model.config.audio_config):
        for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "drop_path_rate"):
            if hasattr(sub, key):
                setattr(sub, key, p)


class ClapTrainModule(nn.Module):
    """The ClapModel behind one forward (what DDP wraps): audio and text embeddings, L2-normalised."""

    def __init__(self, clap, freeze_audio: bool = False, freeze_text: bool = False):
        super().__init__()
        self.clap = clap
        self.freeze_audio = freeze_audio
        self.freeze_text = freeze_text
        for prefix, frozen in (("audio_", freeze_audio), ("text_", freeze_text)):
            for name, param in clap.named_parameters():
                if name.startswith(prefix) and frozen:
                    param.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        # A frozen tower stays in eval mode (no BatchNorm statistics updates, no dropout).
        if self.freeze_audio:
            self.clap.audio_model.eval()
            self.clap.audio_projection.eval()
        if self.freeze_text:
            self.clap.text_model.eval()
            self.clap.text_projection.eval()
        return self

    def forward(self, input_features, input_ids, attention_mask):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_audio):
            audio = self.clap.get_audio_features(input_features=input_features).pooler_output
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_text):
            text = self.clap.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return audio, text


def read_texts(path: Path, limit: int) -> list[str]:
    """Texts of a tokenizer corpus file: .txt lines, or a CSV's caption / caption_N columns."""
    import csv

    if not path.is_file():
        raise FileNotFoundError(f"model.tokenizer.texts: no such file: {path}")
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
    if path.suffix != ".csv":
        raise ConfigError(f"model.tokenizer.texts: {path} must be a .txt or .csv file")
    texts = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c for c in (reader.fieldnames or []) if c == "caption" or c.startswith("caption_")]
        if not columns:
            raise ConfigError(f"model.tokenizer.texts: {path} has no caption or caption_N column")
        for row in reader:
            texts.extend(row[c].strip() for c in columns if row.get(c) and row[c].strip())
            if len(texts) >= limit:
                break
    return texts[:limit]


def phrase_corpus(phrases: list[str], seed: int = 0, count: int = 500) -> list[str]:
    """Captions the data will produce: every phrase alone and in random ordered captions (with negatives)."""
    from tclap_gen.captions import render_caption
    from tclap_gen.datasets import SINGLE_TEMPLATES

    rng = random.Random(seed)
    texts = [template.format(p) for p in phrases for template in SINGLE_TEMPLATES]
    if len(phrases) >= 2:
        for _ in range(count):
            k = rng.randint(2, min(3, len(phrases)))
            rendered = render_caption(rng.sample(phrases, k), rng)
            texts.append(rendered.text)
            texts.extend(rendered.negatives)
    return texts


def build_model(config: TrainConfig, phrases: list[str], accelerator):
    """The initial TClap (pretrained, or from scratch with a tokenizer trained offline and cached in the
    output folder) and the name of what it started from."""
    from transformers import RobertaTokenizer

    from tclap_gen.model import ClapSize, TClap, add_order_bias, build_clap, build_tokenizer

    m = config.model
    if m.init == "pretrained":
        tclap, base = TClap.from_pretrained(m.name), m.name
    else:
        folder = Path(config.output_dir) / "tokenizer"
        if accelerator.is_main_process and not (folder / "vocab.json").is_file():
            texts = []
            for name in m.tokenizer.texts:
                texts.extend(read_texts(Path(name), m.tokenizer.max_texts))
            texts.extend(phrase_corpus(phrases, seed=config.seed))
            tmp = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            build_tokenizer(texts, tmp, vocab_size=m.tokenizer.vocab_size, model_max_length=m.tokenizer.max_length)
            os.replace(tmp, folder)
            logger.info("trained a %d-token tokenizer on %d texts -> %s", m.tokenizer.vocab_size, len(texts), folder)
        accelerator.wait_for_everyone()
        tokenizer = RobertaTokenizer.from_pretrained(str(folder), model_max_length=m.tokenizer.max_length)
        size = dict(m.size)
        size.setdefault("sampling_rate", config.data.sampling_rate)
        size.setdefault("max_length_s", int(math.ceil(config.data.seconds)))
        for key in ("audio_depths", "audio_heads"):
            if key in size:
                size[key] = tuple(size[key])
        try:
            clap_size = ClapSize(**size)
        except TypeError as error:
            raise ConfigError(f"model.size: {error}") from error
        tclap, base = build_clap(tokenizer, clap_size, seed=config.seed), "scratch"
    if m.text_tower_from:
        tclap = load_text_tower(tclap, m.text_tower_from, rebuild=m.init == "scratch", seed=config.seed)
        base = f"{base} + text tower of {m.text_tower_from}"
    if m.dropout is not None:
        set_dropout(tclap.model, m.dropout)
    if m.audio_order_bias > 0:
        add_order_bias(tclap.model, m.audio_order_bias)
        base = f"{base} + audio order bias {m.audio_order_bias:g}"
    return tclap, base


def load_text_tower(tclap, source: str, rebuild: bool = False, seed: int = 0):
    """Copy the text tower (text_model.*, text_projection.*) and tokenizer of an AudioLDM pipeline into `tclap`.

    AudioLDM ships only the text half of its CLAP (`text_encoder/`, a ClapTextModelWithProjection, and
    `tokenizer/`). When the shapes differ from the model's, a from-scratch model (`rebuild`) takes the
    encoder's text config; a pretrained one is an error.
    """
    from transformers import ClapConfig, ClapModel, ClapProcessor, ClapTextModelWithProjection, RobertaTokenizer

    from tclap_gen.model import TClap, check_tokenizer

    try:
        encoder = ClapTextModelWithProjection.from_pretrained(source, subfolder="text_encoder", use_safetensors=True)
        tokenizer = RobertaTokenizer.from_pretrained(source, subfolder="tokenizer")
    except OSError as error:
        raise FileNotFoundError(
            f"model.text_tower_from {source}: not an AudioLDM pipeline with text_encoder/ (safetensors) and "
            f"tokenizer/: {error}"
        ) from error
    check_tokenizer(tokenizer, f"model.text_tower_from {source}: tokenizer/")
    theirs = encoder.state_dict()
    model = tclap.model
    ours = {k: v for k, v in model.state_dict().items() if k.startswith(("text_model.", "text_projection."))}
    mismatched = sorted(k for k in ours if k in theirs and theirs[k].shape != ours[k].shape)
    if mismatched or encoder.config.projection_dim != model.config.projection_dim:
        if not rebuild:
            k = mismatched[0] if mismatched else "projection_dim"
            raise ValueError(
                f"model.text_tower_from {source}: its text tower does not fit model {k} "
                f"({tuple(theirs[k].shape) if mismatched else encoder.config.projection_dim} vs "
                f"{tuple(ours[k].shape) if mismatched else model.config.projection_dim}); start from a CLAP with "
                "the same text configuration (e.g. laion/clap-htsat-unfused for AudioLDM)"
            )
        audio_config = model.config.audio_config.to_dict()
        audio_config["projection_dim"] = encoder.config.projection_dim
        config = ClapConfig(text_config=encoder.config.to_dict(), audio_config=audio_config,
                            projection_dim=encoder.config.projection_dim)
        torch.manual_seed(seed)
        model = ClapModel(config)
    missing, _ = model.load_state_dict(theirs, strict=False)
    text_missing = [k for k in missing if k.startswith(("text_model.", "text_projection.")) and "position_ids" not in k]
    if text_missing:
        raise ValueError(f"model.text_tower_from {source}: the encoder lacks {text_missing[:3]}")
    processor = ClapProcessor(feature_extractor=tclap.processor.feature_extractor, tokenizer=tokenizer)
    return TClap(model, processor, tclap.info)


# ----------------------------------------------------------------------------------------------------------
# Data


class MixtureDataset(Dataset):
    """Several datasets end to end. Items come back as (example, bad draws), where bad draws are the
    (path, reason) of each clip the source found unusable while building the item (it replaced them)."""

    def __init__(self, sources: list[tuple[str, Dataset]]):
        self.names = [name for name, _ in sources]
        self.datasets = [dataset for _, dataset in sources]
        self.sizes = [len(d) for d in self.datasets]
        self.offsets = np.cumsum([0] + self.sizes).tolist()

    def __len__(self) -> int:
        return self.offsets[-1]

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def __getitem__(self, index: int):
        source = int(np.searchsorted(self.offsets, index, side="right")) - 1
        dataset = self.datasets[source]
        counter = getattr(dataset, "bad_files", None)
        before = dict(counter) if counter is not None else {}
        example = dataset[index - self.offsets[source]]
        bad = []
        if counter is not None:
            reasons = getattr(dataset, "bad_reasons", None) or getattr(dataset, "_bad_reasons", {})
            for path, count in counter.items():
                for _ in range(count - before.get(path, 0)):
                    bad.append((str(path), str(reasons.get(path, "unusable"))))
        return example, bad


class MixtureSampler(Sampler):
    """Each epoch, `num_samples` indices into a MixtureDataset: a source drawn by weight for every position,
    then that source's items in a shuffled order (cycled if needed). A function of (seed, epoch) only."""

    def __init__(self, sizes: list[int], weights: list[float], num_samples: int, seed: int = 0):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("MixtureSampler: sizes and weights must be non-empty and of the same length")
        if min(sizes) <= 0:
            raise ValueError(f"MixtureSampler: every source needs items, got sizes {sizes}")
        total = float(sum(weights))
        self.sizes = list(sizes)
        self.probabilities = [w / total for w in weights]
        self.offsets = np.cumsum([0] + self.sizes).tolist()
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def epoch_indices(self, epoch: int) -> list[int]:
        rng = np.random.default_rng([self.seed, int(epoch)])
        choice = rng.choice(len(self.sizes), size=self.num_samples, p=self.probabilities)
        out = np.empty(self.num_samples, dtype=np.int64)
        for source, size in enumerate(self.sizes):
            positions = np.flatnonzero(choice == source)
            if positions.size == 0:
                continue
            rounds = -(-positions.size // size)
            order = np.concatenate([rng.permutation(size) for _ in range(rounds)])[: positions.size]
            out[positions] = self.offsets[source] + order
        return out.tolist()

    def __iter__(self):
        return iter(self.epoch_indices(self.epoch))

    def __len__(self) -> int:
        return self.num_samples


class FeatureCollator:
    """Runs in the DataLoader workers: collate_examples, then mel features for the audio (and audio
    negatives) and token ids for the captions (and text negatives), so the loop only moves tensors."""

    def __init__(self, feature_extractor, tokenizer, data_rate: int, enable_fusion: bool = False,
                 max_audio_negatives: int | None = None, paraphrases: bool = False, spec_augment: dict | None = None,
                 class_phrases: dict[str, str] | None = None, window_seconds: float | None = None,
                 noise_floor: dict | None = None):
        self.feature_extractor = feature_extractor
        # label -> phrase of every training class (loss.class_prompt_weight, loss.window_class_weight): the phrases
        # follow the paraphrases in the text inputs, and batch["class_target"] gives each single clip's phrase (-1
        # for the rest)
        self.class_prompts = sorted(set(class_phrases.values())) if class_phrases else []
        self.class_index = {label: self.class_prompts.index(p) for label, p in (class_phrases or {}).items()}
        self.spec_augment = spec_augment  # keyword arguments of spec_augment(); None: off
        self.noise_floor = noise_floor  # keyword arguments of add_noise_floor(); None: off
        # one window of this length per example, after the audio negatives (loss.window_class_weight); None: off
        self.window_seconds = window_seconds
        if window_seconds is not None and not self.class_prompts:
            raise ValueError("window_seconds needs class_phrases (the windows' targets are class phrases)")
        self.paraphrases = paraphrases  # tokenize the mix-ups' paraphrases (only loss.paraphrase_weight uses them)
        self.max_audio_negatives = max_audio_negatives
        self.tokenizer = tokenizer
        self.data_rate = int(data_rate)
        self.model_rate = int(feature_extractor.sampling_rate)
        self.max_samples = int(feature_extractor.nb_max_samples)
        self.truncation = "fusion" if enable_fusion else "rand_trunc"  # rand_trunc for unfused models (fusion feeds 4 channels)

    def _wave(self, wave: np.ndarray) -> np.ndarray:
        from tclap_gen.audio import resample

        if self.data_rate != self.model_rate:
            wave = resample(wave, self.data_rate, self.model_rate)
        return np.asarray(wave[: self.max_samples], dtype=np.float32)  # first window: no random crop

    def _limit(self, example):
        """Keep at most max_audio_negatives audio negatives, a subset chosen by the caption (deterministic)."""
        k = self.max_audio_negatives
        if k is None or len(example.audio_negatives) <= k:
            return example
        keep = sorted(random.Random(example.caption).sample(range(len(example.audio_negatives)), k))
        return replace(example, audio_negatives=[example.audio_negatives[i] for i in keep])

    def _window_samples(self) -> int:
        return max(1, round(self.window_seconds * self.data_rate))

    def _class_window(self, wave: np.ndarray, timeline) -> tuple[int, np.ndarray] | None:
        """The first sample of a loud window of `wave` that events cover for at least half its length, and its
        target: each class's share of the covered time. Drawn from the wave's own samples (a resumed run cuts the
        same windows); None when no window qualifies (a silent stretch, a class without a phrase)."""
        from tclap_gen.scoring import loud_levels

        size = self._window_samples()
        last = max(0, len(wave) - size)
        starts = np.unique(np.linspace(0, last, num=max(1, round(10 * last / self.data_rate) + 1)).round().astype(int))
        power = [float(np.mean(np.square(wave[s:s + size], dtype=np.float64))) + 1e-20 for s in starts]
        loud = loud_levels(10 * np.log10(power))  # loud as the scorer means it at its defaults
        candidates = []
        for start, ok in zip(starts, loud):
            if not ok:
                continue
            lo, hi = start / self.data_rate, (start + size) / self.data_rate
            target = np.zeros(len(self.class_prompts), dtype=np.float32)
            for event in timeline:
                covered = min(hi, event.offset) - max(lo, event.onset)
                if covered > 0:
                    if event.label not in self.class_index:
                        break
                    target[self.class_index[event.label]] += covered
            else:
                if target.sum() >= 0.5 * (hi - lo):
                    candidates.append((start, target / target.sum()))
        if not candidates:
            return None
        return candidates[random.Random(zlib.crc32(np.ascontiguousarray(wave).tobytes())).randrange(len(candidates))]

    def __call__(self, items) -> dict:
        from tclap_gen.captions import CaptionError, has_explicit_order
        from tclap_gen.datasets import collate_examples
        from tclap_gen.model import clap_audio_features

        examples = [self._limit(example) for example, _ in items]
        bad = [entry for _, entries in items for entry in entries]
        batch = collate_examples(examples)
        if self.noise_floor:
            batch["audio"], batch["audio_negatives"] = add_noise_floor(
                batch["audio"], batch["audio_negatives"], batch["audio_negative_owner"].tolist(), **self.noise_floor)
        windows = []
        if self.window_seconds is not None:
            for wave, timeline in zip(batch["audio"], batch["timelines"]):
                drawn = self._class_window(wave, timeline)
                if drawn is not None:
                    windows.append((wave[drawn[0]:drawn[0] + self._window_samples()], drawn[1]))
        waves = [self._wave(w) for w in batch["audio"] + batch["audio_negatives"] + [w for w, _ in windows]]
        features = clap_audio_features(self.feature_extractor, waves, self.truncation)
        if self.spec_augment:
            # each clip's masks drawn from its own samples (deterministic, so a resumed run sees the same batches);
            # its re-ordered mixtures get the same masks
            owners = list(range(len(batch["audio"]))) + batch["audio_negative_owner"].tolist()
            seeds = [zlib.crc32(np.ascontiguousarray(wave).tobytes()) for wave in batch["audio"]]
            features = spec_augment(features, [seeds[i] for i in owners], **self.spec_augment)  # windows: none
        if not self.paraphrases:  # no text forward for what no loss reads
            batch["paraphrases"], batch["paraphrase_owner"] = [], batch["paraphrase_owner"][:0]
        # the loss slices them in this order
        texts = batch["captions"] + batch["negatives"] + batch["paraphrases"] + self.class_prompts
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.tokenizer.model_max_length,
                                return_tensors="pt")

        def unordered(caption: str) -> bool:
            try:
                return not has_explicit_order(caption)
            except CaptionError:
                return False

        extra = {}
        if self.window_seconds is not None:
            extra["window_target"] = torch.from_numpy(np.stack([t for _, t in windows]) if windows
                                                      else np.zeros((0, len(self.class_prompts)), np.float32))
        return extra | {
            "input_features": features,
            "input_ids": tokens["input_ids"],
            "attention_mask": tokens["attention_mask"],
            "negative_owner": batch["negative_owner"],
            "audio_negative_owner": batch["audio_negative_owner"],
            "paraphrase_owner": batch["paraphrase_owner"],
            "anchor_mask": torch.tensor([unordered(c) for c in batch["captions"]], dtype=torch.bool),
            "event_groups": torch.tensor([event_group(labels) for labels in batch["labels"]], dtype=torch.long),
            "class_target": torch.tensor([self.class_index.get(labels[0], -1) if len(labels) == 1 else -1
                                          for labels in batch["labels"]], dtype=torch.long),
            "bad": bad,
        }


def spec_augment(features: torch.Tensor, seeds: list[int], freq_masks: int, freq_mask_width: int, time_masks: int,
                 time_mask_width: int) -> torch.Tensor:
    """SpecAugment (Park et al. 2019) without time warping on (rows, channels, frames, mel bins) features: per row,
    `freq_masks` bands of 0..freq_mask_width bins and `time_masks` stretches of 0..time_mask_width frames set to
    the row's mean, drawn from np.random.default_rng(seeds[row]) (rows with the same seed get the same masks)."""
    out = features.clone()
    frames, bins = features.shape[-2:]
    for row, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        mean = features[row].mean()
        for _ in range(freq_masks):
            width = int(rng.integers(0, min(freq_mask_width, bins) + 1))
            start = int(rng.integers(0, bins - width + 1))
            out[row, ..., start : start + width] = mean
        for _ in range(time_masks):
            width = int(rng.integers(0, min(time_mask_width, frames) + 1))
            start = int(rng.integers(0, frames - width + 1))
            out[row, ..., start : start + width, :] = mean
    return out


def add_noise_floor(audio: list[np.ndarray], negatives: list[np.ndarray], owners: list[int], probability: float,
                    db: list[float], slope: list[float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`audio` and its re-ordered `negatives` (negatives[j] belongs to audio[owners[j]]) with, for each example
    with `probability`, coloured noise (audio.coloured_noise, slope drawn from `slope`) `db` dB (drawn from [low,
    high]) under the example's RMS; an example's negatives get the same noise. Drawn from the example's own samples,
    so a resumed run adds the same noise."""
    from tclap_gen.audio import coloured_noise

    noises = []
    for wave in audio:
        rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(wave).tobytes()) + 1)  # +1: not spec_augment's stream
        rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
        if rng.random() >= probability or rms == 0:
            noises.append(None)
            continue
        scale = rms * 10.0 ** (-rng.uniform(*db) / 20.0)
        noises.append(coloured_noise(wave.size, rng.uniform(*slope), rng) * scale)

    def noisy(wave: np.ndarray, noise) -> np.ndarray:
        return wave if noise is None else (wave + noise[: wave.size]).astype(np.float32)

    return ([noisy(w, n) for w, n in zip(audio, noises)],
            [noisy(w, noises[owner]) for w, owner in zip(negatives, owners)])


def noise_floor_settings(data) -> dict | None:
    """add_noise_floor()'s keyword arguments from a DataConfig; None when it is off."""
    if data.noise_floor_probability <= 0:
        return None
    return {"probability": data.noise_floor_probability, "db": list(data.noise_floor_db),
            "slope": list(data.noise_floor_slope)}


def spec_augment_settings(data) -> dict | None:
    """spec_augment()'s keyword arguments from a DataConfig; None when no mask is asked for."""
    settings = {name: getattr(data, name) for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width")}
    masks = settings["freq_masks"] * settings["freq_mask_width"] + settings["time_masks"] * settings["time_mask_width"]
    return settings if masks > 0 else None


def class_phrases(records, overrides: dict | None = None) -> dict[str, str]:
    """label -> phrase of every class among `records` (the class prompts of loss.class_prompt_weight)."""
    from tclap_gen.datasets import label_to_phrase

    return {r.label: label_to_phrase(r.label, overrides) for r in records}


def event_group(labels) -> int:
    """An id for a clip's classes in their order, the same on every process (a hash, not Python's salted one),
    so that clips holding the same events are positives of each other (loss.same_events_positive)."""
    digest = hashlib.blake2b("\x1f".join(labels).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "little")


@dataclass
class DataBundle:
    dataset: MixtureDataset
    sampler: MixtureSampler
    train_records: list
    test_records: list
    labels: list[str]
    phrases: list[str]  # class phrases of the labelled clips (model card, tokenizer corpus)
    skipped_captions: int = 0


def build_data(config: TrainConfig, accelerator) -> DataBundle:
    from tclap_gen.datasets import label_to_phrase
    from tclap_gen.datasets import (
        CaptionDataset, MixupDataset, SingleClipDataset, read_clip_metadata, split_by_fold, split_by_source,
    )

    data = config.data
    train_records, test_records = [], []
    for i, clip_set in enumerate(data.clips):
        records = read_clip_metadata(clip_set.metadata, audio_root=clip_set.audio_root)
        if clip_set.split == "source":
            train, test = split_by_source(records, test_fraction=clip_set.test_fraction, seed=clip_set.split_seed)
        elif clip_set.split == "fold":
            train, test = split_by_fold(records, clip_set.test_folds)
        else:
            train, test = records, []
        train_records.extend(train)
        test_records.extend(test)
    labels = sorted({r.label for r in train_records + test_records})
    phrases = sorted({label_to_phrase(label, data.phrases) for label in labels})

    sources, skipped = [], 0
    for i, source in enumerate(data.mixture):
        if source.kind == "mixup":
            dataset = MixupDataset(train_records, sampling_rate=data.sampling_rate, seconds=data.seconds,
                                   num_events=tuple(source.num_events), length=source.length or data.samples_per_epoch,
                                   seed=config.seed + i, phrases=data.phrases, cache_mb=data.cache_mb,
                                   template_weights=data.template_weights, **source.mixer)
        elif source.kind == "single":
            dataset = SingleClipDataset(train_records, sampling_rate=data.sampling_rate, seconds=data.seconds,
                                        seed=config.seed + i, phrases=data.phrases, cache_mb=data.cache_mb,
                                        crop_s=source.crop_s)
        else:
            dataset = CaptionDataset(source.csv, audio_root=source.audio_root, layout=source.layout,
                                     sampling_rate=data.sampling_rate, seconds=data.seconds, seed=config.seed + i)
            skipped += dataset.skipped_captions
        sources.append((f"{i}:{source.kind}", dataset))
    if data.cache_mb > 0:
        first = None
        for _, dataset in sources:
            if hasattr(dataset, "preload"):
                dataset.preload(source=first)
                first = first or dataset
    dataset = MixtureDataset(sources)
    per_epoch = (data.samples_per_epoch // config.optim.batch_size) * config.optim.batch_size
    sampler = MixtureSampler(dataset.sizes, [s.weight for s in data.mixture], per_epoch, seed=config.seed)
    return DataBundle(dataset, sampler, train_records, test_records, labels, phrases, skipped)


def write_splits(bundle: DataBundle, folder: Path) -> None:
    """The train / held-out clip lists (path,label,fold,source_id) of the run, for evaluation elsewhere."""
    import csv
    import io

    folder.mkdir(parents=True, exist_ok=True)
    for name, records in (("train", bundle.train_records), ("test", bundle.test_records)):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["path", "label", "fold", "source_id"])
        for r in records:
            writer.writerow([str(r.path), r.label, r.fold or "", r.source_id or ""])
        write_text(folder / f"{name}.csv", buffer.getvalue())


# ----------------------------------------------------------------------------------------------------------
# Loss


def compute_loss(module, batch: dict, loss_fn, clap, reference=None, accelerator=None, autocast=None):
    """One forward of positives and negatives together (one forward per backward, as DDP wants), the initial
    encoder's embeddings for the anchor term when it is on, then `loss_fn.batch_loss` (tclap_gen.losses)."""
    n = int(batch["anchor_mask"].shape[0])
    with (autocast() if autocast else _null()):
        audio_all, text_all = module(batch["input_features"], batch["input_ids"], batch["attention_mask"])
    original = None
    if loss_fn.anchor_weight > 0 and reference is not None:
        # every process passes a tensor (maybe empty): the anchor's global rescaling is a collective call
        mask = batch["anchor_mask"]
        original = text_all.new_zeros((0, text_all.shape[-1])).float()
        if int(mask.sum()):
            with torch.no_grad(), (autocast() if autocast else _null()):
                original = reference(input_ids=batch["input_ids"][:n][mask],
                                     attention_mask=batch["attention_mask"][:n][mask]).text_embeds
            original = F.normalize(original.float(), dim=-1)
    return loss_fn.batch_loss(audio_all.float(), text_all.float(), batch, (clap.logit_scale_a, clap.logit_scale_t),
                              accelerator=accelerator, original_text=original)


@contextmanager
def _null():
    yield


def lr_lambda(config: TrainConfig):
    """LR multiplier of optimizer step k (0-based): linear warmup, then cosine (or constant)."""
    o = config.optim

    def factor(k: int) -> float:
        if k < o.warmup_steps:
            return (k + 1) / o.warmup_steps
        if o.schedule == "constant":
            return 1.0
        progress = min(1.0, (k - o.warmup_steps) / max(1, o.max_steps - o.warmup_steps))
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# ----------------------------------------------------------------------------------------------------------
# Checkpoints



# ----------------------------------------------------------------------------------------------------------
# Evaluation


@contextmanager
def preserved_rng():
    """Evaluation must not move the training RNGs (a resumed run does not repeat the evaluations)."""
    py, np_state = random.getstate(), np.random.get_state()
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(py)
    np.random.set_state(np_state)


def evaluate(clap, processor, module, reference, ctx: dict, config: TrainConfig, accelerator) -> dict:
    """Eval loss on the fixed batches, T-Classify and zero-shot on the held-out clips, text drift; main process."""
    from tclap_gen.model import TClap

    metrics: dict[str, float] = {}
    tclap = TClap(clap, processor)  # puts the model in eval mode
    try:
        with preserved_rng(), torch.no_grad():
            if ctx["eval_batches"]:
                sums = {"loss": 0.0, "contrastive": 0.0, "temporal": 0.0, "anchor": 0.0, "paraphrase": 0.0}
                for batch in ctx["eval_batches"]:
                    batch = {k: (v.to(accelerator.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
                    out = compute_loss(module, batch, ctx["loss_fn"], clap, reference, None, accelerator.autocast)
                    for key, value in (("loss", out.total), ("contrastive", out.contrastive),
                                       ("temporal", out.temporal), ("anchor", out.anchor),
                                       ("paraphrase", out.paraphrase)):
                        sums[key] += float(value) / len(ctx["eval_batches"])
                metrics.update({f"eval/{k}": v for k, v in sums.items()})
            try:
                from tclap_gen import evaluation
            except ImportError as error:  # evaluation is optional for training
                logger.warning("tclap_gen.evaluation unavailable (%s): only the eval loss is reported", error)
                return metrics
            with accelerator.autocast():
                metrics.update(_run_metrics(evaluation, tclap, reference, ctx, config))
    finally:
        module.train()
    return metrics


def _run_metrics(evaluation, tclap, reference, ctx: dict, config: TrainConfig) -> dict:
    metrics = {}
    records = ctx["eval_records"]
    phrases = config.data.phrases or None
    if config.eval.tclassify_pairs > 0 and records:
        try:
            result = evaluation.evaluate_tclassify(tclap, records, n_pairs=config.eval.tclassify_pairs,
                                                   seed=config.eval.seed, phrases=phrases)
            metrics.update({"eval/tclassify_a2t": result.a2t, "eval/tclassify_t2a": result.t2a,
                            "eval/tclassify_group": result.group, "eval/tclassify_margin": result.margin})
        except (ValueError, RuntimeError) as error:
            logger.warning("T-Classify skipped: %s", error)
    if config.eval.zeroshot and records:
        clips = records
        if config.eval.max_clips and len(clips) > config.eval.max_clips:
            clips = random.Random(config.eval.seed).sample(clips, config.eval.max_clips)
        try:
            result = evaluation.zero_shot(tclap, clips, classes=sorted({r.label for r in records}), phrases=phrases)
            metrics.update({"eval/zeroshot_top1": result.top1, "eval/zeroshot_top5": result.top5})
        except (ValueError, RuntimeError, OSError) as error:
            logger.warning("zero-shot skipped: %s", error)
    if reference is not None:
        metrics["eval/drift_cosine"] = evaluation.text_drift(tclap, (reference, tclap.processor.tokenizer),
                                                             ctx["probe_captions"])
    return metrics


def merge_labels_by_phrase(records: list, overrides: dict) -> list:
    """Labels that read as the same phrase are one class (e.g. Kitchen20 `peel` and UIowa `peeling_vegetables`):
    give them one label, so zero-shot does not score a tie between identical prompts as an error."""
    from tclap_gen.datasets import label_to_phrase

    canonical: dict[str, str] = {}
    for label in sorted({r.label for r in records}):
        canonical.setdefault(label_to_phrase(label, overrides), label)
    return [replace(r, label=canonical[label_to_phrase(r.label, overrides)]) for r in records]


def probe_captions(config: TrainConfig, phrases: list[str]) -> list[str]:
    """Drift probe set: the configured captions / .txt files, else the evaluation module's default set plus
    the class phrases. Every probe caption states no order."""
    from tclap_gen.captions import has_explicit_order

    captions = []
    for item in config.eval.probe_captions:
        if item.endswith(".txt"):
            captions.extend(read_texts(Path(item), 10_000))
        else:
            captions.append(item)
    if not captions:
        try:
            from tclap_gen.evaluation import DEFAULT_PROBE_CAPTIONS
        except ImportError:
            DEFAULT_PROBE_CAPTIONS = []
        captions = list(DEFAULT_PROBE_CAPTIONS) + [p for p in phrases if p not in DEFAULT_PROBE_CAPTIONS]
    return [c for c in captions if c.strip() and not has_explicit_order(c)]


# ----------------------------------------------------------------------------------------------------------
# The run


@dataclass
class TrainSummary:
    """What summary.json records about a run."""

    status: str  # "finished" | "diverged"
    recipe: str
    output_dir: str
    final_dir: str | None
    steps: int
    start_step: int
    world_size: int
    global_batch_size: int
    samples_seen: int
    wall_s: float
    train_s: float
    samples_per_s: float
    data_wait_share: float
    bad_draws: int
    bad_files: dict = field(default_factory=dict)  # path -> reason
    skipped_captions: int = 0
    metrics: dict = field(default_factory=dict)
    loss_history: list = field(default_factory=list)  # [step, total, contrastive, temporal, anchor, paraphrase, class_prompt, window_class]
    message: str = ""


def trackers_for(config: TrainConfig) -> list[str]:
    if config.trackers == "none":
        return []
    try:
        import tensorboard  # noqa: F401

        return ["tensorboard"]
    except ImportError:
        if config.trackers == "tensorboard":
            raise ConfigError("trackers: tensorboard is not installed (pip install tclap-gen[tensorboard])")
        return []


def flat_hparams(config: TrainConfig) -> dict:
    """Scalar config values under dotted keys (what tensorboard's hparams accept)."""
    out = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            out[prefix] = value

    walk("", config.to_dict())
    return out


def train(config: TrainConfig, resume: bool = False) -> TrainSummary:
    """Run the recipe; returns the summary (also in output_dir/summary.json). Raises TrainingDiverged on a
    NaN/Inf loss and ConfigError / FileNotFoundError on unusable settings."""
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers in forked workers
    wall_start = time.perf_counter()
    output_dir = Path(config.output_dir)
    cpu = config.cpu if config.cpu is not None else not torch.cuda.is_available()
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=config.mixed_precision,
        gradient_accumulation_steps=config.optim.grad_accum_steps,
        log_with=trackers_for(config) or None,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
    )
    try:
        return _train(config, resume, accelerator, wall_start)
    finally:
        # Drop the accelerator's references to the prepared (DDP) model before the process group goes: a gloo group
        # torn down while a DDP reducer still holds it can abort a rank at interpreter exit.
        accelerator.free_memory()
        accelerator.end_training()
        if accelerator.num_processes == 1:
            # Let a later in-process run build its own Accelerator (tests, notebooks).
            from accelerate.state import AcceleratorState, GradientState

            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()


def _train(config: TrainConfig, resume: bool, accelerator, wall_start: float) -> TrainSummary:
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    from tclap_gen.losses import TClapLoss, clamp_logit_scale
    from tclap_gen.model import TClapInfo

    output_dir = Path(config.output_dir)
    ckpt_dir = output_dir / "checkpoints"
    world = accelerator.num_processes
    main = accelerator.is_main_process
    o = config.optim
    per_step = world * o.grad_accum_steps
    if o.batch_size % per_step:
        raise ConfigError(f"optim.batch_size {o.batch_size} must be a multiple of processes x grad_accum_steps "
                          f"({world} x {o.grad_accum_steps})")
    micro = o.batch_size // per_step

    checkpoints = list_checkpoints(ckpt_dir)
    if checkpoints and not resume:
        raise ConfigError(f"{output_dir} already holds checkpoints (newest {checkpoints[-1][1].name}): "
                          "pass --resume to continue that run, or choose another --output-dir")
    if main:
        output_dir.mkdir(parents=True, exist_ok=True)
        for stale in ckpt_dir.glob(".step-*.tmp") if ckpt_dir.is_dir() else []:
            shutil.rmtree(stale, ignore_errors=True)  # a save cut short by a kill
        write_text(output_dir / "config.yaml", dump_config(config))
    accelerator.wait_for_everyone()
    set_seed(config.seed)

    # ----- data and model -----
    bundle = build_data(config, accelerator)
    if main:
        write_splits(bundle, output_dir / "splits")
    tclap, base_name = build_model(config, bundle.phrases, accelerator)
    clap, processor = tclap.model, tclap.processor
    window_s = processor.feature_extractor.nb_max_samples / processor.feature_extractor.sampling_rate
    if config.data.seconds > window_s + 1e-6:
        raise ConfigError(f"data.seconds {config.data.seconds} exceeds the model's audio window ({window_s:g} s): "
                          "events past the window would be cut off")
    reference = tclap.export_text_encoder()  # the initial text tower, frozen: anchor and drift
    reference.requires_grad_(False)
    use_global_batchnorm(clap)
    module = ClapTrainModule(clap, config.model.freeze_audio, config.model.freeze_text).train()
    reference.to(accelerator.device)

    collator = FeatureCollator(processor.feature_extractor, processor.tokenizer, config.data.sampling_rate,
                               enable_fusion=bool(getattr(clap.config.audio_config, "enable_fusion", False)),
                               # captions-only ablation: no re-ordered mixtures to embed
                               max_audio_negatives=0 if config.loss.order_negatives == "captions"
                               else config.data.max_audio_negatives,
                               paraphrases=config.loss.paraphrase_weight > 0,
                               spec_augment=spec_augment_settings(config.data),
                               class_phrases=class_phrases(bundle.train_records, config.data.phrases)
                               if config.loss.class_prompt_weight > 0 or config.loss.window_class_weight > 0 else None,
                               window_seconds=config.data.window_seconds if config.loss.window_class_weight > 0 else None,
                               noise_floor=noise_floor_settings(config.data))
    workers = config.data.num_workers
    if workers < 0:  # one per core left over by the training processes on this machine, at most 8
        workers = max(1, min(8, (os.cpu_count() or 2) // max(1, accelerator.num_processes) - 1))
    loader = DataLoader(
        bundle.dataset, batch_size=micro, sampler=bundle.sampler, drop_last=True, collate_fn=collator,
        num_workers=workers, persistent_workers=False,  # workers must see each new epoch
        prefetch_factor=4 if workers else None, pin_memory=not accelerator.device.type == "cpu",
        generator=torch.Generator().manual_seed(config.seed),  # keeps the global RNG untouched by iteration
    )
    steps_per_epoch = len(bundle.sampler) // o.batch_size

    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=o.lr, betas=tuple(o.betas), eps=o.eps,
    )
    # Stepped by hand once per optimizer step (not prepared: Accelerate would step it once per process).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config))
    module, optimizer, train_loader = accelerator.prepare(module, optimizer, loader)
    accelerator.register_for_checkpointing(scheduler)
    loss_fn = TClapLoss(config.loss.temporal_weight, config.loss.anchor_weight, config.loss.paraphrase_weight,
                        config.loss.order_negatives, config.loss.same_events_positive, config.loss.class_prompt_weight,
                        config.loss.window_class_weight)

    # ----- evaluation context (fixed batches drawn once, from an epoch no training pass uses) -----
    ctx = {"loss_fn": loss_fn,
           "eval_records": merge_labels_by_phrase(bundle.test_records or bundle.train_records, config.data.phrases),
           "probe_captions": probe_captions(config, bundle.phrases), "eval_batches": []}
    if main and config.eval.loss_batches > 0:
        indices = bundle.sampler.epoch_indices(EVAL_EPOCH)
        bundle.dataset.set_epoch(EVAL_EPOCH)
        eval_collator = copy.copy(collator)
        eval_collator.spec_augment = eval_collator.noise_floor = None  # the held-out loss on clean audio
        for b in range(min(config.eval.loss_batches, len(indices) // o.batch_size)):
            chunk = indices[b * o.batch_size : (b + 1) * o.batch_size]
            batch = eval_collator([bundle.dataset[i] for i in chunk])
            ctx["eval_batches"].append({k: v for k, v in batch.items() if k != "bad"})
        bundle.dataset.set_epoch(0)

    # ----- resume -----
    state = {"step": 0, "samples_seen": 0, "bad_draws": 0, "bad_files": {}, "loss_history": [], "metrics": {}}
    if resume:
        checkpoints = list_checkpoints(ckpt_dir)
        if checkpoints:
            _, path = checkpoints[-1]
            accelerator.load_state(str(path))
            state.update(json.loads((path / TRAINER_STATE).read_text()))
            if not main:  # the saved bad-data counts are totals over processes: the main process carries them
                state["bad_draws"], state["bad_files"] = 0, {}
            if main:
                logger.info("resumed from %s (step %d)", path, state["step"])
        elif main:
            logger.warning("--resume: no complete checkpoint in %s, starting from step 0", ckpt_dir)
    start_step = step = int(state["step"])
    unwrapped = accelerator.unwrap_model(module)

    if trackers_for(config):
        accelerator.init_trackers(config.recipe or "tclap", config=flat_hparams(config))

    def run_eval(at_step: int) -> dict:
        metrics = {}
        if main:
            metrics = evaluate(unwrapped.clap, processor, unwrapped, reference, ctx, config, accelerator)
            if metrics:
                accelerator.log(metrics, step=at_step)
                logger.info("step %d eval: %s", at_step, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        accelerator.wait_for_everyone()
        return metrics

    if step == 0 and config.eval.at_start:
        state["metrics_start"] = run_eval(0)  # the initial model's scores, for comparison

    # ----- the loop -----
    progress = tqdm(total=o.max_steps, initial=step, disable=not (main and config.progress_bar),
                    desc=f"train {config.recipe}", dynamic_ncols=True)
    train_s = wait_s = 0.0
    session_samples = 0
    window = {"loss": 0.0, "contrastive": 0.0, "temporal": 0.0, "anchor": 0.0, "paraphrase": 0.0, "class_prompt": 0.0,
              "window_class": 0.0}
    device = accelerator.device
    last_ckpt = list_checkpoints(ckpt_dir)[-1][1] if list_checkpoints(ckpt_dir) else None
    diverged = None
    out_of_time = False
    grad_norm = float("nan")  # before clipping, of the last step (NaN when clipping is off)
    tick = time.perf_counter()
    while step < o.max_steps and diverged is None and not out_of_time:
        epoch = step // steps_per_epoch
        train_loader.set_epoch(epoch)
        skip = (step % steps_per_epoch) * o.grad_accum_steps
        epoch_loader = accelerator.skip_first_batches(train_loader, skip) if skip else train_loader
        iterator = iter(epoch_loader)
        while step < o.max_steps:
            fetch = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                break
            wait_s += time.perf_counter() - fetch
            for path, reason in batch.pop("bad"):
                state["bad_draws"] += 1
                if path not in state["bad_files"]:
                    state["bad_files"][path] = reason
                    logger.warning("skipped unusable clip %s: %s", path, reason)

            with accelerator.accumulate(module):
                out = compute_loss(module, batch, loss_fn, unwrapped.clap, reference, accelerator)
                total = out.total
                if step + 1 == config.debug.nan_at_step and config.debug.nan_rank in (None, accelerator.process_index):
                    total = total * float("nan")
                broken = (~torch.isfinite(total.detach())).float()
                if world > 1:  # every process must stop together (the others would wait in backward)
                    broken = accelerator.reduce(broken, reduction="sum")
                if broken.item() > 0:
                    diverged = (f"the loss became NaN/Inf at step {step + 1} on {int(broken.item())} of {world} "
                                f"process(es) (here: total {total.item():.4g}, contrastive {out.contrastive.item():.4g}, "
                                f"temporal {out.temporal.item():.4g}, anchor {out.anchor.item():.4g}); stopped before "
                                "the update. "
                                + (f"Last good checkpoint: {last_ckpt}" if last_ckpt else "No checkpoint was saved yet")
                                + ". Lower optim.lr, enable optim.max_grad_norm or check the data, then --resume.")
                    break
                accelerator.backward(total)
                if accelerator.sync_gradients and o.max_grad_norm:
                    grad_norm = float(accelerator.clip_grad_norm_(module.parameters(), o.max_grad_norm))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            values = torch.stack([total.detach(), out.contrastive.detach(), out.temporal.detach(), out.anchor.detach(),
                                  out.paraphrase.detach(), out.class_prompt.detach(), out.window_class.detach()])
            for key, value in zip(window, values.tolist()):
                window[key] += value / o.grad_accum_steps
            if not accelerator.sync_gradients:
                continue

            # ----- one optimizer step done -----
            if not optimizer.step_was_skipped:
                scheduler.step()
            clamp_logit_scale((unwrapped.clap.logit_scale_a, unwrapped.clap.logit_scale_t))
            step += 1
            state["step"] = step
            state["samples_seen"] += o.batch_size
            session_samples += o.batch_size
            now = time.perf_counter()
            train_s += now - tick
            means = torch.tensor(list(window.values()), device=device)
            if world > 1:
                means = accelerator.reduce(means, reduction="mean")
            means = means.tolist()
            window = dict.fromkeys(window, 0.0)
            state["loss_history"].append([step] + [round(v, 6) for v in means])
            progress.update(1)
            progress.set_postfix(loss=f"{means[0]:.4f}")
            if step % config.log_every == 0 or step == o.max_steps:
                accelerator.log({
                    "train/loss": means[0], "train/contrastive": means[1], "train/temporal": means[2],
                    "train/anchor": means[3], "train/paraphrase": means[4], "train/class_prompt": means[5],
                    "train/window_class": means[6],
                    "train/lr": scheduler.get_last_lr()[0],
                    "train/grad_norm": grad_norm,
                    "train/logit_scale_a": unwrapped.clap.logit_scale_a.exp().item(),
                    "train/samples_per_s": session_samples / max(train_s, 1e-9),
                    "train/data_wait_share": wait_s / max(train_s, 1e-9),
                    "train/bad_draws": state["bad_draws"],
                }, step=step)
            if config.debug.step_sleep_s:
                time.sleep(config.debug.step_sleep_s)
            if config.eval.every_steps and step % config.eval.every_steps == 0 and step < o.max_steps:
                state["metrics"] = run_eval(step)
            if o.time_budget_s is not None and step < o.max_steps:
                late = torch.tensor(float(time.perf_counter() - wall_start >= o.time_budget_s), device=device)
                out_of_time = (accelerator.reduce(late, reduction="sum") if world > 1 else late).item() > 0
            if (config.checkpoint_every and step % config.checkpoint_every == 0) or out_of_time:
                last_ckpt = save_checkpoint(accelerator, ckpt_dir, step, _shared_state(state, accelerator),
                                            config.keep_checkpoints)
            tick = time.perf_counter()
            if out_of_time:
                logger.info("time budget of %g s reached at step %d; --resume continues", o.time_budget_s, step)
                break
    progress.close()

    summary = TrainSummary(
        status="diverged" if diverged else "time budget reached" if out_of_time else "finished", recipe=config.recipe, output_dir=str(output_dir),
        final_dir=None, steps=step, start_step=start_step, world_size=world, global_batch_size=o.batch_size,
        samples_seen=state["samples_seen"], wall_s=round(time.perf_counter() - wall_start, 3),
        train_s=round(train_s, 3), samples_per_s=round(session_samples / train_s, 3) if train_s else 0.0,
        data_wait_share=round(wait_s / train_s, 4) if train_s else 0.0, bad_draws=0,
        skipped_captions=bundle.skipped_captions, loss_history=state["loss_history"], message=diverged or "",
    )
    shared = _shared_state(state, accelerator)
    summary.bad_draws, summary.bad_files = shared["bad_draws"], shared["bad_files"]

    if diverged:
        if main:
            write_text(output_dir / "summary.json", json.dumps(asdict(summary), indent=1))
            logger.error("training diverged: %s", diverged)
        raise TrainingDiverged(diverged)

    # ----- final evaluation and save -----
    final_metrics = run_eval(step) if config.eval.at_end else {}
    if main:
        # Final scores, and the initial model's under start/ for comparison.
        summary.metrics = {**final_metrics, **{f"start/{k}": v for k, v in state.get("metrics_start", {}).items()}}
        info = TClapInfo(
            base_model=base_name, temporal_weight=config.loss.temporal_weight, recipe=config.recipe,
            metrics=summary.metrics,
            extra={"classes": bundle.phrases, "config": config.to_dict(), "steps": step,
                   "samples_seen": state["samples_seen"], "anchor_weight": config.loss.anchor_weight},
        )
        final = save_final(unwrapped.clap, processor, info, output_dir / "final", config)
        summary.final_dir = str(final)
        write_text(output_dir / "summary.json", json.dumps(asdict(summary), indent=1))
        logger.info(
            "done: %d steps, %.1f samples/s, %.0f%% of step time waiting for data, %d bad draws (%d files) -> %s",
            step, summary.samples_per_s, 100 * summary.data_wait_share, summary.bad_draws, len(summary.bad_files), final,
        )
    accelerator.wait_for_everyone()
    return summary


def _shared_state(state: dict, accelerator) -> dict:
    """The trainer state with bad-data counts summed over processes (each process loads its own examples)."""
    if accelerator.num_processes == 1:
        return copy.deepcopy(state)
    from accelerate.utils import gather_object

    merged = copy.deepcopy(state)
    parts = gather_object([(state["bad_draws"], state["bad_files"])])
    merged["bad_draws"] = sum(count for count, _ in parts)
    merged["bad_files"] = {}
    for _, files in parts:
        merged["bad_files"].update(files)
    return merged


def save_final(clap, processor, info, final: Path, config: TrainConfig) -> Path:
    """save_pretrained of model + processor (safetensors) and the model card into a temporary folder, renamed."""
    from tclap_gen.model import TClap

    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    TClap(clap, processor, info).save_pretrained(tmp)
    (tmp / "README.md").write_text(model_card(info, config))
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    return final


def model_card(info, config: TrainConfig) -> str:
    metrics = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(info.metrics.items())) or "| (none) | |"
    kind = "plain-CLAP baseline (temporal weight 0)" if not info.temporal_weight else "T-CLAP"
    return f"""---
library_name: transformers
tags: [clap, t-clap, audio, tclap-gen]
---
# {config.recipe}: {kind}

A CLAP (`transformers.ClapModel` + `ClapProcessor`) trained by tclap-gen's `training/train_tclap.py`
(T-CLAP, arXiv 2404.17806: contrastive loss + {info.temporal_weight} x temporal-order loss).

- Started from: {info.base_model}
- Classes in the training mix-ups: {", ".join(info.extra.get("classes", [])) or "(none)"}
- Steps: {info.extra.get("steps")}, examples seen: {info.extra.get("samples_seen")}

```python
from tclap_gen import TClap
tclap = TClap.from_pretrained("path/to/this/folder")
```

## Final metrics (held-out clips)

| metric | value |
|---|---|
{metrics}

## Training configuration

```yaml
{dump_config(config)}```
"""


# ----------------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_tclap", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_arguments(parser, "recipe YAML, or the name of one in training/configs", "optim.lr=3e-4",
                         "continue from the newest complete checkpoint")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tclap_gen").setLevel(logging.INFO)
    try:
        overrides = list(args.overrides)
        config = load_config(args.config, overrides, data_root=args.data_root)
        if args.output_dir:
            config.output_dir = str(Path(args.output_dir).resolve())
        summary = train(config, resume=args.resume)
    except TrainingDiverged as error:
        print(f"train_tclap: training diverged: {error}", file=sys.stderr)
        return 3
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"train_tclap: error: {error}", file=sys.stderr)
        return 2
    if summary.final_dir:
        print(json.dumps({k: getattr(summary, k) for k in (
            "final_dir", "steps", "samples_per_s", "data_wait_share", "bad_draws", "metrics")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
