"""Temporal re-ranking hands its score reports on: the kept candidate is scored once, by the pipeline, and what
`generate_to_folder` writes is that report (tiny random pipeline, nothing downloaded)."""

import json

import numpy as np
import pytest
import torch

from tclap_gen.audio import load_audio
from tclap_gen.generate import generate_to_folder, safe_stem
from tclap_gen.scoring import TemporalScorer
from tolerances import RECOMPUTED_ATOL, rounded_atol

PROMPTS = ["a dog barks then a car horn honks", "glass smashing followed by a bicycle bell"]
SECONDS = 0.25  # the tiny vocoder makes 4 samples a mel frame: keep the latents short
STEPS = 2


def small_scorer(tclap, **kwargs):
    """Windows short enough that a 0.25 s clip has several of them (a report with a real timeline)."""
    return TemporalScorer(tclap, window_s=0.1, hop_s=0.05, **kwargs)


def counting(scorer, monkeypatch):
    """Record every wave `scorer.score` is called with."""
    calls = []
    score = scorer.score

    def wrapper(wave, sampling_rate, prompt):
        calls.append((np.array(wave, copy=True), prompt))
        return score(wave, sampling_rate=sampling_rate, prompt=prompt)

    monkeypatch.setattr(scorer, "score", wrapper)
    return calls


def assert_same_report_dict(ours: dict, theirs: dict):
    """Two ScoreReport.to_dict() of the same audio, scored twice: equal up to recomputation (see tolerances.py),
    whose 1e-7 differences can cross the rounding of confidences (4 places) and onsets (3 places)."""
    assert ours["prompt"] == theirs["prompt"] and ours["order_correct"] == theirs["order_correct"]
    for key in ("order_probability", "faithfulness"):
        assert (ours[key] is None) == (theirs[key] is None)
        assert ours[key] is None or ours[key] == pytest.approx(theirs[key], abs=rounded_atol(4)), key
    assert len(ours["events"]) == len(theirs["events"])
    for a, b in zip(ours["events"], theirs["events"]):
        assert (a["text"], a["present"]) == (b["text"], b["present"])
        assert a["confidence"] == pytest.approx(b["confidence"], abs=rounded_atol(4))
        for key in ("onset", "offset"):
            assert (a[key] is None) == (b[key] is None) and (a[key] is None or a[key] == pytest.approx(b[key], abs=rounded_atol(3)))


def assert_same_report(report, fresh):
    assert_same_report_dict(report.to_dict(), fresh.to_dict())
    np.testing.assert_array_equal(report.times, fresh.times)
    np.testing.assert_allclose(report.curves, fresh.curves, rtol=0, atol=RECOMPUTED_ATOL)  # probabilities
    np.testing.assert_array_equal(report.wave, fresh.wave)
    assert (report.window_s, report.hop_s) == (fresh.window_s, fresh.hop_s)


def test_pipeline_returns_the_kept_candidates_reports(pipe, tiny_tclap):
    n = 2
    kwargs = dict(num_inference_steps=STEPS, num_waveforms_per_prompt=n, audio_length_in_s=SECONDS)
    candidates = pipe(PROMPTS, generator=torch.Generator().manual_seed(3), **kwargs).audios
    scorer = small_scorer(tiny_tclap)
    out = pipe(PROMPTS, generator=torch.Generator().manual_seed(3), rerank="temporal", scorer=scorer, **kwargs)
    assert len(out.reports) == len(PROMPTS)
    fresh_scorer = small_scorer(tiny_tclap)
    for i, prompt in enumerate(PROMPTS):
        report = out.reports[i]
        assert report.prompt == prompt and len(report.times) == 4  # the given scorer's windows, not the default's
        assert report.faithfulness == out.scores[i] == max(out.candidates_scores[i])
        # the report is that of the kept audio: the same as scoring it afresh
        assert_same_report(report, fresh_scorer.score(out.audios[i], sampling_rate=pipe.sampling_rate, prompt=prompt))
        best = int(np.argmax(out.candidates_scores[i]))
        np.testing.assert_allclose(out.audios[i], candidates[i * n + best], rtol=0, atol=RECOMPUTED_ATOL)  # 2nd call
    assert len({round(s, 9) for row in out.candidates_scores for s in row}) == n * len(PROMPTS)  # not all ties

    # the tuple form is unchanged; other modes carry no reports; a scorer without temporal re-ranking is a mistake
    as_tuple = pipe(PROMPTS, generator=torch.Generator().manual_seed(3), rerank="temporal", return_dict=False,
                    **kwargs)
    assert len(as_tuple) == 3
    assert pipe(PROMPTS, rerank="clap", **kwargs).reports is None
    assert pipe(PROMPTS, **kwargs).reports is None
    with pytest.raises(ValueError, match="`scorer` is only used with rerank=\"temporal\""):
        pipe(PROMPTS, rerank="clap", scorer=scorer, **kwargs)


