"""Evaluation of a T-CLAP: temporal order (T-Classify), zero-shot classification, retrieval and text drift.

Every metric works on any object with ``embed_audio(waves, sampling_rate)`` and ``embed_text(texts)`` returning
L2-normalised (N, D) tensors (a `TClap`, or a stand-in in tests), and embeds all its inputs in batched calls.

Ties count as wrong everywhere: a correct candidate must score strictly higher than the competing ones. A model
that cannot tell two orders apart (equal similarities) therefore scores 0, not 50 %, on T-Classify.

T-Classify (temporal classification), for N pairs of clips (A, B) of different classes, each mixed both ways
(audio "A->B" and "B->A") and captioned both ways ("A then B" and "B then A", same template). With s(audio, text)
the cosine similarity:

* ``a2t``: over the 2N mixtures, the fraction whose own caption beats the switched caption
  (s(AB, "A then B") > s(AB, "B then A"), and likewise for BA). Chance 0.5.
* ``t2a``: over the 2N captions, the fraction whose own mixture beats the switched mixture
  (s(AB, "A then B") > s(BA, "A then B"), and likewise for "B then A"). Chance 0.5.
* ``group``: over the N pairs, the fraction with all four comparisons right (Winoground's group score: both
  matching similarities above both mismatched ones). Chance 1/6.
* ``margin``: mean of s(own caption) - s(switched caption) over the 2N mixtures (a smooth a2t signal).

A model whose audio embedding ignores order (AB and BA embed alike) gets a2t = 0.5 but group = 0: its two
mixtures of a pair always pick the same caption. Report group alongside a2t/t2a.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_PROBE_CAPTIONS",
    "PROMPT_TEMPLATE",
    "EvaluationError",
    "TClassifyResult",
    "ZeroShotResult",
    "RetrievalResult",
    "tclassify_from_similarity",
    "t_classify",
    "build_tclassify_examples",
    "evaluate_tclassify",
    "zero_shot_from_similarity",
    "zero_shot",
    "LinearProbeResult",
    "fit_linear_probe",
    "linear_probe",
    "retrieval_from_similarity",
    "retrieval",
    "text_drift",
    "run_eval",
    "format_result",
]

# The zero-shot prompt: class phrases from datasets.label_to_phrase are written into it.
PROMPT_TEMPLATE = "the sound of {phrase}"

# Plain captions without temporal structure, to measure how far a fine-tuned text encoder has drifted from a
# reference one (evaluation.text_drift, the training anchor term, the pipeline's from_audioldm check). They mix
# the mini models' kitchen and everyday classes with common sounds, and contain no order or overlap connective.
DEFAULT_PROBE_CAPTIONS: list[str] = [
    "glass smashing",
    "a bicycle bell ringing",
    "typing on a keyboard",
    "water splashing",
    "a microwave humming",
    "a drawer sliding shut",
    "a blender running",
    "water boiling in a kettle",
    "cutlery clinking on a plate",
    "food sizzling in a frying pan",
    "a chainsaw running",
    "a dog barks",
    "a car horn honks",
    "rain falling on a roof",
    "birds chirping in the trees",
    "a man speaking",
    "a baby crying",
    "footsteps on a wooden floor",
    "a door slams",
    "wind blowing through leaves",
    "people talking in a busy cafe",
    "a telephone ringing",
]


class EvaluationError(ValueError):
    """Inputs that an evaluation cannot use (too few clips or classes, mismatched lengths, unknown kind)."""


# ----------------------------------------------------------------------------------------------------------
# Results


@dataclass
class TClassifyResult:
    """T-Classify scores in [0, 1] (see the module docstring for the definitions and chance levels)."""

    a2t: float
    t2a: float
    group: float
    n_pairs: int
    margin: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ZeroShotResult:
    """Zero-shot accuracy in [0, 1]; ``top5`` is top-``k`` with k = min(5, n_classes)."""

    top1: float
    top5: float
    k: int
    n_clips: int
    n_classes: int
    per_class: dict[str, float] = field(default_factory=dict)  # label -> top-1 accuracy on its clips

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LinearProbeResult:
    """Top-1 in [0, 1] of a logistic regression on frozen audio embeddings, fitted on the train clips and scored
    on the held-out ones (``top1``) and on the clips it was fitted on (``train_top1``)."""

    top1: float
    train_top1: float
    n_train: int
    n_clips: int
    n_classes: int
    weight_decay: float
    per_class: dict[str, float] = field(default_factory=dict)  # label -> held-out top-1 on its clips

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RetrievalResult:
    """Recall@k in [0, 1] for text->audio (each caption finds its audio) and audio->text (each audio finds
    any of its captions)."""

    t2a_r1: float
    t2a_r5: float
    t2a_r10: float
    a2t_r1: float
    a2t_r5: float
    a2t_r10: float
    n_audio: int
    n_captions: int

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------------------
# T-Classify


def tclassify_from_similarity(similarity: torch.Tensor) -> TClassifyResult:
    """Scores from an (N, 2, 2) tensor: similarity[i, a, t] = s(audio in order a, caption in order t) for pair i,
    order 0 being "A->B" and order 1 "B->A". Ties count as wrong."""
    sim = torch.as_tensor(similarity, dtype=torch.float64)
    if sim.ndim != 3 or sim.shape[1:] != (2, 2) or sim.shape[0] == 0:
        raise EvaluationError(f"similarity must have shape (N>0, 2, 2), got {tuple(sim.shape)}")
    if not torch.isfinite(sim).all():
        raise EvaluationError("similarity holds NaN or Inf")
    match_ab, match_ba = sim[:, 0, 0], sim[:, 1, 1]
    # A2T: each mixture against the switched caption; T2A: each caption against the switched mixture.
    a2t = torch.stack([match_ab > sim[:, 0, 1], match_ba > sim[:, 1, 0]], dim=1)
    t2a = torch.stack([match_ab > sim[:, 1, 0], match_ba > sim[:, 0, 1]], dim=1)
    group = torch.cat([a2t, t2a], dim=1).all(dim=1)
    margin = torch.cat([match_ab - sim[:, 0, 1], match_ba - sim[:, 1, 0]])
    return TClassifyResult(
        a2t=float(a2t.double().mean()),
        t2a=float(t2a.double().mean()),
        group=float(group.double().mean()),
        n_pairs=int(sim.shape[0]),
        margin=float(margin.mean()),
    )


def _example_parts(example, index: int):
    """(audio A->B, audio B->A, caption A->B, caption B->A, sampling_rate) of a two-event TemporalExample."""
    negatives = list(getattr(example, "negatives", []) or [])
    audio_negatives = list(getattr(example, "audio_negatives", []) or [])
    if len(negatives) != 1 or len(audio_negatives) != 1:
        raise EvaluationError(
            f"examples[{index}] must have exactly one caption negative and one audio negative (two events), "
            f"got {len(negatives)} and {len(audio_negatives)}"
        )
    return example.audio, audio_negatives[0], example.caption, negatives[0], int(example.sampling_rate)


def t_classify(model, examples, batch_size: int = 32) -> TClassifyResult:
    """T-Classify on two-event examples (`datasets.TemporalExample` or anything with ``audio``, ``caption``,
    ``negatives`` = [switched caption], ``audio_negatives`` = [switched mixture], ``sampling_rate``).

    All mixtures are embedded in one batched call, all captions in another."""
    examples = list(examples)
    if not examples:
        raise EvaluationError("t_classify needs at least one example")
    parts = [_example_parts(example, i) for i, example in enumerate(examples)]
    rates = {p[4] for p in parts}
    if len(rates) != 1:
        raise EvaluationError(f"examples mix sampling rates {sorted(rates)}; use one rate")
    n = len(parts)
    waves = [p[0] for p in parts] + [p[1] for p in parts]  # all A->B, then all B->A
    texts = [p[2] for p in parts] + [p[3] for p in parts]
    audio = model.embed_audio(waves, sampling_rate=rates.pop(), batch_size=batch_size).float().cpu()
    text = model.embed_text(texts).float().cpu()
    audio = audio.view(2, n, -1).transpose(0, 1)  # (N, order, D)
    text = text.view(2, n, -1).transpose(0, 1)
    similarity = torch.einsum("nad,ntd->nat", audio, text)
    return tclassify_from_similarity(similarity)


def _default_seconds(model) -> float:
    """The model's audio window, so a mixture is embedded whole (5 s for objects that do not say)."""
    max_samples = getattr(model, "max_samples", None)
    rate = getattr(model, "sampling_rate", None)
    if max_samples and rate:
        return float(max_samples) / float(rate)
    return 5.0


