"""Temporal layout: the planner, the masks, and the pipeline's layout= / events= (one batched UNet call a step,
plain generation unchanged when off)."""

import numpy as np
import pytest
import torch

from tclap_gen.layout import EventSpan, check_spans, layout_masks, plan_layout
from tolerances import RECOMPUTED_ATOL

STEPS = 3
SECONDS = 0.25  # the tiny pipeline: 4 samples a mel frame, VAE scale 2 -> 2 ms latent frames


def test_plan_shares_the_clip_in_temporal_order_and_overlaps_share_a_span():
    spans = plan_layout("a car horn honks after a dog barks", 6.0)
    assert spans == [EventSpan("a dog barks", 0.0, 3.0), EventSpan("a car horn honks", 3.0, 6.0)]
    spans = plan_layout("a dog barks then rain falls while thunder rolls", 4.0)
    assert [(s.text, s.start, s.end) for s in spans] == [("a dog barks", 0.0, 2.0), ("rain falls", 2.0, 4.0),
                                                         ("thunder rolls", 2.0, 4.0)]
    spans = plan_layout("a door slams then a dog barks", 6.0, durations={"a door slams": 1.0, "a dog barks": 2.0})
    assert spans[0].end == pytest.approx(2.0) and spans[1].end == pytest.approx(6.0)
    assert plan_layout("a dog barks", 5.0) == [EventSpan("a dog barks", 0.0, 5.0)]
    with pytest.raises(ValueError, match="durations"):
        plan_layout("a then b", 5.0, durations={"a": 0.0})


@pytest.mark.parametrize("spans", [
    [EventSpan("a", 0.0, 1.0), EventSpan("b", 1.0, 2.0), EventSpan("c", 2.0, 3.0)],
    [EventSpan("a", 0.0, 1.5), EventSpan("b", 1.5, 3.0), EventSpan("c", 1.5, 3.0)],  # an overlap group
    [EventSpan("a", 0.2, 0.9), EventSpan("b", 1.8, 2.6)],  # gaps: the whole prompt fills them
])
def test_masks_and_fill_sum_to_one_at_every_frame(spans):
    masks, fill = layout_masks(spans, num_frames=75, frame_s=0.04)
    assert masks.shape == (len(spans), 75) and (masks >= 0).all() and (fill >= 0).all()
    torch.testing.assert_close(masks.sum(0) + fill, torch.ones(75), rtol=0, atol=1e-6)  # float32 sums of <= 3 terms
    centre = lambda s: int((s.start + s.end) / 2 / 0.04)
    for k, span in enumerate(spans):
        assert masks[k, centre(span)] > 0.45  # each event holds the middle of its own span (shared when overlapping)


def test_bad_spans_name_the_span():
    with pytest.raises(ValueError, match=r"`events\[1\]`.*0 <= start < end <= the clip's 5 s"):
        check_spans([("a dog barks", 0, 2), ("a horn", 3, 2)], 5.0)
    with pytest.raises(ValueError, match=r"`events\[0\]`.*the clip's 5 s"):
        check_spans([("a dog barks", 0, 6)], 5.0)
    with pytest.raises(ValueError, match=r"`events\[0\]` has an empty text"):
        check_spans([(" ", 0, 1)], 5.0)
    with pytest.raises(ValueError, match=r"must be \(text, start_s, end_s\)"):
        check_spans([("a dog barks", 0)], 5.0)
    with pytest.raises(ValueError, match="is empty"):
        check_spans([], 5.0)


def count_unet_calls(pipe, monkeypatch):
    calls = []
    forward = pipe.unet.forward

    def counted(sample, *args, **kwargs):
        calls.append(sample.shape[0])
        return forward(sample, *args, **kwargs)

    monkeypatch.setattr(pipe.unet, "forward", counted)
    return calls


def run(pipe, prompt, seed=0, **kwargs):
    return pipe(prompt, num_inference_steps=STEPS, audio_length_in_s=SECONDS,
                generator=torch.Generator().manual_seed(seed), **kwargs)


