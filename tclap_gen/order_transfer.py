"""Does a T-CLAP's sense of order transfer? T-Classify on phrasings and mixes that training never produces.

Training captions come from `captions.TEMPLATES` ("A then B", "B after A", "first A, then B", ...) and training
audio from `datasets.MixupDataset`. Here both are replaced:

- PHRASINGS: caption families by name, each a function (phrase of the first event, phrase of the second) ->
  caption. `TRAINING_FAMILIES` are rendered by the training templates (for reference); `HELDOUT_FAMILIES` use
  connectives and word orders no training template writes: reversed mention ("B, preceded by A", "B following A",
  "B comes after A"), other connectives ("A; afterwards, B", "A. Subsequently, B", "A, after which B", "A precedes
  B", "A, and later B") and other structures ("once A stops, B", "it starts with A and ends with B").
  tests/test_order_transfer.py checks that no training template renders any of their markers.
- MIXING_STYLES: mixers written here, not the training one: each segment is the loudest stretch of a clip (1.5-4 s),
  levelled, with 10 ms fades; "gap" puts 0.2-1 s of silence between the two, "overlap" lets the second start
  0.2-0.6 s before the first ends, "levels" gives the two events levels 6-12 dB apart with a noise floor, "short"
  and "long" make totals of 2-3 s and 7-9 s (shorter than the mini's 5 s window, and longer: embedded as the mean
  of its windows).

- BLIND families (`tclap_gen/blind_families.py`): 20 more ways to say "A, then B" and 5 to say "A and B at once",
  written by an author who never saw the caption grammar, the templates or the families above, after this module's
  families had been read by whoever extended the grammar. They are reported only as a mean, so that nobody tunes the
  grammar or the training to them family by family.

`evaluate_transfer` embeds each style's mixtures once and every family's captions once, and reports T-Classify
(A2T, T2A, group; chance 0.5 / 0.5 / 0.17) for each (style, family), plus the means over held-out families and over
the blind families. `parser_reading` measures how often `captions.parse_events` reads each set's order right.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from .audio import level, loudest_excerpt
from .blind_families import BLIND_SEQUENTIAL, BLIND_SIMULTANEOUS
from .captions import BEFORE, OVERLAP, CaptionError, parse_events, render_caption
from .datasets import label_to_phrase
from .evaluation import tclassify_from_similarity

SAMPLING_RATE = 16000

TRAINING_FAMILIES = {
    "then": "then",
    "followed by": "followed_by",
    "B after A": "after",
    "first A, then B": "first_then",
}

HELDOUT_FAMILIES = {
    "B, preceded by A": lambda a, b: f"{b}, preceded by {a}",
    "B following A": lambda a, b: f"{b} following {a}",
    "B comes after A": lambda a, b: f"{b} comes after {a}",
    "A; afterwards, B": lambda a, b: f"{a}; afterwards, {b}",
    "A. Subsequently, B": lambda a, b: f"{a.capitalize()}. Subsequently, {b}",
    "A, after which B": lambda a, b: f"{a}, after which {b}",
    "A precedes B": lambda a, b: f"{a} precedes {b}",
    "A, and later B": lambda a, b: f"{a}, and later {b}",
    "once A stops, B": lambda a, b: f"once {a} stops, {b}",
    "starts with A, ends with B": lambda a, b: f"it starts with {a} and ends with {b}",
}
# Words and marks by which each held-out family is recognised; no training template may write them.
HELDOUT_MARKERS = ("preceded by", "following", "comes after", "afterwards", "subsequently", "after which",
                   "precedes", "later", "once", "starts with", "ends with", ";")

MIXING_STYLES = ("gap", "overlap", "levels", "short", "long")
HELDOUT_MEAN = "held-out families (mean)"
BLIND_MEAN = "blind families (mean)"


def caption(family: str, first: str, second: str) -> str:
    """The caption of `family` for `first` then `second` (phrases)."""
    if family in HELDOUT_FAMILIES:
        return HELDOUT_FAMILIES[family](first, second)
    if family in BLIND_SEQUENTIAL:
        return BLIND_SEQUENTIAL[family](first, second)
    if family in TRAINING_FAMILIES:
        return render_caption([first, second], random.Random(0), template=TRAINING_FAMILIES[family]).text
    raise ValueError(f"unknown phrasing family {family!r}; choose from {list(TRAINING_FAMILIES) + list(HELDOUT_FAMILIES)}")


def _segment(wave: np.ndarray, seconds: float, db: float) -> np.ndarray:
    """The loudest `seconds` of `wave` at `db` dBFS RMS, with 10 ms fades."""
    out = level(loudest_excerpt(wave, int(seconds * SAMPLING_RATE)), target_db=db, max_peak=1.0).copy()
    fade = min(160, out.size // 4)
    if fade:
        out[:fade] *= np.linspace(0, 1, fade)
        out[-fade:] *= np.linspace(1, 0, fade)
    return out


def mix_two(first: np.ndarray, second: np.ndarray, style: str, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """(first then second, second then first) in `style`; both orders use the same segments, levels and joins."""
    ab, ba, _, _ = mix_two_timed(first, second, style, rng)
    return ab, ba


def mix_two_timed(first: np.ndarray, second: np.ndarray, style: str, rng: random.Random):
    """`mix_two` plus where each segment lies: (ab, ba, spans of ab, spans of ba), spans as [(onset, offset)] in
    seconds in the mix's temporal order (for ab: first's segment, then second's)."""
    if style not in MIXING_STYLES:
        raise ValueError(f"unknown mixing style {style!r}; choose from {MIXING_STYLES}")
    rate = SAMPLING_RATE
    if style == "short":
        lengths = [rng.uniform(1.0, 1.5), rng.uniform(1.0, 1.5)]
    elif style == "long":
        lengths = [rng.uniform(3.5, 4.0), rng.uniform(3.5, 4.0)]
    else:
        lengths = [rng.uniform(1.5, 4.0), rng.uniform(1.5, 4.0)]
    levels = [-20.0, -20.0]
    if style == "levels":
        levels[rng.randrange(2)] -= rng.uniform(6.0, 12.0)
    segments = [_segment(w, s, db) for w, s, db in zip((first, second), lengths, levels)]
    join = {"gap": rng.uniform(0.2, 1.0), "overlap": -rng.uniform(0.2, 0.6)}.get(style, rng.uniform(0.0, 0.3))
    lead = rng.uniform(0.0, 0.3)
    noise_seed = rng.randrange(2**31)

    def place(a: np.ndarray, b: np.ndarray):
        join_samples = int(join * rate)
        join_samples = max(join_samples, -min(a.size, b.size) // 2)  # overlap at most half the shorter segment
        start_a = int(lead * rate)
        start_b = start_a + a.size + join_samples
        out = np.zeros(start_b + b.size, np.float32)
        out[start_a : start_a + a.size] += a
        out[start_b:] += b
        if style == "levels":  # a noise floor 40 dB under the louder event
            out += np.random.default_rng(noise_seed).standard_normal(out.size).astype(np.float32) * 10 ** (-60 / 20)
        return out, [(start_a / rate, (start_a + a.size) / rate), (start_b / rate, (start_b + b.size) / rate)]

    (ab, spans_ab), (ba, spans_ba) = place(*segments), place(segments[1], segments[0])
    return ab, ba, spans_ab, spans_ba


@dataclass
class TransferPairs:
    """Two-event pairs of held-out clips: labels and both mixture orders, per style."""

    labels: list[tuple[str, str]]
    audio: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]  # style -> (A then B, B then A)


