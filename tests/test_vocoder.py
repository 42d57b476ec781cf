"""tclap_gen.vocoder: the Vocos-style vocoder is called like AudioLDM's SpeechT5HifiGan, starts with the input's
spectral envelope, and saves and loads inside a pipeline folder."""

import json

import numpy as np
import pytest
import torch

from tclap_gen.mel import MelConfig, log_mel, mel_filters
from tclap_gen.vocoder import VocosVocoder, load_vocoder, mel_interpolation
from tolerances import RECOMPUTED_ATOL


def small(**kwargs) -> VocosVocoder:
    torch.manual_seed(0)
    return VocosVocoder(**{"dim": 32, "intermediate_dim": 64, "num_layers": 2, **kwargs}).eval()


def test_frames_to_hops_batched_and_not():
    vocoder = small()
    mel = torch.randn(3, 25, 64) - 5
    with torch.no_grad():
        batch, one = vocoder(mel), vocoder(mel[1])
    assert batch.shape == (3, 25 * 160) and one.shape == (25 * 160,)
    torch.testing.assert_close(one, batch[1], rtol=0, atol=RECOMPUTED_ATOL)  # another batch: tolerances.py
    with pytest.raises(ValueError, match=r"\(batch, frames, 64\)"):
        vocoder(torch.randn(2, 25, 80))
    with pytest.raises(ValueError, match="n_fft"):
        VocosVocoder(n_fft=100)  # below the 160-sample hop


def test_mel_interpolation_is_flat_where_the_mel_is_flat():
    rows = mel_interpolation(64, 16000, 640, 0.0, None)  # the vocoder's 321 bins
    assert rows.shape == (321, 64) and (rows >= 0).all()
    # a flat magnitude spectrum c on those bins gives band energies c * (filter area); interpolated back: c everywhere
    areas = torch.from_numpy(mel_filters(MelConfig(n_fft=640, win_length=640))).sum(0)
    torch.testing.assert_close(rows @ (3.0 * areas), torch.full((321,), 3.0), rtol=1e-5, atol=0)  # float32 sums


def test_untrained_output_already_follows_the_input_envelope():
    """The head's magnitude correction starts at zero: a sound's log-mel comes back up to a level offset."""
    t = np.arange(16000) / 16000
    rng = np.random.default_rng(0)
    wave = (0.2 * np.sin(2 * np.pi * 600 * t) * (t < 0.5) + 0.05 * rng.standard_normal(16000) * (t >= 0.5))
    mel = log_mel(torch.from_numpy(wave.astype(np.float32)))
    with torch.no_grad():
        again = log_mel(small()(mel))
    loud = mel > mel.max() - 6  # where the sound is (the rest is digital silence at the clamp)
    difference = (again - mel)[loud]
    assert (difference - difference.mean()).abs().mean() < 1.0  # nats; a random head is off by several


def test_float16_weights_give_a_finite_wave():
    vocoder = small().to(torch.float16)
    with torch.no_grad():
        wave = vocoder(torch.randn(1, 10, 64, dtype=torch.float16) - 5)
    assert wave.dtype == torch.float16 and torch.isfinite(wave).all()


def test_save_load_and_pipeline_folder_round_trip(tiny_tclap, tmp_path):
    from tclap_gen.pipelines import TClapAudioLDMPipeline
    from tclap_gen.testing import tiny_scheduler, tiny_unet, tiny_vae

    vocoder = small(model_in_dim=8, upsample_rates=(2, 2), n_fft=16)
    vocoder.save_pretrained(tmp_path / "vocoder")
    assert isinstance(load_vocoder(tmp_path / "vocoder"), VocosVocoder)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_vocoder(tmp_path / "missing")

    pipe = TClapAudioLDMPipeline.from_components(tiny_tclap, vae=tiny_vae(0), unet=tiny_unet(tiny_tclap.projection_dim, 0),
                                                 scheduler=tiny_scheduler(), vocoder=vocoder)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(tmp_path / "pipe")
    assert json.loads((tmp_path / "pipe" / "model_index.json").read_text())["vocoder"] == ["tclap_gen.vocoder", "VocosVocoder"]
    loaded = TClapAudioLDMPipeline.from_pretrained(tmp_path / "pipe")
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.vocoder, VocosVocoder)
    kwargs = dict(num_inference_steps=2, audio_length_in_s=0.05)
    ours = pipe("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    theirs = loaded("a dog barks", generator=torch.Generator().manual_seed(0), **kwargs).audios
    assert ours.shape == (1, int(0.05 * 16000)) and np.abs(ours).max() > 0
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=RECOMPUTED_ATOL)  # reloaded weights: tolerances.py
