"""Tests of training/train_tclap.py and training/config.py on the tiny smoke recipe (tests/data/clips).

Runs train in-process where it can (fast), and as subprocesses for the 2-process (gloo) run and the SIGKILL.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tclap_gen.trainers.config import ConfigError, find_recipe, load_config
from tclap_gen.trainers.tclap import (
    GlobalBatchNorm2d,
    MixtureSampler,
    TrainingDiverged,
    build_model,
    compute_loss,
    list_checkpoints,
    main,
    train,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TRAIN_SCRIPT = REPO / "training" / "train_tclap.py"
CLIPS = HERE / "data" / "clips"

# Small and quick: 4 examples per step, 2-event mix-ups, no evaluation or checkpoints unless a test asks.
FAST = [
    "cpu=true", "progress_bar=false", "eval.at_start=false", "eval.at_end=false", "checkpoint_every=0",
    "optim.batch_size=4", "optim.max_steps=3", "data.samples_per_epoch=16", "data.mixture.1.num_events=[2, 2]",
]


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Forget any Accelerator a test built (train() does so itself). conftest.py sets one torch thread."""
    from accelerate.state import AcceleratorState, GradientState

    yield
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def config_for(out: Path, *overrides: str, recipe: str = "smoke"):
    return load_config(recipe, [f"output_dir={out}", *overrides])


def run(out: Path, *overrides: str, resume: bool = False):
    return train(config_for(out, *FAST, *overrides), resume=resume)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: dict, b: dict, atol: float, skip_key_bias: bool = False) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if skip_key_bias and key.endswith("attention.self.key.bias"):
            # A key bias shifts all of a query's scores equally, which softmax ignores: its true gradient is 0 and
            # what reaches it is rounding noise, which Adam's normalisation turns into lr-sized, run-specific steps.
            continue
        # rtol: sums taken in another order (an all-reduce across ranks, another batch split) differ by a few float32
        # ulps relative to the value, which matters for large ones (BatchNorm running variances of dB features)
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-5, msg=f"weights differ: {key}")


def subprocess_env() -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------------------------------------
# Whole runs


def test_smoke_recipe_learns_and_saves_a_loadable_tclap(tmp_path):
    from tclap_gen.model import TClap

    out = tmp_path / "smoke"
    summary = train(config_for(out, "cpu=true", "progress_bar=false"))

    assert summary.status == "finished" and summary.steps == 32 and summary.world_size == 1
    m = summary.metrics
    # The loss on fixed batches (drawn once, from an epoch training never sees) falls, below chance for the
    # contrastive part (ln 8 = 2.079); measured here: 2.64 -> 2.31, contrastive 2.10 -> 1.79.
    assert m["eval/loss"] < m["start/eval/loss"] - 0.1
    assert m["eval/contrastive"] < 2.0 < m["start/eval/contrastive"]
    assert m["start/eval/drift_cosine"] == pytest.approx(1.0, abs=1e-5)  # the initial encoder is the reference
    assert m["eval/drift_cosine"] < 0.999  # the text tower moved
    for key in ("eval/tclassify_a2t", "eval/tclassify_group", "eval/zeroshot_top1"):
        assert 0.0 <= m[key] <= 1.0
    assert summary.samples_per_s > 0 and 0.0 <= summary.data_wait_share < 1.0
    assert summary.bad_draws == 0 and summary.samples_seen == 32 * 8

    final = out / "final"
    tclap = TClap.from_pretrained(final)
    assert tclap.info.temporal_weight == 0.5 and tclap.info.recipe == "smoke"
    assert tclap.info.extra["classes"] == sorted(tclap.info.extra["classes"]) and len(tclap.info.extra["classes"]) == 6
    assert tclap.info.extra["config"]["optim"]["max_steps"] == 32
    assert tclap.info.metrics["eval/loss"] == pytest.approx(m["eval/loss"])
    card = (final / "README.md").read_text()
    assert "temporal_weight: 0.5" in card and "eval/loss" in card
    assert json.loads((out / "summary.json").read_text())["steps"] == 32
    # keep_checkpoints: 2 of the checkpoints at 8, 16, 24, 32 remain; the tokenizer is cached for --resume.
    assert [step for step, _ in list_checkpoints(out / "checkpoints")] == [24, 32]
    assert (out / "tokenizer" / "vocab.json").is_file() and (out / "config.yaml").is_file()
    emb = tclap.embed_text(["glass smashing then bicycle bell ringing"])
    assert emb.shape == (1, 32) and torch.isfinite(emb).all()


