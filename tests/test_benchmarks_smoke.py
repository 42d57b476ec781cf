"""Each benchmark script runs end to end at the tiny size (--quick) and reports its figures.

No timing is asserted (shared machines are noisy): only that the runs complete, print their table, write
consistent JSON, and that the things a benchmark checks along the way hold (parity of the compared variants).
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}_under_test", BENCHMARKS / f"bench_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quick(name: str, tmp_path, capsys, *extra) -> dict:
    out = tmp_path / f"{name}.json"
    assert load(name).main(["--quick", "--no-memory", "--repeats", "1", "--json", str(out), *extra]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert f"== {result['benchmark']}:" in printed and "median s" in printed
    for target in result["targets"]:
        assert target["name"] in printed
    for row in result["variants"].values():
        assert row["median_s"] > 0 and len(row["times_s"]) == 1
    assert result["process_peak_rss_mib"] > 0
    assert result["environment"]["torch_threads"] == 1  # tiny sizes default to one thread
    return result


def test_generation_quick_matches_audioldm(tmp_path, capsys):
    result = run_quick("generation", tmp_path, capsys)
    figures = result["figures"]
    assert set(result["variants"]) == {"tclap", "audioldm"}
    assert figures["max_abs_diff"] <= 1e-5  # identical components, seed and steps: the same audio
    assert figures["audio_shape"][0] == 1 and figures["audio_shape"][1] > 0
    assert math.isfinite(figures["ratio_tclap_over_audioldm"]) and figures["ratio_tclap_over_audioldm"] > 0
    assert figures["tclap_steps_per_s"] == pytest.approx(2 / result["variants"]["tclap"]["median_s"], rel=1e-2)


def test_prompt_cache_quick_encodes_each_text_once(tmp_path, capsys):
    result = run_quick("prompt_cache", tmp_path, capsys)
    figures = result["figures"]
    # 4 distinct prompts x 2 copies in batches of 4: 16 encodings without the cache, 4 prompts + "" with it
    assert figures["items"] == 8 and figures["text_encodings_uncached"] == 16
    assert figures["text_encodings_cached"] == 5
    assert figures["max_abs_diff_cached_vs_uncached"] <= 1e-5


def test_scorer_quick_batched_windows_equal_the_loop(tmp_path, capsys):
    result = run_quick("scorer", tmp_path, capsys)
    figures = result["figures"]
    assert figures["windows"] == 2  # 2 s, 1 s windows side by side (the default hop is the window)
    assert figures["max_abs_diff_batched_vs_loop"] < 1e-4
    # both figures are printed to 4 decimals: 5 x the rounded per-clip time may be off by 5 x 5e-5, plus 5e-5
    assert figures["score_seconds_per_10s_of_audio"] == pytest.approx(5 * figures["score_seconds_per_clip"], abs=3e-4)
    assert 0 < figures["ratio_score_over_generate"]


def test_training_quick_steps_and_loader(tmp_path, capsys):
    result = run_quick("training", tmp_path, capsys)
    figures = result["figures"]
    assert set(result["variants"]) == {"tclap", "floor", "clap_only"}
    # mix-ups of 2-3 events carry order negatives: more inputs than positives on both towers
    assert figures["audio_inputs_per_step"] > figures["positives_per_step"] == 2
    assert figures["text_inputs_per_step"] > 2
    data = figures["data"]["workers_0"]
    assert data["samples_per_s"] > 0 and 0 <= data["wait_share"] <= 1


def test_parse_quick_reads_every_event(tmp_path, capsys):
    result = run_quick("parse", tmp_path, capsys)
    figures = result["figures"]
    assert figures["events_parsed"] == {f"{shape}_{size}": 20 * (4 if size == "long" else 1)
                                        for shape in ("then", "after", "list") for size in ("short", "long")}
    assert all(value > 0 for value in figures["per_char_ratio_long_over_short"].values())
    from tclap_gen.captions import MAX_CAPTION_CHARS

    assert MAX_CAPTION_CHARS == 2000  # the benchmark lifts the public cap only while it measures


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="--repeats"):
        load("generation").main(["--quick", "--no-memory", "--repeats", "0"])
    with pytest.raises(FileNotFoundError, match="--clips"):
        load("training").main(["--quick", "--no-memory", "--clips", str(tmp_path / "missing.csv")])


@pytest.mark.slow
def test_script_runs_as_a_command_with_memory_subprocesses(tmp_path):
    out = tmp_path / "generation.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_generation.py"), "--quick", "--repeats", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "peak RSS MiB" in done.stdout
    variants = json.loads(out.read_text())["variants"]
    for name in ("tclap", "audioldm"):
        assert variants[name]["peak_rss_mib"] >= variants[name]["setup_peak_rss_mib"] > 0


def test_layout_quick_counts_one_call_a_step_and_the_rows(tmp_path, capsys):
    result = run_quick("layout", tmp_path, capsys)
    figures = result["figures"]
    assert figures["unet_calls_per_step"] == {"layout": 1.0, "plain": 1.0}
    assert figures["unet_rows_per_call"] == {"layout": 4, "plain": 2}  # unconditional, whole prompt, 2 events
    assert figures["rows_ratio_floor"] == 2.0