def test_auto_layout_is_one_batched_call_a_step_and_changes_the_audio(pipe, monkeypatch):
    plain = run(pipe, "a dog barks then a car horn honks")
    assert plain.layouts is None
    calls = count_unet_calls(pipe, monkeypatch)
    out = run(pipe, "a dog barks then a car horn honks", layout="auto", num_waveforms_per_prompt=2)
    assert calls == [2 * (2 + 2)] * STEPS  # per waveform: unconditional, whole prompt, 2 events; one call a step
    assert out.layouts == [[{"text": "a dog barks", "start": 0.0, "end": 0.125},
                            {"text": "a car horn honks", "start": 0.125, "end": 0.25}]]
    assert out.audios.shape == (2, int(SECONDS * 16000)) and np.isfinite(out.audios).all()
    assert not np.allclose(out.audios[0], plain.audios[0], rtol=0, atol=1e-4)


def test_a_single_event_with_layout_is_plain_generation(pipe):
    plain = run(pipe, "a dog barks", seed=3).audios
    laid_out = run(pipe, "a dog barks", seed=3, layout="auto")
    assert laid_out.layouts == [[]]
    np.testing.assert_allclose(laid_out.audios, plain, rtol=0, atol=RECOMPUTED_ATOL)  # another call: tolerances.py


TIMED_CASES = [
    ("a dog barks from 0 to 2 s, then a car horn honks at 2.5 s", [("a dog barks", 0, 2), ("a car horn honks", 2.5, 5)]),
    ("a dog barks (0-2 s) then a car horn honks (2.5 - 5 seconds)", [("a dog barks", 0, 2), ("a car horn honks", 2.5, 5)]),
    ("a bell rings at 1 s, then glass smashes at 3 s", [("a bell rings", 1, 3), ("glass smashes", 3, 5)]),
    ("a dog barks between 1 and 2 s", [("a dog barks", 1, 2)]),
    ("a dog barks from 0 to 4 s while rain falls from 0 to 5 s", [("a dog barks", 0, 4), ("rain falls", 0, 5)]),
]


@pytest.mark.parametrize("caption, spans", TIMED_CASES)
def test_captions_with_times_give_their_spans(caption, spans):
    from tclap_gen.layout import auto_spans, timed_spans

    expected = [EventSpan(text, float(start), float(end)) for text, start, end in spans]
    assert timed_spans(caption, 5.0) == expected == auto_spans(caption, 5.0)


def test_captions_without_times_or_with_bad_ones():
    from tclap_gen.layout import timed_spans

    assert timed_spans("a dog barks then a car horn honks", 5.0) is None
    assert timed_spans("a door knocks 2 to 3 times then a bell rings", 5.0) is None  # no unit: not a time
    with pytest.raises(ValueError, match="'a car horn' states no time"):
        timed_spans("a dog barks from 0 to 2 s then a car horn", 5.0)
    with pytest.raises(ValueError, match="comes before 'a car horn honks' but overlaps it"):
        timed_spans("a dog barks from 0 to 3 s, then a car horn honks at 2.5 s", 5.0)
    with pytest.raises(ValueError, match=r"`caption times\[0\]`.*the clip's 5 s"):
        timed_spans("a dog barks from 3 to 9 s", 5.0)
    with pytest.raises(ValueError, match=r"`caption times\[0\]`"):
        timed_spans("a dog barks from 3 to 1 s", 5.0)


def test_a_caption_with_times_conditions_as_explicit_events(pipe):
    caption = "a dog barks from 0 to 0.1 s, then a car horn honks at 0.15 s"
    timed = run(pipe, caption, seed=2, layout="auto")
    assert timed.layouts == [[{"text": "a dog barks", "start": 0.0, "end": 0.1},
                              {"text": "a car horn honks", "start": 0.15, "end": SECONDS}]]
    explicit = run(pipe, caption, seed=2, events=[("a dog barks", 0.0, 0.1), ("a car horn honks", 0.15, SECONDS)])
    np.testing.assert_allclose(timed.audios, explicit.audios, rtol=0, atol=RECOMPUTED_ATOL)  # another call


