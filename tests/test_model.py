import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tclap_gen.audio import AudioError
from transformers import ClapFeatureExtractor

from tclap_gen.model import TClap, clap_audio_features, window_starts
from tolerances import RECOMPUTED_ATOL


def test_embeddings_are_normalised_and_batch_independent(tiny_tclap):
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(16000).astype(np.float32) * 0.1, rng.standard_normal(24000).astype(np.float32) * 0.1]
    both = tiny_tclap.embed_audio(waves, sampling_rate=16000)
    assert both.shape == (2, tiny_tclap.projection_dim)
    assert torch.allclose(both.norm(dim=-1), torch.ones(2), atol=1e-5)
    alone = tiny_tclap.embed_audio([waves[1]], sampling_rate=16000)
    assert torch.allclose(both[1], alone[0], atol=1e-5)
    text = tiny_tclap.embed_text(["a dog barks then a car horn honks", "glass smashing"])
    assert text.shape == (2, tiny_tclap.projection_dim)
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(text[0], text[1])


def test_embed_audio_resamples_to_model_rate(tiny_tclap):
    t = np.arange(44100) / 44100
    tone44 = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    t16 = np.arange(16000) / 16000
    tone16 = (0.3 * np.sin(2 * np.pi * 440 * t16)).astype(np.float32)
    a = tiny_tclap.embed_audio(tone44, sampling_rate=44100)
    b = tiny_tclap.embed_audio(tone16, sampling_rate=16000)
    assert F.cosine_similarity(a, b).item() > 0.99


def test_long_audio_is_embedded_deterministically_window_by_window(tiny_tclap):
    rng = np.random.default_rng(1)
    long_wave = rng.standard_normal(5 * 16000).astype(np.float32) * 0.1
    first = tiny_tclap.embed_audio([long_wave], sampling_rate=16000)
    second = tiny_tclap.embed_audio([long_wave], sampling_rate=16000)
    torch.testing.assert_close(first, second, rtol=0, atol=RECOMPUTED_ATOL)  # two calls: see tolerances.py
    assert window_starts(5 * 16000, 2 * 16000) == [0, 32000, 48000]
    assert window_starts(100, 200) == [0]


