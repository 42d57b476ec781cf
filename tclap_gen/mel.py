"""AudioLDM-style log-mel spectrograms as a batched torch function (CPU or GPU, differentiable).

The generator's VAE, vocoder and training all read this one representation:
magnitude STFT (n_fft 1024, Hann window 1024, hop 160 = 10 ms at 16 kHz) -> Slaney mel filterbank
(64 bands, 0..8000 Hz, Slaney-normalised) -> log(clamp(x, 1e-5)).

Padding (why frames == samples // hop): the wave is reflect-padded by (n_fft - hop) // 2 = 432 samples on each
side and the STFT runs with center=False, so a wave of S samples gives (S + 864 - 1024) // 160 + 1 = S // 160
frames, and the vocoder's 160x upsampling gives back S rounded down to a whole frame. Frame t covers samples
[160 t - 432, 160 t + 592). A wave must therefore hold more than 432 samples (reflect padding needs it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MelConfig:
    """The log-mel parameters (AudioLDM's at 16 kHz by default)."""

    sampling_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    clamp_min: float = 1e-5

    def __post_init__(self):
        if self.sampling_rate <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError(f"MelConfig: sampling_rate, hop_length and n_mels must be positive: {self}")
        if not 0 < self.win_length <= self.n_fft or self.hop_length > self.n_fft:
            raise ValueError(f"MelConfig: need 0 < win_length <= n_fft and hop_length <= n_fft: {self}")
        if not 0 <= self.fmin < self.fmax <= self.sampling_rate / 2:
            raise ValueError(f"MelConfig: need 0 <= fmin < fmax <= sampling_rate / 2: {self}")
        if self.clamp_min <= 0:
            raise ValueError(f"MelConfig: clamp_min must be positive, got {self.clamp_min}")

    @property
    def pad(self) -> int:
        """Reflect padding on each side of the wave."""
        return (self.n_fft - self.hop_length) // 2

    @property
    def silence(self) -> float:
        """The log-mel value of digital silence (the clamp floor)."""
        return math.log(self.clamp_min)

    def num_frames(self, num_samples: int) -> int:
        return int(num_samples) // self.hop_length


_CACHE: dict = {}


def mel_filters(config: MelConfig = MelConfig()) -> np.ndarray:
    """(n_fft // 2 + 1, n_mels) Slaney-scale, Slaney-normalised triangular filters (librosa's default)."""
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(
        num_frequency_bins=config.n_fft // 2 + 1,
        num_mel_filters=config.n_mels,
        min_frequency=config.fmin,
        max_frequency=config.fmax,
        sampling_rate=config.sampling_rate,
        norm="slaney",
        mel_scale="slaney",
    ).astype(np.float32)


def _constants(config: MelConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    # Filters and window are built once per (config, device): rebuilding them every batch costs more than the STFT.
    key = (config, str(device))
    if key not in _CACHE:
        filters = torch.from_numpy(mel_filters(config)).to(device)
        window = torch.hann_window(config.win_length, device=device)
        _CACHE[key] = (filters, window)
    return _CACHE[key]


def log_mel(wave: torch.Tensor, config: MelConfig = MelConfig()) -> torch.Tensor:
    """Log-mel of `wave` (samples,) or (batch, samples) -> (frames, n_mels) or (batch, frames, n_mels) float32,
    on the wave's device. Computed in float32 whatever the input dtype (autocast-safe); differentiable."""
    if not isinstance(wave, torch.Tensor):
        raise TypeError(f"log_mel: wave must be a torch.Tensor, got {type(wave).__name__}")
    if wave.dim() not in (1, 2):
        raise ValueError(f"log_mel: wave must be (samples,) or (batch, samples), got shape {tuple(wave.shape)}")
    single = wave.dim() == 1
    batch = wave.unsqueeze(0) if single else wave
    if batch.shape[-1] <= config.pad:
        raise ValueError(
            f"log_mel: the wave has {batch.shape[-1]} samples; it needs more than {config.pad} "
            f"(reflect padding of (n_fft - hop) // 2)"
        )
    filters, window = _constants(config, batch.device)
    with torch.autocast(device_type=batch.device.type, enabled=False):
        x = F.pad(batch.float().unsqueeze(1), (config.pad, config.pad), mode="reflect").squeeze(1)
        spec = torch.stft(
            x,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            win_length=config.win_length,
            window=window,
            center=False,
            return_complex=True,
        )
        # sqrt(|X|^2 + eps): the plain magnitude has an infinite gradient at 0 (vocoder losses backprop through it).
        magnitude = torch.sqrt(spec.real.square() + spec.imag.square() + 1e-9)  # (B, freq, frames)
        mel = torch.matmul(magnitude.transpose(1, 2), filters)  # (B, frames, n_mels)
        out = torch.log(torch.clamp(mel, min=config.clamp_min))
    return out[0] if single else out