def test_plain_clap_baseline_runs_with_the_same_code(tmp_path):
    from tclap_gen.model import TClap

    summary = run(tmp_path / "clap", "loss.temporal_weight=0.0")
    assert summary.status == "finished" and summary.steps == 3
    assert all(row[3] == 0.0 for row in summary.loss_history)  # no temporal term
    assert all(row[1] == pytest.approx(row[2]) for row in summary.loss_history)  # total == contrastive
    tclap = TClap.from_pretrained(tmp_path / "clap" / "final")
    assert tclap.info.temporal_weight == 0.0
    assert "plain-CLAP baseline" in (tmp_path / "clap" / "final" / "README.md").read_text()


def test_an_ablation_with_caption_negatives_only_trains(tmp_path):
    summary = run(tmp_path / "captions", "loss.order_negatives=captions")
    assert summary.status == "finished"
    assert all(row[3] > 0.0 for row in summary.loss_history)  # the order-switched captions still give a term


def test_same_events_positive_trains_and_changes_the_contrastive_loss_only_where_clips_repeat(tmp_path):
    # the smoke data has few classes: a batch of 4 repeats some, so the two runs' first losses differ
    plain = run(tmp_path / "plain")
    grouped = run(tmp_path / "grouped", "loss.same_events_positive=true")
    assert grouped.status == "finished"
    assert grouped.loss_history[0][2] < plain.loss_history[0][2]  # fewer pairs pushed apart at the same weights
    assert grouped.loss_history[0][3] == pytest.approx(plain.loss_history[0][3], rel=1e-5)  # temporal unchanged


def test_paraphrase_class_prompt_and_window_terms_are_added_with_their_weights(tmp_path):
    summary = run(tmp_path / "para", "loss.paraphrase_weight=2.0", "loss.class_prompt_weight=0.5",
                  "loss.window_class_weight=0.3", "data.mixture.0.weight=0.5", "data.mixture.1.weight=0.5")
    assert summary.status == "finished"
    for _, total, contrastive, temporal, anchor, paraphrase, class_prompt, window_class in summary.loss_history:
        assert paraphrase > 0.0 and window_class > 0.0  # every example gives a window
        assert total == pytest.approx(contrastive + 0.5 * temporal + 2.0 * paraphrase + 0.5 * class_prompt
                                      + 0.3 * window_class, rel=1e-4, abs=1e-5)
    assert any(row[6] > 0.0 for row in summary.loss_history)  # single clips drew the class term
    with pytest.raises(ConfigError, match="loss.class_prompt_weight"):
        config_for(tmp_path / "bad", "loss.class_prompt_weight=-1")
    with pytest.raises(ConfigError, match="data.window_seconds"):
        config_for(tmp_path / "bad", "loss.window_class_weight=1", "data.window_seconds=0")


def test_time_budget_stops_saves_and_resumes_and_the_preload_cache_changes_nothing(tmp_path):
    cut = run(tmp_path / "cut", "optim.time_budget_s=0", "data.cache_mb=64")
    assert cut.status == "time budget reached" and cut.steps == 1
    assert (tmp_path / "cut" / "final" / "model.safetensors").is_file()
    assert [step for step, _ in list_checkpoints(tmp_path / "cut" / "checkpoints")] == [1]
    resumed = run(tmp_path / "cut", "data.cache_mb=64", resume=True)
    assert resumed.status == "finished" and resumed.steps == 3
    run(tmp_path / "whole")  # no cache, no interruption
    assert_same_weights(weights(tmp_path / "whole" / "final"), weights(tmp_path / "cut" / "final"), atol=1e-6)


def test_audio_order_bias_is_added_to_the_initial_model(tmp_path):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    plain, _ = build_model(config_for(tmp_path / "a", *FAST), [], accelerator)
    biased, base = build_model(config_for(tmp_path / "b", *FAST, "model.audio_order_bias=2"), [], accelerator)
    assert "audio order bias 2" in base
    key = "audio_model.audio_encoder.layers.1.blocks.0.attention.self.relative_position_bias_table"
    difference = biased.model.state_dict()[key] - plain.model.state_dict()[key]  # same seed otherwise
    assert difference[:, 0].max() == 2 * (biased.model.config.audio_config.window_size - 1)
    with pytest.raises(ConfigError, match="model.audio_order_bias"):
        config_for(tmp_path / "c", "model.audio_order_bias=-1")


def test_freezing_the_audio_tower_keeps_its_weights(tmp_path):
    from accelerate import Accelerator

    out = tmp_path / "frozen"
    run(out, "model.freeze_audio=true")
    # The initial model again: same seed, and the tokenizer cached in the output folder.
    initial, _ = build_model(config_for(out, *FAST), [], Accelerator(cpu=True))
    before = {k: v for k, v in initial.model.state_dict().items()}
    after = weights(out / "final")
    audio = [k for k in after if k.startswith("audio_")]
    text = [k for k in after if k.startswith("text_") and k.endswith("weight")]
    assert audio and text
    for key in audio:  # parameters and BatchNorm statistics alike
        torch.testing.assert_close(after[key], before[key], atol=0, rtol=0, msg=key)
    assert any(not torch.equal(after[k], before[k]) for k in text)


