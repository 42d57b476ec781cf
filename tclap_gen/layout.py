"""Temporal layout: which stretch of the clip each event of a prompt conditions.

`plan_layout` turns a caption into spans: `parse_events` gives the events in temporal order, grouped where they
overlap; the groups share the clip one after another (equally, or in proportion to per-event duration priors) and
the events of one group share its span. `check_spans` validates explicit spans. `layout_masks` turns spans into
soft masks over the latent frames: each span ramps in and out over `crossfade_s` (neighbouring spans cross-fade,
meeting at 0.5), events that share frames share them equally, and `fill` is what no event covers (the whole
prompt conditions it). At every frame the event masks plus the fill sum to one.

The pipeline blends the UNet's noise predictions with these masks (see TClapAudioLDMPipeline, `layout=`).
`plan_agreement` compares a plan with what the temporal scorer then finds in the generated audio.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import torch

from .captions import BEFORE, parse_events


@dataclass(frozen=True)
class EventSpan:
    """One event and the stretch of the clip, in seconds, that it conditions."""

    text: str
    start: float
    end: float

    def to_dict(self) -> dict:
        return asdict(self)


def plan_layout(caption: str, seconds: float, durations: dict[str, float] | None = None) -> list[EventSpan]:
    """Spans for the events of `caption` over a clip of `seconds`: sequential groups one after another, events
    that overlap sharing their group's span. `durations` (event text -> seconds) weights a group's share by its
    longest event's prior; events without a prior weigh as the mean prior (1 when none is given). A caption with
    fewer than two events gets one span over the whole clip."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    plan = parse_events(caption)
    groups = plan.groups() or [[caption]]
    priors = {k: float(v) for k, v in (durations or {}).items()}
    if any(not v > 0 for v in priors.values()):
        raise ValueError(f"durations must be positive seconds, got {durations}")
    default = sum(priors.values()) / len(priors) if priors else 1.0
    weights = [max(priors.get(event, default) for event in group) for group in groups]
    spans, start = [], 0.0
    for group, weight in zip(groups, weights):
        end = start + seconds * weight / sum(weights)
        spans.extend(EventSpan(event, start, end) for event in group)
        start = end
    return spans


_NUMBER, _UNIT = r"(\d+(?:\.\d+)?)", r"\s*(?:s|secs?|seconds?)\b"
# An event's own time at the end of its text: "from 0 to 2 s", "0-2 s", "(0 - 2 s)", "at 2.5 s", "starting at 3 s".
# The last number needs its unit: "knocks 2 to 3 times" states no time.
_SPAN_RE = re.compile(rf"\s*\(?\s*(?:from\s+|between\s+)?{_NUMBER}(?:{_UNIT})?\s*(?:to|-|–|and|until)\s*{_NUMBER}{_UNIT}"
                      r"\s*\)?$", re.I)
_START_RE = re.compile(rf"\s*\(?\s*(?:starting\s+|beginning\s+)?at\s+{_NUMBER}{_UNIT}\s*\)?$", re.I)


def timed_spans(caption: str, seconds: float) -> list[EventSpan] | None:
    """The spans a caption states itself ("a dog barks from 0 to 2 s, then a car horn honks at 2.5 s"), or None
    when no event of it states a time. Each event may end with "from X to Y s", "X-Y s", "(X-Y s)" or "at X s"; an
    event with a start only lasts until the next event starts (the last one: until the clip's end). The time is
    cut from the event's text (the event row is conditioned on "a dog barks"). Raises ValueError naming the event
    when one event states a time and another does not, a span lies outside the clip or is reversed, or two events
    joined by a sequence connective overlap."""
    plan = parse_events(caption)
    found = []
    for event in plan.events:
        span, start = _SPAN_RE.search(event), _START_RE.search(event)
        match = span or start
        if match is None:
            found.append((event, None, None))
            continue
        end = float(span.group(2)) if span else None
        found.append((event[: match.start()].strip(" ,"), float(match.group(1)), end))
    if all(start is None for _, start, _ in found):
        return None
    untimed = [text for text, start, _ in found if start is None]
    if untimed:
        raise ValueError(f"caption {caption!r}: the event {untimed[0]!r} states no time while others do; "
                         "give every event a time, or none")
    spans = []
    for i, (text, start, end) in enumerate(found):
        if end is None:
            later = [s for _, s, _ in found[i + 1:] if s > start]
            end = later[0] if later else seconds
        spans.append((text, start, end))
    spans = check_spans(spans, seconds, name="caption times")
    for i, relation in enumerate(plan.relations):
        if relation == BEFORE and spans[i].end > spans[i + 1].start + 1e-6:
            raise ValueError(f"caption {caption!r}: {spans[i].text!r} ({spans[i].start:g}-{spans[i].end:g} s) comes "
                             f"before {spans[i + 1].text!r} but overlaps it ({spans[i + 1].start:g} s)")
    return spans


