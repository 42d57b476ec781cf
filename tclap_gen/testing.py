"""Testing utilities (as `transformers.testing_utils` and diffusers' test helpers): tiny random models for tests,
benchmarks' quick runs and anyone who builds on tclap-gen and wants to test their code without a checkpoint.

`tiny_tclap` is a random T-CLAP with a tokenizer trained offline on a few captions; `tiny_vae`, `tiny_unet`,
`tiny_scheduler`, `tiny_vocoder` and `tiny_pipeline` are AudioLDM-style components of the smallest sizes that run
(as in diffusers' former AudioLDM fast tests): a whole 2-step generation takes well under a second on a CPU.
Weights are random, so the audio is noise; only shapes, plumbing and numerics are meaningful. Every builder takes a
seed so two calls give identical weights.
"""

from __future__ import annotations

import tempfile

import torch

from .model import ClapSize, TClap, build_clap, build_tokenizer

TINY_CORPUS = [
    "a dog barks then a car horn honks",
    "glass smashing followed by a bicycle bell",
    "a door knocks before water splashes",
    "first typing, then a chainsaw, and finally a blender",
    "a man speaks while a kettle whistles",
    "the microwave beeps after the fridge hums",
    "birds chirp as rain falls on a roof",
]


def tiny_tclap(seed: int = 0, projection_dim: int = 32, sampling_rate: int = 16000) -> TClap:
    """A random tiny T-CLAP with a tokenizer trained offline on a few captions: for tests, built in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = build_tokenizer(TINY_CORPUS * 4, tmp, vocab_size=300)
    size = ClapSize(projection_dim=projection_dim, sampling_rate=sampling_rate)
    return build_clap(tokenizer, size, seed=seed)



def tiny_vae(seed: int = 0):
    """AutoencoderKL over 1-channel log-mels, 4 latent channels, scale factor 2."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )


def tiny_unet(projection_dim: int = 32, seed: int = 0, norm_num_groups: int = 8):
    """UNet2DConditionModel conditioned AudioLDM's way: no cross-attention context, the text embedding enters as a
    class embedding ("simple_projection", concatenated to the time embedding)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=norm_num_groups,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=(8, 16),
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=projection_dim,
        class_embeddings_concat=True,
    )


def tiny_scheduler():
    """A DDIM scheduler as AudioLDM configures it (scaled-linear betas 0.0015..0.0195, no sample clipping)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.0015,
        beta_end=0.0195,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )


def tiny_vocoder(sampling_rate: int = 16000, seed: int = 0, upsample_rates=(2, 2)):
    """SpeechT5HifiGan reading 8 mel bins, prod(upsample_rates) samples per mel frame (default 4), output at an
    audible level."""
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(
        model_in_dim=8,
        sampling_rate=sampling_rate,
        upsample_initial_channel=16,
        upsample_rates=list(upsample_rates),
        upsample_kernel_sizes=[2 * rate for rate in upsample_rates],
        resblock_kernel_sizes=[3, 7],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
        normalize_before=False,
        # the default init (0.01) yields ~1e-6 amplitudes, i.e. silence to a log-mel; 0.15 gives audible noise
        initializer_range=0.15,
    )
    torch.manual_seed(seed)
    return SpeechT5HifiGan(config).eval()


def tiny_pipeline(tclap, seed: int = 0):
    """A TClapAudioLDMPipeline with random tiny components around `tclap` (a tclap_gen.model.TClap); the UNet's
    class-embedding input is sized to the T-CLAP's projection and the vocoder runs at the T-CLAP's rate."""
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    return TClapAudioLDMPipeline.from_components(
        tclap,
        vae=tiny_vae(seed),
        unet=tiny_unet(tclap.projection_dim, seed),
        scheduler=tiny_scheduler(),
        vocoder=tiny_vocoder(tclap.sampling_rate, seed),
    )


def save_tiny_audioldm(folder, tclap, seed: int = 0, norm_num_groups: int = 8):
    """A tiny AudioLDM checkpoint in diffusers format (saved by diffusers' own AudioLDMPipeline): random tiny VAE,
    UNet, DDIM scheduler and HiFi-GAN vocoder with AudioLDM's hop (160 samples a mel frame), and `tclap`'s text
    tower as its text encoder. Returns the folder. `norm_num_groups` 4 gives the UNet's group norms two channels or
    more per group (with one, a channel's bias before the norm has no gradient but rounding noise)."""
    import warnings

    from diffusers.pipelines.deprecated.audioldm import AudioLDMPipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pipeline is deprecated in diffusers
        pipe = AudioLDMPipeline(vae=tiny_vae(seed), text_encoder=tclap.export_text_encoder(),
                                tokenizer=tclap.processor.tokenizer, unet=tiny_unet(tclap.projection_dim, seed, norm_num_groups),
                                scheduler=tiny_scheduler(), vocoder=tiny_vocoder(tclap.sampling_rate, seed, (10, 16)))
    pipe.save_pretrained(folder)
    return folder
