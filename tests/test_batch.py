"""Batch generation on a tiny random pipeline: prompt files, resume after SIGKILL, sharding, the HTML report."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from tclap_gen.samples import generate_batch as gb

PROMPTS = ["a dog barks then a car horn honks", "glass smashing followed by a bicycle bell", "typing", "water splashes after a door knocks"]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tiny_tclap):
    from tclap_gen.testing import tiny_pipeline

    folder = tmp_path_factory.mktemp("pipe") / "tiny"
    tiny_pipeline(tiny_tclap).save_pretrained(folder)
    return folder


def options(folder, **kw):
    base = dict(model=str(folder), batch_size=2, candidates=1, rerank=None, steps=2, guidance=2.5, seconds=1.0)
    base.update(kw)
    return gb.BatchOptions(**base)


def test_read_prompts_formats_ids_and_errors(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("# comment\ndog barks then car horn\n\ndog barks then car horn\n../../etc/passwd\n")
    items = gb.read_prompts(txt, base_seed=3)
    assert [i.prompt for i in items] == ["dog barks then car horn", "dog barks then car horn", "../../etc/passwd"]
    assert len({i.id for i in items}) == 3 and items[1].id == items[0].id + "-2"
    assert all("/" not in gb.file_stem(i.id) and ".." not in gb.file_stem(i.id) for i in items)
    # ids of caption files (AudioTime's syn_1, AudioCaps') stay themselves, so clips land as ID.wav
    assert [gb.file_stem(i) for i in ("syn_1", "Yb0RFKhbpFJA_30", "mix-0001")] == ["syn_1", "Yb0RFKhbpFJA_30", "mix-0001"]
    assert gb.file_stem("a.b") != "a.b" and gb.file_stem("-x") != "-x"
    assert items[0].seed == gb.read_prompts(txt, base_seed=3)[0].seed != gb.read_prompts(txt, base_seed=4)[0].seed

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"id": "a", "prompt": "typing", "seed": 7, "seconds": 2}\n{"prompt": "glass smashing"}\n')
    items = gb.read_prompts(jsonl)
    assert (items[0].id, items[0].seed, items[0].seconds) == ("a", 7, 2.0)

    csv_file = tmp_path / "p.csv"
    csv_file.write_text("id,prompt,seed\nx,typing,1\nx,glass,2\n")
    with pytest.raises(ValueError, match="duplicate id 'x'"):
        gb.read_prompts(csv_file)
    empty = tmp_path / "e.jsonl"
    empty.write_text('{"id": "a", "prompt": "  "}\n')
    with pytest.raises(ValueError, match="empty prompt"):
        gb.read_prompts(empty)
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        gb.read_prompts(tmp_path / "nope.txt")


def test_batch_writes_manifest_report_and_skips_done(tmp_path, tiny_folder):
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    out = tmp_path / "out"
    argv = [str(prompts), "--out", str(out), "--model", str(tiny_folder), "--steps", "2", "--seconds", "1",
            "--batch-size", "3", "--candidates", "2", "--rerank", "clap"]
    assert gb.main(argv) == 0
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["prompt"] for e in manifest] == PROMPTS
    for entry in manifest:
        wave, rate = sf.read(out / entry["audio"])
        assert rate == 16000 and len(wave) == 16000
        assert (out / entry["plot"]).stat().st_size > 0
        assert json.loads((out / entry["report"]).read_text())["prompt"] == entry["prompt"]
        assert entry["model_hash"] and entry["rerank"] == "clap" and isinstance(entry["rerank_score"], float)
        assert 0.0 <= entry["faithfulness"] <= 1.0
    page = (out / "report.html").read_text()
    assert page.count("<audio") == len(PROMPTS) and "glass smashing followed by a bicycle bell" in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] == len(PROMPTS) and summary["failures"] == 0

    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    assert gb.main(argv) == 0  # a rerun finds everything done and regenerates nothing
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == before


def test_no_contrast_reaches_the_scorer_and_the_manifest(tmp_path, tiny_folder, monkeypatch):
    import tclap_gen.scoring as scoring

    made = []

    class Spy(scoring.TemporalScorer):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("contrast_texts", "auto"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(scoring, "TemporalScorer", Spy)
    prompts = tmp_path / "p.txt"
    prompts.write_text(PROMPTS[0] + "\n")
    argv = [str(prompts), "--model", str(tiny_folder), "--steps", "2", "--seconds", "1", "--no-html"]
    assert gb.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert gb.main([*argv, "--out", str(tmp_path / "b"), "--no-contrast"]) == 0
    assert made == ["auto", None]
    flags = [json.loads((tmp_path / run / "manifest.jsonl").read_text())["no_contrast"] for run in "ab"]
    assert flags == [False, True]


def test_layout_reaches_the_pipeline_and_the_manifest(tmp_path, tiny_folder):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a car horn honks after a dog barks\nglass smashing\n")
    assert gb.main([str(prompts), "--model", str(tiny_folder), "--steps", "2", "--seconds", "1", "--no-html",
                    "--layout", "auto", "--out", str(tmp_path / "o")]) == 0
    entries = [json.loads(line) for line in (tmp_path / "o" / "manifest.jsonl").read_text().splitlines()]
    layouts = {entry["prompt"]: entry["layout"] for entry in entries}
    assert layouts["a car horn honks after a dog barks"] == [{"text": "a dog barks", "start": 0.0, "end": 0.5},
                                                             {"text": "a car horn honks", "start": 0.5, "end": 1.0}]
    assert layouts["glass smashing"] == []  # one event: plain generation


def test_jsonl_events_with_times_are_each_prompts_layout(tmp_path, tiny_folder):
    """A .jsonl entry's `events` conditions its prompt (with or without --layout); the others generate plainly."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "timed", "prompt": "a dog barks then a bell rings",
                                   "events": [["a dog barks", 0, 0.25], ["a bell rings", 0.5, 1.0]]}) + "\n"
                       + json.dumps({"id": "plain", "prompt": "glass smashing"}) + "\n")
    assert gb.main([str(prompts), "--model", str(tiny_folder), "--steps", "2", "--seconds", "1", "--no-html",
                    "--out", str(tmp_path / "o")]) == 0
    entries = {e["id"]: e for e in map(json.loads, (tmp_path / "o" / "manifest.jsonl").read_text().splitlines())}
    assert entries["timed"]["layout"] == [{"text": "a dog barks", "start": 0.0, "end": 0.25},
                                          {"text": "a bell rings", "start": 0.5, "end": 1.0}]
    assert entries["timed"]["events"] == [["a dog barks", 0.0, 0.25], ["a bell rings", 0.5, 1.0]]
    assert entries["plain"]["layout"] == [] and entries["timed"]["plan_agreement"]["events"][0]["text"] == "a dog barks"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "a dog barks", "seconds": 2, "events": [["a dog barks", 1, 3]]}) + "\n")
    with pytest.raises(ValueError, match=r"entry 1: `events of entry 1\[0\]`.*the clip's 2 s"):
        gb.read_prompts(bad)
    bad.write_text(json.dumps({"prompt": "a dog barks", "events": "soon"}) + "\n")
    with pytest.raises(ValueError, match="entry 1"):
        gb.read_prompts(bad)