def build_pairs(waves_by_label: dict[str, list[np.ndarray]], n_pairs: int, styles=MIXING_STYLES,
                seed: int = 0) -> TransferPairs:
    """`n_pairs` pairs of clips of two different labels, mixed in every style (the same clips in every style)."""
    labels = sorted(label for label, waves in waves_by_label.items() if waves)
    if len(labels) < 2:
        raise ValueError(f"two-event pairs need clips of at least two labels, got {labels}")
    rng = random.Random(f"order-transfer:{seed}")
    chosen = []
    for _ in range(n_pairs):
        a, b = rng.sample(labels, 2)
        chosen.append((a, b, rng.choice(waves_by_label[a]), rng.choice(waves_by_label[b])))
    audio = {}
    for style in styles:
        style_rng = random.Random(f"order-transfer:{seed}:{style}")
        mixes = [mix_two(wa, wb, style, style_rng) for _, _, wa, wb in chosen]
        audio[style] = ([m[0] for m in mixes], [m[1] for m in mixes])
    return TransferPairs(labels=[(a, b) for a, b, _, _ in chosen], audio=audio)


@torch.no_grad()
def embed_pairs(model, pairs: TransferPairs) -> dict[str, torch.Tensor]:
    """{style: (N, order, D) audio embeddings}: what evaluate_transfer needs of the audio, reusable across calls."""
    n = len(pairs.labels)
    return {style: model.embed_audio(ab + ba, sampling_rate=SAMPLING_RATE).float().cpu().view(2, n, -1).transpose(0, 1)
            for style, (ab, ba) in pairs.audio.items()}