def test_two_processes_match_one_process_on_the_same_global_batch(tmp_path):
    common = [*FAST, "optim.lr=1e-3"]
    port = free_port()
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "training" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(port),
        str(TRAIN_SCRIPT), "--config", "smoke", "--output-dir", str(tmp_path / "two"),
    ]
    for item in [*common, "data.num_workers=1"]:  # the 2-process run also loads its data in a worker process
        cmd += ["--set", item]
    proc = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"accelerate launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert two["world_size"] == 2  # really two ranks

    one = train(config_for(tmp_path / "one", *common))
    assert one.world_size == 1
    for a, b in zip(one.loss_history, two["loss_history"]):
        assert a == pytest.approx(b, abs=1e-5)
    assert one.loss_history[0][1] != one.loss_history[-1][1]  # it did train
    assert_same_weights(weights(tmp_path / "one" / "final"), weights(tmp_path / "two" / "final"), atol=1e-5,
                        skip_key_bias=True)


def test_nan_on_one_of_two_processes_stops_both(tmp_path):
    out = tmp_path / "nan2proc"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO / "training" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(free_port()),
        str(TRAIN_SCRIPT), "--config", "smoke", "--output-dir", str(out),
    ]
    for item in [*FAST, "checkpoint_every=1", "debug.nan_at_step=2", "debug.nan_rank=1"]:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=300)  # no hang
    assert proc.returncode != 0
    assert "diverged" in proc.stderr and "step 2" in proc.stderr and "step-00000001" in proc.stderr
    assert [step for step, _ in list_checkpoints(out / "checkpoints")] == [1]
    assert not (out / "final").exists()


def test_run_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    # Dropout on: the resumed run must also restore the random state, not only weights and data position.
    common = [*FAST, "optim.max_steps=6", "checkpoint_every=2", "model.dropout=0.1"]
    reference = run(tmp_path / "ref", *common[len(FAST):])
    assert reference.steps == 6

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tclap_gen.training.train_tclap", "--config", "smoke", "--output-dir", str(out)]
    for item in [*common, "data.num_workers=1", "debug.step_sleep_s=1.0"]:
        cmd += ["--set", item]
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "step-00000002" / "trainer_state.json").is_file():
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "final").exists()
    saved = [step for step, _ in list_checkpoints(out / "checkpoints")]
    assert saved and max(saved) < 6
    # What a kill during a save leaves behind must be ignored: a .tmp folder and a folder without its state,
    # both newer than the last complete checkpoint.
    latest = max(saved)
    incomplete = out / "checkpoints" / f"step-{latest + 1:08d}"
    shutil.copytree(out / "checkpoints" / f"step-{latest:08d}", incomplete)
    (incomplete / "trainer_state.json").unlink()
    (out / "checkpoints" / f".step-{latest + 2:08d}.tmp").mkdir()

    with pytest.raises(ConfigError, match="--resume"):  # never silently restart over a run's checkpoints
        run(out, *common[len(FAST):], "data.num_workers=1")
    resumed = run(out, *common[len(FAST):], "data.num_workers=1", resume=True)
    assert resumed.start_step == latest and resumed.steps == 6
    assert not (out / "checkpoints" / f".step-{latest + 2:08d}.tmp").exists()  # cleaned up
    # The history saved with the checkpoint plus the resumed steps equal the uninterrupted run's.
    assert len(resumed.loss_history) == 6
    for a, b in zip(resumed.loss_history, reference.loss_history):
        assert a == pytest.approx(b, abs=1e-6)
    assert_same_weights(weights(tmp_path / "ref" / "final"), weights(out / "final"), atol=1e-6)


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    argv = ["--config", "smoke", "--output-dir", str(out)]
    for item in [*FAST, "optim.max_steps=6", "checkpoint_every=2", "debug.nan_at_step=3"]:
        argv += ["--set", item]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert "diverged" in err and "step 3" in err and "step-00000002" in err
    assert [step for step, _ in list_checkpoints(out / "checkpoints")] == [2]
    state = json.loads((out / "checkpoints" / "step-00000002" / "trainer_state.json").read_text())
    assert state["step"] == 2
    assert not (out / "final").exists()
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"

    with pytest.raises(TrainingDiverged, match="step 1 .*No checkpoint"):  # the programmatic API raises
        train(config_for(tmp_path / "nan2", *FAST, "debug.nan_at_step=1"))