def test_embedding_cache_computes_each_distinct_prompt_once(tiny_folder):
    from tclap_gen.generate import load_pipeline

    cache = gb.PromptEmbeddingCache(load_pipeline(str(tiny_folder), device="cpu"))
    first = cache.get(["typing", "glass", "typing"])
    again = cache.get(["glass", "typing"])
    assert cache.computed == 2
    # copies of the one stored embedding, not recomputations: equal bit for bit
    np.testing.assert_array_equal(first[0].numpy(), again[1].numpy())
    np.testing.assert_array_equal(first[0].numpy(), first[2].numpy())


def run_cli(args, env_extra=None, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "tclap_gen.samples.generate_batch", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path, tiny_folder):
    prompts = tmp_path / "p.txt"
    many = [f"{p} {i}" for i in range(3) for p in PROMPTS]  # 12 prompts
    prompts.write_text("\n".join(many) + "\n")
    out = tmp_path / "out"
    args = [str(prompts), "--out", str(out), "--model", str(tiny_folder), "--steps", "2", "--seconds", "1",
            "--batch-size", "1", "--no-html"]
    proc = run_cli(args)
    shard = out / "manifest.rank0.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if shard.is_file() and len(shard.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.jsonl").exists()
    done_before = len(gb.read_manifest(shard))
    assert 2 <= done_before < len(many)

    resumed = run_cli(args)
    output = resumed.communicate(timeout=600)[0].decode()
    assert resumed.returncode == 0, output[-2000:]
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["prompt"] for e in manifest] == many
    assert len({e["id"] for e in manifest}) == len(many)
    assert not list(out.glob(".*.tmp*"))  # no temporary file left behind
    assert len(list(out.glob("*.wav"))) == len(many)


def test_two_processes_match_one(tmp_path, tiny_folder):
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    common = ["--model", str(tiny_folder), "--steps", "2", "--seconds", "1", "--batch-size", "1", "--no-html"]
    one = run_cli([str(prompts), "--out", str(tmp_path / "one"), *common])
    assert one.wait(timeout=600) == 0, one.stdout.read().decode()[-2000:]
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
                str(29500 + os.getpid() % 1000), "-m", "tclap_gen.samples.generate_batch",
                str(prompts), "--out", str(tmp_path / "two"), *common]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "true", "HF_HOME": str(tmp_path / "hf")}
    two = subprocess.run(launcher, env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-2000:]
    assert (tmp_path / "two" / "manifest.rank1.jsonl").is_file()  # really two processes
    first = [json.loads(l) for l in (tmp_path / "one" / "manifest.jsonl").read_text().splitlines()]
    second = [json.loads(l) for l in (tmp_path / "two" / "manifest.jsonl").read_text().splitlines()]
    assert [e["id"] for e in first] == [e["id"] for e in second]
    for a, b in zip(first, second):
        wave_a, _ = sf.read(tmp_path / "one" / a["audio"])
        wave_b, _ = sf.read(tmp_path / "two" / b["audio"])
        assert np.allclose(wave_a, wave_b, atol=1e-4)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (installed by .ci/run)")
def test_report_renders_in_headless_chromium(tmp_path):
    entries = [
        {"id": f"p{i}", "prompt": f"prompt {i}", "faithfulness": f, "order_probability": 0.5, "order_correct": f > 0.5,
         "audio": f"p{i}.wav", "plot": f"p{i}.png"}
        for i, f in enumerate([0.2, 0.9, 0.5])
    ]
    page = gb.write_report_html(entries, tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,600",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    assert shot.stat().st_size > 1000
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--no-first-run", f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<audio") == 3 and "prompt 1" in dom