def auto_spans(caption: str, seconds: float, durations: dict[str, float] | None = None) -> list[EventSpan]:
    """What layout="auto" conditions on: the caption's own times when it states them (`timed_spans`), else
    plan_layout's spans; none for a caption of one event without a time (plain generation, no event rows)."""
    timed = timed_spans(caption, seconds)
    if timed is not None:
        return timed
    spans = plan_layout(caption, seconds, durations)
    return spans if len(spans) > 1 else []


def check_spans(events, seconds: float, name: str = "events") -> list[EventSpan]:
    """`events` as EventSpans: (text, start, end) tuples or EventSpans, inside [0, seconds], start < end, text not
    empty. Raises ValueError naming the bad span."""
    spans = []
    for i, event in enumerate(events):
        span = event if isinstance(event, EventSpan) else None
        if span is None:
            try:
                text, start, end = event
                span = EventSpan(str(text), float(start), float(end))
            except (TypeError, ValueError):
                raise ValueError(f"`{name}[{i}]` must be (text, start_s, end_s), got {event!r}") from None
        if not span.text.strip():
            raise ValueError(f"`{name}[{i}]` has an empty text: {event!r}")
        if not (0.0 <= span.start < span.end <= seconds + 1e-6):
            raise ValueError(
                f"`{name}[{i}]` = {event!r}: a span must have 0 <= start < end <= the clip's {seconds:g} s"
            )
        spans.append(span)
    if not spans:
        raise ValueError(f"`{name}` is empty: give at least one (text, start_s, end_s)")
    return spans


