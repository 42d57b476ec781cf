"""Temporal scoring: are a prompt's events in a piece of audio, when, and in the prompt's order?

`TemporalScorer` uses one T-CLAP (its audio and text towers) two ways.

Global order. The whole clip's embedding (``TClap.embed_audio``) is compared with the prompt and with its order
negatives (``captions.order_negatives``: the same words with the events in every other temporal order)::

    order_probability = softmax_k(s * cos(audio, caption_k))[prompt]      k over [prompt] + negatives

where ``s`` is the model's audio logit scale (``exp(logit_scale_a)``). A prompt with no explicit order (one
event, or only "while"/"as" overlaps) has no negatives: ``order_probability`` is None. Audio longer than the
model's window is embedded as the mean of its model windows, so for long audio the global order only sees order
within each window; the timeline has no such limit.

Timeline. Windows of ``window_s`` (default min(1 s, the model's window)) slide over the audio every ``hop_s``
(default window_s: windows side by side, no overlap); all windows of a chunk go through the audio tower in ONE
batched call. Every window costs a forward pass over the model's FULL input (10 s for a real-size CLAP), so the
cost grows as 1 / hop_s: the default scores a 10 s clip at the real size in under a tenth of its generation
time and places the boundary between two sounds within about hop_s / 2 (edges next to silence are refined, see
below); ``hop_s=window_s / 4`` places it four times finer at four times the cost. A window shorter
than the model's input is repeat-padded by the CLAP feature extractor (``pad="repeat"``, the default: the model
sees only the window's sound, as CLAP was trained on short clips; ``pad="zero"`` pads with silence instead, which
makes a 1 s window 10 % of a 10 s input and drowns it). Each window ``w`` gets, for each event ``e``::

    p[w, e] = exp(s * cos(w, e)) / sum_{c in C(e)} exp(s * cos(w, c))       (then 0 where w is silent)

or, with a calibration (``ScorerCalibration``, fitted on training mixes by ``fit_calibration`` and stored in the
T-CLAP folder; used by default when the folder has one and ``contrast_texts="auto"``), from the margin of the event
over its strongest competitor::

    p[w, e] = sigmoid(slope * (cos(w, e) - max_{c in C(e), c != e} cos(w, c) - offset))

A softmax over 60-odd competitors rarely gives a weak model's right class p >= 0.5 (no event is found); the margin
asks only that the event be (nearly) the best match, at an offset chosen on training mixes for the best
recall minus false presence.

The competitors ``C(e)`` are ``e`` itself, the prompt's other events that are NOT stated to overlap with ``e``
(events in one "while" group may sound together, so they do not compete), the ``background_texts`` (default
"silence", "background noise") and ``contrast_texts``. With ``contrast_texts="auto"`` (default) these are the
sound classes the model was trained on (``tclap.info.extra["classes"]``) minus those that name one of the
prompt's events (they share a word stem found in no other class, or half their word stems), so a trained
closed-vocabulary model classifies each window among everything it knows. A window is silent when its RMS level
is below ``silence_db`` dBFS (default -60) or more than ``dynamic_range_db`` (default 50) below the loudest
window; silent audio therefore has every event ``present: false``.

An event's detected span is its run of consecutive windows with ``p >= threshold`` (default 0.5; gaps up to
``fill_gap_s`` are bridged) holding the most probability mass (an event text named k times in the prompt takes
its k strongest runs, in time order). Onset and offset lie half-way between the window centres inside and
outside the run (0 and the clip's end at the edges); with ``refine=True`` (default) an edge then moves to where
the sound starts or stops inside the run's first or last window (10 ms energy frames above the gate), because a
window holding the event and silence looks like the event alone. An event is ``present`` when it has a span; its
``confidence`` is the peak of ``p`` within its span, or outside every span when it has none (so
``present == confidence >= threshold``).

Order on the timeline (``order_is_correct``, the AudioTime STEAM rule): consecutive events joined by "before" are
in order when both were found, the earlier starts first and they overlap by less than half the shorter one;
events joined by "overlap" must both be found and overlap by at least half the shorter one (the complement of the
"before" tolerance: windows smear the boundary between two sounds that follow each other). Events in "while" groups
are compared group by group. ``order_correct`` is None when the prompt has no relations (a single event).

Order from the trend (``order_trend``), which needs no event to pass the presence threshold: for each pair of events
stated one "before" the other (every event of a group before every event of the next), the cosine of the earlier
event minus that of the later one, ``d[w] = cos(w, a) - cos(w, b)``, should fall over the loud windows::

    trend(a, b) = -mean_w(z[w] * (d[w] - mean(d)))       z: the loud windows' centres, standardised

``order_trend`` is the smallest trend over the pairs: > 0 when every earlier event dominates earlier windows than
its later partner. It is None with no such pair, fewer than two loud windows, or when a pair's texts repeat in the
prompt ("A then B then A" has no single trend). It judges the relative order of two sounds that are there; it
does not say that they are there (that is ``present``).

Faithfulness, in [0, 1] and non-decreasing in every part::

    presence = mean over events of confidence
    order    = 1                                          no relations (single event)
             = [order_correct]                            relations but no order_probability ("A while B")
             = ([order_correct] + order_probability) / 2  otherwise              ([x] is 1 if x else 0)
    faithfulness = presence * order
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .audio import AudioError, atomic_write, check_waveform, load_audio, resample, to_mono
from .captions import BEFORE, OVERLAP, order_negatives, parse_events, unknown_events, word_stems

__all__ = [
    "ScorerCalibration",
    "fit_calibration",
    "save_calibration",
    "EventScore",
    "ScoreReport",
    "TemporalScorer",
    "order_is_correct",
    "order_trend",
    "curve_spans",
    "faithfulness_score",
    "refine_span",
    "contrast_for_prompt",
]

DEFAULT_BACKGROUND = ("silence", "background noise")
FRAME_S = 0.01  # energy frames for the span-edge refinement
CALIBRATION_KEY = "scorer_calibration"  # where a T-CLAP folder's tclap_config.json keeps it (info.extra)


@dataclass
class ScorerCalibration:
    """Window presence from an event's margin over its strongest competitor: p = sigmoid(slope * (margin - offset)),
    so p >= 0.5 exactly where margin >= offset. Fitted on training mixes (`fit_calibration`) for `window_s` windows
    with the model's trained classes as competitors; `recall` and `false_presence` are the fit's own event-level
    figures (an event is found when any window passes)."""

    offset: float
    slope: float
    window_s: float
    recall: float
    false_presence: float
    mixes: int

    def presence(self, margin: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.slope * (margin - self.offset))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ScorerCalibration":
        return cls(**{f.name: values[f.name] for f in fields(cls)})


# --------------------------------------------------------------------------------------------
# Outputs


@dataclass
class EventScore:
    """One event of the prompt (temporal order): its detected span in seconds, or None when not found."""

    text: str
    onset: float | None
    offset: float | None
    present: bool
    confidence: float

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "onset": None if self.onset is None else round(float(self.onset), 3),
            "offset": None if self.offset is None else round(float(self.offset), 3),
            "present": bool(self.present),
            "confidence": round(float(self.confidence), 4),
        }


@dataclass
class ScoreReport:
    """What `TemporalScorer.score` found; `to_dict()` is the JSON form, `summary()` the text form, `plot()` a figure."""

    prompt: str
    events: list[EventScore]
    relations: list[str]
    order_probability: float | None
    order_correct: bool | None
    faithfulness: float
    curves: np.ndarray  # (events, windows) presence probability of each event in each window
    times: np.ndarray  # (windows,) window centres in seconds
    window_s: float
    hop_s: float
    threshold: float
    silent: np.ndarray  # (windows,) True where the energy gate closed
    order_trend: float | None = None  # > 0: the events' cosines follow the prompt's order over the windows
    order_candidates: list[tuple[str, float]] = field(default_factory=list)  # (caption, probability), prompt first
    competitors: list[str] = field(default_factory=list)  # background and contrast texts the events competed with
    warnings: list[str] = field(default_factory=list)
    wave: np.ndarray | None = field(default=None, repr=False)  # mono audio at `sampling_rate`, kept for plot()
    sampling_rate: int | None = None

    @property
    def duration(self) -> float:
        return 0.0 if self.wave is None or not self.sampling_rate else len(self.wave) / self.sampling_rate

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "events": [event.to_dict() for event in self.events],
            "order_probability": None if self.order_probability is None else round(float(self.order_probability), 4),
            "order_correct": self.order_correct,
            "order_trend": None if self.order_trend is None else round(float(self.order_trend), 5),
            "faithfulness": round(float(self.faithfulness), 4),
        }

    def summary(self) -> str:
        """A few readable lines: each event's span, the order verdicts and the faithfulness."""
        lines = [f"prompt: {self.prompt}"]
        for i, event in enumerate(self.events):
            link = ""
            if i > 0:
                link = "then " if self.relations[i - 1] == BEFORE else "with "
            if event.present:
                where = f"{event.onset:6.2f}-{event.offset:6.2f} s"
            else:
                where = "not found      "
            lines.append(f"  {i + 1}. {link}{event.text!r}: {where} (confidence {event.confidence:.2f})")
        if self.order_probability is not None:
            lines.append(
                f"order probability: {self.order_probability:.3f} against {len(self.order_candidates) - 1} other order(s)"
            )
        if self.order_correct is not None:
            lines.append(f"timeline order: {'correct' if self.order_correct else 'wrong'}")
        if self.order_trend is not None:
            verdict = "follows" if self.order_trend > 0 else "against"
            lines.append(f"order trend: {self.order_trend:+.4f} ({verdict} the prompt)")
        lines.append(f"faithfulness: {self.faithfulness:.3f}")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        return "\n".join(lines)

    def plot(self, path=None, planned: list[dict] | None = None):
        """A matplotlib Figure: the log-mel spectrogram above each event's presence curve and detected span.

        `planned`: a generation layout's spans ({"text", "start", "end"} in seconds, as pipe(...).layouts gives),
        drawn as dashed brackets at the bottom of the spectrogram, so the plan and what was found can be compared.
        With `path`, the figure is also written there as PNG (atomically)."""
        from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.5 s to import

        fig = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
        ax_spec, ax_curve = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        duration = max(self.duration, float(self.times[-1] + self.window_s / 2) if len(self.times) else 0.0)
        if self.wave is not None and self.sampling_rate:
            mel, frame_s = log_mel_spectrogram(self.wave, self.sampling_rate)
            ax_spec.imshow(mel, origin="lower", aspect="auto", cmap="magma",
                           extent=(0.0, mel.shape[1] * frame_s, 0, mel.shape[0]))
        ax_spec.set_ylabel("mel band")
        colours = [f"C{i % 10}" for i in range(len(self.events))]
        for i, (event, colour) in enumerate(zip(self.events, colours)):
            label = f"{i + 1}. {event.text}"
            ax_curve.plot(self.times, self.curves[i], color=colour, label=label, marker=".", markersize=3)
            if event.present:
                for ax in (ax_spec, ax_curve):
                    ax.axvspan(event.onset, event.offset, color=colour, alpha=0.18, lw=0)
                ax_spec.hlines(ax_spec.get_ylim()[1] * (0.96 - 0.05 * i), event.onset, event.offset, color=colour, lw=4)
        for k, span in enumerate(planned or []):
            y = ax_spec.get_ylim()[0] + 1.5 + 2.5 * k
            ax_spec.hlines(y, span["start"], span["end"], color="white", lw=2, ls="--", label="planned" if k == 0 else None)
            ax_spec.text(span["start"], y + 0.6, f"plan: {span['text']}", color="white", fontsize=7)
        for onset, offset, _, _ in curve_spans(self.silent.astype(float), self.times, 0.5, duration, count=len(self.times)):
            ax_curve.axvspan(onset, offset, color="0.85", lw=0, zorder=0)  # energy gate closed
        ax_curve.axhline(self.threshold, color="0.4", ls="--", lw=1)
        ax_curve.set_ylim(-0.02, 1.02)
        ax_curve.set_xlim(0.0, duration)
        ax_curve.set_xlabel("time (s)")
        ax_curve.set_ylabel("presence p")
        ax_curve.legend(loc="upper right", fontsize=8)
        order = "n/a" if self.order_probability is None else f"{self.order_probability:.2f}"
        verdict = {None: "n/a", True: "correct", False: "wrong"}[self.order_correct]
        ax_spec.set_title(
            f"{self.prompt!r}\nfaithfulness {self.faithfulness:.2f} | order probability {order} | timeline order {verdict}",
            fontsize=10,
        )
        if path is not None:
            path = Path(path)
            atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
        return fig