def build_tclassify_examples(records, n_pairs: int, seed: int = 0, sampling_rate: int = 16000,
                             seconds: float = 5.0, phrases: dict | None = None) -> list:
    """`n_pairs` two-event mix-ups of clips of different classes, each with its switched caption and mixture;
    the same records and seed give the same examples."""
    from .datasets import MixupDataset

    records = list(records)
    if n_pairs is None or int(n_pairs) < 1:
        raise EvaluationError(f"pairs must be a positive integer, got {n_pairs!r}")
    labels = {record.label for record in records}
    if len(labels) < 2:
        raise EvaluationError(f"T-Classify needs clips of at least two classes, got {sorted(labels)}")
    dataset = MixupDataset(records, sampling_rate=sampling_rate, seconds=seconds, num_events=(2, 2),
                           length=int(n_pairs), seed=seed, phrases=phrases)
    examples = [dataset[i] for i in range(int(n_pairs))]
    for i, example in enumerate(examples):
        if len(example.labels) != 2 or example.labels[0] == example.labels[1]:
            raise EvaluationError(f"mix-up {i} does not hold two different classes: {example.labels}")
    return examples


def evaluate_tclassify(model, records, n_pairs: int = 200, seed: int = 0, seconds: float | None = None,
                       phrases: dict | None = None, batch_size: int = 32) -> TClassifyResult:
    """T-Classify on `n_pairs` mix-ups built from labelled clips (`datasets.ClipRecord`s)."""
    rate = int(getattr(model, "sampling_rate", 16000))
    seconds = _default_seconds(model) if seconds is None else float(seconds)
    examples = build_tclassify_examples(records, n_pairs, seed=seed, sampling_rate=rate, seconds=seconds,
                                        phrases=phrases)
    return t_classify(model, examples, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------------------
# Zero-shot classification


def _pessimistic_rank(scores: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """For each row, how many wrong candidates score at least as high as the best correct one (0 = top-1).
    `correct` is a boolean mask of the same shape; ties push the rank down (count as wrong)."""
    best = scores.masked_fill(~correct, -math.inf).max(dim=1, keepdim=True).values
    return ((scores >= best) & ~correct).sum(dim=1)


def zero_shot_from_similarity(similarity: torch.Tensor, targets, class_names=None, k: int = 5) -> ZeroShotResult:
    """Accuracy from an (N clips, C classes) similarity and the target class index of each clip.
    A clip counts as right at top-k when fewer than k other classes score at least as high as its class."""
    sim = torch.as_tensor(similarity, dtype=torch.float64)
    targets = torch.as_tensor(targets, dtype=torch.long)
    if sim.ndim != 2 or sim.shape[0] == 0 or sim.shape[1] == 0:
        raise EvaluationError(f"similarity must have shape (N>0, C>0), got {tuple(sim.shape)}")
    if targets.shape != (sim.shape[0],):
        raise EvaluationError(f"targets must have {sim.shape[0]} entries, got shape {tuple(targets.shape)}")
    n, c = sim.shape
    if targets.min() < 0 or targets.max() >= c:
        raise EvaluationError(f"targets must be class indices in [0, {c}), got {targets.tolist()}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    if len(names) != c:
        raise EvaluationError(f"class_names has {len(names)} entries for {c} classes")
    k = max(1, min(int(k), c))
    correct = F.one_hot(targets, c).bool()
    rank = _pessimistic_rank(sim, correct)
    top1 = rank < 1
    per_class = {names[j]: float(top1[targets == j].double().mean()) for j in range(c) if (targets == j).any()}
    return ZeroShotResult(top1=float(top1.double().mean()), top5=float((rank < k).double().mean()), k=k,
                          n_clips=n, n_classes=c, per_class=per_class)


def class_prompts(labels, phrases: dict | None = None, template: str = PROMPT_TEMPLATE) -> list[str]:
    """One zero-shot prompt per label: the template filled with datasets.label_to_phrase(label)."""
    from .datasets import label_to_phrase

    if "{phrase}" not in template:
        raise EvaluationError(f"template must contain '{{phrase}}', got {template!r}")
    prompts = [template.format(phrase=label_to_phrase(label, phrases)) for label in labels]
    seen = {}
    for label, prompt in zip(labels, prompts):
        if prompt in seen:
            # Identical prompts tie, and ties count as wrong: say so instead of silently scoring 0.
            warnings.warn(f"classes {seen[prompt]!r} and {label!r} share the prompt {prompt!r}; "
                          "give one a phrase override", stacklevel=2)
        seen.setdefault(prompt, label)
    return prompts


def _load_clips(records, sampling_rate: int, seconds: float | None) -> list[np.ndarray]:
    """Each record's audio at `sampling_rate`, cut to its first `seconds` when given."""
    from .audio import load_audio

    waves = []
    for record in records:
        wave, _ = load_audio(record.path, sampling_rate=sampling_rate)
        if seconds is not None:
            wave = wave[: max(1, int(round(seconds * sampling_rate)))]
        waves.append(wave)
    return waves


def zero_shot(model, records, classes=None, phrases: dict | None = None, template: str = PROMPT_TEMPLATE,
              seconds: float | None = None, k: int = 5, batch_size: int = 32) -> ZeroShotResult:
    """Classify each clip (`datasets.ClipRecord`s) by its most similar class prompt.

    `classes` (labels) defaults to the sorted labels of the records; records with other labels are an error.
    Clips are embedded whole (windows averaged) unless `seconds` cuts them."""
    records = list(records)
    if not records:
        raise EvaluationError("zero_shot needs at least one clip")
    classes = sorted({r.label for r in records}) if classes is None else list(classes)
    if len(classes) < 2:
        raise EvaluationError(f"zero-shot classification needs at least two classes, got {classes}")
    index = {label: i for i, label in enumerate(classes)}
    unknown = sorted({r.label for r in records} - set(index))
    if unknown:
        raise EvaluationError(f"clips have labels outside classes: {unknown}")
    rate = int(getattr(model, "sampling_rate", 16000))
    audio = model.embed_audio(_load_clips(records, rate, seconds), sampling_rate=rate, batch_size=batch_size)
    text = model.embed_text(class_prompts(classes, phrases, template))
    similarity = audio.float().cpu() @ text.float().cpu().T
    targets = [index[r.label] for r in records]
    return zero_shot_from_similarity(similarity, targets, class_names=classes, k=k)


# ----------------------------------------------------------------------------------------------------------
# Linear probe: how much of a class the audio embedding carries, whatever the text tower makes of it


def fit_linear_probe(features: torch.Tensor, targets, n_classes: int, weight_decay: float = 1e-4,
                     max_iter: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (C, D), bias (C,)) of a multinomial logistic regression: mean cross-entropy plus
    weight_decay / 2 * ||weight||^2, minimised by L-BFGS in float64 (a convex problem: the fit is deterministic)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(targets, dtype=torch.long)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise EvaluationError(f"features must be (N>0, D) with one target each, got {tuple(x.shape)} and {tuple(y.shape)}")
    if weight_decay < 0:
        raise EvaluationError(f"weight_decay must be >= 0, got {weight_decay}")
    weight = torch.zeros(n_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def linear_probe(model, train_records, test_records, seconds: float | None = None, weight_decay: float = 1e-4,
                 batch_size: int = 32) -> LinearProbeResult:
    """Fit `fit_linear_probe` on the standardised audio embeddings of `train_records` (classes: their labels) and
    score it on `test_records`, with the ties-count-as-wrong rule of zero-shot. Beside zero-shot on the same clips
    it says whether recognition is lost in the audio tower (the probe is low too) or in the text alignment (not)."""
    train_records, test_records = list(train_records), list(test_records)
    classes = sorted({r.label for r in train_records})
    if len(classes) < 2 or not test_records:
        raise EvaluationError(f"a linear probe needs train clips of two or more classes and held-out clips, got "
                              f"{len(classes)} classes and {len(test_records)} held-out clips")
    index = {label: i for i, label in enumerate(classes)}
    unknown = sorted({r.label for r in test_records} - set(index))
    if unknown:
        raise EvaluationError(f"held-out clips have labels no train clip has: {unknown}")
    rate = int(getattr(model, "sampling_rate", 16000))

    def embed(records):
        waves = _load_clips(records, rate, seconds)
        return model.embed_audio(waves, sampling_rate=rate, batch_size=batch_size).double().cpu()

    train_x, test_x = embed(train_records), embed(test_records)
    # Standardised by the train clips' statistics: a T-CLAP's embeddings sit in a narrow cone, and unscaled, the
    # weight decay would decide the fit rather than the data.
    mean, std = train_x.mean(dim=0), train_x.std(dim=0).clamp_min(1e-8)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    train_y = [index[r.label] for r in train_records]
    weight, bias = fit_linear_probe(train_x, train_y, len(classes), weight_decay=weight_decay)
    held = zero_shot_from_similarity(test_x @ weight.T + bias, [index[r.label] for r in test_records], classes)
    fitted = zero_shot_from_similarity(train_x @ weight.T + bias, train_y, classes)
    return LinearProbeResult(top1=held.top1, train_top1=fitted.top1, n_train=len(train_records),
                             n_clips=len(test_records), n_classes=len(classes), weight_decay=weight_decay,
                             per_class=held.per_class)


# ----------------------------------------------------------------------------------------------------------
# Retrieval


def retrieval_from_similarity(similarity: torch.Tensor, caption_owner) -> RetrievalResult:
    """Recall@1/5/10 from an (n_captions, n_audio) similarity; caption_owner[j] is the audio of caption j.

    Text->audio: caption j is right at k when fewer than k other audios score at least its own audio's score.
    Audio->text: audio i is right at k when fewer than k captions of other audios score at least its best caption."""
    sim = torch.as_tensor(similarity, dtype=torch.float64)
    owner = torch.as_tensor(caption_owner, dtype=torch.long)
    if sim.ndim != 2 or 0 in sim.shape:
        raise EvaluationError(f"similarity must have shape (n_captions>0, n_audio>0), got {tuple(sim.shape)}")
    n_captions, n_audio = sim.shape
    if owner.shape != (n_captions,) or owner.min() < 0 or owner.max() >= n_audio:
        raise EvaluationError(f"caption_owner must hold {n_captions} audio indices in [0, {n_audio})")
    without = sorted(set(range(n_audio)) - set(owner.tolist()))
    if without:
        raise EvaluationError(f"audio {without[:10]} has no caption")
    correct = F.one_hot(owner, n_audio).bool()  # (captions, audio)
    t2a_rank = _pessimistic_rank(sim, correct)
    a2t_rank = _pessimistic_rank(sim.T, correct.T)
    recall = {}
    for name, rank in (("t2a", t2a_rank), ("a2t", a2t_rank)):
        for k in (1, 5, 10):
            recall[f"{name}_r{k}"] = float((rank < k).double().mean())
    return RetrievalResult(**recall, n_audio=n_audio, n_captions=n_captions)


def _audio_key(wave) -> str:
    """Content hash of a waveform: the same recording under several captions (Clotho has five) is one audio."""
    array = np.ascontiguousarray(wave.detach().cpu().numpy() if isinstance(wave, torch.Tensor) else wave)
    return hashlib.sha1(array.tobytes() + str(array.shape).encode()).hexdigest()


def _caption_items(items, sampling_rate):
    """(waves, captions, owner, rate) from (wave, caption) pairs or caption-dataset examples; items holding the
    same audio content share one audio entry."""
    waves, captions, owner, rates, seen = [], [], [], set(), {}
    for i, item in enumerate(items):
        if isinstance(item, (tuple, list)):
            if len(item) != 2:
                raise EvaluationError(f"items[{i}] must be (wave, caption), got {len(item)} values")
            wave, caption = item
            rate = sampling_rate
        else:
            wave, caption = item.audio, item.caption
            rate = getattr(item, "sampling_rate", sampling_rate)
        if rate is None:
            raise EvaluationError("sampling_rate is required for (wave, caption) items")
        if not isinstance(caption, str) or not caption.strip():
            raise EvaluationError(f"items[{i}] has an empty caption")
        key = _audio_key(wave)
        if key not in seen:
            seen[key] = len(waves)
            waves.append(wave)
        captions.append(caption)
        owner.append(seen[key])
        rates.add(int(rate))
    if not captions:
        raise EvaluationError("retrieval needs at least one (audio, caption) item")
    if len(rates) != 1:
        raise EvaluationError(f"items mix sampling rates {sorted(rates)}")
    return waves, captions, owner, rates.pop()


def retrieval(model, items, sampling_rate: int | None = None, batch_size: int = 32) -> RetrievalResult:
    """Text->audio and audio->text recall@1/5/10 on a caption dataset: a list of (wave, caption) pairs (with
    `sampling_rate`) or a `datasets.CaptionDataset` / list of its examples (which carry their rate).
    Items with identical audio content count as one audio with several captions."""
    if not isinstance(items, (list, tuple)):
        items = [items[i] for i in range(len(items))]
    waves, captions, owner, rate = _caption_items(items, sampling_rate)
    audio = model.embed_audio(waves, sampling_rate=rate, batch_size=batch_size).float().cpu()
    text = model.embed_text(captions).float().cpu()
    return retrieval_from_similarity(text @ audio.T, owner)


# ----------------------------------------------------------------------------------------------------------
# Drift of the text encoder


def _reference_text_embeddings(reference, captions: list[str]) -> torch.Tensor:
    """Normalised embeddings from a TClap-like object or a (ClapTextModelWithProjection, tokenizer) pair."""
    if hasattr(reference, "embed_text"):
        return reference.embed_text(captions).float().cpu()
    if isinstance(reference, (tuple, list)) and len(reference) == 2:
        encoder, tokenizer = reference
        device = next(encoder.parameters()).device
        tokens = tokenizer(captions, padding=True, truncation=True, max_length=tokenizer.model_max_length,
                           return_tensors="pt")
        with torch.no_grad():
            output = encoder(input_ids=tokens["input_ids"].to(device),
                             attention_mask=tokens["attention_mask"].to(device))
        # ClapTextModelWithProjection.text_embeds is not normalised (transformers 5).
        return F.normalize(output.text_embeds.float().cpu(), dim=-1)
    raise EvaluationError("reference must be a TClap (or anything with embed_text) or a "
                          "(ClapTextModelWithProjection, tokenizer) pair")


def text_drift(tclap, reference, probe_captions=DEFAULT_PROBE_CAPTIONS) -> float:
    """Mean cosine similarity between `tclap`'s and `reference`'s embeddings of the same plain captions:
    1.0 means the text encoder still maps captions where the reference does (what AudioLDM's UNet expects)."""
    captions = list(probe_captions)
    if not captions:
        raise EvaluationError("probe_captions is empty")
    ours = tclap.embed_text(captions).float().cpu()
    theirs = _reference_text_embeddings(reference, captions)
    if ours.shape != theirs.shape:
        raise EvaluationError(f"embedding shapes differ: {tuple(ours.shape)} vs reference {tuple(theirs.shape)}")
    return float((F.normalize(ours, dim=-1) * F.normalize(theirs, dim=-1)).sum(dim=-1).mean())


# ----------------------------------------------------------------------------------------------------------
# Command line


def _select_records(clips, split: str):
    from .datasets import heldout_split, read_clip_metadata

    path = Path(clips)
    if not path.is_file():
        raise FileNotFoundError(f"--clips {path}: no such metadata file")
    records = read_clip_metadata(path)
    if split == "heldout":
        _, records = heldout_split(records)
    elif split != "all":
        raise EvaluationError(f"split must be 'all' or 'heldout', got {split!r}")
    if not records:
        raise EvaluationError(f"--clips {path}: no clips selected (split {split!r})")
    return records


EVAL_KINDS = ("tclassify", "zeroshot", "probe", "retrieval")


def run_eval(kind: str, model, clips, pairs: int = 200, seed: int = 0, seconds: float | None = None,
             split: str = "all") -> dict:
    """What `tclap-gen eval tclassify|zeroshot|probe|retrieval` runs: a JSON-ready dict with the settings and the
    scores. "retrieval" is text<->audio recall@k among `pairs` two-event mix-ups of the clips and their captions (the
    distractors are other mixes of the same sounds, in other pairings and orders). "probe" (`linear_probe`) fits on
    the train side of the held-out split and scores the held-out side, so it needs split="heldout".

    `model` is a built-in name, a folder or Hub id, or an already loaded TClap."""
    if kind not in EVAL_KINDS:
        raise EvaluationError(f"kind must be one of {', '.join(EVAL_KINDS)}, got {kind!r}")
    if kind == "probe" and split != "heldout":
        raise EvaluationError(f"probe fits on the train clips and scores the held-out ones: split must be 'heldout', "
                              f"got {split!r}")
    records = _select_records(clips, "all" if kind == "probe" else split)
    if kind == "probe":  # one read of the list, split once: fitted on the train side, scored on the held-out side
        from .datasets import heldout_split

        train, records = heldout_split(records)
    if isinstance(model, (str, Path)):
        from .model import TClap

        model_name, tclap = str(model), TClap.from_pretrained(str(model))
    else:
        model_name, tclap = type(model).__name__, model
    settings = {"kind": kind, "model": model_name, "clips": str(clips), "split": split, "n_clips": len(records),
                "n_classes": len({r.label for r in records})}
    if kind == "tclassify":
        result = evaluate_tclassify(tclap, records, n_pairs=pairs, seed=seed, seconds=seconds)
        settings.update(seed=seed, seconds=_default_seconds(tclap) if seconds is None else float(seconds))
    elif kind == "retrieval":
        seconds = _default_seconds(tclap) if seconds is None else float(seconds)
        result = retrieval(tclap, build_tclassify_examples(records, pairs, seed=seed, sampling_rate=tclap.sampling_rate,
                                                           seconds=seconds))
        settings.update(seed=seed, seconds=seconds)
    elif kind == "probe":
        result = linear_probe(tclap, train, records, seconds=seconds)
    else:
        result = zero_shot(tclap, records, seconds=seconds)
    return {**settings, **result.to_dict()}


def format_result(kind: str, result: dict) -> str:
    """Readable text for a `run_eval` result."""
    head = (f"{kind} | model {result.get('model')} | clips {result.get('clips')} ({result.get('split', 'all')}: "
            f"{result.get('n_clips')} clips, {result.get('n_classes')} classes)")
    if kind == "tclassify":
        lines = [
            head,
            f"pairs {result['n_pairs']}, seed {result.get('seed')}, mixture {result.get('seconds', 0):.2f} s",
            f"A2T   {100 * result['a2t']:5.1f} %   (chance 50.0)",
            f"T2A   {100 * result['t2a']:5.1f} %   (chance 50.0)",
            f"group {100 * result['group']:5.1f} %   (chance 16.7)",
            f"mean A2T margin {result['margin']:+.4f}",
        ]
    elif kind == "zeroshot":
        lines = [
            head,
            f"top-1 {100 * result['top1']:5.1f} %   (chance {100 / result['n_classes']:.1f})",
            f"top-{result['k']} {100 * result['top5']:5.1f} %",
            "per class top-1:",
        ] + [f"  {label:<24} {100 * acc:5.1f} %" for label, acc in sorted(result.get("per_class", {}).items())]
    elif kind == "probe":
        lines = [
            head,
            f"logistic regression on the audio embeddings of {result['n_train']} train clips "
            f"(weight decay {result['weight_decay']:g})",
            f"held-out top-1 {100 * result['top1']:5.1f} %   (chance {100 / result['n_classes']:.1f})",
            f"train top-1    {100 * result['train_top1']:5.1f} %",
        ]
    elif kind == "retrieval":
        lines = [head, f"{result['n_audio']} two-event mix-ups, {result['n_captions']} captions, seed {result.get('seed')}"] + [
            f"{name} R@{k:<2} {100 * result[f'{key}_r{k}']:5.1f} %" for key, name in (("t2a", "text->audio"), ("a2t", "audio->text"))
            for k in (1, 5, 10)]
    else:
        raise EvaluationError(f"kind must be one of {', '.join(EVAL_KINDS)}, got {kind!r}")
    return "\n".join(lines)