def layout_masks(spans: list[EventSpan], num_frames: int, frame_s: float,
                 crossfade_s: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """(masks (events, frames), fill (frames,)) over latent frames of `frame_s` seconds; see the module docstring."""
    centres = (torch.arange(num_frames, dtype=torch.float64) + 0.5) * frame_s
    ramp = max(float(crossfade_s), frame_s)  # at least one frame, so that a boundary is never a hard step
    raw = []
    for span in spans:
        rising = (centres - span.start) / ramp + 0.5
        falling = (span.end - centres) / ramp + 0.5
        # a span that starts at 0 (ends at the clip's end) has no fade there: nothing comes before (after) it
        if span.start <= 0:
            rising = torch.ones_like(centres)
        if span.end >= num_frames * frame_s - 1e-9:
            falling = torch.ones_like(centres)
        raw.append(torch.minimum(rising, falling).clamp(0.0, 1.0))
    masks = torch.stack(raw)
    total = masks.sum(dim=0)
    masks = torch.where(total > 1.0, masks / total.clamp_min(1e-12), masks)
    fill = (1.0 - masks.sum(dim=0)).clamp_min(0.0)
    return masks.float(), fill.float()


@dataclass
class LayoutBatch:
    """The UNet rows of one denoising step with a layout, and how their predictions are blended.

    Per waveform: an unconditional row (with classifier-free guidance), a whole-prompt row and one row per event,
    all in ONE batched UNet call. The conditional prediction is
        global_weight * whole + (1 - global_weight) * (sum_e masks_e * event_e + fill * whole)
    along the latents' time axis (dim 2); guidance then applies to it as to a plain prediction.
    """

    class_labels: torch.Tensor  # (rows, D)
    owner: torch.Tensor  # (rows,) the waveform each row denoises
    rows: list[tuple[int | None, int, list[int]]]  # per waveform: (unconditional row, whole-prompt row, event rows)
    masks: list[torch.Tensor]  # per waveform (events, latent frames)
    fill: list[torch.Tensor]  # per waveform (latent frames,)
    global_weight: float

    @classmethod
    def build(cls, spans_per_waveform: list[list[EventSpan]], event_embeds: list[torch.Tensor],
              prompt_embeds: torch.Tensor, negative_embeds: torch.Tensor | None, num_frames: int, frame_s: float,
              global_weight: float, crossfade_s: float = 0.25) -> "LayoutBatch":
        labels, owner, rows, masks, fills = [], [], [], [], []

        def add(embedding: torch.Tensor, waveform: int) -> int:
            labels.append(embedding)
            owner.append(waveform)
            return len(labels) - 1

        for b, (spans, embeds) in enumerate(zip(spans_per_waveform, event_embeds)):
            uncond = None if negative_embeds is None else add(negative_embeds[b], b)
            whole = add(prompt_embeds[b], b)
            events = [add(e, b) for e in embeds]
            mask, fill = layout_masks(spans, num_frames, frame_s, crossfade_s) if spans else (
                torch.zeros(0, num_frames), torch.ones(num_frames))
            rows.append((uncond, whole, events))
            masks.append(mask.to(prompt_embeds.device, prompt_embeds.dtype))
            fills.append(fill.to(prompt_embeds.device, prompt_embeds.dtype))
        return cls(torch.stack(labels), torch.tensor(owner, device=prompt_embeds.device), rows, masks, fills,
                   float(global_weight))

    def predict(self, unet, latents: torch.Tensor, t, guidance_scale: float | None, cross_attention_kwargs=None):
        """The guided noise prediction for `latents` (waveforms, C, T, F), from one UNet call over every row."""
        pred = unet(latents[self.owner], t, encoder_hidden_states=None, class_labels=self.class_labels,
                    cross_attention_kwargs=cross_attention_kwargs).sample
        out = []
        for (uncond, whole, events), mask, fill in zip(self.rows, self.masks, self.fill):
            local = (mask[:, None, :, None] * pred[events]).sum(dim=0) + fill[None, :, None] * pred[whole]
            cond = self.global_weight * pred[whole] + (1.0 - self.global_weight) * local
            out.append(cond if uncond is None else pred[uncond] + guidance_scale * (cond - pred[uncond]))
        return torch.stack(out)


def plan_agreement(planned, events) -> dict:
    """How well the audio followed its plan: `planned` spans (EventSpan or their dicts) against the scorer's `events`
    (EventScore or their dicts, as in a report's "events"). Each planned span is matched to the next unmatched
    reported event with its text. Per event: found, onset and offset errors (s) and the overlap of the found span
    with the planned one (intersection over union, 0 when not found); then the share found and the means (errors
    over the events found)."""
    pending = [e if isinstance(e, dict) else e.to_dict() for e in events]
    rows = []
    for span in planned:
        span = span if isinstance(span, dict) else span.to_dict()
        match = next((e for e in pending if e["text"] == span["text"]), None)
        if match is not None:
            pending.remove(match)
        row = {"text": span["text"], "found": bool(match and match["present"]), "onset_error_s": None,
               "offset_error_s": None, "iou": 0.0}
        if row["found"]:
            onset, offset = float(match["onset"]), float(match["offset"])
            inter = max(0.0, min(offset, span["end"]) - max(onset, span["start"]))
            union = max(offset, span["end"]) - min(onset, span["start"])
            row.update(onset_error_s=abs(onset - span["start"]), offset_error_s=abs(offset - span["end"]),
                       iou=inter / union if union > 0 else 0.0)
        rows.append(row)
    found = [r for r in rows if r["found"]]

    def mean(values):
        return sum(values) / len(values) if values else None

    return {"events": rows, "found": mean([float(r["found"]) for r in rows]),
            "onset_error_s": mean([r["onset_error_s"] for r in found]),
            "offset_error_s": mean([r["offset_error_s"] for r in found]), "iou": mean([r["iou"] for r in rows])}