def test_bad_clips_and_captions_are_skipped_logged_and_counted(tmp_path):
    rows = list(csv.DictReader(open(CLIPS / "metadata.csv")))
    missing = tmp_path / "missing.flac"
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(os.urandom(4000))
    with open(tmp_path / "clips.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "fold", "source_id"])
        for row in rows[::2]:  # one recording of each of the 6 classes
            writer.writerow([str(CLIPS / row["path"]), row["label"], row["fold"], row["source_id"]])
        writer.writerow([str(missing), "typing", "1", "m"])
        writer.writerow([str(corrupt), "drawer", "1", "c"])
    with open(tmp_path / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "caption"])
        writer.writerow([str(CLIPS / rows[0]["path"]), "glass breaks then a bell rings"])
        writer.writerow([str(CLIPS / rows[2]["path"]), "a bell rings"])
        writer.writerow([str(CLIPS / rows[4]["path"]), ""])  # empty caption
        writer.writerow(["nowhere.wav", "a door slams"])  # missing audio
    summary = run(
        tmp_path / "out", "optim.max_steps=8", "data.samples_per_epoch=32",
        f"data.clips=[{{metadata: {tmp_path / 'clips.csv'}, split: none}}]",
        f"data.mixture=[{{kind: single, weight: 1}}, {{kind: captions, weight: 1, layout: generic, "
        f"csv: {tmp_path / 'captions.csv'}}}]",
    )
    assert summary.status == "finished" and summary.steps == 8
    assert str(missing) in summary.bad_files and str(corrupt) in summary.bad_files
    assert str(tmp_path / "nowhere.wav") in summary.bad_files
    assert summary.bad_draws >= 3 and summary.skipped_captions == 1
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["bad_draws"] == summary.bad_draws and str(corrupt) in saved["bad_files"]


# ----------------------------------------------------------------------------------------------------------
# Pieces


def test_text_tower_from_an_audioldm_folder(tmp_path):
    from accelerate import Accelerator

    from tclap_gen.model import ClapSize, TClap, build_clap
    from tclap_gen.testing import tiny_tclap

    # AudioLDM ships its CLAP's text half only: text_encoder/ (ClapTextModelWithProjection) and tokenizer/.
    donor = tiny_tclap(seed=7)
    audioldm = tmp_path / "audioldm"
    donor.export_text_encoder().save_pretrained(audioldm / "text_encoder", safe_serialization=True)
    donor.processor.tokenizer.save_pretrained(audioldm / "tokenizer")
    theirs = {k: v for k, v in donor.model.state_dict().items() if k.startswith(("text_model.", "text_projection."))}

    accelerator = Accelerator(cpu=True)
    for size in ("{}", "{text_hidden: 48}"):  # same shapes: copied; other shapes (scratch): the config follows
        config = config_for(tmp_path / f"out{len(size)}", *FAST, f"model.size={size}",
                            f"model.text_tower_from={audioldm}")
        tclap, base = build_model(config, ["glass smashing"], accelerator)
        assert str(audioldm) in base
        ours = tclap.model.state_dict()
        for key, value in theirs.items():
            torch.testing.assert_close(ours[key], value, msg=key)
        assert tclap.processor.tokenizer.get_vocab() == donor.processor.tokenizer.get_vocab()

    # A pretrained CLAP whose text tower has another shape cannot take it.
    with __import__("tempfile").TemporaryDirectory() as tmp:
        from tclap_gen.model import build_tokenizer

        other = build_clap(build_tokenizer(["a dog barks"] * 4, tmp, vocab_size=300), ClapSize(text_hidden=48))
    other.save_pretrained(tmp_path / "other")
    config = config_for(tmp_path / "o", *FAST, "model.init=pretrained", f"model.name={tmp_path / 'other'}",
                        f"model.text_tower_from={audioldm}")
    with pytest.raises(ValueError, match="text_tower_from"):
        build_model(config, [], accelerator)
    assert isinstance(TClap.from_pretrained(tmp_path / "other"), TClap)


