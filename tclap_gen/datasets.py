"""Labelled clips, temporal mix-ups and caption datasets for T-CLAP training and evaluation.

* ``read_clip_metadata`` reads a clip list (generic ``path,label[,fold,source_id]``, ESC-50's ``esc50.csv``,
  UrbanSound8K's ``UrbanSound8K.csv`` or the UIowa ``path,label,group,seconds`` list) into ``ClipRecord``s;
  ``split_by_fold`` / ``split_by_source`` split them without letting one recording straddle train and test.
* ``MixupDataset`` joins 2-3 clips of different classes into one waveform and writes a caption that states
  their order (via ``tclap_gen.captions.render_caption``), with text order negatives and audio order negatives
  (the same processed segments in every other order).
* ``SingleClipDataset`` gives one clip per item with a single-event caption.
* ``CaptionDataset`` reads AudioCaps / Clotho / generic caption lists and attaches order negatives.
* ``collate_examples`` batches ``TemporalExample``s into the dict that training and evaluation share.

Every random choice of an item comes from a generator seeded by (seed, epoch, index), so items are the same
whatever the worker, the order of access or the files that failed earlier. A clip that cannot be loaded is
logged, counted in ``dataset.bad_files`` (per process: each DataLoader worker has its own copy) and replaced.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .audio import level, load_audio, rms_db, trim_silence
from .captions import TEMPLATES, CaptionError, order_negatives, parse_events, render_caption

logger = logging.getLogger(__name__)

__all__ = [
    "ClipRecord",
    "Event",
    "TemporalExample",
    "CaptionEntry",
    "DatasetError",
    "read_clip_metadata",
    "split_by_fold",
    "split_by_source",
    "heldout_split",
    "HELDOUT_FRACTION",
    "HELDOUT_SEED",
    "LABEL_PHRASES",
    "label_to_phrase",
    "MixupDataset",
    "SingleClipDataset",
    "CaptionDataset",
    "collate_examples",
    "SINGLE_TEMPLATES",
]


class DatasetError(RuntimeError):
    """Too many clips of a dataset failed to load to build an item."""


# --------------------------------------------------------------------------------------------
# Records and metadata


@dataclass(frozen=True)
class ClipRecord:
    """One labelled clip. `fold` and `source_id` are strings (or None when the metadata has none)."""

    path: Path
    label: str
    fold: str | None = None
    source_id: str | None = None
    seconds: float | None = None


@dataclass
class Event:
    """One sound event of an example: its class label, caption phrase and span in seconds."""

    label: str
    phrase: str
    onset: float
    offset: float

    def to_dict(self) -> dict:
        return {"label": self.label, "phrase": self.phrase, "onset": self.onset, "offset": self.offset}


@dataclass
class TemporalExample:
    """A waveform with its caption, order negatives (text and audio) and the events' timeline."""

    audio: np.ndarray
    sampling_rate: int
    caption: str
    negatives: list[str] = field(default_factory=list)
    audio_negatives: list[np.ndarray] = field(default_factory=list)
    timeline: list[Event] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # The same events in the same order written with another template ("A then B" -> "B after A"): the
    # text-only order term of training (loss.paraphrase_weight) pulls a caption towards it, away from its negatives.
    paraphrase: str | None = None


_ESC50_COLUMNS = {"filename", "fold", "category", "src_file"}
_US8K_COLUMNS = {"slice_file_name", "fsID", "fold", "class"}