@torch.no_grad()
def evaluate_transfer(model, pairs: TransferPairs, families=None, phrase=label_to_phrase,
                      canonicalize: bool = False, audio_embeddings: dict | None = None) -> dict:
    """{style: {family: T-Classify as a dict}} plus, per style, HELDOUT_MEAN and BLIND_MEAN (the blind families
    appear only in their mean). `families` defaults to all of them. With `canonicalize` every caption goes through
    `captions.canonical_caption` before the text tower. `audio_embeddings` (from embed_pairs with the same model)
    saves embedding the mixtures again."""
    families = list(families or list(TRAINING_FAMILIES) + list(HELDOUT_FAMILIES) + list(BLIND_SEQUENTIAL))
    n = len(pairs.labels)
    audio_embeddings = audio_embeddings or embed_pairs(model, pairs)
    text = {}
    for family in families:
        captions = [caption(family, phrase(a), phrase(b)) for a, b in pairs.labels]
        captions += [caption(family, phrase(b), phrase(a)) for a, b in pairs.labels]
        text[family] = model.embed_text(captions, canonicalize=canonicalize).float().cpu().view(2, n, -1).transpose(0, 1)  # (N, order, D)
    results = {}
    for style, audio in audio_embeddings.items():
        rows = {}
        for family in families:
            result = tclassify_from_similarity(torch.einsum("nad,ntd->nat", audio, text[family]))
            rows[family] = {"a2t": result.a2t, "t2a": result.t2a, "group": result.group}
        heldout = [rows[f] for f in families if f in HELDOUT_FAMILIES]
        blind = [rows.pop(f) for f in families if f in BLIND_SEQUENTIAL]  # reported only as their mean
        for mean, chosen in ((HELDOUT_MEAN, heldout), (BLIND_MEAN, blind)):
            if chosen:
                rows[mean] = {k: float(np.mean([r[k] for r in chosen])) for k in ("a2t", "t2a", "group")}
        results[style] = rows
    return results


def parser_reading(phrase_pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Share of captions whose order `parse_events` reads right, per set of families: the held-out families and the
    blind sequential ones must give exactly [first, second] with "before"; the blind simultaneous ones one "overlap"
    group or a single event (no order stated). A caption the grammar rejects counts as read wrong."""

    def share(families, right) -> float:
        hits = []
        for write in families.values():
            for first, second in phrase_pairs:
                try:
                    hits.append(right(parse_events(write(first, second)), first, second))
                except CaptionError:
                    hits.append(False)
        return float(np.mean(hits))

    def in_order(plan, first, second):
        return plan.events == [first, second] and plan.relations == [BEFORE]

    def together(plan, first, second):
        return BEFORE not in plan.relations and (plan.relations == [OVERLAP] or len(plan.events) == 1)

    return {"held-out families": share(HELDOUT_FAMILIES, in_order),
            "blind families": share(BLIND_SEQUENTIAL, in_order),
            "blind simultaneous families": share(BLIND_SIMULTANEOUS, together)}