def test_anchor_term_is_zero_at_the_reference_and_pulls_back_after_a_change(tiny_tclap):
    import copy

    from tclap_gen.losses import TClapLoss
    from tclap_gen.trainers.tclap import ClapTrainModule, set_dropout

    tclap = copy.deepcopy(tiny_tclap)
    reference = tclap.export_text_encoder()
    module = ClapTrainModule(tclap.model).train()
    texts = ["glass smashing", "a bell then a splash"]
    tokens = tclap.text_inputs(texts)
    batch = {
        "input_features": tclap.audio_inputs([torch.randn(16000).numpy() * 0.1] * 2, 16000)["input_features"],
        **tokens,
        "negative_owner": torch.zeros(0, dtype=torch.long), "audio_negative_owner": torch.zeros(0, dtype=torch.long),
        "anchor_mask": torch.tensor([True, False]),
    }
    set_dropout(tclap.model, 0.0)  # the reference is in eval mode
    out = compute_loss(module, batch, TClapLoss(0.5, anchor_weight=1.0), tclap.model, reference)
    assert out.anchor.item() == pytest.approx(0.0, abs=1e-5)
    with torch.no_grad():
        tclap.model.text_projection.linear2.weight.add_(0.5 * torch.randn_like(tclap.model.text_projection.linear2.weight))
    out = compute_loss(module, batch, TClapLoss(0.5, anchor_weight=1.0), tclap.model, reference)
    assert out.anchor.item() > 1e-3
    out.anchor.backward()
    assert tclap.model.text_projection.linear2.weight.grad.abs().sum() > 0
    assert tclap.model.audio_projection.linear2.weight.grad is None  # the anchor touches the text tower only


def test_feature_collator_batches_features_tokens_and_negatives(tiny_tclap):
    import numpy as np

    from tclap_gen.datasets import TemporalExample
    from tclap_gen.trainers.tclap import FeatureCollator

    collator = FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer, data_rate=8000,
                               max_audio_negatives=1)
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1  # 2 s at 8 kHz
    ordered = TemporalExample(audio=wave, sampling_rate=8000, caption="typing then a bell then a splash",
                              negatives=[f"neg {i}" for i in range(5)], audio_negatives=[wave * (i + 1) for i in range(5)])
    single = TemporalExample(audio=wave, sampling_rate=8000, caption="glass smashing")
    batch = collator([(ordered, []), (single, [("/x/bad.flac", "unreadable")])])
    assert batch["input_features"].shape[0] == 2 + 1  # two clips and one of the five audio negatives
    assert batch["input_ids"].shape[0] == 2 + 5  # captions, then every text negative
    assert batch["negative_owner"].tolist() == [0] * 5 and batch["audio_negative_owner"].tolist() == [0]
    assert batch["anchor_mask"].tolist() == [False, True]  # only captions without an order are anchored
    assert batch["bad"] == [("/x/bad.flac", "unreadable")]
    # one id per clip's ordered classes: equal for the same classes in the same order, different otherwise
    first, second = (TemporalExample(audio=wave, sampling_rate=8000, caption="c", labels=labels)
                     for labels in (["bell", "splash"], ["splash", "bell"]))
    groups = collator([(first, []), (second, []), (first, [])])["event_groups"].tolist()
    assert groups[0] == groups[2] != groups[1]
    # Resampled to the model's 16 kHz: the features equal those of the model's own input path.
    from tclap_gen.audio import resample

    expected = tiny_tclap.audio_inputs([resample(wave, 8000, 16000)], 16000)["input_features"]
    torch.testing.assert_close(batch["input_features"][1:2], expected)
    # paraphrases are tokenized (after the negatives) only for a collator asked for them
    paraphrased = TemporalExample(audio=wave, sampling_rate=8000, caption="a bell then a splash",
                                  negatives=["a splash then a bell"], paraphrase="a splash after a bell")
    assert collator([(paraphrased, [])])["input_ids"].shape[0] == 2
    with_paraphrases = FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer,
                                       data_rate=8000, paraphrases=True)([(paraphrased, [])])
    assert with_paraphrases["input_ids"].shape[0] == 3 and with_paraphrases["paraphrase_owner"].tolist() == [0]
    # class phrases (loss.class_prompt_weight) follow the paraphrases; each single clip points at its own phrase
    classed = FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer, data_rate=8000,
                              paraphrases=True, class_phrases={"bell": "a bell", "splash": "a splash", "peel": "a bell"})
    assert classed.class_prompts == ["a bell", "a splash"]  # labels that read alike are one class
    lone = [TemporalExample(audio=wave, sampling_rate=8000, caption=c, labels=labels)
            for c, labels in (("a splash", ["splash"]), ("a bell", ["peel"]), ("c", ["bell", "splash"]))]
    out = classed([(paraphrased, [])] + [(e, []) for e in lone])
    assert out["class_target"].tolist() == [-1, 1, 0, -1]  # the first has no labels, the last is a mix-up
    assert out["input_ids"].shape[0] == 4 + 1 + 1 + 2  # captions, negatives, paraphrases, class phrases
    tail = classed.tokenizer(["a bell", "a splash"], padding="max_length", max_length=out["input_ids"].shape[1],
                             return_tensors="pt")["input_ids"]
    assert torch.equal(out["input_ids"][-2:], tail)