def _read_csv(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    if not csv_path.is_file():
        raise FileNotFoundError(f"metadata file not found: {csv_path}")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:  # utf-8-sig: tolerate a BOM
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise ValueError(f"{csv_path}: empty metadata file (no header row)")
        columns = [name.strip() for name in reader.fieldnames]
        reader.fieldnames = columns
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    return columns, rows


def _require(csv_path: Path, columns: Sequence[str], required: Iterable[str]) -> None:
    for name in required:
        if name not in columns:
            raise ValueError(f"{csv_path}: missing required column {name!r} (columns: {', '.join(columns)})")


def _value(csv_path: Path, row: dict, name: str, line: int) -> str:
    value = row.get(name, "")
    if not value:
        raise ValueError(f"{csv_path}, line {line}: empty value in required column {name!r}")
    return value


def _seconds(row: dict) -> float | None:
    try:
        return float(row["seconds"]) if row.get("seconds") else None
    except ValueError:
        return None


def read_clip_metadata(csv_path, audio_root=None) -> list[ClipRecord]:
    """Read a clip list into ClipRecords; the layout is detected from the columns.

    * generic: ``path,label[,fold,source_id,seconds]``, paths relative to the CSV's folder;
    * UIowa: ``path,label,group,seconds`` (no source_id column): each file is its own recording, so the
      source_id is the file name's stem;
    * ESC-50 ``meta/esc50.csv`` (filename,fold,target,category,esc10,src_file,take): audio in ``../audio``;
    * UrbanSound8K ``metadata/UrbanSound8K.csv`` (slice_file_name,fsID,...,fold,classID,class): audio in
      ``../audio/fold{fold}``.

    `audio_root` overrides the folder the paths are relative to. Files are not checked here (the datasets
    handle missing ones at load time). Raises ValueError naming the file and the missing column or bad line.
    """
    csv_path = Path(csv_path)
    columns, rows = _read_csv(csv_path)
    records = []
    if _ESC50_COLUMNS <= set(columns):
        root = Path(audio_root) if audio_root is not None else csv_path.parent.parent / "audio"
        for line, row in enumerate(rows, start=2):
            records.append(ClipRecord(
                path=root / _value(csv_path, row, "filename", line),
                label=_value(csv_path, row, "category", line),
                fold=row["fold"] or None,
                source_id=row["src_file"] or None,
            ))
    elif _US8K_COLUMNS <= set(columns):
        root = Path(audio_root) if audio_root is not None else csv_path.parent.parent / "audio"
        for line, row in enumerate(rows, start=2):
            fold = _value(csv_path, row, "fold", line)
            records.append(ClipRecord(
                path=root / f"fold{fold}" / _value(csv_path, row, "slice_file_name", line),
                label=_value(csv_path, row, "class", line),
                fold=fold,
                source_id=row["fsID"] or None,
            ))
    else:
        _require(csv_path, columns, ("path", "label"))
        uiowa = "group" in columns and "source_id" not in columns
        root = Path(audio_root) if audio_root is not None else csv_path.parent
        for line, row in enumerate(rows, start=2):
            path = root / _value(csv_path, row, "path", line)
            source = Path(row["path"]).stem if uiowa else row.get("source_id") or None
            records.append(ClipRecord(
                path=path,
                label=_value(csv_path, row, "label", line),
                fold=row.get("fold") or None,
                source_id=source,
                seconds=_seconds(row),
            ))
    if not records:
        raise ValueError(f"{csv_path}: the metadata lists no clips")
    return records


# --------------------------------------------------------------------------------------------
# Label phrases

# Natural phrases for the class labels of Kitchen20 and UIowa (hyphens read as underscores).
# None of them contains a connective word or punctuation, so they render into any template.
LABEL_PHRASES: dict[str, str] = {
    # Kitchen20
    "blender": "blender running",
    "boiling_water": "water boiling",
    "book": "book pages turning",
    "chopping": "knife chopping on a board",
    "clean_dishes": "dishes being washed",
    "cupboard": "cupboard door closing",
    "cutlery": "cutlery clinking",
    "dishwasher": "dishwasher running",
    "drawer": "drawer sliding shut",
    "eat": "someone eating",
    "fridge": "fridge door opening",
    "frying_pan": "food sizzling in a frying pan",
    "juicer": "juicer whirring",
    "microwave": "microwave humming",
    "peel": "vegetables being peeled",
    "plates": "plates clattering",
    "stove_burner": "stove burner hissing",
    "stove_fan": "stove fan whirring",
    "sweep": "broom sweeping the floor",
    "water_flowing": "water flowing from a tap",
    # UIowa everyday sounds
    "bicycle_bell": "bicycle bell ringing",
    "bicycle_freewheel": "bicycle wheel freewheeling",
    "bite_chew_apple": "someone biting and chewing an apple",
    "boiling_kettle": "kettle boiling",
    "branch_trimmer": "branch trimmer snipping",
    "chainsaw": "chainsaw running",
    "chopping_vegetables": "vegetables being chopped",
    "clanking_dishes": "dishes clanking",
    "coffee_bean_grinder": "coffee grinder grinding beans",
    "coin_drop": "coin dropping",
    "compressed_air_spray": "compressed air spraying",
    "crumpling_paper": "paper crumpling",
    "drill": "drill whirring",
    "dropping_stones": "stones dropping",
    "electric_can_opener": "electric can opener running",
    "electric_shaver": "electric shaver buzzing",
    "footsteps_in_pebbles": "footsteps on pebbles",
    "footsteps_in_sand": "footsteps in sand",
    "glass_smash": "glass smashing",
    "hair_dryer": "hair dryer blowing",
    "hammer_metal": "hammer striking metal",
    "hammer_nail": "hammer driving a nail",
    "hands_rubbing": "hands rubbing together",
    "hatchet": "hatchet chopping wood",
    "lawnmower": "lawnmower running",
    "leaf_blower": "leaf blower blowing",
    "nails_from_box": "nails pouring from a box",
    "peeling_vegetables": "vegetables being peeled",
    "pepper_grinder": "pepper grinder grinding",
    "pouring_liquid": "liquid pouring",
    "ratchet": "ratchet clicking",
    "rustling_branch": "branch rustling",
    "sawing_wood": "wood being sawed",
    "scissors": "scissors cutting",
    "shovel": "shovel digging",
    "spray_can_shake": "spray can being shaken",
    "stapler": "stapler clicking",
    "suitcase_rolling": "suitcase rolling",
    "typing": "typing on a keyboard",
    "vacuum": "vacuum cleaner running",
    "velcro": "velcro ripping",
    "walking_leaves": "footsteps in dry leaves",
    "water_splash": "water splashing",
    "zipper": "zipper zipping",
}


def _label_key(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", label.strip().lower())


def label_to_phrase(label: str, overrides: dict[str, str] | None = None) -> str:
    """A natural phrase for a class label: "glass_smash" -> "glass smashing".

    ``overrides`` (label -> phrase) win over the built-in table; unknown labels fall back to the
    label with underscores and hyphens read as spaces.
    """
    if not isinstance(label, str) or not label.strip():
        raise CaptionError(f"label must be a non-empty string, got {label!r}")
    key = _label_key(label)
    if overrides:
        for candidate in (label, label.strip(), key):
            if candidate in overrides:
                return str(overrides[candidate]).strip()
        normalised = {_label_key(k): v for k, v in overrides.items()}
        if key in normalised:
            return str(normalised[key]).strip()
    if key in LABEL_PHRASES:
        return LABEL_PHRASES[key]
    return re.sub(r"_+", " ", key).strip()


def read_clip_lists(csv_paths) -> list[ClipRecord]:
    """The records of several clip lists, in order."""
    return [record for path in csv_paths for record in read_clip_metadata(path)]


def load_labelled_clips(records, sampling_rate: int = 16000) -> list[tuple[np.ndarray, str]]:
    """(wave, label) of every readable record at `sampling_rate`; an unreadable one is skipped with a line on
    stderr naming it (the evaluation scripts' loader)."""
    import sys

    clips = []
    for record in records:
        try:
            wave, _ = load_audio(record.path, sampling_rate=sampling_rate)
        except _LOAD_ERRORS as error:
            print(f"skipped {record.path}: {error}", file=sys.stderr)
            continue
        clips.append((wave, record.label))
    return clips


# --------------------------------------------------------------------------------------------
# Splits


def split_by_fold(records: Sequence[ClipRecord], test_folds) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Records whose fold is in `test_folds` (ints or strings) go to test, the others to train."""
    if isinstance(test_folds, (str, int)):
        test_folds = [test_folds]
    wanted = {str(f) for f in test_folds}
    if not wanted:
        raise ValueError("test_folds is empty")
    missing = [r.path for r in records if r.fold is None]
    if missing:
        raise ValueError(f"split_by_fold: {len(missing)} record(s) have no fold, e.g. {missing[0]}")
    present = {r.fold for r in records}
    if not wanted & present:
        raise ValueError(f"test_folds {sorted(wanted)} match no record; folds present: {sorted(present)}")
    train = [r for r in records if r.fold not in wanted]
    test = [r for r in records if r.fold in wanted]
    return train, test


def _source_key(record: ClipRecord) -> str:
    # Without a source_id, a clip is its own recording.
    return f"id:{record.source_id}" if record.source_id is not None else f"path:{record.path}"


# The split that the mini recipes train on (its train side) and that every held-out figure reads (its test side).
HELDOUT_FRACTION = 0.2
HELDOUT_SEED = 0


def heldout_split(records, seed: int = HELDOUT_SEED, test_fraction: float = HELDOUT_FRACTION):
    """(train, held-out) clips of ONE clip list: split_by_source with the mini recipes' fraction and seed."""
    return split_by_source(records, test_fraction=test_fraction, seed=seed)


def split_clip_lists(csv_paths, seed: int = HELDOUT_SEED, test_fraction: float = HELDOUT_FRACTION):
    """(train, held-out) clips of several clip lists, each list split on its own, as the T-CLAP recipes split their
    `data.clips` (and the generator recipes their `data.csvs`). Splitting the lists' union instead gives another
    split: with Kitchen20 + UIowa, 178 of its 227 "held-out" clips are on the recipes' train side."""
    train, heldout = [], []
    for path in csv_paths:
        a, b = heldout_split(read_clip_metadata(path), seed=seed, test_fraction=test_fraction)
        train.extend(a)
        heldout.extend(b)
    return train, heldout


def split_by_source(
    records: Sequence[ClipRecord], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[ClipRecord], list[ClipRecord]]:
    """Split so that clips sharing a source_id never straddle train and test; deterministic for a seed.

    Stratified by label: each label's sources (a source counts for its most frequent label) are shuffled and
    round(test_fraction * n) of them, at least 1 and at most n - 1, go to test, so every label with two or more
    sources appears on both sides. Labels with a single source stay in train. Input order is kept on each side.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    by_source: dict[str, list[ClipRecord]] = {}
    for record in records:
        by_source.setdefault(_source_key(record), []).append(record)
    by_label: dict[str, list[str]] = {}
    for key, group in by_source.items():
        label = Counter(r.label for r in group).most_common(1)[0][0]
        by_label.setdefault(label, []).append(key)
    rng = random.Random(seed)
    test_sources: set[str] = set()
    for label in sorted(by_label):
        sources = sorted(by_label[label])
        if len(sources) < 2:
            continue
        rng.shuffle(sources)
        count = min(len(sources) - 1, max(1, round(test_fraction * len(sources))))
        test_sources.update(sources[:count])
    train = [r for r in records if _source_key(r) not in test_sources]
    test = [r for r in records if _source_key(r) in test_sources]
    return train, test


# --------------------------------------------------------------------------------------------
# Segment processing shared by the clip datasets

# Loudness of a segment before its random gain: similar levels across recordings, and a peak low enough that
# two crossfaded segments never sum past full scale.
_TARGET_RMS_DB = -20.0
_MAX_PEAK = 0.5
_LOAD_ERRORS = (OSError, ValueError, RuntimeError)  # FileNotFoundError, AudioError, soundfile failures


def _item_rng(seed: int, epoch: int, index: int) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`: stable across processes and PYTHONHASHSEED.
    return random.Random(f"tclap-gen:{seed}:{epoch}:{index}")


def _crop(wave: np.ndarray, length: int, rng: random.Random, sampling_rate: int) -> np.ndarray:
    """A `length`-sample crop at a random offset that is not much quieter than the clip, re-trimmed."""
    if wave.size <= length:
        return wave
    clip_db = rms_db(wave)
    best, best_level = 0, -math.inf
    for _ in range(4):  # a few tries: a random crop can fall in a pause of the recording
        offset = rng.randrange(wave.size - length + 1)
        crop_level = rms_db(wave[offset : offset + length])
        if crop_level > best_level:
            best, best_level = offset, crop_level
        if crop_level >= clip_db - 10.0:
            break
    return trim_silence(wave[best : best + length], sampling_rate)


def _allocate(lengths: list[int], budget: int, weights: list[float]) -> list[int]:
    """Share `budget` samples among segments in proportion to `weights`; short ones keep their length."""
    alloc = [0] * len(lengths)
    open_ = list(range(len(lengths)))
    remaining = budget
    while open_:
        total = sum(weights[i] for i in open_)
        shares = {i: remaining * weights[i] / total for i in open_}
        fitting = [i for i in open_ if lengths[i] <= shares[i]]
        if not fitting:
            for i in open_:
                alloc[i] = int(shares[i])
            break
        for i in fitting:
            alloc[i] = lengths[i]
            remaining -= lengths[i]
        open_ = [i for i in open_ if i not in fitting]
    return alloc


def _assemble(segments: list[np.ndarray], joins: list[int], lead: int, total: int):
    """Place segments one after another from `lead`; join k > 0 is a gap, < 0 a linear crossfade of -k samples.

    Returns the waveform (`total` samples) and each segment's (start, end) sample span.
    """
    out = np.zeros(total, dtype=np.float32)
    spans = []
    position = lead
    for k, segment in enumerate(segments):
        fade_in = -joins[k - 1] if k > 0 and joins[k - 1] < 0 else 0
        fade_out = -joins[k] if k < len(segments) - 1 and joins[k] < 0 else 0
        if fade_in or fade_out:
            segment = segment.astype(np.float32, copy=True)
            if fade_in:
                segment[:fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False, dtype=np.float32)
            if fade_out:
                segment[-fade_out:] *= np.linspace(1.0, 0.0, fade_out, endpoint=False, dtype=np.float32)
        out[position : position + segment.size] += segment
        spans.append((position, position + segment.size))
        position += segment.size + (joins[k] if k < len(segments) - 1 else 0)
    return out, spans


def _pair(values, name: str, kind=float) -> tuple:
    if isinstance(values, (int, float)):
        values = (values, values)
    low, high = (kind(v) for v in values)
    if low > high:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {values}")
    return low, high


def _check_records(records, owner: str) -> list[ClipRecord]:
    records = list(records)
    if not records:
        raise ValueError(f"{owner}: records is empty")
    for record in records:
        if not isinstance(record, ClipRecord):
            raise TypeError(f"{owner}: records must be ClipRecord objects, got {type(record).__name__}")
    return records


class _ClipDataset(Dataset):
    """Loading, trimming and bad-file bookkeeping shared by the clip datasets."""

    def __init__(
        self, records, sampling_rate: int, seconds: float, seed: int, phrases, max_retries: int, cache_mb: float
    ):
        name = type(self).__name__
        self.records = _check_records(records, name)
        if int(sampling_rate) <= 0:
            raise ValueError(f"{name}: sampling_rate must be positive, got {sampling_rate}")
        if not seconds or seconds <= 0:
            raise ValueError(f"{name}: seconds must be positive, got {seconds}")
        if max_retries < 0:
            raise ValueError(f"{name}: max_retries must be >= 0, got {max_retries}")
        self.sampling_rate = int(sampling_rate)
        self.seconds = float(seconds)
        self.num_samples = int(round(self.seconds * self.sampling_rate))
        self.seed = int(seed)
        self.epoch = 0
        self.max_retries = int(max_retries)
        self.phrase_overrides = dict(phrases or {})
        self.bad_files: Counter = Counter()  # path -> times it was drawn and could not be used
        self._bad_reasons: dict[Path, str] = {}
        # Optional per-process cache of decoded, trimmed clips as int16.
        self.cache_bytes = int(max(0.0, cache_mb) * 2**20)
        self._cache: dict[Path, np.ndarray] = {}
        self._cached_bytes = 0
        self._phrases = {}
        for label in sorted({r.label for r in self.records}):
            phrase = label_to_phrase(label, self.phrase_overrides)
            try:
                render_caption([phrase], random.Random(0))  # raises when the phrase holds a connective
            except CaptionError as error:
                raise ValueError(f"{name}: label {label!r} gives an unusable phrase: {error}") from error
            self._phrases[label] = phrase

    def set_epoch(self, epoch: int) -> None:
        """Draw different items for another epoch (items stay deterministic for (seed, epoch, index))."""
        self.epoch = int(epoch)

    def phrase(self, label: str) -> str:
        return self._phrases[label]

    def _load(self, record: ClipRecord) -> np.ndarray | None:
        """The clip at the dataset's rate, silence trimmed; None (logged once, counted) when it cannot be used."""
        if record.path in self._bad_reasons:
            self.bad_files[record.path] += 1
            return None
        pcm = self._cache.get(record.path)
        if pcm is None:
            try:
                pcm = self._decode(record)
            except _LOAD_ERRORS as error:
                logger.warning("skipping unusable clip %s: %s", record.path, error)
                self._bad_reasons[record.path] = str(error)
                self.bad_files[record.path] += 1
                return None
            self._remember(record, pcm)
        return pcm.astype(np.float32) / 32768.0

    def _decode(self, record: ClipRecord) -> np.ndarray:
        wave, _ = load_audio(record.path, sampling_rate=self.sampling_rate)
        wave = trim_silence(wave, self.sampling_rate)
        # Always rounded to 16 bits (lossless for 16-bit files at their own rate), so that items are the same
        # whether or not a clip sits in the cache.
        return np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)

    def _remember(self, record: ClipRecord, pcm: np.ndarray) -> None:
        if record.path not in self._cache and self._cached_bytes + pcm.nbytes <= self.cache_bytes:
            self._cache[record.path] = pcm
            self._cached_bytes += pcm.nbytes

    def preload(self, source: "_ClipDataset | None" = None, workers: int = 8) -> int:
        """Fill the cache now (up to cache_mb), so that DataLoader workers forked later share one decoded copy
        instead of each decoding its own every epoch. Clips already in `source`'s cache (a dataset over the same
        files at the same rate) are shared, not decoded again. Returns the number of cached clips."""
        from concurrent.futures import ThreadPoolExecutor

        if not self.cache_bytes:
            return 0
        records = list({r.path: r for r in self.records}.values())
        if source is not None and source.sampling_rate == self.sampling_rate:
            for record in records:
                if record.path in source._cache:
                    self._remember(record, source._cache[record.path])

        def decode(record):
            try:
                return self._decode(record), None
            except _LOAD_ERRORS as error:
                return None, error

        missing = [r for r in records if r.path not in self._cache and r.path not in self._bad_reasons]
        with ThreadPoolExecutor(max(1, workers)) as pool:  # decoding and resampling release the GIL
            for record, (pcm, error) in zip(missing, pool.map(decode, missing)):
                if error is not None:
                    self._bad_reasons[record.path] = str(error)  # counted when an item draws it, like any bad clip
                    logger.warning("skipping unusable clip %s: %s", record.path, error)
                else:
                    self._remember(record, pcm)
        return len(self._cache)

    def _too_many_failures(self, index: int, failed: list[Path]) -> DatasetError:
        last = failed[-1]
        return DatasetError(
            f"{type(self).__name__}: {len(failed)} clips failed to load while building item {index} "
            f"(last: {last}: {self._bad_reasons.get(last, 'unknown error')}); check the metadata's paths "
            f"({len(self.bad_files)} bad file(s) so far)"
        )

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__} index {index} out of range for length {len(self)}")
        return index % len(self)