# --------------------------------------------------------------------------------------------
# Pure rules (unit-tested on synthetic data)


def curve_spans(curve, times, threshold: float, duration: float, fill_gap_s: float = 0.0, count: int = 1):
    """The `count` strongest runs of `curve >= threshold`, in time order, as (onset, offset, start, stop) tuples.

    `start:stop` index the windows of the run. Runs separated by gaps of at most `fill_gap_s` seconds (between
    window centres) are joined. A run's strength is its summed curve. Boundaries lie half-way between the last
    window outside and the first inside (0 and `duration` at the ends)."""
    curve = np.asarray(curve, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if curve.shape != times.shape or curve.ndim != 1:
        raise ValueError(f"curve and times must be 1-D of one length, got {curve.shape} and {times.shape}")
    active = np.flatnonzero(curve >= threshold)
    if active.size == 0 or count <= 0:
        return []
    runs = [[int(active[0]), int(active[0]) + 1]]
    for index in active[1:]:
        last = runs[-1][1] - 1
        if index == last + 1 or times[index] - times[last] <= fill_gap_s + 1e-9:
            runs[-1][1] = int(index) + 1
        else:
            runs.append([int(index), int(index) + 1])
    strongest = sorted(runs, key=lambda run: -curve[run[0]:run[1]].sum())[:count]
    out = []
    for start, stop in sorted(strongest):
        onset = 0.0 if start == 0 else 0.5 * (times[start - 1] + times[start])
        offset = duration if stop == len(times) else 0.5 * (times[stop - 1] + times[stop])
        out.append((float(onset), float(offset), start, stop))
    return out


def refine_span(onset, offset, first_window, last_window, loud, frame_s: float = 0.01):
    """Move a span's edges to where the sound starts and stops inside its first and last window.

    A window that holds an event and silence looks like the event alone, so window centres put an event that
    follows silence up to half a window early (and one followed by silence late). `loud` marks frames of `frame_s`
    seconds above the energy gate. Onset: if the frame at the onset is quiet, move forward to the first loud frame
    of the first window; if it is loud and its loud stretch began after a quiet frame inside the first window, move
    back to that stretch's start; sound that fills the window (another event before this one) keeps the estimate.
    The offset mirrors this in the last window. An edit that would empty the span is dropped."""
    loud = np.asarray(loud, dtype=bool)
    n = len(loud)
    if n == 0:
        return onset, offset

    def frame(t: float) -> int:
        return min(max(int(math.floor(t / frame_s + 1e-9)), 0), n - 1)

    new_onset, new_offset = onset, offset
    lo, hi = frame(first_window[0]), frame(first_window[1] - 1e-9)
    k = frame(onset)
    if loud[k]:
        while k > lo and loud[k - 1]:
            k -= 1
        if k > lo:
            new_onset = k * frame_s
    else:
        later = np.flatnonzero(loud[k : hi + 1])
        if later.size:
            new_onset = (k + int(later[0])) * frame_s
    lo, hi = frame(last_window[0]), frame(last_window[1] - 1e-9)
    k = frame(offset - 1e-9)
    if loud[k]:
        while k < hi and loud[k + 1]:
            k += 1
        if k < hi:
            new_offset = (k + 1) * frame_s
    else:
        earlier = np.flatnonzero(loud[lo : k + 1])
        if earlier.size:
            new_offset = (lo + int(earlier[-1]) + 1) * frame_s
    new_offset = min(new_offset, last_window[1])
    if new_offset <= new_onset:
        return onset, offset
    return float(new_onset), float(new_offset)


SILENCE_DB = -60.0  # the scorer's defaults: windows quieter than this (dBFS) hold no event,
DYNAMIC_RANGE_DB = 50.0  # nor windows this far below the clip's loudest


def loud_levels(levels_db: np.ndarray, silence_db: float = SILENCE_DB,
                dynamic_range_db: float = DYNAMIC_RANGE_DB) -> np.ndarray:
    """Which of these levels (dBFS, windows or frames of one clip) can hold an event: at least `silence_db` and within
    `dynamic_range_db` of the loudest (the scorer's rule; the T-CLAP trainer's window term draws by it too)."""
    return (levels_db >= silence_db) & (levels_db >= levels_db.max() - dynamic_range_db)


def _groups(num_events: int, relations: Sequence[str]) -> list[list[int]]:
    groups = [[0]] if num_events else []
    for i, relation in enumerate(relations, start=1):
        if relation == OVERLAP:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def order_is_correct(spans, relations) -> bool | None:
    """Whether detected spans follow the prompt's relations (AudioTime STEAM rule).

    `spans`: one (onset, offset) or None (not found) per event, in the prompt's temporal order; `relations`: one
    "before"/"overlap" per consecutive pair. "before": both found, the earlier starts strictly first and they
    overlap by less than half the shorter span. "overlap": both found and overlapping by at least half the shorter
    span (the complement of the "before" tolerance, so window smearing at a boundary between two sounds that follow
    each other does not count as sounding together). Events joined by "overlap"
    form a group; every event of a group must be "before" every event of the next group. None when there are no
    relations."""
    relations = list(relations)
    if len(relations) != max(len(spans) - 1, 0):
        raise ValueError(f"need one relation per consecutive pair: {len(spans)} spans, {len(relations)} relations")
    for relation in relations:
        if relation not in (BEFORE, OVERLAP):
            raise ValueError(f"relation must be 'before' or 'overlap', got {relation!r}")
    if not relations:
        return None
    if any(span is None for span in spans):
        return False

    def overlap(a, b) -> float:
        return min(a[1], b[1]) - max(a[0], b[0])

    groups = _groups(len(spans), relations)
    for group in groups:
        for i, j in zip(group, group[1:]):
            a, b = spans[i], spans[j]
            if overlap(a, b) <= 0 or overlap(a, b) < 0.5 * min(a[1] - a[0], b[1] - b[0]):
                return False
    for earlier, later in zip(groups, groups[1:]):
        for i in earlier:
            for j in later:
                a, b = spans[i], spans[j]
                shorter = min(a[1] - a[0], b[1] - b[0])
                if not a[0] < b[0] or overlap(a, b) >= 0.5 * shorter:
                    return False
    return True


def order_trend(cosines: np.ndarray, times: np.ndarray, loud: np.ndarray, events: Sequence[str],
                relations: Sequence[str]) -> float | None:
    """The smallest trend over the prompt's "before" pairs (module docstring): `cosines` (events, windows) of each
    event's text with each window, `times` the window centres, `loud` the windows above the energy gate."""
    groups = _groups(len(events), relations)
    pairs = [(a, b) for earlier, later in zip(groups, groups[1:]) for a in earlier for b in later]
    if not pairs or int(np.sum(loud)) < 2 or len(set(events)) < len(events):
        return None
    z = times[loud] - times[loud].mean()
    z = z / z.std()
    trends = []
    for a, b in pairs:
        d = cosines[a, loud] - cosines[b, loud]
        trends.append(-float(np.mean(z * (d - d.mean()))))
    return min(trends)


def faithfulness_score(confidences, order_correct: bool | None, order_probability: float | None) -> float:
    """presence (mean confidence) x order term; see the module docstring. In [0, 1]."""
    confidences = [min(max(float(c), 0.0), 1.0) for c in confidences]
    presence = sum(confidences) / len(confidences) if confidences else 0.0
    if order_correct is None:
        order = 1.0
    elif order_probability is None:
        order = float(order_correct)
    else:
        order = 0.5 * (float(order_correct) + min(max(float(order_probability), 0.0), 1.0))
    return presence * order


# --------------------------------------------------------------------------------------------
# Which trained classes may compete with a prompt's events

def _names_event(candidate_stems: set[str], event_stems: set[str], distinctive: set[str]) -> bool:
    shared = candidate_stems & event_stems
    if shared & distinctive:
        return True
    union = candidate_stems | event_stems
    return bool(union) and len(shared) >= 0.5 * len(union)


def contrast_for_prompt(candidates: Sequence[str], events: Sequence[str]) -> list[str]:
    """`candidates` (e.g. trained class phrases) minus those that name one of `events`.

    A candidate names an event when they share a word stem that no other candidate has ("glass" in "glass
    smashing" vs "a glass shatters"), or half of their stems ("vegetables being peeled"); shared generic words
    ("running" in five classes) do not count."""
    stem_sets = [word_stems(c) for c in candidates]
    counts: dict[str, int] = {}
    for stems in stem_sets:
        for stem in stems:
            counts[stem] = counts.get(stem, 0) + 1
    distinctive = {stem for stem, n in counts.items() if n == 1}
    event_stems = [word_stems(e) for e in events]
    kept = []
    for candidate, stems in zip(candidates, stem_sets):
        if candidate.strip().lower() in {e.strip().lower() for e in events}:
            continue
        if any(_names_event(stems, es, distinctive) for es in event_stems):
            continue
        if candidate not in kept:
            kept.append(candidate)
    return kept


# --------------------------------------------------------------------------------------------
# The scorer


@dataclass
class _Timeline:
    curves: np.ndarray  # (events, windows) presence, 0 in silent windows
    times: np.ndarray  # window centres, s
    silent: np.ndarray  # (windows,) bool
    duration: float
    bounds: tuple  # (starts, ends) of the windows, s
    loud: np.ndarray | None  # 10 ms frames above the energy gate (None: no edge refinement)
    cosines: np.ndarray  # (events, windows) cosine of each event's text with each window


class TemporalScorer:
    """Scores audio (ours or any model's) against a prompt with a T-CLAP; see the module docstring for the rules.

    Args:
        tclap: the T-CLAP (`tclap_gen.model.TClap`).
        window_s: timeline window in seconds; default min(1.0, the model's window). At most the model's window.
        hop_s: step between windows; default window_s (no overlap). Each window is a full forward pass of the
            audio tower: window_s / 4 gives finer onsets between sounds at four times the cost.
        threshold: presence probability an event must reach in a window.
        silence_db: windows quieter than this RMS level (dBFS) hold no event.
        dynamic_range_db: windows this far below the loudest window hold no event.
        fill_gap_s: inactive stretches up to this long inside an event's run are bridged; default window_s / 2.
        background_texts: texts every event competes with (a "nothing of the prompt" class).
        contrast_texts: more competitors; "auto" = the model's trained classes (`info.extra["classes"]`) that do not
            name a prompt event; None or [] = none.
        pad: "repeat" (CLAP's repeat-padding of short windows) or "zero".
        batch_size: windows per forward pass (one call per chunk of this many windows).
        logit_scale: softmax scale; default the model's exp(logit_scale_a).
        max_order_negatives: cap on order negatives (a 5-event prompt has 119).
        refine: move span edges to where the sound starts/stops (10 ms energy frames) inside the edge windows.
        calibration: "auto" = the T-CLAP folder's calibration when it has one and contrast_texts is "auto" (it
            was fitted with those competitors), else none; a ScorerCalibration; None = the softmax presence.
            A calibration also gives the default window_s (the one it was fitted for).
    """

    def __init__(
        self,
        tclap,
        window_s: float | None = None,
        hop_s: float | None = None,
        threshold: float = 0.5,
        silence_db: float = SILENCE_DB,
        dynamic_range_db: float = DYNAMIC_RANGE_DB,
        fill_gap_s: float | None = None,
        background_texts: Sequence[str] | None = DEFAULT_BACKGROUND,
        contrast_texts: Sequence[str] | str | None = "auto",
        pad: str = "repeat",
        batch_size: int = 32,
        logit_scale: float | None = None,
        max_order_negatives: int | None = 119,
        refine: bool = True,
        calibration: ScorerCalibration | str | None = "auto",
    ):
        self.tclap = tclap
        if isinstance(calibration, str):
            if calibration != "auto":
                raise ValueError(f"calibration must be 'auto', None or a ScorerCalibration, got {calibration!r}")
            stored = getattr(getattr(tclap, "info", None), "extra", {}).get(CALIBRATION_KEY)
            calibration = ScorerCalibration.from_dict(stored) if stored and contrast_texts == "auto" else None
        self.calibration = calibration
        model_window_s = tclap.max_samples / tclap.sampling_rate
        if window_s is None:
            window_s = calibration.window_s if calibration is not None else min(1.0, model_window_s)
        self.window_s = float(window_s)
        if not 0 < self.window_s <= model_window_s + 1e-9:
            raise ValueError(f"window_s must be in (0, {model_window_s:g}] (the model's window), got {window_s!r}")
        # non-overlapping by default: a real-size CLAP pads every window to its 10 s input, so each hop is a
        # full forward pass (issue #5: hop window_s / 4 cost 0.30 of a generation, hop window_s 0.093)
        self.hop_s = float(self.window_s if hop_s is None else hop_s)
        if not 0 < self.hop_s <= self.window_s:
            raise ValueError(f"hop_s must be in (0, window_s={self.window_s:g}], got {hop_s!r}")
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if pad not in ("repeat", "zero"):
            raise ValueError(f"pad must be 'repeat' or 'zero', got {pad!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if dynamic_range_db <= 0:
            raise ValueError(f"dynamic_range_db must be positive, got {dynamic_range_db!r}")
        if isinstance(contrast_texts, str) and contrast_texts != "auto":
            raise ValueError(f"contrast_texts must be 'auto', None or a list of texts, got {contrast_texts!r}")
        self.threshold = float(threshold)
        self.silence_db = float(silence_db)
        self.dynamic_range_db = float(dynamic_range_db)
        self.fill_gap_s = float(self.window_s / 2 if fill_gap_s is None else fill_gap_s)
        self.background_texts = [t for t in (background_texts or []) if t.strip()]
        self.contrast_texts = contrast_texts
        self.pad = pad
        self.batch_size = int(batch_size)
        self._logit_scale = logit_scale
        self.max_order_negatives = max_order_negatives
        self.refine = bool(refine)

    @classmethod
    def from_pretrained(cls, name_or_path, device=None, dtype=None, **kwargs) -> "TemporalScorer":
        """A scorer over `TClap.from_pretrained(name_or_path)` ("mini", a T-CLAP or pipeline folder, a Hub id)."""
        from .model import TClap

        return cls(TClap.from_pretrained(name_or_path, device=device, dtype=dtype), **kwargs)

    # ----- inputs -----
    @property
    def sampling_rate(self) -> int:
        return self.tclap.sampling_rate

    @property
    def logit_scale(self) -> float:
        if self._logit_scale is not None:
            return float(self._logit_scale)
        return float(self.tclap.model.logit_scale_a.detach().exp().item())

    def prepare(self, wave, sampling_rate: int) -> np.ndarray:
        """Mono float32 audio at the model's rate. Accepts (samples,) or (channels, samples), float or integer PCM."""
        if (isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.integer, np.floating))
                or sampling_rate <= 0 or int(sampling_rate) != sampling_rate):
            raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
        if isinstance(wave, torch.Tensor):
            wave = wave.detach().cpu().numpy()
        wave = check_waveform(wave, name="audio")
        if wave.ndim == 2 and wave.shape[0] > wave.shape[1]:
            raise AudioError(
                f"audio: expected (channels, samples), got shape {wave.shape}; transpose it (soundfile gives (samples, channels))"
            )
        return resample(to_mono(wave), int(sampling_rate), self.sampling_rate)

    def window_starts(self, num_samples: int) -> np.ndarray:
        """Start samples of the timeline windows; the last window ends at the end of the audio."""
        window = max(1, round(self.window_s * self.sampling_rate))
        hop = max(1, round(self.hop_s * self.sampling_rate))
        if num_samples <= window:
            return np.zeros(1, dtype=np.int64)
        starts = np.arange(0, num_samples - window + 1, hop, dtype=np.int64)
        if starts[-1] + window < num_samples:
            starts = np.append(starts, num_samples - window)
        return starts

    # ----- model calls (one batched forward per chunk of windows) -----
    def _forward_windows(self, windows: list[np.ndarray]) -> torch.Tensor:
        """(len(windows), D) normalised embeddings from ONE call of the audio tower."""
        if self.pad == "zero":
            size = self.tclap.max_samples
            windows = [np.pad(w, (0, max(0, size - len(w)))) for w in windows]
        inputs = self.tclap.audio_inputs(windows, self.sampling_rate)
        with torch.no_grad():
            features = self.tclap.model.get_audio_features(**inputs).pooler_output.float()
        return F.normalize(features, dim=-1)

    def window_embeddings(self, wave: np.ndarray, per_window_loop: bool = False) -> tuple[np.ndarray, torch.Tensor]:
        """Window centres (s) and (windows, D) embeddings of mono `wave` at the model's rate.

        Windows go through the model `batch_size` at a time; `per_window_loop=True` makes one call per window
        instead (same numbers, only for the batched-vs-loop benchmark)."""
        window = max(1, round(self.window_s * self.sampling_rate))
        starts = self.window_starts(len(wave))
        if len(wave) <= window:
            views, lengths = [wave], [len(wave)]
        else:
            strided = np.lib.stride_tricks.sliding_window_view(wave, window)
            views, lengths = None, [window] * len(starts)
        chunk = 1 if per_window_loop else self.batch_size
        embeddings = []
        for begin in range(0, len(starts), chunk):
            picked = starts[begin : begin + chunk]
            # only this chunk's windows are copied out of the strided view: long audio stays cheap in memory
            windows = views if views is not None else [np.ascontiguousarray(strided[s]) for s in picked]
            embeddings.append(self._forward_windows(windows))
        centres = (starts + np.asarray(lengths) / 2) / self.sampling_rate
        return centres.astype(np.float64), torch.cat(embeddings)

    def window_levels_db(self, wave: np.ndarray) -> np.ndarray:
        """RMS level (dBFS) of each timeline window, computed from cumulative sums (no per-window copies)."""
        window = min(max(1, round(self.window_s * self.sampling_rate)), len(wave))
        starts = self.window_starts(len(wave))
        energy = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
        mean_square = (energy[starts + window] - energy[starts]) / window
        return 10.0 * np.log10(np.maximum(mean_square, 1e-20))

    def is_loud(self, levels_db: np.ndarray) -> np.ndarray:
        """Which of these levels (dBFS, windows or frames of one clip) can hold an event: at least `silence_db` and
        within `dynamic_range_db` of the loudest."""
        return loud_levels(levels_db, self.silence_db, self.dynamic_range_db)

    def _clip_embedding(self, wave: np.ndarray) -> torch.Tensor:
        return self.tclap.embed_audio(wave, self.sampling_rate, batch_size=self.batch_size)

    def _embed_texts(self, texts: list[str]) -> torch.Tensor:
        return self.tclap.embed_text(texts)

    def _competitor_pool(self, events: list[str]) -> list[str]:
        if self.contrast_texts == "auto":
            classes = list(getattr(getattr(self.tclap, "info", None), "extra", {}).get("classes", []) or [])
        else:
            classes = list(self.contrast_texts or [])
        pool = [t for t in self.background_texts if t.strip().lower() not in {e.lower() for e in events}]
        for text in contrast_for_prompt(classes, events):
            if text not in pool:
                pool.append(text)
        return pool

    def _unknown_event_warnings(self, events: list[str]) -> list[str]:
        classes = list(getattr(getattr(self.tclap, "info", None), "extra", {}).get("classes", []) or [])
        if not classes:
            return []
        return [f"{event!r} shares no word with the sounds the model was trained on; its score is unreliable"
                for event in unknown_events(events, classes)]

    # ----- scoring -----
    def presence_curves(self, window_emb: torch.Tensor, events: list[str], relations: list[str],
                        text_emb: dict[str, torch.Tensor], competitors: list[str]) -> np.ndarray:
        """(events, windows) p[w, e] before the energy gate (see the module docstring)."""
        unique = list(dict.fromkeys(events)) + [c for c in competitors if c not in events]
        texts = torch.stack([text_emb[t] for t in unique])
        cosines = window_emb @ texts.T  # (windows, texts)
        logits = self.logit_scale * cosines
        group_of = {}
        for g, group in enumerate(_groups(len(events), relations)):
            for i in group:
                group_of.setdefault(events[i], set()).add(g)
        curves = []
        for event in events:
            keep = []
            for k, text in enumerate(unique):
                if text == event or text in competitors:
                    keep.append(k)
                elif text in group_of and not (group_of[text] & group_of[event]):
                    keep.append(k)  # another event of the prompt that is not said to sound together with this one
            own = keep.index(unique.index(event))
            if self.calibration is None:
                curves.append(torch.softmax(logits[:, keep], dim=1)[:, own])
            else:
                rivals = [k for k in keep if k != unique.index(event)]
                margin = cosines[:, unique.index(event)] - (cosines[:, rivals].max(dim=1).values if rivals else 0.0)
                curves.append(self.calibration.presence(margin))
        return torch.stack(curves).cpu().numpy().astype(np.float64)

    def class_rivals(self, classes: list[str]) -> tuple[list[str], list[list[int]]]:
        """(texts, rivals): the classes then the background texts, and for each class the indices (into texts) of
        its competitors as a one-event prompt. Computed once for `class_margins`, which runs per example."""
        texts = classes + [t for t in self.background_texts if t not in classes]
        index = {text: i for i, text in enumerate(texts)}
        return texts, [[index[c] for c in self._competitor_pool([event]) if c in index] for event in classes]

    def class_margins(self, wave: np.ndarray, text_emb: torch.Tensor, rivals: list[list[int]]) -> np.ndarray:
        """(classes,) each class's best margin over its competitors across the loud windows of mono `wave`: what
        `fit_calibration` thresholds (each class scored as a one-event prompt). `text_emb` and `rivals` embed and
        index `class_rivals`' texts."""
        _, window_emb = self.window_embeddings(wave)
        loud = self.is_loud(self.window_levels_db(wave))
        if not loud.any():
            return np.full(len(rivals), -np.inf)
        cos = (window_emb[loud] @ text_emb.T).cpu().numpy()  # (loud windows, texts)
        return np.array([float((cos[:, i] - cos[:, others].max(axis=1)).max()) for i, others in enumerate(rivals)])

    def score(self, wave, sampling_rate: int, prompt: str) -> ScoreReport:
        """Score `wave` ((samples,) or (channels, samples), any rate, float or integer PCM) against `prompt`."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
        wave = self.prepare(wave, sampling_rate)
        plan = parse_events(prompt)
        events, relations = list(plan.events), list(plan.relations)
        negatives = order_negatives(prompt, limit=self.max_order_negatives) if BEFORE in relations else []
        competitors = self._competitor_pool(events)

        # one text pass for everything: events, competitors, the prompt and its order negatives
        captions = [prompt] + negatives if negatives else []
        texts = list(dict.fromkeys(events + competitors + captions))
        text_emb = dict(zip(texts, self._embed_texts(texts)))

        timeline = self._timeline(wave, events, relations, text_emb, competitors)
        scores = self._event_scores(events, timeline)
        spans = [(e.onset, e.offset) if e.present else None for e in scores]
        order_correct = order_is_correct(spans, relations)

        order_probability, candidates = None, []
        if negatives:
            clip = self._clip_embedding(wave)[0]
            caption_emb = torch.stack([text_emb[c] for c in captions])
            probs = torch.softmax(self.logit_scale * caption_emb @ clip, dim=0).cpu().numpy()
            order_probability = float(probs[0])
            candidates = [(c, float(p)) for c, p in zip(captions, probs)]

        return ScoreReport(
            prompt=prompt,
            events=scores,
            relations=relations,
            order_probability=order_probability,
            order_correct=order_correct,
            order_trend=order_trend(timeline.cosines, timeline.times, ~timeline.silent, events, relations),
            faithfulness=faithfulness_score([e.confidence for e in scores], order_correct, order_probability),
            curves=timeline.curves,
            times=timeline.times,
            window_s=self.window_s,
            hop_s=self.hop_s,
            threshold=self.threshold,
            silent=timeline.silent,
            order_candidates=candidates,
            competitors=competitors,
            warnings=self._unknown_event_warnings(events),
            wave=wave,
            sampling_rate=self.sampling_rate,
        )

    def _timeline(self, wave: np.ndarray, events, relations, text_emb, competitors) -> "_Timeline":
        """Presence curves of `events` over the windows of mono `wave`, silent windows zeroed, and what span edges
        are refined with."""
        times, window_emb = self.window_embeddings(wave)
        curves = self.presence_curves(window_emb, events, relations, text_emb, competitors)
        silent = ~self.is_loud(self.window_levels_db(wave))
        curves[:, silent] = 0.0
        duration = len(wave) / self.sampling_rate
        starts = self.window_starts(len(wave)) / self.sampling_rate
        loud = None
        if self.refine:
            loud = self.is_loud(frame_levels_db(wave, self.sampling_rate))
        cosines = (window_emb @ torch.stack([text_emb[e] for e in events]).T).T.cpu().numpy().astype(np.float64)
        return _Timeline(curves, times, silent, duration, (starts, np.minimum(starts + self.window_s, duration)), loud,
                         cosines)

    def _spans(self, curve: np.ndarray, timeline: "_Timeline", count: int) -> list[tuple[float, float, int, int]]:
        """The `count` strongest runs of `curve` as (onset, offset, start, stop), edges refined when `refine`."""
        runs = curve_spans(curve, timeline.times, self.threshold, timeline.duration, self.fill_gap_s, count=count)
        if timeline.loud is None:
            return runs
        starts, ends = timeline.bounds
        refined = []
        for onset, offset, start, stop in runs:
            onset, offset = refine_span(onset, offset, (starts[start], ends[start]), (starts[stop - 1], ends[stop - 1]),
                                        timeline.loud, FRAME_S)
            refined.append((onset, offset, start, stop))
        return refined

    def _event_scores(self, events, timeline: "_Timeline") -> list[EventScore]:
        """Spans per event; an event text named k times takes its k strongest runs, in time order."""
        out: list[EventScore | None] = [None] * len(events)
        rows = {}
        for i, event in enumerate(events):
            rows.setdefault(event, []).append(i)
        for event, indices in rows.items():
            curve = timeline.curves[indices[0]]
            runs = self._spans(curve, timeline, count=len(indices))
            outside = np.ones(len(curve), dtype=bool)
            for _, _, start, stop in runs:
                outside[start:stop] = False
            rest = float(curve[outside].max()) if outside.any() else 0.0
            for k, i in enumerate(indices):
                if k < len(runs):
                    onset, offset, start, stop = runs[k]
                    out[i] = EventScore(event, onset, offset, True, float(curve[start:stop].max()))
                else:
                    out[i] = EventScore(event, None, None, False, min(rest, math.nextafter(self.threshold, 0.0)))
        return out  # type: ignore[return-value]

    def detect(self, wave, sampling_rate: int, labels: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
        """Sound-event grounding: every run of each label in `wave`, {label: [(onset, offset), ...]} in time order.

        What `tclap-gen eval generation` uses as STEAM's grounding model. The labels are scored as sounds that may
        overlap (they do not compete with each other, only with the background and contrast texts), with the same
        windows, presence, energy gate and edge refinement as `score`."""
        labels = list(dict.fromkeys(labels))
        if not labels or not all(isinstance(label, str) and label.strip() for label in labels):
            raise ValueError(f"labels must be non-empty strings, got {labels!r}")
        wave = self.prepare(wave, sampling_rate)
        competitors = self._competitor_pool(labels)
        texts = list(dict.fromkeys(labels + competitors))
        text_emb = dict(zip(texts, self._embed_texts(texts)))
        timeline = self._timeline(wave, labels, [OVERLAP] * (len(labels) - 1), text_emb, competitors)
        return {label: [(onset, offset) for onset, offset, _, _ in self._spans(curve, timeline, count=len(curve))]
                for label, curve in zip(labels, timeline.curves)}

    def score_file(self, path, prompt: str) -> ScoreReport:
        """Score an audio file (anything soundfile reads; stereo is mixed down, any rate is resampled)."""
        wave, sr = load_audio(path, mono=False)
        return self.score(wave, sr, prompt)


# --------------------------------------------------------------------------------------------
# Calibration


def fit_calibration(scorer: TemporalScorer, examples, classes: Sequence[str],
                    max_false_presence: float | None = None) -> ScorerCalibration:
    """Fit the margin presence of `scorer` (its window, competitors and energy gate) on labelled audio.

    `examples` yields (wave, sampling_rate, phrases present) - mixes of TRAINING clips, so that evaluation on held-out
    recordings stays held out; `classes` are the phrases scored in each (the model's trained classes). Every class is
    scored as a one-event prompt in every example: found where present, a false presence elsewhere. The offset
    maximises recall minus false presence over the examples (Youden's J; the README gives what it does on held-out
    mixes), or with `max_false_presence` it is the lowest margin whose false presence is at most that (recall is
    then what the model allows). The slope minimises the class-balanced logistic loss around the offset, so that p
    reads as a probability."""
    classes = list(classes)
    texts, rivals = scorer.class_rivals(classes)
    text_emb = scorer._embed_texts(texts)
    margins, labels = [], []
    for wave, sampling_rate, present in examples:
        margins.append(scorer.class_margins(scorer.prepare(wave, sampling_rate), text_emb, rivals))
        labels.append([c in present for c in classes])
    margin, label = np.concatenate(margins), np.concatenate(labels).astype(bool)
    if not label.any() or label.all():
        raise ValueError("fit_calibration needs examples where some classes are present and some are not")
    positives, negatives = np.sort(margin[label]), np.sort(margin[~label])
    candidates = np.unique(margin[np.isfinite(margin)])
    recall = 1.0 - np.searchsorted(positives, candidates, side="left") / len(positives)
    false = 1.0 - np.searchsorted(negatives, candidates, side="left") / len(negatives)
    if max_false_presence is None:
        best = int(np.argmax(recall - false))
    else:
        allowed = np.flatnonzero(false <= max_false_presence)
        best = int(allowed[0]) if len(allowed) else len(candidates) - 1
    offset = float(candidates[best])
    finite = np.isfinite(margin)
    x, y = margin[finite] - offset, label[finite]
    weight = np.where(y, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(slope: float) -> float:
        z = slope * x
        return float(np.mean(weight * (np.logaddexp(0.0, -z) * y + np.logaddexp(0.0, z) * ~y)))

    slope = min(np.logspace(0, 3, 61), key=loss)
    return ScorerCalibration(offset=offset, slope=float(slope), window_s=scorer.window_s, recall=float(recall[best]),
                             false_presence=float(false[best]), mixes=len(margins))


def save_calibration(folder, calibration: ScorerCalibration) -> Path:
    """Store `calibration` in a T-CLAP folder's tclap_config.json (a pipeline folder's tclap/), rewriting only that
    file, atomically; TemporalScorer then uses it by default."""
    import json

    from .model import TCLAP_CONFIG_NAME
    from .registry import TCLAP_SUBFOLDER, is_pipeline_folder

    folder = Path(folder)
    if is_pipeline_folder(folder):
        folder = folder / TCLAP_SUBFOLDER
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a T-CLAP folder (no config.json)")
    path = folder / TCLAP_CONFIG_NAME
    info = json.loads(path.read_text()) if path.is_file() else {}
    info.setdefault("extra", {})[CALIBRATION_KEY] = calibration.to_dict()
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(info, indent=2, sort_keys=True)))


# --------------------------------------------------------------------------------------------
# Helpers


def frame_levels_db(wave: np.ndarray, sampling_rate: int, frame_s: float | None = None) -> np.ndarray:
    """RMS level (dBFS) of consecutive frames of `frame_s` seconds (the last one may be shorter)."""
    size = max(1, round((frame_s or FRAME_S) * sampling_rate))
    padded = np.asarray(wave, dtype=np.float64)
    count = int(math.ceil(len(padded) / size))
    squares = np.zeros(count * size)
    squares[: len(padded)] = padded**2
    lengths = np.full(count, size, dtype=np.float64)
    lengths[-1] = len(padded) - (count - 1) * size
    mean_square = squares.reshape(count, size).sum(axis=1) / lengths
    return 10.0 * np.log10(np.maximum(mean_square, 1e-20))


def log_mel_spectrogram(wave: np.ndarray, sampling_rate: int, n_mels: int = 64, max_frames: int = 4000):
    """(n_mels, frames) log-mel power in dB (for plots) and the frame step in seconds; long audio gets a coarser
    step so an hour still draws."""
    from scipy.signal import stft
    from transformers.audio_utils import mel_filter_bank

    n_fft = 1 << max(8, int(round(math.log2(0.025 * sampling_rate))))
    hop = max(int(0.010 * sampling_rate), int(math.ceil(len(wave) / max_frames)))
    segment = max(n_fft, hop)  # a coarse step for long audio needs segments at least as long
    n_fft = 1 << int(math.ceil(math.log2(segment)))
    if len(wave) < segment:
        wave = np.pad(wave, (0, segment - len(wave)))
    _, _, spec = stft(wave, fs=sampling_rate, nperseg=segment, noverlap=segment - hop, nfft=n_fft,
                      boundary=None, padded=False)
    filters = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=20.0,
                              max_frequency=sampling_rate / 2, sampling_rate=sampling_rate, norm="slaney", mel_scale="slaney")
    mel = filters.T @ (np.abs(spec) ** 2)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - 80.0), hop / sampling_rate