def test_feature_collator_cuts_a_loud_window_per_example_with_each_class_share_of_it(tiny_tclap):
    import numpy as np

    from tclap_gen.datasets import Event, TemporalExample
    from tclap_gen.trainers.tclap import FeatureCollator

    rate = 8000
    make = lambda **kw: FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer,
                                        data_rate=rate, class_phrases={"bell": "a bell", "splash": "a splash"}, **kw)
    collator = make(window_seconds=1.0)
    noise = np.random.default_rng(1).standard_normal(4 * rate).astype(np.float32) * 0.1
    # a bell over 0-1.5 s, silence, a splash over 2.5-4 s (4 s in all)
    wave = noise.copy()
    wave[int(1.5 * rate):int(2.5 * rate)] = 0.0
    timeline = [Event("bell", "a bell", 0.0, 1.5), Event("splash", "a splash", 2.5, 4.0)]
    mix = TemporalExample(audio=wave, sampling_rate=rate, caption="a bell then a splash", labels=["bell", "splash"],
                          timeline=timeline)
    silent = TemporalExample(audio=np.zeros(4 * rate, np.float32), sampling_rate=rate, caption="a bell",
                             labels=["bell"], timeline=[Event("bell", "a bell", 0.0, 4.0)])
    unknown = TemporalExample(audio=noise, sampling_rate=rate, caption="a dog", labels=["dog"],
                              timeline=[Event("dog", "a dog", 0.0, 4.0)])
    batch = collator([(mix, []), (silent, []), (unknown, [])])
    # only the mix gives a window (silence and an unknown class give none): its features follow the clips'
    assert batch["input_features"].shape[0] == 3 + 1 and batch["window_target"].shape == (1, 2)
    target = batch["window_target"][0]
    assert target.sum().item() == pytest.approx(1.0, abs=1e-6)
    for _ in range(3):  # the same wave always gives the same window
        assert torch.equal(collator([(mix, [])])["window_target"], batch["window_target"])
    # the window is the one _class_window draws, through the clips' feature path (repeat-padded to the model input)
    start, drawn_target = collator._class_window(wave, timeline)
    np.testing.assert_allclose(drawn_target, target.numpy(), atol=1e-6)
    window = wave[start:start + rate]
    assert np.mean(window ** 2) > 1e-4  # loud
    from tclap_gen.audio import resample

    expected = tiny_tclap.audio_inputs([resample(window, rate, 16000)], 16000)["input_features"]
    torch.testing.assert_close(batch["input_features"][3:], expected)
    # every draw is covered at least half by events, and each class's share is its time in the window
    starts = set()
    for seed in range(20):
        start, share = collator._class_window(wave * (1 + 1e-3 * seed), timeline)  # another wave, another draw
        bell, splash = max(0.0, 1.5 - start / rate), max(0.0, (start + rate) / rate - 2.5)
        assert bell + splash >= 0.5 - 1e-6
        np.testing.assert_allclose(share, np.array([bell, splash]) / (bell + splash), atol=1e-5)
        starts.add(start)
    assert len(starts) > 3  # the draws spread over the qualifying windows
    with pytest.raises(ValueError, match="class_phrases"):
        FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer, data_rate=rate,
                        window_seconds=1.0)
    assert "window_target" not in make()([(mix, [])])  # off without window_seconds


def test_spec_augment_masks_bands_and_frames_with_the_row_mean_and_repeats_by_seed():
    from tclap_gen.trainers.tclap import spec_augment

    features = torch.randn(3, 1, 50, 16)
    out = spec_augment(features, [7, 8, 7], freq_masks=2, freq_mask_width=4, time_masks=2, time_mask_width=10)
    assert out.shape == features.shape
    for row in range(3):
        changed = out[row] != features[row]
        assert changed.any()  # seeds 7 and 8 draw non-empty masks
        torch.testing.assert_close(out[row][changed], features[row].mean().expand(int(changed.sum())))
        # every changed cell lies in a masked band or stretch: at most 2 x 4 bins or 2 x 10 frames fully changed
        full_bins = int(changed.all(dim=-2).sum())
        full_frames = int(changed.all(dim=-1).sum())
        assert full_bins <= 8 and full_frames <= 20 and (full_bins + full_frames) > 0
    assert torch.equal(out[0] != features[0], out[2] != features[2])  # same seed, same masks
    assert not torch.equal(out[0] != features[0], out[1] != features[1])
    # widths of 0 leave the features alone
    torch.testing.assert_close(spec_augment(features, [1, 2, 3], 2, 0, 2, 0), features, rtol=0, atol=0)


