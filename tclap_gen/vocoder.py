"""A Vocos-style vocoder: log-mel frames -> per-frame STFT magnitude and phase -> inverse STFT.

Vocos (Siuzdenko et al., 2023) keeps the whole network at the frame rate and lets an inverse STFT do the
upsampling, so it is far cheaper to train than HiFi-GAN's stack of transposed convolutions. Here: a 1-D conv
embedding of the mel frames, ConvNeXt blocks (depthwise conv, LayerNorm, pointwise MLP, layer scale), and a linear
head that gives, per frame, the phase (as an angle) of n_fft // 2 + 1 bins and a correction to their
log-magnitude. The correction is added to a fixed interpolation of the mel bands back onto the STFT bins (each
bin: the filter-weighted mean of its bands' average magnitudes) and starts at zero, so from the first
step the output's spectral envelope already follows the input mel and training is spent on phase and detail.

It is called as AudioLDM calls its `SpeechT5HifiGan`: `vocoder(mel)` with mel (batch, frames, model_in_dim) or
(frames, model_in_dim) gives (batch, frames * hop_length) or (frames * hop_length,), and its config carries
`model_in_dim`, `sampling_rate` and `upsample_rates` (whose product is the hop), so the pipeline code is the same
for both. It saves and loads with a pipeline folder as a diffusers model (`model_index.json` names
`["tclap_gen.vocoder", "VocosVocoder"]`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class ConvNeXtBlock(nn.Module):
    """Depthwise conv over frames -> LayerNorm -> pointwise MLP (GELU) -> layer scale, with a residual."""

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float):
        super().__init__()
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pointwise_in = nn.Linear(dim, intermediate_dim)
        self.pointwise_out = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, dim, frames)
        h = self.depthwise(x).transpose(1, 2)
        h = self.pointwise_out(F.gelu(self.pointwise_in(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class VocosVocoder(ModelMixin, ConfigMixin):
    r"""Log-mel spectrogram -> waveform through a predicted STFT (magnitude and phase per frame) and its inverse.

    Args:
        model_in_dim: mel bands of the input (AudioLDM's name for it).
        sampling_rate: of the output waveform.
        upsample_rates: factors whose product is the hop (samples per mel frame); kept in this form so code written
            for `SpeechT5HifiGan` reads the hop the same way.
        n_fft: the inverse STFT's size (and window length); 4 x hop gives 75 % overlap.
        dim, intermediate_dim, num_layers, kernel_size: the ConvNeXt backbone.
        max_log_magnitude: the predicted log-magnitude is clamped to this (exp would overflow in float16).
        mel_fmin, mel_fmax: the band edges of the input's (Slaney) mel scale; mel_fmax None = sampling_rate / 2.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        model_in_dim: int = 64,
        sampling_rate: int = 16000,
        upsample_rates: tuple[int, ...] = (160,),
        n_fft: int = 640,
        dim: int = 192,
        intermediate_dim: int = 576,
        num_layers: int = 6,
        kernel_size: int = 7,
        max_log_magnitude: float = 6.0,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = None,
    ):
        super().__init__()
        hop = math.prod(upsample_rates)
        if n_fft < hop or n_fft % 2:
            raise ValueError(f"VocosVocoder: n_fft ({n_fft}) must be even and at least the hop ({hop})")
        self.hop_length = hop
        self.embed = nn.Conv1d(model_in_dim, dim, kernel_size, padding=kernel_size // 2)
        self.embed_norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            [ConvNeXtBlock(dim, intermediate_dim, kernel_size, layer_scale=1.0 / num_layers) for _ in range(num_layers)]
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_fft + 2)  # n_fft // 2 + 1 log-magnitude corrections and as many phases
        with torch.no_grad():  # the magnitude correction starts at zero (the phase half keeps its random start)
            self.head.weight[: n_fft // 2 + 1].zero_()
            self.head.bias[: n_fft // 2 + 1].zero_()
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("mel_to_bins", mel_interpolation(model_in_dim, sampling_rate, n_fft, mel_fmin, mel_fmax),
                             persistent=False)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        single = spectrogram.dim() == 2
        mel = spectrogram.unsqueeze(0) if single else spectrogram
        if mel.dim() != 3 or mel.shape[-1] != self.config.model_in_dim:
            raise ValueError(
                f"VocosVocoder: expected (batch, frames, {self.config.model_in_dim}) or (frames, "
                f"{self.config.model_in_dim}), got shape {tuple(spectrogram.shape)}"
            )
        x = self.embed(mel.transpose(1, 2))
        x = self.embed_norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2)))  # (B, frames, n_fft + 2)
        wave = self.spectrum_to_wave(x, mel)
        return wave[0] if single else wave

    def spectrum_to_wave(self, head_output: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        # The inverse STFT runs in float32: float16 FFTs need power-of-two sizes and lose the phase sums' precision.
        correction, phase = head_output.float().transpose(1, 2).chunk(2, dim=1)  # (B, bins, frames) each
        envelope = torch.log(torch.matmul(self.mel_to_bins.float(), mel.float().exp().transpose(1, 2)).clamp_min(1e-5))
        magnitude = torch.exp((envelope + correction).clamp(max=self.config.max_log_magnitude))
        spectrum = torch.polar(magnitude, phase)
        wave = torch.istft(
            spectrum,
            n_fft=self.config.n_fft,
            hop_length=self.hop_length,
            win_length=self.config.n_fft,
            window=self.window.float(),
            center=True,
            length=mel.shape[1] * self.hop_length,
        )
        return wave.to(head_output.dtype)


def mel_interpolation(n_mels: int, sampling_rate: int, n_fft: int, fmin: float, fmax: float | None) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels): a mel spectrum -> a magnitude spectrum that is flat where the mel is flat. Each
    band's energy is divided by its filter's area (its mean magnitude), and each bin takes the filter-weighted
    mean of the bands that cover it; bins no filter covers take their nearest covered bin's row."""
    from transformers.audio_utils import mel_filter_bank

    filters = torch.from_numpy(mel_filter_bank(
        num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=fmin,
        max_frequency=fmax if fmax is not None else sampling_rate / 2, sampling_rate=sampling_rate,
        norm="slaney", mel_scale="slaney",
    )).double()  # (bins, mels)
    covered = (filters.sum(dim=1) > 0).nonzero()[:, 0]
    source = covered[(torch.arange(len(filters))[:, None] - covered[None]).abs().argmin(dim=1)]
    weights = filters[source] / filters[source].sum(dim=1, keepdim=True)  # filter-weighted mean over the bands
    return (weights / filters.sum(dim=0, keepdim=True).clamp_min(1e-12)).float()  # ... of each band's mean


def load_vocoder(folder, **kwargs):
    """The vocoder saved in `folder` (a local folder holding config.json): a VocosVocoder or a SpeechT5HifiGan,
    by the class its config names. `kwargs` go to from_pretrained (dtype, ...)."""
    import json
    from pathlib import Path

    from transformers import SpeechT5HifiGan

    config_file = Path(folder) / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"vocoder folder {folder}: no config.json")
    config = json.loads(config_file.read_text())
    if config.get("_class_name") == VocosVocoder.__name__:
        return VocosVocoder.from_pretrained(str(folder), **kwargs)
    return SpeechT5HifiGan.from_pretrained(str(folder), **kwargs)
