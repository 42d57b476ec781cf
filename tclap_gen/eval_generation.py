"""`tclap-gen eval generation`: how good, and how well timed, a folder of generated clips is.

Input: generated clips `DIR/ID.wav` and a caption file in AudioTime's format (Xie et al. 2024, arXiv 2407.02857)::

    {"ID": {"caption": "a dog barks, then a car horn honks", "event": {"dog bark": [[0.2, 2.0]], "car horn": [[2.6, 4.1]]}}}

where each event label maps to its occurrences as [onset, offset] pairs in seconds (AudioTime's ordering and
timestamp files). AudioTime's duration file gives one duration per label and its frequency file the onsets of each
occurrence; read those with `task="duration"` / `task="frequency"`.

Temporal metrics, in the form of AudioTime's STEAM, with a `TemporalScorer` as the grounding model (`detect`: every
run of each label; NOT STEAM's grounding model, so the numbers are comparable between models scored here, not with
published STEAM tables). For each label, its detected "whole event" spans from its first detected onset to its
last offset (as STEAM does):

- ordering error rate (clips with exactly two labels): an error when a label is not found ("non_detect"), when
  the label that comes second in the reference starts first or at the same time ("occur_error"), or when the first
  one ends more than half the shorter whole event after the second starts ("overlap_error");
- onset / offset L1 (s): first detected onset against the first reference onset, last offset against the last
  reference offset, over the labels that were found (`events_detected` says how many);
- duration L1 (s): reference whole-event length (or the stated duration) against the detected one, 0 when not found;
- frequency L1: number of reference occurrences (pairs or onsets) against the number of detected runs;
- segment F1: 1 s segments, a label active in a segment when one of its spans overlaps it, micro-averaged over
  labels and clips (sed_eval's segment-based F1).

Distribution metrics, with the audio and text towers of a CLAP (`embedding_model`, default the grounding model's):

- CLAP score: mean cosine between each clip and its caption;
- FD: Frechet distance between the embeddings of the generated clips and of reference clips `REF/ID.wav`;
- KL: mean KL(reference || generated) of class posteriors, a softmax over the caption file's labels of the
  scaled cosines (zero-shot), per clip pair (needs at least two labels in the file).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .audio import atomic_write, load_audio

__all__ = [
    "CaptionEntry",
    "GenerationReport",
    "read_audiotime_captions",
    "ordering_outcome",
    "segment_counts",
    "frechet_distance",
    "evaluate_generation",
]

TASKS = ("auto", "ordering", "timestamp", "duration", "frequency")
SEGMENT_S = 1.0


@dataclass
class CaptionEntry:
    id: str
    caption: str
    events: dict  # label -> [(onset, offset), ...] (spans), or [seconds] (duration task) or [onsets] (frequency)


def _fail(path, where: str, message: str):
    raise ValueError(f"{path}: {where}: {message}")


def read_audiotime_captions(path, task: str = "auto") -> tuple[dict[str, CaptionEntry], str]:
    """Read an AudioTime caption file; returns ({id: CaptionEntry}, the task its values are read as).

    task "auto" reads [onset, offset] pairs (ordering / timestamp files) and refuses plain numbers, which mean a
    duration or onsets depending on the file: pass "duration" or "frequency" for those."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"captions file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a UTF-8 JSON file ({error})") from None
    if not isinstance(data, dict) or not data:
        _fail(path, "top level", "expected a non-empty object {ID: {\"caption\": ..., \"event\": {...}}}")
    spans = task in ("auto", "ordering", "timestamp")
    entries = {}
    for clip_id, item in data.items():
        where = f"entry {clip_id!r}"
        if not clip_id or "/" in clip_id or "\\" in clip_id or clip_id in (".", ".."):
            _fail(path, where, "an ID names a file ID.wav: no path separators, not empty")
        if not isinstance(item, dict) or not isinstance(item.get("caption"), str) or not item["caption"].strip():
            _fail(path, where, "needs a non-empty \"caption\" string")
        events = item.get("event")
        if not isinstance(events, dict) or not events:
            _fail(path, where, "needs a non-empty \"event\" object {label: [...]}")
        parsed = {}
        for label, values in events.items():
            at = f"{where}, event {label!r}"
            if not isinstance(label, str) or not label.strip():
                _fail(path, at, "a label must be a non-empty string")
            if not isinstance(values, list) or not values:
                _fail(path, at, "expected a non-empty list")
            if spans:
                if not all(isinstance(v, list) and len(v) == 2 for v in values):
                    hint = " (plain numbers: pass --task duration or --task frequency)" if all(
                        isinstance(v, (int, float)) for v in values) else ""
                    _fail(path, at, f"expected [onset, offset] pairs in seconds{hint}")
                pairs = [(_number(path, at, a), _number(path, at, b)) for a, b in values]
                if any(not 0 <= a < b for a, b in pairs):
                    _fail(path, at, f"every pair needs 0 <= onset < offset, got {values}")
                parsed[label] = sorted(pairs)
            else:
                numbers = [_number(path, at, v) for v in values]
                if task == "duration" and (len(numbers) != 1 or numbers[0] <= 0):
                    _fail(path, at, f"a duration file gives one positive duration per label, got {values}")
                if task == "frequency" and any(v < 0 for v in numbers):
                    _fail(path, at, f"onsets must be >= 0, got {values}")
                parsed[label] = sorted(numbers)
        entries[clip_id] = CaptionEntry(clip_id, item["caption"], parsed)
    return entries, ("timestamp" if task == "auto" else task)


