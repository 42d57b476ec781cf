"""The scripts behind the README's mini figures run end to end on tiny models and the test clips (their figures
come from the shipped models and ../shared/data; here only the machinery is checked)."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from tclap_gen.tiny_components import tiny_pipeline

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_generation_judges_every_pipeline_and_the_real_mixups(tiny_tclap, clips_csv, tmp_path, capsys):
    tiny_pipeline(tiny_tclap, seed=0).save_pretrained(tmp_path / "a")
    tiny_pipeline(tiny_tclap, seed=1).save_pretrained(tmp_path / "b")
    tiny_tclap.save_pretrained(tmp_path / "judge")
    argv = ["--clips", str(clips_csv), "--pipelines", str(tmp_path / "a"), str(tmp_path / "b"),
            "--scorer", str(tmp_path / "judge"), "--n", "3", "--steps", "2", "--seconds", "2", "--batch", "2",
            "--out", str(tmp_path / "wavs"), "--json"]
    assert load_script("compare_generation").main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["prompts"]) == 3 and all(" " in prompt for prompt in out["prompts"])
    assert set(out["results"]) == {"real held-out mix-ups (ceiling)", str(tmp_path / "a"), str(tmp_path / "b")}
    for by_judge in out["results"].values():
        assert set(by_judge) == {"class contrast", "no class contrast"}
        for row in by_judge.values():
            assert row["clips"] == 3
            for key in ("order_accuracy", "both_found"):
                assert 0.0 <= row[key] <= 100.0
            assert 0.0 <= row["mean_faithfulness"] <= 1.0
    assert set(out["generation_s_per_clip"]) == {str(tmp_path / "a"), str(tmp_path / "b")}
    assert len(list((tmp_path / "wavs").rglob("*.wav"))) == 6


def test_compare_generation_rejects_a_bad_count(clips_csv):
    with pytest.raises(SystemExit):
        load_script("compare_generation").main(["--clips", str(clips_csv), "--n", "0"])


def test_order_similarity_reports_both_towers(tiny_tclap, clips_csv, tmp_path, capsys):
    tiny_tclap.save_pretrained(tmp_path / "model")
    assert load_script("order_similarity").main(["--model", str(tmp_path / "model"), "--clips", str(clips_csv),
                                                  "--n", "3"]) == 0
    line = capsys.readouterr().out
    text, audio = (float(v) for v in re.search(r"text (\S+), audio (\S+);", line).groups())
    assert -1.0 <= text <= 1.0 and -1.0 <= audio <= 1.0
    assert "3 held-out 2-event mix-ups" in line
