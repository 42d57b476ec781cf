"""tclap_gen.fidelity: the judge trains and tells sounds apart, Griffin-Lim inverts a log-mel, the event finder
reads order from probability tracks, and the measurement runs end to end on a tiny pipeline."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tclap_gen.fidelity import (
    CANDIDATE_SEED_STRIDE,
    ClassifierRecipe,
    SoundClassifier,
    classify,
    found_span,
    generate_clips,
    griffin_lim,
    log_mel_l1,
    measure,
    multi_resolution_stft_distance,
    sequence_found,
    sequence_mix,
    train_classifier,
)
from tclap_gen.mel import log_mel
from tclap_gen.scoring import TemporalScorer

RATE = 16000


def tone(freq: float, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


@pytest.fixture(scope="module")
def judge():
    """Three easy classes (low tone, high tone, noise), a few dozen steps: enough to tell them apart."""
    waves = [tone(300), tone(320, 3.0), tone(3000), tone(3100, 3.0), noise(seed=1), noise(3.0, seed=2)]
    labels = ["low", "low", "high", "high", "noise", "noise"]
    torch.manual_seed(0)
    return train_classifier(waves, labels, ClassifierRecipe(steps=100, batch_size=12, crop_s=0.5, learning_rate=3e-3),
                            log=lambda line: None)


def test_the_judge_learns_its_classes(judge, tmp_path):
    probs = classify(judge, [tone(310, 2.5), tone(2900, 2.5), noise(2.5, seed=7)])
    assert judge.classes == ["high", "low", "noise"]
    assert probs.argmax(axis=1).tolist() == [1, 0, 2]  # unseen recordings of each class
    judge.save(tmp_path / "judge")
    again = SoundClassifier.load(tmp_path / "judge")
    np.testing.assert_allclose(classify(again, [tone(310)]), classify(judge, [tone(310)]), rtol=0, atol=1e-6)  # reloaded


def test_sequence_found_reads_presence_order_and_spans_from_tracks():
    probs = np.full((6, 5), 0.05)
    probs[:2, 0], probs[2:4, 1], probs[4:, 2] = 0.8, 0.8, 0.8  # classes 0, 1, 2 in turn; 3 and 4 never near the top
    assert sequence_found(probs, [0, 1]) == ([True, True], True)
    assert sequence_found(probs, [0, 1, 2]) == ([True, True, True], True)
    assert sequence_found(probs, [1, 0]) == ([True, True], False)  # found, in the other order
    assert sequence_found(probs, [0, 2, 1]) == ([True, True, True], False)
    probs[:, 4] = 0.0
    assert sequence_found(probs, [0, 4], top_k=2) == ([True, False], False)
    centres = 0.5 + 0.25 * np.arange(6)  # 1 s windows, hop 0.25 s
    assert found_span(centres, probs, 1, top_k=1) == pytest.approx((0.5, 1.75))  # windows centred at 1.0 and 1.25
    assert found_span(centres, probs, 4, top_k=2) is None


def test_sequence_mix_puts_each_event_in_its_span():
    mix, spans = sequence_mix([tone(300, 3.0), noise(3.0)], RATE, total_s=5.0)
    assert mix.shape == (5 * RATE,)
    assert spans == [pytest.approx((0.2, 2.2)), pytest.approx((2.5, 4.5))]
    first, second = mix[int(0.3 * RATE) : int(2.1 * RATE)], mix[int(2.6 * RATE) : int(4.4 * RATE)]
    assert np.abs(np.diff(first)).mean() < np.abs(np.diff(second)).mean()  # tone (smooth) then noise (rough)
    assert np.abs(mix[: int(0.19 * RATE)]).max() == 0.0  # the lead-in is silent
    three, spans = sequence_mix([tone(300), noise(), tone(3000)], RATE, total_s=5.0)
    assert len(spans) == 3 and spans[-1][1] <= 5.0 - 0.2 + 1e-6  # shorter events, all inside the clip
    assert all(b[0] - a[1] == pytest.approx(0.3) for a, b in zip(spans, spans[1:]))


def test_griffin_lim_inverts_a_log_mel_and_the_distances_see_it():
    wave = np.concatenate([tone(440, 1.0), noise(1.0)])
    mel = log_mel(torch.from_numpy(wave))
    rebuilt = griffin_lim(mel, iterations=16).numpy()
    assert rebuilt.shape == (mel.shape[0] * 160,)
    assert log_mel_l1(rebuilt, wave) < 0.5  # nats: the magnitude comes back, only the phase is guessed
    garbage = noise(2.0, seed=9)
    assert log_mel_l1(garbage, wave) > 2 * log_mel_l1(rebuilt, wave)
    assert multi_resolution_stft_distance(wave, wave) == pytest.approx(0.0, abs=1e-6)
    assert multi_resolution_stft_distance(garbage, wave) > multi_resolution_stft_distance(rebuilt, wave)


def mel_pipeline(tclap):
    """A tiny pipeline whose vocoder reads the project's 64-band, 10 ms log-mel, as the measurement needs."""
    from tclap_gen.pipelines import TClapAudioLDMPipeline
    from tclap_gen.testing import tiny_scheduler, tiny_unet, tiny_vae
    from tclap_gen.vocoder import VocosVocoder

    torch.manual_seed(0)
    vocoder = VocosVocoder(dim=16, intermediate_dim=32, num_layers=1).eval()
    pipe = TClapAudioLDMPipeline.from_components(tclap, vae=tiny_vae(0), unet=tiny_unet(tclap.projection_dim, 0),
                                                 scheduler=tiny_scheduler(), vocoder=vocoder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_measure_runs_every_row_on_a_tiny_pipeline(tiny_tclap, pipe, judge):
    with pytest.raises(ValueError, match="pipeline tiny: its vocoder reads 8 mel bands"):
        measure(judge, [(tone(305), "low")], {"tiny": pipe}, log=lambda line: None)
    pipe = mel_pipeline(tiny_tclap)
    heldout = [(tone(305, 1.5), "low"), (tone(3050, 1.5), "high"), (noise(1.5, seed=4), "noise")]
    rows = measure(judge, heldout, {"tiny": pipe}, pairs=2, seconds=2.0, steps=2, phrase=lambda label: label,
                   layout=True, event_counts=(2, 3), candidates=2, log=lambda line: None)
    assert set(rows) == {
        "original", "Griffin-Lim (32 iterations) from the log-mel", "vocoder of tiny", "VAE + vocoder of tiny",
        "generated by tiny from the class phrase", "generated by tiny from a held-out clip's audio embedding",
        "2 events: real held-out recordings, A then B",
        '2 events: generated by tiny from "A then B"', '2 events: generated by tiny from "A then B", layout auto',
        '2 events: generated by tiny from "A then B", best of 2 by the temporal scorer',
        "3 events: real held-out recordings, A then B then C", '3 events: generated by tiny from "A then B then C"',
        '3 events: generated by tiny from "A then B then C", layout auto',
        '3 events: generated by tiny from "A then B then C", best of 2 by the temporal scorer',
    }
    assert rows["original"]["top1_ratio_to_original"] == pytest.approx(1.0)
    for row in rows.values():
        for key in ("top1", "top5", "all_found", "in_order", "absent_found"):
            assert row.get(key) is None or 0.0 <= row[key] <= 1.0
    assert rows["3 events: real held-out recordings, A then B then C"]["absent_found"] is None  # no 4th class
    real = rows["2 events: real held-out recordings, A then B"]
    assert real["onset_error_s"] is None or 0.0 <= real["onset_error_s"] <= 2.0
    with pytest.raises(ValueError, match="4-event prompts need 4 held-out classes"):
        measure(judge, heldout, {}, pairs=1, seconds=2.0, event_counts=(4,), log=lambda line: None)
    assert rows["Griffin-Lim (32 iterations) from the log-mel"]["log_mel_l1"] >= 0.0


def test_best_of_candidates_keeps_one_of_them_and_the_first_is_the_plain_clip(tiny_tclap):
    pipe = mel_pipeline(tiny_tclap)
    prompts = ["low then high", "high then noise"]
    plain = generate_clips(pipe, prompts, 1.0, 2, 2.5, seed=3)
    others = [generate_clips(pipe, [p], 1.0, 2, 2.5, seed=3 + i + CANDIDATE_SEED_STRIDE)[0] for i, p in enumerate(prompts)]
    best = generate_clips(pipe, prompts, 1.0, 2, 2.5, seed=3, candidates=2)
    scorer = TemporalScorer(pipe.get_tclap())
    for kept, prompt, first, second in zip(best, prompts, plain, others):
        scores = [scorer.score(c, sampling_rate=RATE, prompt=prompt).faithfulness for c in (first, second)]
        # the candidate the scorer rates higher (the same seed denoised in a batch of another size is equal up to
        # float32 summation order)
        assert np.allclose(kept, (first, second)[int(np.argmax(scores))], atol=1e-5)
    assert not all(np.allclose(a, b, atol=1e-5) for a, b in zip(plain, others))  # the two candidates differ


@pytest.mark.slow
def test_the_script_writes_its_table_and_json(tmp_path, clips_csv, tiny_tclap):
    mel_pipeline(tiny_tclap).save_pretrained(tmp_path / "pipe")
    out = tmp_path / "rows.json"
    script = Path(__file__).resolve().parents[1] / "scripts" / "fidelity.py"
    proc = subprocess.run([sys.executable, str(script), "--clips", str(clips_csv), "--pipelines", str(tmp_path / "pipe"),
                           "--classifier-steps", "2", "--pairs", "2", "--steps", "1", "--seconds", "1.5",
                           "--classifier-dir", str(tmp_path / "judge"), "--json-out", str(out),
                           "--vocoder", str(tmp_path / "pipe" / "vocoder")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| original |" in proc.stdout and "| 2 events: real held-out recordings" in proc.stdout
    result = json.loads(out.read_text())
    assert result["heldout_clips"] == 6 and "original" in result["rows"]
    assert result["config"]["vocoder"] == [str(tmp_path / "pipe" / "vocoder")]  # paths recorded as text
    assert len(list((tmp_path / "judge").glob("classifier-*/model.safetensors"))) == 1  # cached for the next run