# --------------------------------------------------------------------------------------------
# Mix-ups


class MixupDataset(_ClipDataset):
    """Items join 2-3 clips of different classes in sequence, with a caption stating their order.

    Item i draws from (seed, epoch, i) only: the number of events, the classes (uniform over class phrases, all
    different: labels that share a phrase count as one class), one recording of each, its crop, gain, the gaps
    or crossfades between segments and the caption template. Each clip is silence-trimmed, cropped at a random
    offset if it is longer than its share of the window, brought to a common loudness, given a random gain,
    and the segments are joined and padded to exactly `seconds`.

    ``audio_negatives`` hold the same segments (same gains) with the same joins and lead-in in every other
    order; ``audio_negatives[j]`` matches ``negatives[j]`` (same event order). ``timeline`` gives each
    segment's span (its non-silent part) in seconds.

    Each join is a crossfade (with `crossfade_probability`, length drawn from `crossfade_s`, never more than
    half the shortest segment) or a silent gap (length from `gap_s`); `gain_db` is drawn per segment after
    levelling to about -20 dBFS RMS (peak <= 0.5, so joins never clip). `cache_mb` > 0 keeps decoded, trimmed
    clips in memory (int16, per process) up to that size; items are identical with or without it.
    `template_weights` (template name -> relative weight, 1 for those not named) skews the caption templates,
    e.g. towards the reversed-mention ones ("B after A") that a text tower otherwise reads as mention order.
    """

    def __init__(
        self,
        records: Sequence[ClipRecord],
        sampling_rate: int = 16000,
        seconds: float = 5.0,
        num_events=(2, 3),
        length: int = 1000,
        seed: int = 0,
        phrases: dict[str, str] | None = None,
        gap_s=(0.05, 0.4),
        crossfade_s=(0.0, 0.1),
        gain_db=(-6.0, 0.0),
        crossfade_probability: float = 0.5,
        max_retries: int = 20,
        cache_mb: float = 0.0,
        template_weights: dict[str, float] | None = None,
    ):
        super().__init__(records, sampling_rate, seconds, seed, phrases, max_retries, cache_mb)
        unknown = sorted(set(template_weights or {}) - set(TEMPLATES))
        if unknown or any(float(w) < 0 for w in (template_weights or {}).values()):
            raise ValueError(f"MixupDataset: template_weights must map templates of {sorted(TEMPLATES)} to weights "
                             f">= 0, got {template_weights}")
        self.template_weights = dict(template_weights or {})
        self.num_events = _pair(num_events, "num_events", int)
        self.length = int(length)
        self.gap_s = _pair(gap_s, "gap_s")
        self.crossfade_s = _pair(crossfade_s, "crossfade_s")
        self.gain_db = _pair(gain_db, "gain_db")
        self.crossfade_probability = float(crossfade_probability)
        if self.num_events[0] < 2:
            raise ValueError(f"MixupDataset: num_events must be at least 2 (use SingleClipDataset), got {num_events}")
        if self.length <= 0:
            raise ValueError(f"MixupDataset: length must be positive, got {length}")
        if min(self.gap_s + self.crossfade_s) < 0:
            raise ValueError("MixupDataset: gap_s and crossfade_s must not be negative")
        if self.gain_db[1] > 0:
            raise ValueError(f"MixupDataset: gain_db must be <= 0 dB (segments are levelled first), got {gain_db}")
        # Classes are keyed by phrase, so a caption never names the same sound twice.
        self._groups: dict[str, list[ClipRecord]] = {}
        for record in self.records:
            self._groups.setdefault(self._phrases[record.label], []).append(record)
        self._class_phrases = sorted(self._groups)
        if len(self._class_phrases) < self.num_events[1]:
            raise ValueError(
                f"MixupDataset: {self.num_events[1]} events need as many distinct classes, but the records have "
                f"{len(self._class_phrases)}: {self._class_phrases}"
            )
        budget = self.seconds - (self.num_events[1] - 1) * self.gap_s[1]
        if budget / self.num_events[1] < 0.1:
            raise ValueError(
                f"MixupDataset: {self.seconds} s leaves under 0.1 s per event for {self.num_events[1]} events "
                f"with gaps up to {self.gap_s[1]} s"
            )

    def __len__(self) -> int:
        return self.length

    def _draw_clips(self, index: int, rng: random.Random, count: int):
        chosen: list[tuple[ClipRecord, np.ndarray]] = []
        used: set[str] = set()
        failed: list[Path] = []
        while len(chosen) < count:
            phrase = rng.choice([p for p in self._class_phrases if p not in used])
            record = rng.choice(self._groups[phrase])
            wave = self._load(record)
            if wave is None:
                failed.append(record.path)
                if len(failed) > self.max_retries:
                    raise self._too_many_failures(index, failed)
                continue
            used.add(phrase)
            chosen.append((record, wave))
        return chosen

    def __getitem__(self, index: int) -> TemporalExample:
        index = self._check_index(index)
        rng = _item_rng(self.seed, self.epoch, index)
        count = rng.randint(*self.num_events)
        chosen = self._draw_clips(index, rng, count)
        sr, total = self.sampling_rate, self.num_samples

        # Joins first (they fix the budget), then each segment's share of what is left.
        joins = []
        for _ in range(count - 1):
            if rng.random() < self.crossfade_probability:
                joins.append(-int(round(rng.uniform(*self.crossfade_s) * sr)))
            else:
                joins.append(int(round(rng.uniform(*self.gap_s) * sr)))
        budget = total - sum(j for j in joins if j > 0)
        weights = [rng.uniform(0.6, 1.4) for _ in chosen]
        shares = _allocate([w.size for _, w in chosen], budget, weights)
        segments = []
        for (_, wave), share in zip(chosen, shares):
            segment = _crop(wave, share, rng, sr)
            gain = 10.0 ** (rng.uniform(*self.gain_db) / 20.0)
            segments.append((level(segment, _TARGET_RMS_DB, _MAX_PEAK) * gain).astype(np.float32))
        # A crossfade never spans more than half of any segment, in whatever order they are joined.
        shortest = min(s.size for s in segments)
        joins = [max(j, -(shortest // 2)) for j in joins]
        used = sum(s.size for s in segments) + sum(joins)
        lead = rng.randint(0, max(0, total - used))

        labels = [record.label for record, _ in chosen]
        phrases = [self._phrases[label] for label in labels]
        rendered = render_caption(phrases, rng, weights=self.template_weights)
        audio, spans = _assemble(segments, joins, lead, total)
        orders = _negative_orders(rendered.negatives, rendered.events, rendered.template)
        audio_negatives = [_assemble([segments[k] for k in order], joins, lead, total)[0] for order in orders]
        timeline = [
            Event(label=label, phrase=phrase, onset=start / sr, offset=end / sr)
            for label, phrase, (start, end) in zip(labels, phrases, spans)
        ]
        return TemporalExample(
            audio=audio,
            sampling_rate=sr,
            caption=rendered.text,
            negatives=list(rendered.negatives),
            audio_negatives=audio_negatives,
            timeline=timeline,
            labels=labels,
            paraphrase=_paraphrase(phrases, rendered.template, _item_rng(self.seed + 1, self.epoch, index)),
        )


def _paraphrase(phrases: list[str], template: str, rng: random.Random) -> str | None:
    """`phrases` in the same order with another template than `template` (its own rng, so that drawing it leaves
    the items unchanged); None when no other template fits."""
    others = [name for name, (counts, _) in TEMPLATES.items() if name != template and len(phrases) in counts]
    return render_caption(phrases, rng, template=rng.choice(others)).text if others else None


# (template, number of events) -> event orders of its negatives. With distinct phrases the orders depend only
# on the template, so each template is parsed once per process instead of once per item.
_ORDER_CACHE: dict[tuple[str, int], list[tuple[int, ...]]] = {}


def _negative_orders(negatives: list[str], events: list[str], template: str | None = None) -> list[tuple[int, ...]]:
    """The event order each text negative states (indices into `events`), so audio negatives pair with them.

    Falls back to every other permutation when a negative does not parse back to a permutation of the events.
    """
    key = (template, len(events))
    if template is not None and key in _ORDER_CACHE and len(_ORDER_CACHE[key]) == len(negatives):
        return _ORDER_CACHE[key]
    orders = _parse_negative_orders(negatives, events)
    if template is not None and len(set(events)) == len(events):
        _ORDER_CACHE[key] = orders
    return orders


def _parse_negative_orders(negatives: list[str], events: list[str]) -> list[tuple[int, ...]]:
    identity = tuple(range(len(events)))
    position = {event: k for k, event in enumerate(events)}
    orders = []
    for negative in negatives:
        try:
            order = tuple(position.get(e, -1) for e in parse_events(negative).events)
        except CaptionError:
            break
        if sorted(order) != list(identity) or order == identity or order in orders:
            break
        orders.append(order)
    else:
        if len(orders) == math.factorial(len(events)) - 1:
            return orders
    return [order for order in itertools.permutations(identity) if order != identity]


# --------------------------------------------------------------------------------------------
# Single clips

# Single-event captions: none holds a word the caption grammar reads as a connective.
SINGLE_TEMPLATES = ["{}", "the sound of {}", "{} can be heard", "a recording of {}", "{} is heard", "{} nearby"]


class SingleClipDataset(_ClipDataset):
    """One clip per item (item i is records[i]): silence-trimmed, cropped at a random offset when longer than
    `seconds` (or than a length drawn from `crop_s`, (low, high) seconds: short events, as the scorer's 1-2 s
    windows see them), levelled, placed at a random onset and padded; the caption is a single-event phrase."""

    def __init__(
        self,
        records: Sequence[ClipRecord],
        sampling_rate: int = 16000,
        seconds: float = 5.0,
        seed: int = 0,
        phrases: dict[str, str] | None = None,
        gain_db=(-6.0, 0.0),
        max_retries: int = 20,
        cache_mb: float = 0.0,
        crop_s=None,
    ):
        super().__init__(records, sampling_rate, seconds, seed, phrases, max_retries, cache_mb)
        self.gain_db = _pair(gain_db, "gain_db")
        if self.gain_db[1] > 0:
            raise ValueError(f"SingleClipDataset: gain_db must be <= 0 dB, got {gain_db}")
        self.crop_s = None if crop_s is None else _pair(crop_s, "crop_s")
        if self.crop_s is not None and not 0 < self.crop_s[0]:
            raise ValueError(f"SingleClipDataset: crop_s must be positive seconds, got {crop_s}")

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> TemporalExample:
        index = self._check_index(index)
        rng = _item_rng(self.seed, self.epoch, index)
        record, failed = self.records[index], []
        while (wave := self._load(record)) is None:
            failed.append(record.path)
            if len(failed) > self.max_retries:
                raise self._too_many_failures(index, failed)
            record = rng.choice(self.records)  # a replacement drawn from the item's own generator
        sr, total = self.sampling_rate, self.num_samples
        length = total if self.crop_s is None else min(total, max(1, round(rng.uniform(*self.crop_s) * sr)))
        segment = level(_crop(wave, length, rng, sr), _TARGET_RMS_DB, _MAX_PEAK)
        segment = (segment * 10.0 ** (rng.uniform(*self.gain_db) / 20.0)).astype(np.float32)
        lead = rng.randint(0, total - segment.size)
        audio, [(start, end)] = _assemble([segment], [], lead, total)
        phrase = self._phrases[record.label]
        return TemporalExample(
            audio=audio,
            sampling_rate=sr,
            caption=rng.choice(SINGLE_TEMPLATES).format(phrase),
            timeline=[Event(label=record.label, phrase=phrase, onset=start / sr, offset=end / sr)],
            labels=[record.label],
        )


# --------------------------------------------------------------------------------------------
# Caption datasets


@dataclass(frozen=True)
class CaptionEntry:
    """One (audio, caption) pair; `audio` lists candidate paths, the first that exists is used."""

    audio: tuple[Path, ...]
    caption: str


def audiocaps_audio_names(row: dict) -> list[str]:
    """File names AudioCaps audio is commonly stored under: `{id}_{start}.wav` or `Y{id}.wav` (and .flac)."""
    youtube_id, start = row["youtube_id"], row["start_time"]
    names = [f"{youtube_id}_{start}"]
    try:
        if float(start).is_integer() and str(int(float(start))) != start:
            names.append(f"{youtube_id}_{int(float(start))}")
    except ValueError:
        pass
    names.append(f"Y{youtube_id}")
    return [name + suffix for suffix in (".wav", ".flac") for name in names]


_LAYOUT_COLUMNS = {"audiocaps": ("youtube_id", "start_time", "caption"), "clotho": ("file_name",),
                   "generic": ("path", "caption")}


class CaptionDataset(Dataset):
    """(audio, caption) pairs from AudioCaps, Clotho or a generic `path,caption` CSV, with order negatives.

    * audiocaps: audiocap_id,youtube_id,start_time,caption; audio `{youtube_id}_{start_time}.wav` or
      `Y{youtube_id}.wav` under `audio_root` (override with `audio_name_fn(row) -> name or list of names`);
    * clotho: file_name,caption_1..caption_5 -> one entry per non-empty caption;
    * generic: path,caption with paths relative to `audio_root` (default: the CSV's folder).

    Empty captions are logged and skipped (counted in `skipped_captions`). Negatives come from
    ``captions.order_negatives`` or from `rewriter.negatives(caption)`; captions that state no order get none.
    Audio is resampled to `sampling_rate`, kept from its start and cropped/padded to `seconds`. An entry whose
    audio is missing or unreadable is logged, counted in `bad_files` and replaced by another entry.
    """

    def __init__(
        self,
        csv_path,
        audio_root=None,
        layout: str = "audiocaps",
        sampling_rate: int = 16000,
        seconds: float = 10.0,
        rewriter=None,
        audio_name_fn: Callable[[dict], str | list[str]] | None = None,
        seed: int = 0,
        max_retries: int = 20,
    ):
        if layout not in _LAYOUT_COLUMNS:
            raise ValueError(f"layout must be one of {sorted(_LAYOUT_COLUMNS)}, got {layout!r}")
        if int(sampling_rate) <= 0 or not seconds or seconds <= 0:
            raise ValueError(f"sampling_rate and seconds must be positive, got {sampling_rate}, {seconds}")
        if rewriter is not None and not callable(getattr(rewriter, "negatives", None)):
            raise TypeError("rewriter must have a .negatives(caption) -> list[str] method")
        self.csv_path = Path(csv_path)
        self.audio_root = Path(audio_root) if audio_root is not None else self.csv_path.parent
        self.layout = layout
        self.sampling_rate = int(sampling_rate)
        self.seconds = float(seconds)
        self.num_samples = int(round(self.seconds * self.sampling_rate))
        self.rewriter = rewriter
        self.seed = int(seed)
        self.max_retries = int(max_retries)
        self.skipped_captions = 0
        self.bad_files: Counter = Counter()
        self._bad_reasons: dict[Path, str] = {}
        self.entries = self._read(audio_name_fn or audiocaps_audio_names)
        if not self.entries:
            raise ValueError(f"{self.csv_path}: no usable captions")

    def _read(self, audio_name_fn) -> list[CaptionEntry]:
        columns, rows = _read_csv(self.csv_path)
        _require(self.csv_path, columns, _LAYOUT_COLUMNS[self.layout])
        caption_columns = ["caption"]
        if self.layout == "clotho":
            caption_columns = sorted((c for c in columns if c.startswith("caption_")), key=lambda c: (len(c), c))
            if not caption_columns:
                raise ValueError(f"{self.csv_path}: missing required column 'caption_1' (clotho layout)")
        entries = []
        for line, row in enumerate(rows, start=2):
            if self.layout == "audiocaps":
                names = audio_name_fn(row)
                names = [names] if isinstance(names, (str, Path)) else list(names)
            else:
                names = [_value(self.csv_path, row, "file_name" if self.layout == "clotho" else "path", line)]
            audio = tuple(self.audio_root / name for name in names)
            for column in caption_columns:
                caption = " ".join(row.get(column, "").split())
                if not caption:
                    logger.warning("%s, line %d: empty %s, skipped", self.csv_path, line, column)
                    self.skipped_captions += 1
                    continue
                entries.append(CaptionEntry(audio=audio, caption=caption))
        return entries

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def captions(self) -> list[str]:
        return [entry.caption for entry in self.entries]

    def negatives(self, caption: str) -> list[str]:
        """Order negatives of a caption ([] when it states no order)."""
        if self.rewriter is not None:
            return [n for n in self.rewriter.negatives(caption) if n and n != caption]
        try:
            return order_negatives(caption)
        except CaptionError:
            return []

    def _load(self, entry: CaptionEntry) -> np.ndarray | None:
        key = entry.audio[0]
        if key in self._bad_reasons:
            self.bad_files[key] += 1
            return None
        try:
            path = next((p for p in entry.audio if p.is_file()), None)
            if path is None:
                raise FileNotFoundError(f"audio not found: {', '.join(str(p) for p in entry.audio)}")
            wave, _ = load_audio(path, sampling_rate=self.sampling_rate)
        except _LOAD_ERRORS as error:
            logger.warning("skipping unusable audio %s: %s", key, error)
            self._bad_reasons[key] = str(error)
            self.bad_files[key] += 1
            return None
        out = np.zeros(self.num_samples, dtype=np.float32)
        kept = wave[: self.num_samples]
        out[: kept.size] = kept
        return out

    def __getitem__(self, index: int) -> TemporalExample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"CaptionDataset index {index} out of range for length {len(self)}")
        index %= len(self)
        rng = _item_rng(self.seed, 0, index)
        entry, failed = self.entries[index], []
        while (audio := self._load(entry)) is None:
            failed.append(entry.audio[0])
            if len(failed) > self.max_retries:
                raise DatasetError(
                    f"CaptionDataset: {len(failed)} audio files failed to load while building item {index} "
                    f"(last: {failed[-1]}: {self._bad_reasons.get(failed[-1])}); check audio_root "
                    f"({self.audio_root}) and the file names"
                )
            entry = rng.choice(self.entries)
        return TemporalExample(
            audio=audio,
            sampling_rate=self.sampling_rate,
            caption=entry.caption,
            negatives=self.negatives(entry.caption),
        )


# --------------------------------------------------------------------------------------------
# Batching


def collate_examples(examples: Sequence[TemporalExample]) -> dict:
    """Batch TemporalExamples into the dict shared by training and evaluation (see CONTEXT/README).

    Text and audio negatives are flattened, each with the index of the example that owns it.
    """
    examples = list(examples)
    if not examples:
        raise ValueError("collate_examples: no examples")
    rates = {e.sampling_rate for e in examples}
    if len(rates) != 1:
        raise ValueError(f"collate_examples: examples have different sampling rates {sorted(rates)}")
    negatives, negative_owner, audio_negatives, audio_negative_owner = [], [], [], []
    paraphrases, paraphrase_owner = [], []
    for i, example in enumerate(examples):
        if example.paraphrase is not None and example.negatives:
            paraphrases.append(example.paraphrase)
            paraphrase_owner.append(i)
        negatives.extend(example.negatives)
        negative_owner.extend([i] * len(example.negatives))
        audio_negatives.extend(example.audio_negatives)
        audio_negative_owner.extend([i] * len(example.audio_negatives))
    return {
        "audio": [e.audio for e in examples],
        "sampling_rate": rates.pop(),
        "captions": [e.caption for e in examples],
        "negatives": negatives,
        "negative_owner": torch.tensor(negative_owner, dtype=torch.long),
        "audio_negatives": audio_negatives,
        "audio_negative_owner": torch.tensor(audio_negative_owner, dtype=torch.long),
        "paraphrases": paraphrases,
        "paraphrase_owner": torch.tensor(paraphrase_owner, dtype=torch.long),
        "labels": [list(e.labels) for e in examples],
        "timelines": [list(e.timeline) for e in examples],
    }