def test_whole_prompt_weight_one_is_plain_generation(pipe):
    """layout_weight=1 keeps only the whole-prompt prediction: the blend must reduce to plain guidance."""
    plain = run(pipe, "a dog barks then a car horn honks", seed=4).audios
    full = run(pipe, "a dog barks then a car horn honks", seed=4, layout="auto", layout_weight=1.0).audios
    np.testing.assert_allclose(full, plain, rtol=0, atol=1e-5)  # same maths, another batch: a few ulps, amplified


def test_explicit_events_for_several_prompts_with_another_scheduler_and_reranking(pipe):
    from diffusers import DPMSolverMultistepScheduler

    original = pipe.scheduler
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(original.config)
    try:
        out = run(pipe, ["a dog barks then a car horn honks", "glass smashing"], num_waveforms_per_prompt=2,
                  rerank="clap", events=[[("a dog barks", 0.0, 0.1), ("a car horn honks", 0.12, 0.25)],
                                         [("glass smashing", 0.05, 0.2)]])
    finally:
        pipe.scheduler = original
    assert out.audios.shape == (2, int(SECONDS * 16000)) and len(out.scores) == 2
    assert out.layouts[1] == [{"text": "glass smashing", "start": 0.05, "end": 0.2}]
    with pytest.raises(ValueError, match="spans for 1 prompts, but there are 2"):
        run(pipe, ["a", "b"], events=[("a", 0.0, 0.1)])
    with pytest.raises(ValueError, match="not both"):
        run(pipe, "a then b", layout="auto", events=[("a", 0.0, 0.1)])
    with pytest.raises(ValueError, match="`layout` must be None or"):
        run(pipe, "a then b", layout="manual")
    with pytest.raises(ValueError, match="`layout_weight`"):
        run(pipe, "a then b", layout="auto", layout_weight=1.5)
    with pytest.raises(ValueError, match=r"`events\[0\]`"):
        run(pipe, "a then b", events=[("a", 0.2, 0.1)])


def test_the_report_plot_draws_the_planned_spans(tiny_tclap):
    from tclap_gen.scoring import TemporalScorer

    wave = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    report = TemporalScorer(tiny_tclap).score(wave, 16000, "a dog barks then a car horn honks")
    plain = report.plot()
    planned = report.plot(planned=[{"text": "a dog barks", "start": 0.0, "end": 1.5},
                                   {"text": "a car horn honks", "start": 1.5, "end": 3.0}])
    texts = [t.get_text() for t in planned.axes[0].texts]
    assert texts == ["plan: a dog barks", "plan: a car horn honks"] and not plain.axes[0].texts


def test_plan_agreement_matches_planned_spans_to_found_events():
    from tclap_gen.layout import EventSpan, plan_agreement

    planned = [EventSpan("a dog barks", 0.0, 2.0), EventSpan("a car horn honks", 2.0, 5.0),
               EventSpan("a dog barks", 5.0, 6.0)]
    events = [{"text": "a dog barks", "onset": 0.5, "offset": 2.0, "present": True, "confidence": 0.9},
              {"text": "a car horn honks", "onset": None, "offset": None, "present": False, "confidence": 0.1},
              {"text": "a dog barks", "onset": 4.0, "offset": 6.0, "present": True, "confidence": 0.8}]
    agreement = plan_agreement(planned, events)
    first, horn, second = agreement["events"]
    assert first == {"text": "a dog barks", "found": True, "onset_error_s": 0.5, "offset_error_s": 0.0, "iou": 0.75}
    assert horn["found"] is False and horn["iou"] == 0.0 and horn["onset_error_s"] is None
    assert second["onset_error_s"] == 1.0 and second["iou"] == 0.5  # matched to the second "a dog barks"
    assert agreement["found"] == 2 / 3 and agreement["onset_error_s"] == 0.75 and agreement["offset_error_s"] == 0.0
    assert agreement["iou"] == (0.75 + 0.0 + 0.5) / 3
    nothing = plan_agreement(planned[:1], [])
    assert nothing["found"] == 0.0 and nothing["onset_error_s"] is None
