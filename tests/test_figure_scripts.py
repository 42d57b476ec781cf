"""The scripts behind the README's mini figures run end to end on tiny models and the test clips (their figures
come from the shipped models and ../shared/data; here only the machinery is checked)."""

import json
import re
import subprocess
import sys
from pathlib import Path

from tclap_gen.testing import tiny_pipeline

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    """The script as a user runs it (scripts are entry points, not libraries to import)."""
    return subprocess.run([sys.executable, str(SCRIPTS / f"{name}.py"), *args], capture_output=True, text=True,
                          timeout=600)


def test_compare_generation_judges_every_pipeline_and_the_real_mixups(tiny_tclap, clips_csv, tmp_path):
    tiny_pipeline(tiny_tclap, seed=0).save_pretrained(tmp_path / "a")
    tiny_pipeline(tiny_tclap, seed=1).save_pretrained(tmp_path / "b")
    tiny_tclap.save_pretrained(tmp_path / "judge")
    argv = ["--clips", str(clips_csv), "--pipelines", str(tmp_path / "a"), str(tmp_path / "b"),
            "--scorer", str(tmp_path / "judge"), "--n", "3", "--steps", "2", "--seconds", "2", "--batch", "2",
            "--layout", "--out", str(tmp_path / "wavs"), "--json"]
    proc = run_script("compare_generation", *argv)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert len(out["prompts"]) == 3 and all(" " in prompt for prompt in out["prompts"])
    generated = {f"{tmp_path / p}{suffix}" for p in "ab" for suffix in ("", ", layout=auto")}
    assert set(out["results"]) == {"real held-out mix-ups (ceiling)"} | generated
    for by_judge in out["results"].values():
        assert set(by_judge) == {"class contrast", "no class contrast"}
        for row in by_judge.values():
            assert row["clips"] == 3
            for key in ("order_accuracy", "both_found", "order_trend"):
                assert 0.0 <= row[key] <= 100.0
            assert 0.0 <= row["mean_faithfulness"] <= 1.0
    assert set(out["generation_s_per_clip"]) == generated
    assert len(list((tmp_path / "wavs").rglob("*.wav"))) == 12
    assert len(list((tmp_path / "wavs" / "a-layout-auto").glob("*.wav"))) == 3


def test_compare_generation_rejects_a_bad_count(clips_csv):
    proc = run_script("compare_generation", "--clips", str(clips_csv), "--n", "0")
    assert proc.returncode == 2 and "--n must be at least 1" in proc.stderr


def test_order_similarity_reports_both_towers(tiny_tclap, clips_csv, tmp_path):
    tiny_tclap.save_pretrained(tmp_path / "model")
    proc = run_script("order_similarity", "--model", str(tmp_path / "model"), "--clips", str(clips_csv), "--n", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout
    text, audio = (float(v) for v in re.search(r"text (\S+), audio (\S+);", line).groups())
    assert -1.0 <= text <= 1.0 and -1.0 <= audio <= 1.0
    assert "3 held-out 2-event mix-ups" in line


def test_condition_use_reports_each_pipeline_on_held_out_clips(tiny_tclap, clips_csv, tmp_path):
    tiny_pipeline(tiny_tclap, seed=0).save_pretrained(tmp_path / "a")
    proc = run_script("condition_use", "--pipelines", str(tmp_path / "a"), "--clips", str(clips_csv), "--n", "4",
                      "--seconds", "1.28")
    assert proc.returncode == 0, proc.stderr[-3000:]
    row = [line for line in proc.stdout.splitlines() if line.startswith(f"| {tmp_path / 'a'} |")]
    assert len(row) == 1
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    own, other, empty, gain = (float(c) for c in cells[2:])
    assert int(cells[1]) >= 2 and min(own, other, empty) > 0
    assert abs(gain - (other / own - 1)) < 1e-3  # the printed figures are rounded to 4 decimals
    assert run_script("condition_use", "--clips", str(clips_csv), "--n", "1").returncode == 2
