"""Models for the benchmarks, built offline with random weights: tiny (tests) and real AudioLDM-S / CLAP sizes.

The real sizes reconstruct the diffusers configurations of cvssp/audioldm-s-full-v2 (as diffusers' conversion
script derives them from AudioLDM's original config) and of laion/clap-htsat-unfused (HTSAT-tiny + RoBERTa-base,
projection 512). Only shapes matter for timing and memory, so the weights are random and nothing is downloaded.
"""

from __future__ import annotations

import tempfile

import torch

from tclap_gen.testing import TINY_CORPUS

# Captions the benchmark tokenizer is trained on (the real RoBERTa vocabulary is not available offline; the text
# model keeps RoBERTa's 50265-entry embedding table regardless, so its size and cost are the real ones).
CORPUS = TINY_CORPUS + [
    "a drawer opens and closes, then someone types on a keyboard",
    "thunder rumbles in the distance before a train passes by",
    "footsteps on a wooden floor followed by a door slamming shut",
]

PROMPTS = [
    "a dog barks then a car horn honks",
    "glass smashing followed by a bicycle bell",
    "a door knocks before water splashes",
    "the microwave beeps after the fridge hums",
    "birds chirp as rain falls on a roof",
    "thunder rumbles in the distance before a train passes by",
    "first typing, then a chainsaw, and finally a blender",
    "a man speaks while a kettle whistles",
]

SIZES = ("tiny", "real")


def build_benchmark_tokenizer(vocab_size: int = 1000):
    from tclap_gen.model import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        return build_tokenizer(CORPUS * 4, tmp, vocab_size=vocab_size)


# ----- CLAP / T-CLAP -----
def real_clap_config():
    """laion/clap-htsat-unfused's architecture: HTSAT-tiny audio tower, RoBERTa-base text tower, projection 512."""
    from transformers import ClapAudioConfig, ClapConfig, ClapTextConfig

    text = ClapTextConfig(
        vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=514, type_vocab_size=1, projection_dim=512,
    )
    audio = ClapAudioConfig(
        window_size=8, num_mel_bins=64, spec_size=256, patch_size=4, patch_stride=[4, 4], depths=[2, 2, 6, 2],
        num_attention_heads=[4, 8, 16, 32], hidden_size=768, patch_embeds_hidden_size=96, projection_dim=512,
        enable_fusion=False,
    )
    return ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=512)


def real_tclap(seed: int = 0):
    """A full-size random T-CLAP (153M parameters) at 48 kHz with 10 s windows, as laion/clap-htsat-unfused."""
    from transformers import ClapFeatureExtractor, ClapModel, ClapProcessor

    from tclap_gen.model import TClap

    tokenizer = build_benchmark_tokenizer()
    torch.manual_seed(seed)
    model = ClapModel(real_clap_config())
    feature_extractor = ClapFeatureExtractor(
        feature_size=64, sampling_rate=48000, hop_length=480, max_length_s=10, fft_window_size=1024,
        frequency_min=50, frequency_max=14000, padding="repeatpad", truncation="rand_trunc",
    )
    return TClap(model, ClapProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer))


def real_text_encoder(seed: int = 0):
    """AudioLDM-S's own conditioner alone: ClapTextModelWithProjection of RoBERTa-base size (no audio tower)."""
    from transformers import ClapTextModelWithProjection

    tokenizer = build_benchmark_tokenizer()
    torch.manual_seed(seed)
    return ClapTextModelWithProjection(real_clap_config().text_config).eval(), tokenizer


def tclap_for(size: str, seed: int = 0):
    from tclap_gen.testing import tiny_tclap

    check_size(size)
    return tiny_tclap(seed=seed) if size == "tiny" else real_tclap(seed)


# ----- AudioLDM-S components -----
def audioldm_s_unet(seed: int = 0, projection_dim: int = 512):
    """UNet2DConditionModel of cvssp/audioldm-s-full-v2 (about 185M parameters): model_channels 128 x (1, 2, 3, 5),
    2 res blocks, attention at downsampling 2, 4 and 8, the CLAP embedding as a concatenated class embedding."""
    from diffusers import UNet2DConditionModel

    channels = (128, 256, 384, 640)
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=128,  # 512-frame mel / VAE scale 4: AudioLDM's default 5.12 s
        in_channels=8,
        out_channels=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=channels,
        layers_per_block=2,
        cross_attention_dim=channels,  # no text context: the "cross" attention attends to the block's own features
        attention_head_dim=8,  # the conversion script leaves diffusers' default (8 heads)
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=projection_dim,
        class_embeddings_concat=True,
    ).eval()


def audioldm_s_vae(seed: int = 0):
    """AutoencoderKL of AudioLDM-S: 1-channel mels, (128, 256, 512), 2 layers per block, 8 latent channels."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        sample_size=512,
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(128, 256, 512),
        latent_channels=8,
        layers_per_block=2,
        scaling_factor=0.9227914,  # a learnt value, stored in the checkpoint; any positive number times the same
    ).eval()


def audioldm_s_vocoder(seed: int = 0):
    """AudioLDM's HiFi-GAN as SpeechT5HifiGan: 64 mels in, 160 samples per frame (10 ms at 16 kHz)."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(
        model_in_dim=64,
        sampling_rate=16000,
        upsample_initial_channel=1024,
        upsample_rates=[5, 4, 2, 2, 2],
        upsample_kernel_sizes=[16, 16, 8, 4, 4],
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        normalize_before=False,
    )
    torch.manual_seed(seed)
    return SpeechT5HifiGan(config).eval()


def audioldm_s_scheduler():
    """The DDIM scheduler AudioLDM-S ships with."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear",
        steps_offset=1, clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon",
    )


def generator_components(size: str, projection_dim: int, seed: int = 0, sampling_rate: int = 16000) -> dict:
    """vae, unet, scheduler and vocoder of `size` ("tiny" or "real" = AudioLDM-S)."""
    check_size(size)
    if size == "tiny":
        from tclap_gen.testing import tiny_scheduler, tiny_unet, tiny_vae, tiny_vocoder

        return dict(vae=tiny_vae(seed), unet=tiny_unet(projection_dim, seed), scheduler=tiny_scheduler(),
                    vocoder=tiny_vocoder(sampling_rate, seed))
    return dict(vae=audioldm_s_vae(seed), unet=audioldm_s_unet(seed, projection_dim),
                scheduler=audioldm_s_scheduler(), vocoder=audioldm_s_vocoder(seed))


def check_size(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