def test_bad_inputs_name_the_problem(tiny_tclap):
    with pytest.raises(AudioError, match=r"audio\[1\].*NaN"):
        tiny_tclap.embed_audio([np.zeros(100, np.float32), np.full(100, np.nan, np.float32)], sampling_rate=16000)
    with pytest.raises(AudioError, match="empty"):
        tiny_tclap.embed_audio([np.zeros(0, np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match="sampling_rate"):
        tiny_tclap.embed_audio([np.zeros(100, np.float32)], sampling_rate=0)
    with pytest.raises(ValueError, match=r"text\[1\] is empty"):
        tiny_tclap.embed_text(["a dog barks", "  "])


def test_exported_text_tower_matches_embed_text(tiny_tclap):
    texts = ["a dog barks then a car horn honks", "glass smashing followed by a bicycle bell"]
    encoder = tiny_tclap.export_text_encoder()
    with torch.no_grad():
        exported = F.normalize(encoder(**tiny_tclap.text_inputs(texts)).text_embeds, dim=-1)
    assert torch.allclose(exported, tiny_tclap.embed_text(texts), atol=1e-5)


def test_embed_text_can_canonicalize(tiny_tclap):
    canonical = tiny_tclap.embed_text(["a car horn honks after a dog barks", "a dog barks"], canonicalize=True)
    written = tiny_tclap.embed_text(["a dog barks then a car horn honks", "a dog barks"])
    torch.testing.assert_close(canonical, written, rtol=0, atol=RECOMPUTED_ATOL)  # two calls: tolerances.py
    assert not torch.allclose(tiny_tclap.embed_text(["a car horn honks after a dog barks"]), written[:1], atol=1e-4)


def test_save_and_load_round_trip(tiny_tclap, tmp_path):
    tiny_tclap.info.recipe = "test"
    tiny_tclap.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    loaded = TClap.from_pretrained(tmp_path / "m")
    assert loaded.info.recipe == "test"
    texts = ["typing then a chainsaw"]
    # another model instance with the same weights: equal up to the kernels' rounding (tolerances.py)
    torch.testing.assert_close(loaded.embed_text(texts), tiny_tclap.embed_text(texts), rtol=0, atol=RECOMPUTED_ATOL)
    wave = np.random.default_rng(2).standard_normal(16000).astype(np.float32) * 0.1
    torch.testing.assert_close(loaded.embed_audio(wave, 16000), tiny_tclap.embed_audio(wave, 16000), rtol=0,
                               atol=RECOMPUTED_ATOL)


def test_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        TClap.from_pretrained(tmp_path / "empty")


@pytest.mark.parametrize(
    "settings",
    [
        {"feature_size": 32, "sampling_rate": 16000, "hop_length": 160, "max_length_s": 5, "fft_window_size": 400},
        {},  # the real CLAP's defaults: 48 kHz, 10 s, 64 mels, repeatpad
        {"padding": "pad"},
        {"padding": "repeat"},
    ],
)
def test_fast_features_equal_the_feature_extractors(settings):
    extractor = ClapFeatureExtractor(**settings)
    n = extractor.nb_max_samples
    rng = np.random.default_rng(0)
    # a full window, padded ones (a third, a few hundred samples) and silence
    waves = [0.1 * rng.standard_normal(n), 0.3 * rng.standard_normal(n // 3), rng.standard_normal(777), np.zeros(n // 2)]
    expected = extractor(waves, sampling_rate=extractor.sampling_rate, truncation="rand_trunc", return_tensors="pt")
    fast = clap_audio_features(extractor, waves)
    assert fast.shape == expected["input_features"].shape
    # dB values rounded to float32 from float64 sums taken as one matrix product here and frame by frame there:
    # the sums may differ in their last float64 bits, which can move a float32 result by one ulp (1e-5 at 100 dB).
    torch.testing.assert_close(fast, expected["input_features"], rtol=1e-6, atol=1e-5)


def test_fast_features_hand_longer_waves_to_the_extractor():
    extractor = ClapFeatureExtractor(feature_size=32, sampling_rate=16000, hop_length=160, max_length_s=1, fft_window_size=400)
    wave = np.random.default_rng(1).standard_normal(40000)  # 2.5 windows: the extractor's random crop decides
    np.random.seed(3)
    expected = extractor([wave], sampling_rate=16000, truncation="rand_trunc", return_tensors="pt")["input_features"]
    np.random.seed(3)
    assert torch.equal(clap_audio_features(extractor, [wave]), expected)  # handed to the extractor: its own output


def _order_gap(tclap) -> float:
    """1 - cosine between the audio embeddings of "tone, then noise" and "noise, then tone" (2 s window)."""
    sr, half = 16000, 16000
    t = np.arange(half) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noise = (0.1 * np.random.default_rng(0).standard_normal(half)).astype(np.float32)
    a, b = tclap.embed_audio([np.concatenate([tone, noise]), np.concatenate([noise, tone])], sr)
    return float(1 - (a * b).sum())


def test_order_bias_adds_a_directional_pattern_and_makes_order_visible():
    from tclap_gen.model import add_order_bias
    from tclap_gen.testing import tiny_tclap

    plain, biased = tiny_tclap(seed=3), tiny_tclap(seed=3)
    tables = lambda m: [b.attention.self.relative_position_bias_table.detach().clone()
                        for stage in m.model.audio_model.audio_encoder.layers for b in stage.blocks]
    before = tables(biased)
    add_order_bias(biased.model, 2.0, stages=1)
    after = tables(biased)
    last_stage_blocks = len(biased.model.audio_model.audio_encoder.layers[-1].blocks)
    for old, new in zip(before[:-last_stage_blocks], after[:-last_stage_blocks]):
        torch.testing.assert_close(old, new)  # earlier stages untouched
    window = biased.model.config.audio_config.window_size
    delta = after[-1] - before[-1]
    # Row offset (query row - key row) of each table entry; head 0 favours earlier rows, head 1 later ones.
    rows = torch.arange(delta.shape[0]) // (2 * window - 1) - (window - 1)
    torch.testing.assert_close(delta[:, 0], 2.0 * rows.float())
    torch.testing.assert_close(delta[:, 1], -2.0 * rows.float())
    # The point of it: a random tower tells the two orders apart far better with the pattern than without.
    add_order_bias(plain.model, 0.0)  # strength 0 changes nothing
    assert _order_gap(biased) > 10 * _order_gap(plain)


def test_order_bias_rejects_bad_arguments(tiny_tclap):
    from tclap_gen.model import add_order_bias

    with pytest.raises(ValueError, match="strength"):
        add_order_bias(tiny_tclap.model, -1.0)
    with pytest.raises(ValueError, match="strength"):
        add_order_bias(tiny_tclap.model, float("nan"))
    with pytest.raises(ValueError, match="stages"):
        add_order_bias(tiny_tclap.model, 1.0, stages=9)
