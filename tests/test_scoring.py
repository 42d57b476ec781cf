"""TemporalScorer mechanics. The tiny T-CLAP has random weights, so these tests check the machinery (shapes,
batching, chunking, input handling, the rules on synthetic curves, and an oracle whose embeddings are faked),
never the accuracy of a trained model (scripts/validate_scorer.py measures that on real recordings)."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from tclap_gen.audio import AudioError
from tclap_gen.captions import parse_events
from tclap_gen.scoring import (
    _Timeline,
    CALIBRATION_KEY,
    ScoreReport,
    ScorerCalibration,
    TemporalScorer,
    contrast_for_prompt,
    curve_spans,
    faithfulness_score,
    fit_calibration,
    order_is_correct,
    order_trend,
    refine_span,
    save_calibration,
)

SR = 16000


def noise(seconds, sr=SR, seed=0, level=0.1):
    return (np.random.default_rng(seed).standard_normal(int(seconds * sr)) * level).astype(np.float32)


# ----- the public report -----------------------------------------------------------------------


def test_to_dict_schema_and_json(tiny_tclap):
    report = TemporalScorer(tiny_tclap).score(noise(2.0), SR, "glass smash then bicycle bell")
    d = report.to_dict()
    assert set(d) == {"prompt", "events", "order_probability", "order_correct", "order_trend", "faithfulness"}
    assert d["prompt"] == "glass smash then bicycle bell"
    assert [e["text"] for e in d["events"]] == ["glass smash", "bicycle bell"]
    for event in d["events"]:
        assert set(event) == {"text", "onset", "offset", "present", "confidence"}
        assert 0.0 <= event["confidence"] <= 1.0
        assert event["present"] == (event["onset"] is not None) == (event["offset"] is not None)
    assert 0.0 <= d["order_probability"] <= 1.0
    assert isinstance(d["order_correct"], bool) and isinstance(d["order_trend"], float)
    assert 0.0 <= d["faithfulness"] <= 1.0
    json.dumps(d)  # plain JSON types only
    assert report.curves.shape == (2, len(report.times))
    assert report.relations == ["before"]
    assert [c for c, _ in report.order_candidates] == ["glass smash then bicycle bell", "bicycle bell then glass smash"]
    assert sum(p for _, p in report.order_candidates) == pytest.approx(1.0, abs=1e-5)
    assert "faithfulness" in report.summary() and "glass smash" in report.summary()


def test_single_event_and_overlap_prompts(tiny_tclap):
    scorer = TemporalScorer(tiny_tclap)
    single = scorer.score(noise(1.5), SR, "a dog barks")
    assert single.order_probability is None and single.order_correct is None
    assert single.faithfulness == pytest.approx(single.events[0].confidence)
    both = scorer.score(noise(1.5), SR, "a man speaks while a kettle whistles")
    assert both.relations == ["overlap"] and both.order_probability is None
    assert isinstance(both.order_correct, bool)


def test_silent_audio_has_no_events(tiny_tclap):
    report = TemporalScorer(tiny_tclap).score(np.zeros(2 * SR, np.float32), SR, "a dog barks then a car horn honks")
    assert all(not e.present and e.onset is None for e in report.events)
    assert report.silent.all() and not report.curves.any()
    assert report.order_correct is False
    assert report.faithfulness == 0.0


@pytest.mark.parametrize(
    "wave, match",
    [
        (np.array([0.1, np.nan, 0.2] * 1000, np.float32), "NaN"),
        (np.array([0.1, np.inf] * 1000, np.float32), "NaN or Inf"),
        (np.zeros(0, np.float32), "empty"),
        (np.zeros((SR, 2), np.float32), "channels, samples"),
    ],
)
def test_bad_audio_is_a_clear_error(tiny_tclap, wave, match):
    with pytest.raises(AudioError, match=match):
        TemporalScorer(tiny_tclap).score(wave, SR, "a dog barks")


def test_bad_arguments(tiny_tclap, tmp_path):
    scorer = TemporalScorer(tiny_tclap)
    with pytest.raises(ValueError, match="prompt"):
        scorer.score(noise(1.0), SR, "  ")
    with pytest.raises(ValueError, match="sampling_rate"):
        scorer.score(noise(1.0), 0, "a dog barks")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        scorer.score_file(tmp_path / "missing.wav", "a dog barks")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioError, match="garbage.wav"):
        scorer.score_file(garbage, "a dog barks")
    with pytest.raises(ValueError, match="window_s"):
        TemporalScorer(tiny_tclap, window_s=5.0)  # the tiny model's window is 2 s
    with pytest.raises(ValueError, match="hop_s"):
        TemporalScorer(tiny_tclap, window_s=1.0, hop_s=2.0)
    with pytest.raises(ValueError, match="threshold"):
        TemporalScorer(tiny_tclap, threshold=1.5)


def test_stereo_int16_and_other_rates_are_accepted(tiny_tclap, tmp_path):
    scorer = TemporalScorer(tiny_tclap, hop_s=0.5)
    sr = 44100
    mono = noise(1.5, sr=sr, seed=3, level=0.2)
    reference = scorer.score(mono, sr, "typing then a drawer")
    pcm = np.round(mono * 32767).astype(np.int16)
    stereo_int = scorer.score(np.stack([pcm, pcm]), sr, "typing then a drawer")
    np.testing.assert_allclose(stereo_int.curves, reference.curves, atol=2e-3)
    assert stereo_int.sampling_rate == tiny_tclap.sampling_rate
    assert len(stereo_int.wave) == int(1.5 * tiny_tclap.sampling_rate)  # resampled to the model's rate
    assert stereo_int.curves.shape == (2, 2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([pcm, pcm]).T, sr, subtype="PCM_16")
    from_file = scorer.score_file(path, "typing then a drawer")
    np.testing.assert_allclose(from_file.curves, reference.curves, atol=2e-3)
    tensor = scorer.score(torch.from_numpy(mono), sr, "typing then a drawer")
    np.testing.assert_allclose(tensor.curves, reference.curves, atol=1e-6)


# ----- batching and chunking -------------------------------------------------------------------


def test_batched_windows_equal_the_per_window_loop(tiny_tclap):
    scorer = TemporalScorer(tiny_tclap, hop_s=0.5, batch_size=16)
    wave = scorer.prepare(noise(3.0, seed=1), SR)
    times, batched = scorer.window_embeddings(wave)
    loop_times, looped = scorer.window_embeddings(wave, per_window_loop=True)
    assert len(times) == 5 and batched.shape[0] == 5
    np.testing.assert_allclose(times, loop_times)
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-4)


def test_long_audio_is_processed_in_chunks(tiny_tclap, monkeypatch):
    scorer = TemporalScorer(tiny_tclap, window_s=2.0, hop_s=2.0, batch_size=4)
    calls = []
    forward = scorer._forward_windows
    monkeypatch.setattr(scorer, "_forward_windows", lambda windows: calls.append(len(windows)) or forward(windows))
    long_wave = scorer.prepare(noise(30.0, seed=2), SR)
    times, long_emb = scorer.window_embeddings(long_wave)
    assert len(times) == 15 and calls == [4, 4, 4, 3]  # one forward per chunk of at most batch_size windows

    # the first 10 s alone, unchunked, give the same windows
    whole = TemporalScorer(tiny_tclap, window_s=2.0, hop_s=2.0, batch_size=64)
    short_times, short_emb = whole.window_embeddings(long_wave[: 10 * SR])
    np.testing.assert_allclose(short_times, times[:5])
    torch.testing.assert_close(short_emb, long_emb[:5], atol=1e-5, rtol=1e-4)


def test_window_layout_covers_the_audio(tiny_tclap):
    scorer = TemporalScorer(tiny_tclap, window_s=1.0, hop_s=0.3)
    starts = scorer.window_starts(int(2.5 * SR))
    assert starts[0] == 0 and starts[-1] + SR == int(2.5 * SR)  # the last window ends at the end
    assert np.all(np.diff(starts) <= 0.3 * SR)
    assert scorer.window_starts(SR // 2).tolist() == [0]  # shorter than a window: one window of all of it
    levels = scorer.window_levels_db(np.full(3 * SR, 0.1, np.float32))
    np.testing.assert_allclose(levels, 20 * math.log10(0.1), atol=1e-4)


def test_default_windows_do_not_overlap(tiny_tclap):
    # each window costs a full forward pass of the audio tower, so the default hop is the window (issue #5)
    scorer = TemporalScorer(tiny_tclap)
    assert scorer.window_s == 1.0 and scorer.hop_s == 1.0  # the tiny model's window is 2 s: min(1 s, 2 s)
    assert (scorer.window_starts(10 * SR) / SR).tolist() == list(range(10))  # 10 s: 10 windows side by side
    assert (scorer.window_starts(int(2.5 * SR)) / SR).tolist() == [0.0, 1.0, 1.5]  # the last one ends at the end
    assert TemporalScorer(tiny_tclap, window_s=0.5).hop_s == 0.5
    assert TemporalScorer(tiny_tclap, hop_s=0.25).window_starts(2 * SR).size == 5  # finer onsets stay available


# ----- pure rules on synthetic data ------------------------------------------------------------


def test_order_is_correct_follows_the_steam_rule():
    assert order_is_correct([(0.0, 1.0), (1.5, 3.0)], ["before"]) is True
    assert order_is_correct([(1.5, 3.0), (0.0, 1.0)], ["before"]) is False  # reversed
    assert order_is_correct([(0.0, 1.0), None], ["before"]) is False  # an event missed
    assert order_is_correct([(0.0, 2.0), (0.0, 3.0)], ["before"]) is False  # same start: not "before"
    # overlap of 0.4 s, shorter event 1.0 s: under half -> still in order; 0.5 s -> not any more
    assert order_is_correct([(0.0, 2.0), (1.6, 2.6)], ["before"]) is True
    assert order_is_correct([(0.0, 2.0), (1.5, 2.5)], ["before"]) is False
    assert order_is_correct([(0.0, 1.0), (2.0, 3.0), (4.0, 5.0)], ["before", "before"]) is True
    assert order_is_correct([(0.0, 1.0), (4.0, 5.0), (2.0, 3.0)], ["before", "before"]) is False
    # overlap relations need overlap of at least half the shorter event; groups are ordered as wholes
    assert order_is_correct([(0.0, 2.0), (1.0, 3.0)], ["overlap"]) is True
    assert order_is_correct([(0.0, 2.0), (1.5, 3.0)], ["overlap"]) is False  # 0.5 s of 1.5 s: a boundary smear
    assert order_is_correct([(0.0, 9.0), (3.0, 4.0)], ["overlap"]) is True  # one inside the other
    assert order_is_correct([(0.0, 1.0), (2.0, 3.0)], ["overlap"]) is False
    assert order_is_correct([(0.0, 2.0), (0.5, 2.0), (3.0, 4.0)], ["overlap", "before"]) is True
    assert order_is_correct([(0.0, 2.0), (0.5, 5.0), (3.0, 4.0)], ["overlap", "before"]) is False
    assert order_is_correct([(0.0, 1.0)], []) is None
    with pytest.raises(ValueError, match="relation"):
        order_is_correct([(0.0, 1.0), (1.0, 2.0)], [])
    with pytest.raises(ValueError, match="before"):
        order_is_correct([(0.0, 1.0), (1.0, 2.0)], ["after"])


def test_order_trend_on_synthetic_cosines():
    times = np.arange(6) + 0.5
    rising, falling = np.linspace(0.0, 1.0, 6), np.linspace(1.0, 0.0, 6)
    loud = np.ones(6, dtype=bool)
    a_then_b = np.stack([falling, rising])  # a's cosine is high early, b's late
    trend = order_trend(a_then_b, times, loud, ["a", "b"], ["before"])
    # d = falling - rising falls by 0.4 a window; -mean(z * d) for z standardised over 6 evenly spaced centres
    z = (times - times.mean()) / times.std()
    assert trend == pytest.approx(-np.mean(z * (falling - rising)), rel=1e-12) and trend > 0
    assert order_trend(a_then_b[::-1], times, loud, ["a", "b"], ["before"]) == pytest.approx(-trend, rel=1e-12)
    # a constant offset between the two cosines says nothing about order
    assert order_trend(np.stack([rising + 0.3, rising]), times, loud, ["a", "b"], ["before"]) == pytest.approx(0, abs=1e-12)
    # silent windows are left out: only the loud ones carry the trend
    quiet_tail = np.array([True, True, True, True, False, False])
    flipped = a_then_b.copy()
    flipped[:, 4:] = flipped[::-1, 4:]
    assert order_trend(flipped, times, quiet_tail, ["a", "b"], ["before"]) > 0
    # "a while b, then c": the weakest of the pairs (a, c), (b, c) decides
    abc = np.stack([falling, falling * 0.1, rising])
    weak = order_trend(abc, times, loud, ["a", "b", "c"], ["overlap", "before"])
    assert weak == pytest.approx(order_trend(abc[1:], times, loud, ["b", "c"], ["before"]), rel=1e-12)
    # no "before" pair, a repeated text, fewer than two loud windows: no trend
    assert order_trend(a_then_b, times, loud, ["a", "b"], ["overlap"]) is None
    assert order_trend(np.stack([falling, rising, falling]), times, loud, ["a", "b", "a"], ["before", "before"]) is None
    assert order_trend(a_then_b, times, np.eye(6, dtype=bool)[0], ["a", "b"], ["before"]) is None


def test_order_trend_turns_over_with_the_segments_order(tiny_tclap):
    """Five 1 s segments played in reverse order give the windows in reverse order: the trend changes sign."""
    segments = [noise(1.0, seed=s, level=0.05 * (s + 1)) for s in range(5)]
    scorer = TemporalScorer(tiny_tclap, window_s=1.0)
    forward = scorer.score(np.concatenate(segments), SR, "glass smash then bicycle bell")
    backward = scorer.score(np.concatenate(segments[::-1]), SR, "glass smash then bicycle bell")
    assert forward.order_trend != 0 and backward.order_trend == pytest.approx(-forward.order_trend, rel=1e-4, abs=1e-7)
    assert scorer.score(np.concatenate(segments), SR, "glass smash").order_trend is None


def test_curve_spans_on_synthetic_curves():
    times = np.arange(10) * 0.5 + 0.25  # windows centred every 0.5 s over 5 s
    curve = np.array([0, 0, 0.9, 0.8, 0.7, 0, 0, 0, 0, 0], float)
    assert curve_spans(curve, times, 0.5, 5.0) == [(1.0, 2.5, 2, 5)]  # half-way between centres
    assert curve_spans(np.zeros(10), times, 0.5, 5.0) == []
    edges = np.array([0.9, 0.9, 0, 0, 0, 0, 0, 0, 0.9, 0.9])
    assert curve_spans(edges, times, 0.5, 5.0, count=2) == [(0.0, 1.0, 0, 2), (4.0, 5.0, 8, 10)]  # clip edges
    # the strongest run wins; a one-window gap is bridged only when fill_gap_s allows it
    two = np.array([0.6, 0.6, 0, 0.9, 0.9, 0.9, 0, 0, 0, 0])
    assert curve_spans(two, times, 0.5, 5.0) == [(1.5, 3.0, 3, 6)]
    assert curve_spans(two, times, 0.5, 5.0, fill_gap_s=1.0) == [(0.0, 3.0, 0, 6)]
    assert [s[:2] for s in curve_spans(two, times, 0.5, 5.0, count=2)] == [(0.0, 1.0), (1.5, 3.0)]


def test_faithfulness_formula():
    assert faithfulness_score([0.8], None, None) == pytest.approx(0.8)  # single event: presence
    assert faithfulness_score([1.0, 0.6], True, 0.9) == pytest.approx(0.8 * 0.95)
    assert faithfulness_score([1.0, 0.6], False, 0.9) == pytest.approx(0.8 * 0.45)
    assert faithfulness_score([1.0, 1.0], True, None) == 1.0  # overlap-only prompt
    assert faithfulness_score([1.0, 1.0], False, None) == 0.0
    grid = [faithfulness_score([c, 0.5], ok, p) for c in (0.0, 0.5, 1.0) for ok in (False, True) for p in (0.0, 1.0)]
    assert all(0.0 <= value <= 1.0 for value in grid)
    assert faithfulness_score([0.9, 0.5], True, 0.2) > faithfulness_score([0.8, 0.5], True, 0.2)
    assert faithfulness_score([0.9, 0.5], True, 0.3) > faithfulness_score([0.9, 0.5], True, 0.2)
    assert faithfulness_score([0.9, 0.5], True, 0.2) > faithfulness_score([0.9, 0.5], False, 0.2)


def test_duplicate_event_texts_take_runs_in_time_order(tiny_tclap):
    scorer = TemporalScorer(tiny_tclap, hop_s=0.5)
    times = np.arange(10) * 0.5 + 0.25
    dog = np.array([0.9, 0.9, 0, 0, 0, 0, 0, 0.8, 0.8, 0])
    cat = np.array([0, 0, 0, 0.9, 0.9, 0, 0, 0, 0, 0])
    events = ["a dog barks", "a cat meows", "a dog barks"]
    def timeline(curves):  # no edge refinement: the windows' own boundaries
        return _Timeline(np.stack(curves), times, np.zeros(10, dtype=bool), 5.0, (times - 0.25, times + 0.25), None,
                         np.stack(curves))

    scores = scorer._event_scores(events, timeline([dog, cat, dog]))
    assert [(s.onset, s.offset) for s in scores] == [(0.0, 1.0), (1.5, 2.5), (3.5, 4.5)]
    assert order_is_correct([(s.onset, s.offset) for s in scores], ["before", "before"]) is True
    only_once = scorer._event_scores(events, timeline([cat, dog, cat]))
    assert only_once[0].present and not only_once[2].present and only_once[2].confidence < 0.5


def test_trained_classes_compete_unless_they_name_an_event():
    classes = ["glass smashing", "bicycle bell ringing", "blender running", "dishwasher running", "typing on a keyboard"]
    kept = contrast_for_prompt(classes, ["a glass shatters", "someone types"])
    assert kept == ["bicycle bell ringing", "blender running", "dishwasher running"]
    assert contrast_for_prompt(classes, ["a dishwasher running"]) == [
        "glass smashing", "bicycle bell ringing", "blender running", "typing on a keyboard"]  # "running" is generic
    stub = SimpleNamespace(max_samples=2 * SR, sampling_rate=SR, info=SimpleNamespace(extra={"classes": classes}))
    scorer = TemporalScorer(stub)
    assert scorer._competitor_pool(["glass smash"]) == ["silence", "background noise"] + classes[1:]
    assert TemporalScorer(stub, contrast_texts=None, background_texts=["quiet"])._competitor_pool(["x"]) == ["quiet"]
    assert scorer._unknown_event_warnings(["glass smash", "a whale sings"]) == [
        "'a whale sings' shares no word with the sounds the model was trained on; its score is unreliable"]


# ----- an oracle: embeddings faked so that the right answer is known ---------------------------

LOW, HIGH = "a low tone", "a high tone"
BASIS = {LOW: 0, HIGH: 1, "silence": 2, "background noise": 2}


def fake_text_axis(text):
    """Events and background on their own axes; a caption on axis 3 when it says low-then-high, else 4."""
    if text in BASIS:
        return BASIS[text]
    return 3 if parse_events(text).events == [LOW, HIGH] and "while" not in text else 4


def tone_scene(sr=SR, boundary=3.0):
    """0.5 s silence, a 300 Hz tone to `boundary` s, a 3 kHz tone to 5.5 s, 0.5 s silence."""
    t = np.arange(6 * sr) / sr
    wave = np.zeros_like(t)
    low, high = (t >= 0.5) & (t < boundary), (t >= boundary) & (t < 5.5)
    wave[low] = 0.3 * np.sin(2 * np.pi * 300 * t[low])
    wave[high] = 0.3 * np.sin(2 * np.pi * 3000 * t[high])
    return wave.astype(np.float32)


def oracle_scorer(tiny_tclap, monkeypatch, **kwargs):
    """A scorer whose audio embedding is (power below 1 kHz, power above) and whose texts sit on fixed axes."""
    scorer = TemporalScorer(tiny_tclap, logit_scale=20.0, **kwargs)

    def windows(batch):
        rows = []
        for w in batch:
            spectrum = np.abs(np.fft.rfft(w)) ** 2
            freqs = np.fft.rfftfreq(len(w), 1 / SR)
            rows.append([spectrum[freqs < 1000].sum(), spectrum[freqs >= 1000].sum(), 1e-9, 0, 0])
        return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)

    monkeypatch.setattr(scorer, "_forward_windows", windows)
    monkeypatch.setattr(scorer, "_embed_texts", lambda texts: torch.eye(5)[[fake_text_axis(t) for t in texts]])
    monkeypatch.setattr(scorer, "_clip_embedding", lambda wave: torch.eye(5)[[3]])  # "sounds like low then high"
    return scorer


def test_oracle_timeline_and_order(tiny_tclap, monkeypatch, tmp_path):
    # a fine hop (4 overlapping windows per second): onsets between sounds to an eighth of a second
    scorer = oracle_scorer(tiny_tclap, monkeypatch, hop_s=0.25)
    right = scorer.score(tone_scene(), SR, f"{LOW} then {HIGH}")
    low, high = right.events
    assert low.present and high.present
    # edges next to silence are refined to the 10 ms energy frames; the boundary between the tones lies within
    # half a hop of the truth (the windows that straddle it hold both tones)
    assert low.onset == pytest.approx(0.5, abs=0.011) and high.offset == pytest.approx(5.5, abs=0.011)
    assert low.offset == pytest.approx(3.0, abs=0.125) and high.onset == pytest.approx(3.0, abs=0.125)
    assert right.order_correct is True and right.order_probability > 0.99 and right.order_trend > 0
    assert right.faithfulness > 0.9
    unrefined = oracle_scorer(tiny_tclap, monkeypatch, refine=False, hop_s=0.25).score(
        tone_scene(), SR, f"{LOW} then {HIGH}")
    assert unrefined.events[0].onset == 0.0  # the first window (0-1 s) is all low tone once silence is ignored

    wrong = scorer.score(tone_scene(), SR, f"{HIGH} then {LOW}")
    assert [e.text for e in wrong.events] == [HIGH, LOW]
    assert wrong.order_correct is False and wrong.order_probability < 0.01 and wrong.order_trend < 0
    assert wrong.faithfulness < 0.5
    # "after" states the same temporal order as "then": the timeline agrees
    assert scorer.score(tone_scene(), SR, f"{HIGH} after {LOW}").order_correct is True
    # "while" needs the events to overlap, which they do not (only the windows at their boundary hold both)
    assert scorer.score(tone_scene(), SR, f"{LOW} while {HIGH}").order_correct is False

    figure = right.plot(tmp_path / "report.png")
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.png"]  # no temporary file left behind
    assert len(figure.axes) == 2


def test_oracle_at_the_default_hop(tiny_tclap, monkeypatch):
    # the boundary between the tones (3.3 s) falls inside a window: with windows side by side it lands on a window
    # edge within half a hop of the truth, while the edges next to silence are still refined to 10 ms
    scene = tone_scene(boundary=3.3)
    scorer = oracle_scorer(tiny_tclap, monkeypatch)
    right = scorer.score(scene, SR, f"{LOW} then {HIGH}")
    assert right.hop_s == right.window_s == 1.0
    np.testing.assert_allclose(right.times, np.arange(6) + 0.5)  # 6 s: 6 windows, no overlap
    low, high = right.events
    assert low.present and high.present
    assert low.onset == pytest.approx(0.5, abs=0.011) and high.offset == pytest.approx(5.5, abs=0.011)
    assert low.offset == pytest.approx(3.3, abs=0.5) and high.onset == pytest.approx(3.3, abs=0.5)
    assert abs(low.offset - 3.3) > 0.125  # coarser than the fine hop above: the cost of 4x fewer windows
    assert right.order_correct is True
    assert scorer.score(scene, SR, f"{HIGH} then {LOW}").order_correct is False
    fine = oracle_scorer(tiny_tclap, monkeypatch, hop_s=0.25).score(scene, SR, f"{LOW} then {HIGH}")
    assert fine.events[0].offset == pytest.approx(3.3, abs=0.125)


def test_oracle_is_the_same_with_the_loop_and_other_chunks(tiny_tclap, monkeypatch):
    batched = oracle_scorer(tiny_tclap, monkeypatch, batch_size=3).score(tone_scene(), SR, f"{LOW} then {HIGH}")
    whole = oracle_scorer(tiny_tclap, monkeypatch, batch_size=1000).score(tone_scene(), SR, f"{LOW} then {HIGH}")
    np.testing.assert_allclose(batched.curves, whole.curves, atol=1e-6)
    assert batched.to_dict() == whole.to_dict()


def test_oracle_with_a_calibration_uses_the_margin(tiny_tclap, monkeypatch):
    calibration = ScorerCalibration(offset=0.1, slope=30.0, window_s=1.0, recall=1.0, false_presence=0.0, mixes=1)
    scorer = oracle_scorer(tiny_tclap, monkeypatch, calibration=calibration)
    right = scorer.score(tone_scene(), SR, f"{LOW} then {HIGH}")
    assert all(e.present for e in right.events) and right.order_correct is True
    assert scorer.score(tone_scene(), SR, f"{HIGH} then {LOW}").order_correct is False
    # the window at 2-3 s holds only the low tone: margin = cos(low) - max(cos(high), cos(silence)) ~ 1 - 0
    window = 2
    low = F.normalize(scorer._forward_windows([tone_scene()[window * SR:(window + 1) * SR]]), dim=-1)[0]
    margin = float(low[0] - max(low[1], low[2]))
    expected = 1 / (1 + math.exp(-30.0 * (margin - 0.1)))
    assert right.curves[0, window] == pytest.approx(expected, abs=1e-6)  # float32 cosines, recomputed
    assert right.curves[1, window] < 1e-6  # the high tone's margin there is about -1


def test_fit_calibration_picks_the_lowest_offset_within_the_false_presence_limit(monkeypatch):
    classes = ["a", "b", "c", "d"]
    stub = SimpleNamespace(max_samples=SR, sampling_rate=SR, info=SimpleNamespace(extra={}),
                           embed_text=lambda texts: torch.zeros(len(texts), 2))
    scorer = TemporalScorer(stub, contrast_texts=None)
    # per example: the margins of classes a-d; "a" is present in every example, the rest never
    rows = iter([np.array([0.30, 0.10, -0.20, -0.40]), np.array([0.05, 0.00, -0.10, -0.30]),
                 np.array([0.20, -0.05, 0.02, -0.50])] * 2)
    monkeypatch.setattr(scorer, "class_margins", lambda wave, text_emb, rivals: next(rows))
    examples = [(np.zeros(SR, np.float32), SR, {"a"})] * 3
    fitted = fit_calibration(scorer, examples, classes, max_false_presence=0.2)
    # negatives sorted: -0.5 -0.4 -0.3 -0.2 -0.1 -0.05 0.0 0.02 0.1; at most 0.2 of 9 may pass: offset 0.02 lets
    # 0.02 and 0.1 through (2/9 > 0.2), 0.05 (next margin above 0.02) lets only 0.1 through (1/9)
    assert fitted.offset == pytest.approx(0.05) and fitted.recall == pytest.approx(1.0)
    assert fitted.false_presence == pytest.approx(1 / 9) and fitted.mixes == 3 and fitted.window_s == 1.0
    assert fitted.slope > 0
    youden = fit_calibration(scorer, examples, classes, max_false_presence=None)
    assert youden.recall - youden.false_presence == pytest.approx(1.0 - 1 / 9)
    rows = iter([np.array([0.3, 0.1, 0.0, 0.0])])
    with pytest.raises(ValueError, match="some classes are present and some are not"):
        fit_calibration(scorer, [(np.zeros(SR, np.float32), SR, set())], classes)


def test_a_stored_calibration_is_used_by_default(tiny_tclap, tmp_path):
    folder = tiny_tclap.save_pretrained(tmp_path / "tclap")
    calibration = ScorerCalibration(offset=-0.02, slope=15.0, window_s=0.5, recall=0.7, false_presence=0.1, mixes=9)
    save_calibration(folder, calibration)
    info = json.loads((folder / "tclap_config.json").read_text())
    assert info["extra"][CALIBRATION_KEY] == calibration.to_dict()
    assert info["temporal_weight"] == tiny_tclap.info.temporal_weight  # the rest of the file is kept
    scorer = TemporalScorer.from_pretrained(folder)
    assert scorer.calibration == calibration and scorer.window_s == 0.5
    assert TemporalScorer.from_pretrained(folder, window_s=1.0).window_s == 1.0
    # fitted with the trained classes as competitors: without them (--no-contrast) it does not apply
    assert TemporalScorer.from_pretrained(folder, contrast_texts=None).calibration is None
    assert TemporalScorer.from_pretrained(folder, calibration=None).calibration is None
    with pytest.raises(ValueError, match="calibration must be"):
        TemporalScorer(tiny_tclap, calibration="yes")
    with pytest.raises(FileNotFoundError, match="not a T-CLAP folder"):
        save_calibration(tmp_path, calibration)


def test_calibration_script_fits_on_training_clips_and_writes(tiny_tclap, clips_csv, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "calibrate_scorer.py"
    run = [sys.executable, str(script), "--model", str(tmp_path / "model"), "--clips", str(clips_csv), "--n", "6"]
    tiny_tclap.save_pretrained(tmp_path / "model")
    proc = subprocess.run(run + ["--write"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "lists no trained classes" in proc.stderr  # nothing to compete with
    from tclap_gen.datasets import label_to_phrase

    labels = sorted({row.split(",")[1] for row in clips_csv.read_text().splitlines()[1:]})
    info_file = tmp_path / "model" / "tclap_config.json"  # the shared fixture itself stays as it is
    info = json.loads(info_file.read_text())
    info["extra"]["classes"] = [label_to_phrase(label) for label in labels]
    info_file.write_text(json.dumps(info))
    proc = subprocess.run(run + ["--write", "--window", "0.5", "--max-false-presence", "2"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 2 and "--max-false-presence must be in [0, 1]" in proc.stderr
    proc = subprocess.run(run + ["--write", "--window", "0.5"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = json.loads((tmp_path / "model" / "tclap_config.json").read_text())["extra"][CALIBRATION_KEY]
    assert stored["mixes"] == 6 and stored["window_s"] == 0.5 and 0 <= stored["false_presence"] <= 1


def test_from_pretrained_folder(tiny_tclap, tmp_path):
    tiny_tclap.save_pretrained(tmp_path / "tclap")
    scorer = TemporalScorer.from_pretrained(tmp_path / "tclap", window_s=0.5, threshold=0.4)
    assert scorer.window_s == 0.5 and scorer.hop_s == 0.5 and scorer.threshold == 0.4  # hop defaults to the window
    report = scorer.score(noise(1.0), SR, "a dog barks")
    assert isinstance(report, ScoreReport) and len(report.events) == 1


def test_refine_span_moves_edges_to_the_sound():
    loud = np.zeros(600, bool)  # 10 ms frames over 6 s
    loud[50:300] = True  # sound from 0.5 s to 3.0 s, silence around it
    # raw span from window centres, first window 0-1 s, last window 2.5-3.5 s
    assert refine_span(0.0, 3.4, (0.0, 1.0), (2.5, 3.5), loud) == pytest.approx((0.5, 3.0))
    # the estimate falls inside the sound and the sound began after silence within the first window: move back
    assert refine_span(0.625, 3.4, (0.25, 1.25), (2.5, 3.5), loud) == pytest.approx((0.5, 3.0))
    # sound fills the edge windows (another event before / after): the window estimate stays
    everywhere = np.ones(600, bool)
    assert refine_span(0.625, 2.875, (0.25, 1.25), (2.0, 3.0), everywhere) == (0.625, 2.875)
    # no loud frame in the edge windows: nothing to refine against
    assert refine_span(4.0, 5.0, (3.5, 4.5), (4.5, 5.5), loud) == (4.0, 5.0)


def test_validation_script_runs_on_real_clips(tiny_tclap, clips_csv, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "validate_scorer.py"
    tiny_tclap.save_pretrained(tmp_path / "model")
    proc = subprocess.run([sys.executable, str(script), "--model", str(tmp_path / "model"), "--clips", str(clips_csv),
                           "--n", "4", "--events", "2", "--seconds", "3", "--hop", "0.5", "--json"],
                          capture_output=True, text=True, timeout=600)  # a script is run, not imported
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["setup"]["heldout_clips"] == 6  # one of the two recordings of each of the 6 classes
    row = out["results"]["2"]
    assert row["mixups"] == 4
    keys = ("order_accuracy", "presence_recall", "false_presence", "reversed_judged_wrong", "global_order_accuracy",
            "trend_order_accuracy", "reversed_trend_judged_wrong")
    for key in keys:
        assert 0.0 <= row[key] <= 1.0


def test_validation_script_takes_a_heldout_mixer(tiny_tclap, clips_csv, tmp_path):
    """--mixer overlap: 2-event mixes by order_transfer's own mixer, the true spans where mix_two_timed put them."""
    import random
    import subprocess
    import sys
    from pathlib import Path

    from tclap_gen.order_transfer import mix_two, mix_two_timed

    first, second = noise(3.0, seed=1), noise(3.0, seed=2, level=0.3)
    ab, ba, spans_ab, spans_ba = mix_two_timed(first, second, "overlap", random.Random(5))
    np.testing.assert_array_equal(ab, mix_two(first, second, "overlap", random.Random(5))[0])  # the same mix
    (a_on, a_off), (b_on, b_off) = spans_ab
    assert a_on < b_on < a_off < b_off <= ab.size / SR  # overlapping, second starts before the first ends
    assert spans_ba[1][1] - spans_ba[1][0] == pytest.approx(a_off - a_on)  # the same segment, placed second
    assert np.abs(ab[int(b_off * SR):]).max(initial=0) == 0  # nothing after the last segment

    script = Path(__file__).resolve().parents[1] / "scripts" / "validate_scorer.py"
    tiny_tclap.save_pretrained(tmp_path / "model")
    run = [sys.executable, str(script), "--model", str(tmp_path / "model"), "--clips", str(clips_csv), "--n", "3",
           "--mixer", "overlap", "--json"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["setup"]["mixer"] == "overlap" and list(out["results"]) == ["2"]
    assert out["results"]["2"]["mixups"] == 3
    proc = subprocess.run(run + ["--events", "3"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and "2-event mixes only" in proc.stderr
