"""`tclap-gen eval generation`: the caption reader, STEAM-form rules, FD, and the whole command on real clips."""

import json
from pathlib import Path

import numpy as np
import pytest

from tclap_gen.audio import load_audio, save_audio
from tclap_gen.cli import main
from tclap_gen.eval_generation import (
    evaluate_generation,
    frechet_distance,
    ordering_outcome,
    read_audiotime_captions,
    segment_counts,
)

SR = 16000


def write_captions(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------------------------------------ reader
def test_reader_takes_audiotime_files_and_names_what_is_wrong(tmp_path):
    good = {"syn_1": {"caption": "a dog barks then a horn", "event": {"dog": [[2.0, 3.0], [0.1, 1.0]], "horn": [[3.5, 5]]}}}
    entries, task = read_audiotime_captions(write_captions(tmp_path / "c.json", good))
    assert task == "timestamp" and entries["syn_1"].events["dog"] == [(0.1, 1.0), (2.0, 3.0)]  # sorted by onset

    durations = {"syn_2": {"caption": "a cat meowed for 1.1 seconds", "event": {"Cat": [1.092]}}}
    path = write_captions(tmp_path / "d.json", durations)
    with pytest.raises(ValueError, match=r"d\.json: entry 'syn_2', event 'Cat'.*--task duration or --task frequency"):
        read_audiotime_captions(path)
    assert read_audiotime_captions(path, "duration")[0]["syn_2"].events["Cat"] == [1.092]

    bad = [
        ({"x": {"caption": "", "event": {"a": [[0, 1]]}}}, "caption"),
        ({"x": {"caption": "c", "event": {}}}, "event"),
        ({"x": {"caption": "c", "event": {"a": [[2, 1]]}}}, "onset < offset"),
        ({"x": {"caption": "c", "event": {"a": [[0, float("nan")]]}}}, "finite"),
        ({"../x": {"caption": "c", "event": {"a": [[0, 1]]}}}, "path separators"),
        ([1, 2], "top level"),
    ]
    for data, message in bad:
        with pytest.raises(ValueError, match=message):
            read_audiotime_captions(write_captions(tmp_path / "bad.json", data))
    (tmp_path / "latin.json").write_bytes('{"x": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ValueError, match="not a UTF-8 JSON"):
        read_audiotime_captions(tmp_path / "latin.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_audiotime_captions(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="task must be one of"):
        read_audiotime_captions(tmp_path / "c.json", "order")


# ------------------------------------------------------------------------------------------------ rules
def test_ordering_outcome_follows_steam():
    ref = {"dog": [(0.0, 2.0)], "horn": [(2.5, 4.0)]}
    assert ordering_outcome(ref, {"dog": [(0.1, 2.1)], "horn": [(2.4, 4.0)]}) == "correct"
    assert ordering_outcome(ref, {"dog": [(0.1, 2.1)], "horn": []}) == "non_detect"
    assert ordering_outcome(ref, {"dog": [(2.5, 4.0)], "horn": [(0.0, 2.0)]}) == "occur_error"
    assert ordering_outcome(ref, {"dog": [(1.0, 3.0)], "horn": [(1.0, 2.0)]}) == "occur_error"  # same onset
    # the dog's whole event (0 - 3.5) runs 1.5 s into the horn's (2 - 4): more than half the shorter (2 s)
    assert ordering_outcome(ref, {"dog": [(0.0, 1.0), (3.0, 3.5)], "horn": [(2.0, 4.0)]}) == "overlap_error"
    assert ordering_outcome(ref, {"dog": [(0.0, 2.9)], "horn": [(2.0, 4.0)]}) == "correct"  # 0.9 s < 1.0 s
    with pytest.raises(ValueError, match="exactly two labels"):
        ordering_outcome({"dog": [(0, 1)]}, {})


def test_segment_counts_are_sed_eval_segments():
    ref = {"dog": [(0.2, 1.5)], "horn": [(3.0, 4.0)]}
    # dog active in segments 0-1, horn in 3; detected dog in 1-2, horn in 3
    assert segment_counts(ref, {"dog": [(1.2, 2.5)], "horn": [(3.1, 3.9)]}, 5.0) == (2, 1, 1)
    assert segment_counts(ref, ref, 5.0) == (3, 0, 0)
    assert segment_counts(ref, {}, 5.0) == (0, 0, 3)
    assert segment_counts({"a": [(4.5, 6.0)]}, {"a": [(4.6, 5.0)]}, 5.0) == (1, 0, 0)  # past the clip: clipped


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance(a, a + np.array([2.0, 0, 0, 0]))
    assert shifted == pytest.approx(4.0, rel=1e-6)  # |mu_a - mu_b|^2, covariances equal
    # 3a: covariance C vs 9C gives tr(C) + 9 tr(C) - 2 * 3 tr(C) = 4 tr(C); the means differ by 2 mu
    scaled = frechet_distance(a, 3 * a)
    assert scaled == pytest.approx(4 * np.trace(np.cov(a, rowvar=False)) + 4 * (a.mean(0) ** 2).sum(), rel=1e-6)
    few = frechet_distance(a[:3], a[3:6] + 1.0)  # fewer clips than dimensions: finite, not NaN
    assert np.isfinite(few)
    with pytest.raises(ValueError, match="embedding sets"):
        frechet_distance(a[:, :3], a)


# ------------------------------------------------------------------------------------------------ end to end
def _mix(first: np.ndarray, second: np.ndarray, gap_s: float = 0.4, total_s: float = 5.0):
    """first then second, each at most 2.2 s, and their true spans."""
    a, b = first[: int(2.2 * SR)], second[: int(2.2 * SR)]
    out = np.zeros(int(total_s * SR), dtype=np.float32)
    start_b = len(a) + int(gap_s * SR)
    out[: len(a)] += a / (np.abs(a).max() + 1e-9) * 0.5
    out[start_b : start_b + len(b)] += b / (np.abs(b).max() + 1e-9) * 0.5
    return out, (0.0, len(a) / SR), (start_b / SR, (start_b + len(b)) / SR)


@pytest.fixture(scope="module")
def mixes(clips_csv, tmp_path_factory):
    """Real clips mixed in order (in_order/) and the same pairs reversed (reversed/), one caption file for both."""
    root = tmp_path_factory.mktemp("steam")
    folder = clips_csv.parent
    clips = {name: load_audio(folder / f, SR)[0] for name, f in [
        ("bicycle bell ringing", "uiowa_bikeBell02.flac"), ("glass smashing", "uiowa_GlassSmash02.flac"),
        ("typing on a keyboard", "uiowa_typing02.flac"), ("water splashing", "uiowa_WaterSplashing03.flac")]}
    names = list(clips)
    captions = {}
    for k, (x, y) in enumerate([(a, b) for a in names for b in names if a != b][:6]):
        wave, span_x, span_y = _mix(clips[x], clips[y])
        save_audio(root / "in_order" / f"mix_{k}.wav", wave, SR)
        save_audio(root / "reversed" / f"mix_{k}.wav", _mix(clips[y], clips[x])[0], SR)
        captions[f"mix_{k}"] = {"caption": f"{x} then {y}", "event": {x: [list(span_x)], y: [list(span_y)]}}
    return root, write_captions(root / "captions.json", captions)


@pytest.mark.slow
def test_real_mixes_in_order_score_better_than_reversed(mixes, tmp_path, capsys):
    """The whole command on real clips with the shipped mini as grounding model. The STEAM ordering error needs both
    events detected, and the mini misses "glass smashing" in 1 s windows of these clips (session 14: 4 of the 6
    in-order mixes are non-detections), so it may be 1.0 both ways; test_ordering_outcome_follows_steam checks the rule.
    What detection there is sits where the events are: segment F1 and onset error tell the orders apart."""
    root, captions = mixes
    outputs = {}
    for name in ("in_order", "reversed"):
        csv_path, png = tmp_path / f"{name}.csv", tmp_path / f"{name}.png"
        assert main(["eval", "generation", str(root / name), "--captions", str(captions), "--reference",
                     str(root / "in_order"), "--json", "--csv", str(csv_path), "--plot", str(png), "--no-progress"]) == 0
        outputs[name] = json.loads(capsys.readouterr().out)
        assert png.stat().st_size > 1000 and csv_path.read_text().count("\n") == 1 + 12  # a row per (clip, label)
    ordered, reversed_ = outputs["in_order"], outputs["reversed"]
    for key in ("ordering_error_rate", "onset_l1", "offset_l1", "duration_l1", "frequency_l1", "segment_f1",
                "clap_score", "fd", "kl"):
        assert key in ordered and ordered[key] is not None, key
    assert ordered["grounding_model"].startswith("TemporalScorer(mini") and ordered["n_ordering"] == 6
    assert ordered["ordering_error_rate"] <= reversed_["ordering_error_rate"]
    assert sum(ordered["ordering_errors"].values()) == ordered["n_ordering"]
    assert ordered["segment_f1"] > reversed_["segment_f1"]
    assert ordered["onset_l1"] < reversed_["onset_l1"]
    # the in-order clips ARE the reference: FD and KL vanish (up to float32 embeddings and sqrtm)
    assert ordered["fd"] == pytest.approx(0.0, abs=1e-3) and ordered["kl"] == pytest.approx(0.0, abs=1e-6)
    assert reversed_["kl"] > 1e-4


def test_missing_clips_and_bad_folders_fail_before_scoring(mixes, tmp_path, capsys):
    root, captions = mixes
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "mix_0.wav").write_bytes((root / "in_order" / "mix_0.wav").read_bytes())
    with pytest.raises(FileNotFoundError, match=r"mix_1\.wav is missing"):
        evaluate_generation(partial, captions, scorer=None)
    assert main(["eval", "generation", str(tmp_path / "none"), "--captions", str(captions)]) == 2
    assert "not a folder" in capsys.readouterr().err
    bad = write_captions(tmp_path / "bad.json", {"x": {"caption": "c", "event": {"a": [3.0]}}})
    assert main(["eval", "generation", str(root / "in_order"), "--captions", str(bad)]) == 2
    assert "--task duration" in capsys.readouterr().err