def _number(path, where: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(path, where, f"expected finite numbers, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------------ pure rules
def whole_event(spans) -> tuple[float, float] | None:
    """(first onset, last offset) of a label's spans, None when there are none."""
    return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None


def ordering_outcome(reference: dict, detected: dict) -> str:
    """STEAM's ordering judgement of one two-label clip: "correct", "non_detect", "occur_error" or "overlap_error".
    `reference` and `detected` map each label to its spans."""
    if len(reference) != 2:
        raise ValueError(f"ordering needs exactly two labels, got {list(reference)}")
    former, later = sorted(reference, key=lambda label: whole_event(reference[label])[0])
    first, second = whole_event(detected.get(former, [])), whole_event(detected.get(later, []))
    if first is None or second is None:
        return "non_detect"
    if not first[0] < second[0]:
        return "occur_error"
    shorter = min(first[1] - first[0], second[1] - second[0])
    if not first[1] - second[0] < 0.5 * shorter:
        return "overlap_error"
    return "correct"


def segment_counts(reference: dict, detected: dict, duration: float, segment_s: float = SEGMENT_S) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of label activity in `segment_s` segments of a clip."""
    segments = max(1, math.ceil(duration / segment_s - 1e-9))

    def active(spans) -> np.ndarray:
        out = np.zeros(segments, dtype=bool)
        for onset, offset in spans:
            first = int(math.floor(onset / segment_s))
            last = int(math.ceil(offset / segment_s - 1e-9))
            out[max(first, 0) : min(max(last, first + 1), segments)] = True
        return out

    tp = fp = fn = 0
    for label in set(reference) | set(detected):
        ref, est = active(reference.get(label, [])), active(detected.get(label, []))
        tp += int((ref & est).sum())
        fp += int((~ref & est).sum())
        fn += int((ref & ~est).sum())
    return tp, fp, fn


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of `a` and of `b` (as FAD / FD report it)."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"need two (n >= 2, D) embedding sets of one width, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product (fewer clips than dimensions): regularise as FID code does
        eps = 1e-6 * np.eye(a.shape[1])
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = root.real
    distance = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root)
    return float(max(distance, 0.0))  # a squared distance: below 0 only by rounding


# ------------------------------------------------------------------------------------------------ the report
@dataclass
class GenerationReport:
    grounding_model: str
    embedding_model: str
    task: str
    n_clips: int
    ordering_error_rate: float | None = None
    ordering_errors: dict = field(default_factory=dict)  # outcome -> clips
    n_ordering: int = 0
    onset_l1: float | None = None
    offset_l1: float | None = None
    duration_l1: float | None = None
    frequency_l1: float | None = None
    segment_f1: float | None = None
    segment_precision: float | None = None
    segment_recall: float | None = None
    events_detected: float | None = None  # share of reference labels found at all
    clap_score: float | None = None
    fd: float | None = None
    kl: float | None = None
    n_reference: int = 0
    warnings: list = field(default_factory=list)
    rows: list = field(default_factory=list, repr=False)  # one per (clip, label)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("rows")
        return out

    def summary(self) -> str:
        def fmt(value, digits=3):
            return "-" if value is None else f"{value:.{digits}f}"

        lines = [
            f"{self.n_clips} clips ({self.task}); grounding: {self.grounding_model}; embeddings: {self.embedding_model}",
            f"ordering error rate {fmt(self.ordering_error_rate)} over {self.n_ordering} two-event clips {self.ordering_errors}",
            f"onset L1 {fmt(self.onset_l1)} s, offset L1 {fmt(self.offset_l1)} s, duration L1 {fmt(self.duration_l1)} s, "
            f"frequency L1 {fmt(self.frequency_l1)}",
            f"segment F1 {fmt(self.segment_f1)} (P {fmt(self.segment_precision)}, R {fmt(self.segment_recall)}); "
            f"labels found {fmt(self.events_detected)}",
            f"CLAP score {fmt(self.clap_score, 4)}; FD {fmt(self.fd)}; KL {fmt(self.kl)} ({self.n_reference} reference clips)",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])

    def write_rows(self, path) -> Path:
        """The per-(clip, label) rows as CSV (written to a temporary name, then renamed)."""
        names = list(self.rows[0]) if self.rows else ["id"]

        def write(tmp):
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=names)
                writer.writeheader()
                writer.writerows(self.rows)

        return atomic_write(path, write)

    def plot(self, path) -> Path:
        """Ordering outcomes and detected against reference onsets, one PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        names = ["correct", "non_detect", "occur_error", "overlap_error"]
        left.bar(names, [self.ordering_errors.get(n, 0) for n in names], color=["tab:green", "tab:gray", "tab:red", "tab:orange"])
        left.set_title(f"ordering ({self.n_ordering} two-event clips)")
        pairs = [(r["ref_onset"], r["onset"]) for r in self.rows if r.get("ref_onset") != "" and r.get("onset") != ""]
        if pairs:
            ref, est = np.array(pairs, dtype=float).T
            right.scatter(ref, est, s=12)
            top = max(ref.max(), est.max(), 1.0)
            right.plot([0, top], [0, top], color="gray", lw=1)
        right.set_xlabel("reference onset (s)")
        right.set_ylabel("detected onset (s)")
        right.set_title("onsets of the labels found")
        fig.tight_layout()
        try:
            return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        finally:
            plt.close(fig)


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _clip_path(folder: Path, clip_id: str, option: str) -> Path:
    path = folder / f"{clip_id}.wav"
    if not path.is_file():
        raise FileNotFoundError(f"{option} {folder}: {path.name} is missing (the captions file lists {clip_id!r})")
    return path


def evaluate_generation(folder, captions, scorer, embedder=None, reference=None, task: str = "auto",
                        progress: bool = False) -> GenerationReport:
    """Score the clips `folder/ID.wav` of every ID in `captions` (a caption file path); see the module docstring.

    `scorer` is a TemporalScorer (the grounding model); `embedder` a TClap for the CLAP score, FD and KL (default
    the scorer's); `reference` a folder of reference clips `ID.wav` for FD and KL (None: those are not computed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"generated clips folder not found: {folder}")
    entries, task = read_audiotime_captions(captions, task)
    reference = Path(reference) if reference is not None else None
    if reference is not None and not reference.is_dir():
        raise NotADirectoryError(f"--reference {reference}: not a folder")
    paths = {clip_id: _clip_path(folder, clip_id, "DIR") for clip_id in entries}  # all missing files fail up front
    ref_paths = {clip_id: _clip_path(reference, clip_id, "--reference") for clip_id in entries} if reference else {}
    embedder = embedder if embedder is not None else scorer.tclap
    labels = sorted({label for entry in entries.values() for label in entry.events})

    report = GenerationReport(
        grounding_model=f"TemporalScorer({_model_name(scorer.tclap)}, window {scorer.window_s:g} s)",
        embedding_model=_model_name(embedder), task=task, n_clips=len(entries), n_reference=len(ref_paths))
    outcomes, onset_err, offset_err, duration_err, frequency_err, found = [], [], [], [], [], []
    tp = fp = fn = 0
    gen_emb, ref_emb, cosines = [], [], []
    caption_emb = embedder.embed_text([entries[i].caption for i in entries]).float().cpu()
    items = list(entries.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="eval generation", unit="clip")
    for k, (clip_id, entry) in enumerate(items):
        wave, sr = load_audio(paths[clip_id])
        duration = len(wave) / sr
        detected = scorer.detect(wave, sr, list(entry.events))
        outcome = ordering_outcome(entry.events, detected) if task in ("timestamp", "ordering") and len(entry.events) == 2 else ""
        if outcome:
            outcomes.append(outcome)
        if task in ("timestamp", "ordering"):
            counts = segment_counts(entry.events, detected, max(duration, max(b for s in entry.events.values() for _, b in s)))
            tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
        audio_emb = embedder.embed_audio(wave, sampling_rate=sr).float().cpu()
        gen_emb.append(audio_emb[0])
        cosine = float(audio_emb[0] @ caption_emb[k])
        cosines.append(cosine)
        for label, values in entry.events.items():
            est = whole_event(detected[label])
            row = {"id": clip_id, "caption": entry.caption, "label": label, "ordering": outcome,
                   "clap_cosine": round(cosine, 5), "runs": len(detected[label]),
                   "onset": "" if est is None else round(est[0], 3), "offset": "" if est is None else round(est[1], 3),
                   "ref_onset": "", "ref_offset": ""}
            found.append(est is not None)
            if task == "duration":
                ref_duration, count = values[0], 1
            elif task == "frequency":
                ref_duration, count = None, len(values)
                row["ref_onset"] = round(values[0], 3)
            else:
                first, last = whole_event(values)
                ref_duration, count = last - first, len(values)
                row.update(ref_onset=round(first, 3), ref_offset=round(last, 3))
                if est is not None:
                    onset_err.append(abs(est[0] - first))
                    offset_err.append(abs(est[1] - last))
            if ref_duration is not None:
                duration_err.append(abs(ref_duration - (0.0 if est is None else est[1] - est[0])))
            frequency_err.append(abs(count - len(detected[label])))
            report.rows.append(row)
        if ref_paths:
            ref_wave, ref_sr = load_audio(ref_paths[clip_id])
            ref_emb.append(embedder.embed_audio(ref_wave, sampling_rate=ref_sr).float().cpu()[0])

    if outcomes:
        report.n_ordering = len(outcomes)
        report.ordering_errors = {name: outcomes.count(name) for name in ("correct", "non_detect", "occur_error", "overlap_error")}
        report.ordering_error_rate = 1.0 - report.ordering_errors["correct"] / len(outcomes)
    report.onset_l1, report.offset_l1 = _mean(onset_err), _mean(offset_err)
    report.duration_l1 = _mean(duration_err) if task != "frequency" else None
    report.frequency_l1 = _mean(frequency_err) if task != "duration" else None
    report.events_detected = _mean(found)
    if tp + fp + fn and task in ("timestamp", "ordering"):
        report.segment_precision = tp / (tp + fp) if tp + fp else 0.0
        report.segment_recall = tp / (tp + fn) if tp + fn else 0.0
        both = report.segment_precision + report.segment_recall
        report.segment_f1 = 2 * report.segment_precision * report.segment_recall / both if both else 0.0
    report.clap_score = _mean(cosines)
    if ref_emb:
        generated, references = torch.stack(gen_emb).numpy(), torch.stack(ref_emb).numpy()
        if len(entries) < 2:
            report.warnings.append("FD needs at least two clips: not computed")
        else:
            report.fd = frechet_distance(references, generated)
            if len(entries) <= generated.shape[1]:
                report.warnings.append(f"FD from {len(entries)} clips in {generated.shape[1]} dimensions: the covariances "
                                       "are rank-deficient, compare FDs only between sets of the same size")
        if len(labels) >= 2:
            report.kl = class_posterior_kl(embedder, labels, references, generated)
        else:
            report.warnings.append("KL needs at least two labels in the captions file: not computed")
    return report


def class_posterior_kl(embedder, labels: Sequence[str], references: np.ndarray, generated: np.ndarray) -> float:
    """Mean over clip pairs of KL(p_ref || p_gen), p = softmax over `labels` of the scaled audio-label cosines."""
    text = embedder.embed_text(list(labels)).float().cpu().numpy()
    scale = float(embedder.model.logit_scale_a.detach().exp().item())

    def log_posterior(audio: np.ndarray) -> np.ndarray:
        logits = scale * audio @ text.T
        return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)

    log_ref, log_gen = log_posterior(references), log_posterior(generated)
    return float((np.exp(log_ref) * (log_ref - log_gen)).sum(axis=1).mean())


def _model_name(tclap) -> str:
    return str(getattr(tclap, "name_or_path", None) or type(tclap).__name__)
