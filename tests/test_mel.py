"""tclap_gen.mel: shapes, frame count, where a tone lands, batch == single, errors."""

import math

import numpy as np
import pytest
import torch

from tclap_gen.mel import MelConfig, log_mel, mel_filters


def slaney_hz_to_mel(hz):
    # Slaney's scale, written out independently: linear below 1 kHz (3 mels / 200 Hz), log above.
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    log_part = 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def slaney_mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * 200.0 / 3.0
    log_part = 1000.0 * np.exp((mel - 15.0) * np.log(6.4) / 27.0)
    return np.where(mel >= 15.0, log_part, linear)


def expected_bin(frequency, config):
    points = np.linspace(slaney_hz_to_mel(config.fmin), slaney_hz_to_mel(config.fmax), config.n_mels + 2)
    centres = slaney_mel_to_hz(points[1:-1])
    return int(np.argmin(np.abs(centres - frequency)))


def tone(frequency, seconds=1.0, sr=16000, amplitude=0.5):
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    return (amplitude * torch.sin(2 * math.pi * frequency * t)).float()


def test_shape_and_frame_count():
    config = MelConfig()
    for samples in (433, 16000, 16001, 16159, 81920):
        mel = log_mel(torch.randn(samples) * 0.1, config)
        assert mel.shape == (samples // 160, 64) == (config.num_frames(samples), config.n_mels)
        assert mel.dtype == torch.float32
    batch = log_mel(torch.randn(3, 81920) * 0.1)
    assert batch.shape == (3, 512, 64)


@pytest.mark.parametrize("frequency", [300.0, 1000.0, 3000.0, 6500.0])
def test_tone_energy_lands_in_its_mel_bin(frequency):
    config = MelConfig()
    mel = log_mel(tone(frequency), config)
    interior = mel[5:-5]  # frames away from the reflect-padded edges
    assert int(interior.mean(0).argmax()) == expected_bin(frequency, config)
    # Every frame agrees, and the peak is far above the bands away from the tone.
    assert (interior.argmax(1) == expected_bin(frequency, config)).all()
    assert interior.max() - interior.mean(0).min() > 5.0


def test_filters_are_slaney_normalised_triangles():
    filters = mel_filters(MelConfig())
    assert filters.shape == (513, 64)
    assert (filters >= 0).all()
    # Slaney normalisation gives each triangle unit area in Hz: the sum over FFT bins times the bin width
    # (15.625 Hz) is about 1 (the narrow low bands are coarsely sampled, so they are skipped).
    areas = filters.sum(0) * (16000 / 1024)
    assert np.allclose(areas[4:], 1.0, atol=0.15)


def test_silence_is_the_clamp_floor():
    config = MelConfig()
    mel = log_mel(torch.zeros(2, 4000), config)
    assert torch.allclose(mel, torch.full_like(mel, math.log(config.clamp_min)), atol=1e-3)
    assert config.silence == pytest.approx(math.log(1e-5))


def test_batch_equals_single_and_dtype_is_float32():
    waves = torch.randn(4, 20000) * 0.2
    batch = log_mel(waves)
    for i in range(4):
        assert torch.allclose(batch[i], log_mel(waves[i]), atol=1e-5)
    assert torch.allclose(log_mel(waves.double()), batch, atol=1e-4)


def test_gradient_is_finite_even_through_silence():
    wave = torch.zeros(1, 3200, requires_grad=True)
    log_mel(wave).sum().backward()
    assert torch.isfinite(wave.grad).all()


def test_custom_config_and_errors():
    config = MelConfig(sampling_rate=8000, n_fft=256, win_length=256, hop_length=80, n_mels=16, fmax=4000)
    assert log_mel(torch.randn(8000), config).shape == (100, 16)
    with pytest.raises(ValueError, match="samples"):
        log_mel(torch.randn(100))
    with pytest.raises(ValueError, match="shape"):
        log_mel(torch.randn(1, 2, 3000))
    with pytest.raises(TypeError, match="torch.Tensor"):
        log_mel(np.zeros(3000))
    with pytest.raises(ValueError, match="fmax"):
        MelConfig(fmax=9000)
