import json
from pathlib import Path

import pytest

from tclap_gen.cli import main
from tclap_gen.generate import safe_stem


def test_parse_prints_events_in_temporal_order(capsys):
    assert main(["parse", "a car horn honks after a dog barks", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"] == ["a dog barks", "a car horn honks"]
    assert data["relations"] == ["before"]
    assert data["order_negatives"] == ["a dog barks after a car horn honks"]


def test_errors_name_the_bad_file(tmp_path, capsys):
    missing = tmp_path / "nope.wav"
    assert main(["score", str(missing), "a dog barks", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "tclap-gen score: error" in err and "nope.wav" in err


def test_safe_stem_is_sanitised_bounded_and_collision_free():
    stem = safe_stem("../../etc/passwd then " + "x" * 500)
    assert "/" not in stem and "." not in stem and len(stem) <= 70
    assert safe_stem("Dog barks, then car horn") != safe_stem("dog barks then car horn")
    assert safe_stem("???") .startswith("prompt-")


def test_score_without_class_contrast_is_the_scorer_without_classes(capsys):
    """--no-contrast drops the trained classes from each event's competitors, and with them the calibration fitted
    with them: the CLI gives what TemporalScorer(contrast_texts=None) gives. Against the uncalibrated softmax the
    classes only enlarge the denominator, so leaving them out raises every event's peak confidence."""
    from tclap_gen.scoring import TemporalScorer

    clip = Path(__file__).parent / "data" / "clips" / "kitchen20_0-101477-A-3.flac"
    prompt = "a glass smashes then a bell rings"
    cli = []
    for extra in ([], ["--no-contrast"]):
        assert main(["score", str(clip), prompt, "--json", *extra]) == 0
        cli.append([event["confidence"] for event in json.loads(capsys.readouterr().out)["events"]])

    def confidences(**kwargs):
        return [event.confidence for event in TemporalScorer.from_pretrained("mini", **kwargs).score_file(clip, prompt).events]

    assert len(cli[0]) == 2 and cli[1] != cli[0]
    assert cli[0] == pytest.approx(confidences(), abs=1e-4)  # the JSON keeps 4 decimals
    assert cli[1] == pytest.approx(confidences(contrast_texts=None), abs=1e-4)
    assert all(b >= a for a, b in zip(confidences(calibration=None), confidences(contrast_texts=None)))
