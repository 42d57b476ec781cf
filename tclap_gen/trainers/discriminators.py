"""The adversarial part of vocoder and VAE training, with least-squares GAN and feature-matching losses.

Vocoder: HiFi-GAN's multi-period discriminator (MPD) and a multi-resolution spectrogram discriminator (MRD, as
UnivNet and Vocos use). A reconstruction loss alone (STFT + mel L1) fixes a vocoder's magnitudes but not what makes
a waveform sound real: phase coherence across frames and the fine periodic structure between them. The MPD looks
at the waveform folded by a few prime periods, the MRD at magnitude spectrograms of several sizes.

VAE: a patch discriminator on log-mel images (as latent diffusion's autoencoders are trained). An L1 loss alone
makes a decoder draw the average of what a latent could mean: smooth, blurred onsets and harmonics. Judging
patches as real or reconstructed asks for the detail back.

All are small here (they train on CPU); widths are a config choice, not a claim.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_features(x: torch.Tensor, convs: nn.ModuleList, out: nn.Module) -> list[torch.Tensor]:
    """Every conv's LeakyReLU output (the feature-matching targets), then the logits of the last conv `out`."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.1)
        features.append(x)
    features.append(out(x))
    return features


class PeriodDiscriminator(nn.Module):
    """The waveform folded into (T / period, period) columns; 2-D convs along time, one column at a time."""

    def __init__(self, period: int, channels: list[int]):
        super().__init__()
        self.period = period
        widths = [1, *channels]
        self.convs = nn.ModuleList(
            nn.utils.parametrizations.weight_norm(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)))
            for a, b in zip(widths[:-1], widths[1:])
        )
        self.out = nn.utils.parametrizations.weight_norm(nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:  # wave (B, T) -> feature maps, last = logits
        pad = (-wave.shape[-1]) % self.period
        x = F.pad(wave, (0, pad), mode="reflect" if pad < wave.shape[-1] else "constant")
        x = x.view(x.shape[0], 1, -1, self.period)
        return conv_features(x, self.convs, self.out)


class ResolutionDiscriminator(nn.Module):
    """A log-magnitude spectrogram of one STFT size; 2-D convs over (frames, bins)."""

    def __init__(self, n_fft: int, hop: int, channels: int, layers: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        widths = [1] + [channels] * layers
        self.convs = nn.ModuleList(
            nn.utils.parametrizations.weight_norm(nn.Conv2d(a, b, (3, 9), (1, 2), padding=(1, 4)))
            for a, b in zip(widths[:-1], widths[1:])
        )
        self.out = nn.utils.parametrizations.weight_norm(nn.Conv2d(channels, 1, (3, 3), padding=(1, 1)))

    def forward(self, wave: torch.Tensor) -> list[torch.Tensor]:
        spec = torch.stft(wave.float(), self.n_fft, self.hop, self.n_fft, self.window, return_complex=True)
        x = torch.log(spec.abs().clamp_min(1e-5)).transpose(1, 2)[:, None]  # (B, 1, frames, bins)
        return conv_features(x, self.convs, self.out)


class MelPatchDiscriminator(nn.Module):
    """Strided 2-D convs over a (B, 1, frames, mels) log-mel: each logit of the last map judges one patch (with
    three layers, about 8 frames by 8 bands seen through a wider field). One discriminator: `forward` returns a
    one-item list, as VocoderDiscriminator returns one list per discriminator."""

    def __init__(self, channels: list[int]):
        super().__init__()
        widths = [1] + list(channels)
        self.convs = nn.ModuleList(
            nn.utils.parametrizations.weight_norm(nn.Conv2d(a, b, 4, 2, padding=1))
            for a, b in zip(widths[:-1], widths[1:])
        )
        self.out = nn.utils.parametrizations.weight_norm(nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, mel: torch.Tensor) -> list[list[torch.Tensor]]:
        return [conv_features(mel.float(), self.convs, self.out)]


class VocoderDiscriminator(nn.Module):
    """All period and resolution discriminators; `forward` gives each one's list of feature maps."""

    def __init__(self, periods: list[int], period_channels: list[int], resolutions: list[list[int]],
                 resolution_channels: int, resolution_layers: int):
        super().__init__()
        self.discriminators = nn.ModuleList(
            [PeriodDiscriminator(p, period_channels) for p in periods]
            + [ResolutionDiscriminator(n_fft, hop, resolution_channels, resolution_layers) for n_fft, hop in resolutions]
        )

    def forward(self, wave: torch.Tensor) -> list[list[torch.Tensor]]:
        return [d(wave) for d in self.discriminators]


def discriminator_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Least squares: real logits towards 1, fake towards 0, averaged over the discriminators."""
    terms = [torch.mean((1 - r[-1]) ** 2) + torch.mean(f[-1] ** 2) for r, f in zip(real, fake)]
    return torch.stack(terms).mean()


def generator_adversarial_loss(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    return torch.stack([torch.mean((1 - f[-1]) ** 2) for f in fake]).mean()


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminators' inner feature maps on real and generated audio (real ones are targets)."""
    terms = [F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1])]
    return torch.stack(terms).mean()