def test_generate_scores_the_kept_candidate_once(pipe, tiny_tclap, tmp_path, monkeypatch):
    n = 3
    scorer = small_scorer(tiny_tclap)
    calls = counting(scorer, monkeypatch)
    records = list(generate_to_folder([PROMPTS[0]], tmp_path, pipe=pipe, scorer=scorer, seed=5, steps=STEPS,
                                      seconds=SECONDS, candidates=n, rerank="temporal"))
    # one scoring per candidate during re-ranking, none afterwards (it was n + 1 when generate re-scored the kept one)
    assert len(calls) == n and all(prompt == PROMPTS[0] for _, prompt in calls)

    record = records[0]
    candidates = pipe(PROMPTS[0], num_inference_steps=STEPS, audio_length_in_s=SECONDS, num_waveforms_per_prompt=n,
                      generator=torch.Generator().manual_seed(5)).audios  # the same candidates, no re-ranking
    for (wave, _), candidate in zip(calls, candidates):
        np.testing.assert_allclose(wave, candidate, rtol=0, atol=RECOMPUTED_ATOL)  # generated again: tolerances.py
    fresh = [small_scorer(tiny_tclap).score(wave, sampling_rate=pipe.sampling_rate, prompt=PROMPTS[0])
             for wave in candidates]
    best = int(np.argmax([report.faithfulness for report in fresh]))
    assert_same_report_dict(record["score"], fresh[best].to_dict())  # what is written is the kept candidate's report
    assert record["rerank_score"] == pytest.approx(fresh[best].faithfulness, abs=RECOMPUTED_ATOL)
    saved, rate = load_audio(tmp_path / record["audio"])
    assert rate == pipe.sampling_rate
    np.testing.assert_allclose(saved, candidates[best], atol=1.5 / 32767)  # the kept audio (16-bit PCM)
    stem = safe_stem(PROMPTS[0])
    assert json.loads((tmp_path / f"{stem}.json").read_text()) == record  # the record is what was written
    assert record["audio"] == f"{stem}.wav" and record["plot"] == f"{stem}.png"
    assert (tmp_path / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("candidates, rerank", [(1, "temporal"), (2, "clap"), (2, None)])
def test_generate_scores_once_without_temporal_reranking(pipe, tiny_tclap, tmp_path, monkeypatch, candidates, rerank):
    scorer = small_scorer(tiny_tclap)
    calls = counting(scorer, monkeypatch)
    record = next(generate_to_folder([PROMPTS[1]], tmp_path, pipe=pipe, scorer=scorer, seed=1, steps=STEPS,
                                     seconds=SECONDS, candidates=candidates, rerank=rerank))
    assert len(calls) == 1  # only the kept audio, by generate itself
    fresh = small_scorer(tiny_tclap).score(calls[0][0], sampling_rate=pipe.sampling_rate, prompt=PROMPTS[1])
    assert record["score"] == fresh.to_dict()
    assert record["rerank"] == (rerank if candidates > 1 else None)
    assert (record["rerank_score"] is None) == (candidates == 1 or rerank is None)


def test_generate_passes_layout_and_canonicalize_and_records_them(pipe, tiny_tclap, tmp_path):
    (record,) = generate_to_folder(["a car horn honks after a dog barks"], tmp_path, pipe=pipe,
                                   scorer=small_scorer(tiny_tclap), steps=STEPS, seconds=SECONDS, layout="auto",
                                   canonicalize=True)
    assert record["canonicalize"] is True
    assert [span["text"] for span in record["layout"]] == ["a dog barks", "a car horn honks"]
    assert json.loads((tmp_path / record["audio"]).with_suffix(".json").read_text())["layout"] == record["layout"]
    agreement = record["plan_agreement"]  # the plan against what the scorer found
    assert [row["text"] for row in agreement["events"]] == ["a dog barks", "a car horn honks"]
    assert agreement["found"] == sum(e["present"] for e in record["score"]["events"]) / 2
