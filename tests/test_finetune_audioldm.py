"""The real-scale recipe (tclap_gen.trainers.audioldm) on tiny AudioLDM checkpoints built here: trains, writes a
pipeline that loads and generates, 1 process = 2 gloo processes, resumes after SIGKILL to the same weights, conditions
on captions' text when asked."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tclap_gen.testing import save_tiny_audioldm, tiny_tclap
from tclap_gen.trainers.audioldm import StepBatches, global_draws, load_config, main
from tclap_gen.trainers.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
CLIPS = REPO / "tests" / "data" / "clips" / "metadata.csv"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    tclap = tiny_tclap()
    tclap.save_pretrained(root / "tclap")
    save_tiny_audioldm(root / "audioldm", tclap, norm_num_groups=4)  # no bias without a gradient (see there)
    return root


def overrides(models, *extra):
    common = [f"audioldm={models / 'audioldm'}", f"tclap={models / 'tclap'}", "mixed_precision='no'", "steps=6",
              "batch_size=4", "learning_rate=1e-3", "warmup_steps=0", "checkpoint_every=2", "log_every=1",
              "ema_decay=0.9", f"data.clips=[{CLIPS}]", "data.heldout=false", "data.mixups=8",
              "data.seconds=1.28", "data.num_workers=0"]
    return [item for pair in ([("--set", o) for o in [*common, *extra]]) for item in pair]


def unet_weights(folder: Path) -> dict:
    return load_file(str(next((folder / "pipeline" / "unet").glob("*.safetensors"))))


def env():
    out = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    return out


def test_global_draws_are_the_same_for_every_process_and_slice_into_the_sampler():
    one = global_draws(3, 7, 8, 100, latent_shape=(2, 4, 4), condition_dropout=0.5)
    again = global_draws(3, 7, 8, 100)
    assert torch.equal(one["index"], again["index"]) and one["noise"].shape == (8, 2, 4, 4)
    assert not torch.equal(one["index"], global_draws(3, 8, 8, 100)["index"])
    halves = [list(StepBatches(3, 100, 8, start=7, steps=8, rank=r, local=4)) for r in (0, 1)]
    assert halves[0][0] + halves[1][0] == one["index"].tolist()


def test_text_condition_fraction_one_conditions_on_the_captions_text(models, tmp_path, monkeypatch):
    """text_condition_fraction=1 (no dropout): the UNet never sees an audio embedding, so replacing the T-CLAP's
    audio embeddings by noise leaves the trained weights as they were; with 0 the same replacement changes them."""
    from tclap_gen.model import TClap

    def train(name, fraction):
        out = tmp_path / name
        assert main(["--output-dir", str(out), *overrides(models, "steps=2", "condition_dropout=0",
                                                           f"text_condition_fraction={fraction}")]) == 0
        return unet_weights(out)

    text, audio = train("text", 1), train("audio", 0)
    embed_audio = TClap.embed_audio

    def noise(self, waves, sampling_rate, batch_size=32):
        real = embed_audio(self, waves, sampling_rate, batch_size)
        return torch.nn.functional.normalize(torch.randn(real.shape, generator=torch.Generator().manual_seed(1)), dim=-1)

    monkeypatch.setattr(TClap, "embed_audio", noise)
    assert all(torch.equal(text[k], v) for k, v in train("text-noise", 1).items())
    assert any(not torch.equal(audio[k], v) for k, v in train("audio-noise", 0).items())
    with pytest.raises(ConfigError, match="text_condition_fraction"):
        load_config("audioldm-finetune", ["tclap=mini", "text_condition_fraction=1.5"])


@pytest.mark.slow
def test_finetune_trains_and_writes_a_pipeline_that_generates(models, tmp_path):
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    out = tmp_path / "run"
    assert main(["--output-dir", str(out), *overrides(models)]) == 0
    log = [json.loads(line) for line in (out / "unet" / "log.jsonl").read_text().splitlines()]
    start = next(r for r in log if r.get("event") == "start")
    assert start["latents"] == [4, 64, 4] and start["prediction_type"] == "epsilon"  # read from the checkpoint
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 6 and all(np.isfinite(losses))
    before = load_file(str(next((models / "audioldm" / "unet").glob("*.safetensors"))))
    after = unet_weights(out)
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    vae_before = load_file(str(next((models / "audioldm" / "vae").glob("*.safetensors"))))
    vae_after = load_file(str(next((out / "pipeline" / "vae").glob("*.safetensors"))))
    assert all(torch.equal(vae_before[k], vae_after[k]) for k in vae_before)  # frozen
    record = json.loads((out / "pipeline" / "finetune.json").read_text())
    assert record["steps"] == 6 and record["finished"]

    pipe = TClapAudioLDMPipeline.from_pretrained(out / "pipeline")
    audio = pipe("a dog barks then a car horn", num_inference_steps=2, audio_length_in_s=1.28,
                 generator=torch.Generator().manual_seed(0)).audios
    assert audio.shape == (1, 20480) and np.isfinite(audio).all() and np.abs(audio).max() > 0


@pytest.mark.slow
def test_two_gloo_processes_train_the_same_weights_as_one(models, tmp_path):
    args = overrides(models, "steps=4", "ema_decay=0", "data.num_workers=1")
    assert main(["--output-dir", str(tmp_path / "one"), *args]) == 0
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(REPO / "training" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(_free_port()),
           "-m", "tclap_gen.training.finetune_audioldm", "--output-dir", str(tmp_path / "two"), *args]
    proc = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = [json.loads(line) for line in (tmp_path / "two" / "unet" / "log.jsonl").read_text().splitlines()][0]
    assert start["processes"] == 2
    one, two = unet_weights(tmp_path / "one"), unet_weights(tmp_path / "two")
    base = load_file(str(next((models / "audioldm" / "unet").glob("*.safetensors"))))
    assert one.keys() == two.keys()
    moved = max(float((one[k] - base[k]).abs().max()) for k in one)
    assert moved > 1e-3  # it trained (Adam moves each weight up to about lr x steps = 2.5e-3)
    # Two half-batch means all-reduced in float32 differ from one full-batch mean by rounding. Adam divides each
    # gradient by its running RMS, so where a gradient is near zero that rounding becomes a visible step: a few
    # isolated weights may differ by up to ~2% of the travel; all the others agree to 1e-6.
    diff = torch.cat([(one[k] - two[k]).abs().flatten() for k in one])
    assert float(diff.max()) < 0.02 * moved
    assert float((diff > 1e-6).float().mean()) < 1e-3


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(models, tmp_path):
    args = overrides(models, "steps=8")
    assert main(["--output-dir", str(tmp_path / "straight"), *args]) == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tclap_gen.training.finetune_audioldm", "--output-dir", str(out), *args,
           "--set", "debug_step_sleep_s=0.5"]
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while not list((out / "unet" / "checkpoints").glob("step-*/trainer_state.json")):
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not (out / "pipeline").exists()
    assert main(["--output-dir", str(out), *args]) == 2  # never silently restart over a run's checkpoints
    assert main(["--output-dir", str(out), *args, "--resume"]) == 0
    resumed = [json.loads(line) for line in (out / "unet" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("event") == "resumed" for r in resumed)
    straight, again = unet_weights(tmp_path / "straight"), unet_weights(out)
    for key in straight:
        torch.testing.assert_close(straight[key], again[key], atol=1e-6, rtol=0, msg=key)


def test_config_errors_name_the_key(models, tmp_path, capsys):
    with pytest.raises(ConfigError, match="tclap: required"):
        load_config("audioldm-finetune", [f"audioldm={models / 'audioldm'}"])
    with pytest.raises(ConfigError, match="data: give data.captions_csv"):
        load_config("audioldm-finetune", ["tclap=mini", "data.clips=[]"])
    with pytest.raises(ConfigError, match="data.num_events"):
        load_config("audioldm-finetune", ["tclap=mini", "data.num_events=[1]"])
    with pytest.raises(ConfigError, match="snr_gamma"):
        load_config("audioldm-finetune", ["tclap=mini", "snr_gamma=-1"])
    assert main(["--output-dir", str(tmp_path / "odd"), *overrides(models, "data.seconds=1.3")]) == 2
    assert "multiple of 4" in capsys.readouterr().err
    wrong = tmp_path / "wide-tclap"
    tiny_tclap(projection_dim=16).save_pretrained(wrong)
    assert main(["--output-dir", str(tmp_path / "wide"), *overrides(models, f"tclap={wrong}")]) == 2
    assert "projection" in capsys.readouterr().err


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