def test_a_run_with_spec_augment_trains_and_masks_negatives_like_their_clip(tiny_tclap, tmp_path):
    import numpy as np

    from tclap_gen.datasets import TemporalExample
    from tclap_gen.trainers.tclap import FeatureCollator

    settings = dict(freq_masks=1, freq_mask_width=8, time_masks=1, time_mask_width=40)
    make = lambda **kw: FeatureCollator(tiny_tclap.processor.feature_extractor, tiny_tclap.processor.tokenizer,
                                        data_rate=16000, max_audio_negatives=1, **kw)
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    example = TemporalExample(audio=wave, sampling_rate=16000, caption="a bell then a splash",
                              negatives=["a splash then a bell"], audio_negatives=[wave[::-1].copy()])
    clean, masked = make()([(example, [])]), make(spec_augment=settings)([(example, [])])
    changed = masked["input_features"] != clean["input_features"]
    assert changed[0].any() and torch.equal(changed[0], changed[1])  # the re-ordered mixture: the same masks
    summary = run(tmp_path / "masked", *[f"data.{k}={v}" for k, v in settings.items()])
    assert summary.status == "finished"
    with pytest.raises(ConfigError, match="data.time_masks"):
        config_for(tmp_path / "bad", "data.time_masks=-1")


def test_noise_floor_lies_under_each_example_at_its_level_and_repeats_on_its_negatives(tiny_tclap, tmp_path):
    import numpy as np

    from tclap_gen.trainers.tclap import add_noise_floor

    rng = np.random.default_rng(0)
    audio = [rng.standard_normal(16000).astype(np.float32) * 0.1, np.zeros(16000, np.float32),
             rng.standard_normal(16000).astype(np.float32) * 0.01]
    negatives = [audio[0][::-1].copy(), audio[2][::-1].copy(), audio[0][:8000][::-1].copy()]
    noisy, noisy_negatives = add_noise_floor(audio, negatives, [0, 2, 0], probability=1.0, db=[30.0, 30.0],
                                             slope=[1.0, 1.0])
    for wave, out in zip(audio[::2], noisy[::2]):
        added = (out - wave).astype(np.float64)
        ratio_db = 10 * np.log10(np.mean(wave.astype(np.float64) ** 2) / np.mean(added**2))
        assert ratio_db == pytest.approx(30.0, abs=0.01)
    np.testing.assert_array_equal(noisy[1], audio[1])  # silence has no level to lie under
    for j, owner in enumerate([0, 2, 0]):  # each negative carries its example's noise, sample for sample
        added = noisy_negatives[j] - negatives[j]
        np.testing.assert_allclose(added, (noisy[owner] - audio[owner])[: added.size], rtol=0, atol=1e-7)
    again, _ = add_noise_floor(audio, negatives, [0, 2, 0], 1.0, [30.0, 30.0], [1.0, 1.0])
    assert all(np.array_equal(a, b) for a, b in zip(again, noisy))  # drawn from the example: a resumed run agrees
    untouched, _ = add_noise_floor(audio, negatives, [0, 2, 0], 0.0, [30.0, 30.0], [1.0, 1.0])
    assert all(np.array_equal(a, b) for a, b in zip(untouched, audio))
    summary = run(tmp_path / "noisy", "data.noise_floor_probability=0.5", "data.noise_floor_db=[20,40]")
    assert summary.status == "finished"
    for bad in ("data.noise_floor_probability=1.5", "data.noise_floor_db=[40,20]"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            config_for(tmp_path / "bad", bad)


def test_global_batchnorm_matches_batchnorm_in_one_process():
    bn = torch.nn.BatchNorm2d(8)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    ours = GlobalBatchNorm2d(8)
    ours.load_state_dict(bn.state_dict())
    x = torch.randn(5, 8, 20, 6) * 15 - 40  # mel-dB-like values
    torch.testing.assert_close(ours(x), bn(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours.running_mean, bn.running_mean)
    torch.testing.assert_close(ours.running_var, bn.running_var, atol=1e-4, rtol=1e-5)
    ours.eval(), bn.eval()
    torch.testing.assert_close(ours(x), bn(x), atol=1e-5, rtol=1e-5)


def test_mixture_sampler_is_seeded_per_epoch_and_follows_the_weights():
    sampler = MixtureSampler([10, 1000], [0.25, 0.75], num_samples=4000, seed=3)
    first = sampler.epoch_indices(0)
    assert first == MixtureSampler([10, 1000], [0.25, 0.75], 4000, seed=3).epoch_indices(0)
    assert first != sampler.epoch_indices(1)
    assert min(first) >= 0 and max(first) < 1010
    share = sum(i < 10 for i in first) / len(first)
    assert 0.22 < share < 0.28
    assert sorted(set(i for i in first if i < 10)) == list(range(10))  # a small source is cycled through
    sampler.set_epoch(1)
    assert list(iter(sampler)) == sampler.epoch_indices(1) and len(sampler) == 4000


# ----------------------------------------------------------------------------------------------------------
# Configuration


def test_config_overrides_env_and_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("MYDATA", str(tmp_path))
    config = load_config(
        {"output_dir": "runs/x", "data": {"clips": [{"metadata": "${MYDATA}/clips.csv"}],
                                           "mixture": [{"kind": "mixup"}]}},
        ["optim.lr=5e-4", "data.mixture.0.weight=2", "loss.temporal_weight=0", "model.size={text_hidden: 64}"],
        base_dir=tmp_path,
    )
    assert config.optim.lr == 5e-4 and config.data.mixture[0].weight == 2.0 and config.loss.temporal_weight == 0.0
    assert config.model.size == {"text_hidden": 64}
    assert config.data.clips[0].metadata == str(tmp_path / "clips.csv")
    assert config.output_dir == str(tmp_path / "runs" / "x")  # relative paths start at the base (repo root)
    with pytest.raises(ConfigError, match="optim.lrr"):
        load_config("smoke", ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="optim.max_steps"):
        load_config("smoke", ["optim.max_steps=many"])
    with pytest.raises(ConfigError, match="NOPE_NOT_SET"):
        load_config({"output_dir": "${NOPE_NOT_SET}/x", "data": {"mixture": []}})
    with pytest.raises(ConfigError, match="model.init"):
        load_config("smoke", ["model.init=magic"])
    with pytest.raises(ConfigError, match="loss.order_negatives"):
        load_config("smoke", ["loss.order_negatives=text"])
    with pytest.raises(FileNotFoundError, match="no-such-recipe"):
        load_config("no-such-recipe")


def test_a_mixup_sources_mixer_reaches_its_dataset():
    from tclap_gen.trainers.tclap import build_data

    config = load_config("smoke", ['data.mixture.1.mixer={gain_db: [-15, -3], gap_s: [0.5, 0.6], crossfade_probability: 0}'])
    mixup = build_data(config, None).dataset.datasets[1]
    assert (mixup.gain_db, mixup.gap_s, mixup.crossfade_probability) == ((-15.0, -3.0), (0.5, 0.6), 0.0)
    default = build_data(load_config("smoke"), None).dataset.datasets[1]
    assert default.gain_db == (-6.0, 0.0)
    with pytest.raises(ConfigError, match=r"data.mixture.1.mixer: unknown keys \['gain'\]"):
        load_config("smoke", ["data.mixture.1.mixer={gain: [-3, 0]}"])
    with pytest.raises(ConfigError, match="data.mixture.0.mixer: only a mixup source"):
        load_config("smoke", ["data.mixture.0.mixer={gain_db: [-3, 0]}"])


def test_a_single_sources_crop_reaches_its_dataset():
    from tclap_gen.trainers.tclap import build_data

    single = build_data(load_config("smoke", ["data.mixture.0.crop_s=[0.5, 1.0]"]), None).dataset.datasets[0]
    assert single.crop_s == (0.5, 1.0)
    assert build_data(load_config("smoke"), None).dataset.datasets[0].crop_s is None
    with pytest.raises(ConfigError, match="data.mixture.1.crop_s: only a single source"):
        load_config("smoke", ["data.mixture.1.crop_s=[0.5, 1.0]"])
    for bad in ("[1.0, 0.5]", "1.0", "[0, 1.0]"):
        with pytest.raises(ConfigError, match="data.mixture.0.crop_s: "):
            load_config("smoke", [f"data.mixture.0.crop_s={bad}"])


def test_shipped_recipes_load_and_point_at_the_data_root(tmp_path):
    for name in ("smoke", "mini", "mini-clap", "real"):
        assert find_recipe(name).is_file()
    mini = load_config("mini", data_root=tmp_path)
    clap = load_config("mini-clap", data_root=tmp_path)
    assert mini.data.clips[0].metadata.startswith(str(tmp_path))
    assert mini.loss.temporal_weight == 0.5 and clap.loss.temporal_weight == 0.0
    # The baseline differs from the T-CLAP recipe in the temporal weight (and its name/output) only.
    a, b = mini.to_dict(), clap.to_dict()
    for d in (a, b):
        d["loss"].pop("temporal_weight")
        d.pop("recipe"), d.pop("output_dir")
    assert a == b
    real = load_config("real", data_root=tmp_path)
    assert real.model.init == "pretrained" and real.model.name == "laion/clap-htsat-unfused"
