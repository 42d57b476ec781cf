"""Train the `mini` generator: AudioLDM's architecture at 16 kHz, conditioned on a T-CLAP.

Stages (each its own resumable Accelerate loop; `--stage all` runs them in order):

1. vae       AutoencoderKL over log-mel crops (tclap_gen.mel): L1 (or L2) reconstruction + a small KL; no
             adversarial loss. At the end the latent scaling_factor (1 / std of the posterior means over a sample)
             is written into the VAE's config. `vae.init` + `vae.decoder_only` fine-tune a trained VAE's decoder
             alone: its latents, and a UNet trained on them, stay valid.
2. vocoder   on (log-mel, wave) segments: multi-resolution STFT loss (spectral convergence + log magnitude) +
             mel L1. `vocoder.kind` picks the model: "vocos" (tclap_gen.vocoder.VocosVocoder, the default: a
             frame-rate ConvNeXt that predicts STFT magnitude and phase) or "hifigan" (AudioLDM's SpeechT5HifiGan).
             No discriminator: training is stable and fast, at the price of some buzz/phasiness an adversarially
             trained vocoder would not have.
3. unet      UNet2DConditionModel (class_embed_type "simple_projection", class_embeddings_concat) on VAE latents
             (posterior mean * scaling_factor) of single clips and 2-3 event mix-ups, conditioned, as AudioLDM
             was, on the T-CLAP AUDIO embedding of the same example; 10% of the conditions are replaced by the
             T-CLAP TEXT embedding of "" (what the pipeline feeds as the negative prompt under guidance).
             The examples come from a fixed pool built once at the start (latents + embeddings cached in
             `unet/pool.safetensors`): building costs about as much as a few hundred steps, and the pool is big
             enough that the UNet sees each example only a few dozen times. `unet.init` (a UNet or pipeline
             folder) starts from a trained UNet instead: a fine-tune for another T-CLAP's embeddings.
4. assemble  T-CLAP + vae + unet (EMA weights) + vocoder + a DDIM scheduler -> a TClapAudioLDMPipeline folder.

The entry point is training/train_generator.py (`python -m tclap_gen.training.train_generator --config
generator-mini --stage all ...`; --stage vae|vocoder|unet|assemble runs one stage, --fp16-weights saves the pipeline
in float16; training/recipes/mini.sh runs the whole mini recipe, T-CLAP included).

The VAE's decoder output bias starts at the mean log-mel of a batch (silence is log(1e-5) = -11.5; a zero start
spends the first hundreds of steps learning that offset). Relative paths in a config are taken from the
repository root; `${DATA}` is the --data-root folder.

Layout under output_dir: <stage>/checkpoints/step-XXXXXXXX (accelerate save_state, written to a temporary
folder and renamed, so a listed checkpoint is complete), <stage>/model (the trained component),
<stage>/done.json (written last), <stage>/log.jsonl, and the assembled pipeline (assemble.output, default
output_dir/pipeline). Batches are drawn from generators seeded by (seed, step, process): a resumed run sees the
same data it would have seen uninterrupted. Checkpoints are our own files; they are loaded with accelerate's
load_state (torch.load of the optimizer state): never point --resume at a folder you did not write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tclap_gen.mel import MelConfig, log_mel
from tclap_gen.trainers.checkpoints import TRAINER_STATE, latest_checkpoint, replace_dir, save_checkpoint, write_json
from tclap_gen.trainers.config import ConfigError, absolute_path, add_recipe_arguments, build_dataclass, maybe_path, read_recipe, repo_root

STAGES = ("vae", "vocoder", "unet", "assemble")


# ------------------------------------------------------------------------------------------------ configuration
@dataclass
class DataConfig:
    root: str = "${DATA}"  # --data-root / $DATA / ../shared/data
    csvs: list[str] = field(default_factory=lambda: ["kitchen20/metadata.csv", "uiowa/metadata.csv"])  # relative to root
    test_fraction: float = 0.2  # the T-CLAP recipe's split: train on the same side
    split_seed: int = 0
    max_clips: int = 0  # 0 = all train clips (a smaller number for quick runs)
    load_workers: int = 8  # threads decoding audio files


@dataclass
class StageConfig:
    """Optimisation and checkpointing, shared by the training stages."""

    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    log_every: int = 50
    fixed_batch: bool = False  # train on the first batch only (an overfitting check; tests use it)
    # Stop after this many seconds of training, checkpoint and save the model as it is: for a GPU lease with a
    # hard end. The stage is then not done (done.json records the step reached) and --resume continues it.
    time_budget_s: float | None = None


@dataclass
class AdversarialTerms:
    """The GAN terms a reconstruction stage can add (trainers/discriminators.py); 0 = reconstruction losses only.
    The model's loss adds adversarial_weight * (LSGAN term + feature_matching_weight * feature matching)."""

    adversarial_weight: float = 0.0
    feature_matching_weight: float = 2.0
    discriminator_learning_rate: float = 2e-4


@dataclass
class VaeConfig(AdversarialTerms, StageConfig):
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    latent_channels: int = 8
    layers_per_block: int = 1
    norm_num_groups: int = 32
    crop_frames: int = 256
    recon_loss: str = "l1"  # "l1" | "l2"
    kl_weight: float = 1e-5  # times the KL per latent element (mean), against the per-element reconstruction loss
    gain_db: list[float] = field(default_factory=lambda: [-9.0, 0.0])  # random gain after levelling each clip
    scale_batches: int = 8  # batches of crops encoded to measure the latent std (-> scaling_factor)
    init: str | None = None  # start from a trained VAE (a VAE folder, or a pipeline folder with vae/)
    # With init: train the decoder alone. The encoder and the scaling_factor stay the init's, so the latents (and a
    # UNet trained on them) are unchanged and only what the latents turn back into improves.
    decoder_only: bool = False
    discriminator_channels: list[int] = field(default_factory=lambda: [16, 32, 64])  # the mel patch discriminator


@dataclass
class VocoderConfig(AdversarialTerms, StageConfig):
    kind: str = "vocos"  # "vocos" (VocosVocoder) | "hifigan" (SpeechT5HifiGan)
    segment_frames: int = 100  # 1 s
    upsample_rates: list[int] = field(default_factory=lambda: [5, 4, 2, 2, 2])  # their product is the hop
    # vocos
    n_fft: int = 640
    dim: int = 192
    intermediate_dim: int = 576
    num_layers: int = 6
    # hifigan
    upsample_initial_channel: int = 128
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 8, 4, 4])
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    stft_resolutions: list[list[int]] = field(default_factory=lambda: [[512, 50, 240], [1024, 120, 600], [2048, 240, 1200]])
    mel_weight: float = 1.0
    gain_db: list[float] = field(default_factory=lambda: [-9.0, 0.0])
    init: str | None = None  # start from a trained vocoder (a vocoder folder, or a pipeline folder with vocoder/)
    mpd_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    mrd_resolutions: list[list[int]] = field(default_factory=lambda: [[256, 64], [512, 128], [1024, 256]])  # n_fft, hop
    mrd_channels: int = 16
    mrd_layers: int = 3


@dataclass
class UnetConfig(StageConfig):
    tclap: str | None = None  # a TClap folder (or built-in name); required for the unet stage
    init: str | None = None  # start from this UNet (a UNet folder, or a pipeline folder with unet/): a fine-tune
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    layers_per_block: int = 1
    norm_num_groups: int = 16
    attention_head_dim: int = 8  # diffusers' name; it is the number of heads
    down_block_types: list[str] = field(default_factory=lambda: ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"])
    up_block_types: list[str] = field(default_factory=lambda: ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"])
    example_seconds: float = 5.12  # 512 mel frames -> latents C x 128 x 16
    single_fraction: float = 0.3  # share of the pool made of single clips (the rest: 2-3 event mix-ups)
    num_events: list[int] = field(default_factory=lambda: [2, 3])
    pool_size: int = 4096
    pool_batch: int = 64
    pool_workers: int = 4  # DataLoader workers building pool examples (0: in the main process)
    condition_dropout: float = 0.1  # -> the "" text embedding (classifier-free guidance)
    # Share of examples conditioned on the T-CLAP TEXT embedding of their caption instead of their audio embedding.
    # The pipeline conditions on text; trained on audio embeddings alone, the UNet never meets the gap between the
    # two (README, "Generator fidelity", session 17). 0: AudioLDM's audio-only recipe.
    text_condition_fraction: float = 0.0
    num_train_timesteps: int = 1000
    beta_start: float = 0.0015  # AudioLDM's schedule
    beta_end: float = 0.0195
    beta_schedule: str = "scaled_linear"
    ema_decay: float = 0.999  # 0 disables EMA
    snr_gamma: float | None = None  # Min-SNR-gamma loss weighting (diffusion_loss); None: plain MSE
    prediction_type: str = "epsilon"  # or "v_prediction"; the assembled pipeline's scheduler is set to match
    # Std of the class-embedding projection's weights, drawn at the start of a run (after unet.init is loaded).
    # None keeps diffusers' init (std about 0.036 for 256 inputs): a unit-norm T-CLAP embedding then shifts the
    # time embedding by ~1/30 of its size, and the shipped UNets never learned to use it (`condition_use`). 1.0
    # makes the condition as large as the time embedding from the first step (alone, that did not make run 26's
    # UNet use it; the velocity objective did: README, "Generator fidelity").
    class_embedding_init_std: float | None = None


@dataclass
class AssembleConfig:
    tclap: str | None = None  # default: unet.tclap
    output: str | None = None  # default: output_dir/pipeline
    fp16_weights: bool = False


@dataclass
class GeneratorConfig:
    output_dir: str = "runs/generator"
    seed: int = 0
    mixed_precision: str = "no"  # "no" | "fp16" | "bf16" (Accelerate)
    data: DataConfig = field(default_factory=DataConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    # the stages, in the order `--stage all` runs them (STAGES)
    vae: VaeConfig = field(default_factory=VaeConfig)
    vocoder: VocoderConfig = field(default_factory=VocoderConfig)
    unet: UnetConfig = field(default_factory=UnetConfig)
    assemble: AssembleConfig = field(default_factory=AssembleConfig)

    def validate(self) -> "GeneratorConfig":
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise ConfigError(f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        hop = int(np.prod(self.vocoder.upsample_rates))
        if hop != self.mel.hop_length:
            raise ConfigError(
                f"vocoder.upsample_rates {self.vocoder.upsample_rates} multiply to {hop}, not mel.hop_length "
                f"{self.mel.hop_length}: the vocoder must give one hop of samples per mel frame"
            )
        if self.vocoder.kind not in ("vocos", "hifigan"):
            raise ConfigError(f"vocoder.kind must be vocos or hifigan, got {self.vocoder.kind!r}")
        for name in ("vae", "vocoder"):
            if getattr(self, name).adversarial_weight < 0 or getattr(self, name).feature_matching_weight < 0:
                raise ConfigError(f"{name}.adversarial_weight and {name}.feature_matching_weight must be >= 0")
        if self.vae.decoder_only and not self.vae.init:
            raise ConfigError("vae.decoder_only needs vae.init: the decoder of which VAE to fine-tune")
        if self.vae.recon_loss not in ("l1", "l2"):
            raise ConfigError(f"vae.recon_loss must be l1 or l2, got {self.vae.recon_loss!r}")
        scale = 2 ** (len(self.vae.block_out_channels) - 1)
        if self.mel.n_mels % scale or self.vae.crop_frames % scale:
            raise ConfigError(f"mel.n_mels and vae.crop_frames must be multiples of the VAE scale factor {scale}")
        frames = self.mel.num_frames(round(self.unet.example_seconds * self.mel.sampling_rate))
        unet_scale = scale * 2 ** (len(self.unet.block_out_channels) - 1)
        if frames % unet_scale:
            raise ConfigError(
                f"unet.example_seconds gives {frames} mel frames, not a multiple of {unet_scale} (VAE x UNet downsampling)"
            )
        if len(self.unet.down_block_types) != len(self.unet.block_out_channels) or len(self.unet.up_block_types) != len(
            self.unet.block_out_channels
        ):
            raise ConfigError("unet.down_block_types / up_block_types need one entry per block_out_channels entry")
        if not 0.0 <= self.unet.condition_dropout < 1.0 or not 0.0 <= self.unet.single_fraction <= 1.0:
            raise ConfigError("unet.condition_dropout must be in [0, 1) and unet.single_fraction in [0, 1]")
        if not 0.0 <= self.unet.text_condition_fraction <= 1.0:
            raise ConfigError(f"unet.text_condition_fraction must be in [0, 1], got {self.unet.text_condition_fraction}")
        if self.unet.snr_gamma is not None and self.unet.snr_gamma <= 0:
            raise ConfigError(f"unet.snr_gamma must be positive (or null: plain MSE), got {self.unet.snr_gamma}")
        if self.unet.prediction_type not in ("epsilon", "v_prediction"):
            raise ConfigError(f"unet.prediction_type must be epsilon or v_prediction, got {self.unet.prediction_type!r}")
        if self.unet.class_embedding_init_std is not None and self.unet.class_embedding_init_std <= 0:
            raise ConfigError(f"unet.class_embedding_init_std must be positive (or null: diffusers' init), "
                              f"got {self.unet.class_embedding_init_std}")
        for name in ("vae", "vocoder", "unet"):
            stage = getattr(self, name)
            if stage.steps <= 0 or stage.batch_size <= 0 or stage.checkpoint_every <= 0:
                raise ConfigError(f"{name}.steps, {name}.batch_size and {name}.checkpoint_every must be positive")
        return self

    @property
    def out(self) -> Path:
        return Path(self.output_dir)


def load_config(config=None, overrides: list[str] | None = None, data_root=None) -> GeneratorConfig:
    """A GeneratorConfig from a recipe (a YAML path, or the name of one in training/configs such as
    `generator-mini`) with `key.sub=value` overrides, read as the T-CLAP recipes are (config.read_recipe: `${DATA}`,
    unknown keys and wrongly typed values raise ConfigError); relative paths are taken from the repository root."""
    raw, _ = read_recipe(config, overrides, data_root)
    cfg = build_dataclass(GeneratorConfig, raw, "")
    base = repo_root()
    cfg.output_dir = absolute_path(cfg.output_dir, base)
    cfg.data.root = absolute_path(cfg.data.root, base)
    cfg.assemble.output = absolute_path(cfg.assemble.output, base)
    cfg.unet.init = absolute_path(cfg.unet.init, base)
    cfg.vae.init = absolute_path(cfg.vae.init, base)
    cfg.vocoder.init = absolute_path(cfg.vocoder.init, base)
    for section in (cfg.unet, cfg.assemble):  # a T-CLAP may also be a built-in name ("mini-clap")
        section.tclap = maybe_path(section.tclap, base)
    return cfg.validate()


# ------------------------------------------------------------------------------------------------ model builders
def build_vae(cfg: VaeConfig):
    from diffusers import AutoencoderKL

    levels = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * levels,
        up_block_types=("UpDecoderBlock2D",) * levels,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups,
        sample_size=cfg.crop_frames,
    )


def build_vocoder(cfg: VocoderConfig, mel: MelConfig):
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from tclap_gen.vocoder import VocosVocoder

    if cfg.kind == "vocos":
        return VocosVocoder(
            model_in_dim=mel.n_mels,
            sampling_rate=mel.sampling_rate,
            upsample_rates=tuple(cfg.upsample_rates),
            n_fft=cfg.n_fft,
            dim=cfg.dim,
            intermediate_dim=cfg.intermediate_dim,
            num_layers=cfg.num_layers,
        )
    config = SpeechT5HifiGanConfig(
        model_in_dim=mel.n_mels,
        sampling_rate=mel.sampling_rate,
        upsample_initial_channel=cfg.upsample_initial_channel,
        upsample_rates=list(cfg.upsample_rates),
        upsample_kernel_sizes=list(cfg.upsample_kernel_sizes),
        resblock_kernel_sizes=list(cfg.resblock_kernel_sizes),
        resblock_dilation_sizes=[list(d) for d in cfg.resblock_dilation_sizes],
        normalize_before=False,  # AudioLDM feeds raw log-mel
    )
    return SpeechT5HifiGan(config)


def build_unet(cfg: UnetConfig, latent_channels: int, projection_dim: int, sample_size: int):
    from diffusers import UNet2DConditionModel

    channels = tuple(cfg.block_out_channels)
    return UNet2DConditionModel(
        sample_size=sample_size,  # latent frames: the pipeline's default length
        in_channels=latent_channels,
        out_channels=latent_channels,
        down_block_types=tuple(cfg.down_block_types),
        up_block_types=tuple(cfg.up_block_types),
        block_out_channels=channels,
        layers_per_block=cfg.layers_per_block,
        norm_num_groups=cfg.norm_num_groups,
        attention_head_dim=cfg.attention_head_dim,
        # AudioLDM: no text sequence; with encoder_hidden_states=None the "cross" attention attends to the
        # feature map itself, so its context width is each block's own width.
        cross_attention_dim=channels,
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=projection_dim,
        class_embeddings_concat=True,
    )


def noise_schedule(cfg: UnetConfig) -> dict:
    """The betas and objective shared by training (DDPM) and inference (DDIM): one place, so they cannot differ."""
    return dict(num_train_timesteps=cfg.num_train_timesteps, beta_start=cfg.beta_start, beta_end=cfg.beta_end,
                beta_schedule=cfg.beta_schedule, prediction_type=cfg.prediction_type)


def build_noise_scheduler(cfg: UnetConfig):
    from diffusers import DDPMScheduler

    return DDPMScheduler(**noise_schedule(cfg), clip_sample=False)


def build_inference_scheduler(cfg: UnetConfig):
    """DDIM with the training betas, configured as AudioLDM's checkpoints ship it."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        **noise_schedule(cfg),
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


# ------------------------------------------------------------------------------------------------ data
def train_records(data: DataConfig):
    """The TRAIN side of the configured clip lists, each split on its own (datasets.split_clip_lists: the T-CLAP
    recipe's split). Runs 1-7 split the lists' union instead (a different held-out side)."""
    from tclap_gen.datasets import split_clip_lists

    paths = [Path(data.root) / csv for csv in data.csvs]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"clip list not found: {path} (data.root={data.root!r}; pass --data-root)")
    train, _ = split_clip_lists(paths, seed=data.split_seed, test_fraction=data.test_fraction)
    if data.max_clips:
        train = train[: data.max_clips]
    if not train:
        raise ValueError(f"no training clips under {data.root}")
    return train


class WaveBank:
    """Every training clip, levelled, in one flat tensor on the training device; draws random fixed-length crops.

    Loading happens once (a few hundred MB for Kitchen20 + UIowa); crops are gathered on the device, so the
    VAE and vocoder stages need no DataLoader.
    """

    def __init__(self, waves: list[np.ndarray], device):
        if not waves:
            raise ValueError("WaveBank: no waves")
        lengths = torch.tensor([w.size for w in waves], dtype=torch.long)
        self.offsets = (torch.cumsum(lengths, 0) - lengths).to(device)
        self.lengths = lengths.to(device)
        self.audio = torch.from_numpy(np.concatenate(waves)).to(device)
        self.device = torch.device(device)

    @classmethod
    def load(cls, records, sampling_rate: int, device, workers: int = 8) -> "WaveBank":
        from tclap_gen.audio import level, load_audio

        def read(record):
            try:
                wave, _ = load_audio(record.path, sampling_rate=sampling_rate)
            except (OSError, ValueError, RuntimeError) as error:  # missing or unreadable: skipped, counted
                return str(error)
            return level(wave)  # the datasets' levelling: the VAE and vocoder see the UNet's levels

        with ThreadPoolExecutor(max(1, workers)) as pool:
            loaded = list(pool.map(read, records))
        waves = [w for w in loaded if not isinstance(w, str)]
        failed = [(r.path, w) for r, w in zip(records, loaded) if isinstance(w, str)]
        if failed:
            print(f"WaveBank: skipped {len(failed)} of {len(records)} clips, e.g. {failed[0][1]}", file=sys.stderr)
        if len(failed) > len(records) // 2:
            raise ValueError(f"WaveBank: {len(failed)} of {len(records)} clips could not be read, e.g. {failed[0][1]}")
        return cls(waves, device)

    @classmethod
    def for_stage(cls, cfg: "GeneratorConfig", accelerator) -> "WaveBank":
        """The recipe's training clips on the accelerator's device (the VAE and vocoder stages)."""
        return cls.load(train_records(cfg.data), cfg.mel.sampling_rate, accelerator.device, cfg.data.load_workers)

    def __len__(self) -> int:
        return len(self.lengths)

    def sample(self, batch: int, samples: int, generator: torch.Generator, gain_db=(-9.0, 0.0)) -> torch.Tensor:
        """(batch, samples) crops at random offsets of random clips; a clip shorter than `samples` lands at a
        random place in silence. Each crop gets a random gain in `gain_db`."""
        rand = torch.rand(batch, 3, generator=generator).to(self.device)
        clip = (rand[:, 0] * len(self)).long().clamp_max(len(self) - 1)
        length = self.lengths[clip]
        # start in clip coordinates; negative = the clip starts later inside the crop
        span = (length - samples).abs()
        start = torch.where(length >= samples, (rand[:, 1] * (span + 1)).long(), -(rand[:, 1] * (span + 1)).long())
        position = start[:, None] + torch.arange(samples, device=self.device)[None]
        inside = (position >= 0) & (position < length[:, None])
        index = (self.offsets[clip][:, None] + position.clamp(min=0)).clamp_max(self.audio.numel() - 1)
        crops = torch.where(inside, self.audio[index], torch.zeros((), device=self.device))
        low, high = gain_db
        gain = 10 ** ((low + (high - low) * rand[:, 2]) / 20)
        return crops * gain[:, None]


def step_generator(seed: int, step: int, process: int) -> torch.Generator:
    """The CPU generator that draws the batch of `step` on `process`: resuming replays the same data stream."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 1_009 + process)


# ------------------------------------------------------------------------------------------------ losses
def stft_magnitude(wave: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    window = torch.hann_window(win, device=wave.device)
    spec = torch.stft(wave.float(), n_fft, hop, win, window, return_complex=True)
    return torch.sqrt(spec.real.square() + spec.imag.square() + 1e-7)


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor, resolutions) -> torch.Tensor:
    """Mean over resolutions of spectral convergence + L1 of log magnitudes (Parallel WaveGAN's auxiliary loss)."""
    total = pred.new_zeros((), dtype=torch.float32)
    for n_fft, hop, win in resolutions:
        p = stft_magnitude(pred, n_fft, hop, win)
        t = stft_magnitude(target, n_fft, hop, win)
        convergence = torch.linalg.norm(t - p, dim=(1, 2)) / torch.linalg.norm(t, dim=(1, 2)).clamp_min(1e-5)
        total = total + convergence.mean() + F.l1_loss(torch.log(p), torch.log(t))
    return total / len(resolutions)


# ------------------------------------------------------------------------------------------------ the loop
@dataclass
class StageResult:
    stage: str
    start_step: int
    end_step: int
    losses: list[float]  # one per step run in this call
    seconds_per_step: float
    skipped: bool = False
    model_dir: str | None = None


def make_accelerator(cfg: GeneratorConfig):
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    # cpu=True without CUDA: under `accelerate launch` (training/accelerate/cpu_2proc.yaml) the ranks then join
    # over gloo instead of each running alone
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    set_seed(cfg.seed)
    return accelerator


def _log(accelerator, stage_dir: Path, record: dict) -> None:
    if not accelerator.is_main_process:
        return
    line = json.dumps(record, sort_keys=True)
    print(line, flush=True)
    with open(stage_dir / "log.jsonl", "a") as handle:
        handle.write(line + "\n")


def _stage_done(stage_dir: Path, steps: int) -> bool:
    done = stage_dir / "done.json"
    return done.is_file() and json.loads(done.read_text()).get("steps", -1) >= steps and (stage_dir / "model").is_dir()


def run_loop(
    name: str,
    cfg: GeneratorConfig,
    stage: StageConfig,
    accelerator,
    model: torch.nn.Module,
    batch_fn,
    loss_fn,
    resume: bool,
    ema=None,
) -> tuple[StageResult, torch.nn.Module]:
    """The straight Accelerate loop shared by the stages: AdamW, warmup + cosine, clipping, checkpoints, resume.

    batch_fn(step, generator) -> batch; loss_fn(model, batch) -> (loss, {name: scalar tensor to log}).
    """
    from diffusers.optimization import get_scheduler

    stage_dir = cfg.out / name
    if accelerator.is_main_process:
        stage_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=stage.learning_rate, weight_decay=stage.weight_decay)
    # Accelerate steps a prepared scheduler once per process each step: count in those units.
    lr_scheduler = get_scheduler(
        "cosine",
        optimizer,
        num_warmup_steps=stage.warmup_steps * accelerator.num_processes,
        num_training_steps=stage.steps * accelerator.num_processes,
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if ema is not None:
        accelerator.register_for_checkpointing(ema)

    start = 0
    checkpoint = latest_checkpoint(stage_dir / "checkpoints") if resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        start = json.loads((checkpoint / TRAINER_STATE).read_text())["step"]
        _log(accelerator, stage_dir, {"stage": name, "event": "resumed", "checkpoint": str(checkpoint), "step": start})
    elif resume:
        _log(accelerator, stage_dir, {"stage": name, "event": "no checkpoint to resume from; starting at step 0"})

    model.train()
    # Losses stay on the device until a log line needs them: a float() every step would stall the GPU queue.
    losses, pending, fixed = [], [], None
    began = time.perf_counter()
    done = start
    for step in range(start, stage.steps):
        if fixed is not None:
            batch = fixed
        else:
            batch = batch_fn(step, step_generator(cfg.seed, step, accelerator.process_index))
            if stage.fixed_batch:
                fixed = batch
        with accelerator.autocast():
            loss, parts = loss_fn(model, batch)
        accelerator.backward(loss)
        if accelerator.sync_gradients and stage.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), stage.max_grad_norm)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(accelerator.unwrap_model(model).parameters())
        pending.append({"loss": loss.detach().float(), **{k: v.detach().float() for k, v in parts.items()}})
        done = step + 1
        out_of_time = stage.time_budget_s is not None and time.perf_counter() - began > stage.time_budget_s
        if done % stage.log_every == 0 or done == stage.steps or out_of_time:
            values = {k: torch.stack([p[k] for p in pending]).tolist() for k in pending[0]}
            losses.extend(values["loss"])
            record = {"stage": name, "step": done, "lr": lr_scheduler.get_last_lr()[0],
                      "s_per_step": (time.perf_counter() - began) / (done - start)}
            record.update({k: sum(v) / len(v) for k, v in values.items()})
            pending = []
            _log(accelerator, stage_dir, record)
        if done % stage.checkpoint_every == 0 or done == stage.steps or out_of_time:
            save_checkpoint(accelerator, stage_dir / "checkpoints", done, {}, stage.keep_checkpoints)
        if out_of_time:
            _log(accelerator, stage_dir, {"stage": name, "event": "time budget reached", "step": done})
            break
    seconds = (time.perf_counter() - began) / max(1, len(losses))
    result = StageResult(name, start, done, losses, seconds)
    return result, accelerator.unwrap_model(model)


def _save_model(accelerator, model, stage_dir: Path, result: StageResult, extra: dict | None = None) -> Path:
    final = stage_dir / "model"
    if accelerator.is_main_process:
        tmp = stage_dir / ".model.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        model.save_pretrained(str(tmp), safe_serialization=True)
        replace_dir(tmp, final)
        record = {"steps": result.end_step, "final_loss": result.losses[-1] if result.losses else None}
        record.update(extra or {})
        write_json(stage_dir / "done.json", record)
    accelerator.wait_for_everyone()
    result.model_dir = str(final)
    return final


def _check_fresh(stage_dir: Path, resume: bool) -> None:
    """Refuse to start over on top of another run's checkpoints (they would be mixed up with the new ones)."""
    if not resume and latest_checkpoint(stage_dir / "checkpoints") is not None:
        raise ConfigError(
            f"{stage_dir / 'checkpoints'} holds checkpoints of an earlier run: pass --resume to continue it, "
            "or choose another --output-dir"
        )


def _start_stage(cfg: GeneratorConfig, name: str, resume: bool, accelerator):
    """(accelerator, the stage's config, its folder, a skipped StageResult when --resume finds it done, else None);
    refuses to start over on top of another run's checkpoints."""
    accelerator = accelerator or make_accelerator(cfg)
    stage, stage_dir = getattr(cfg, name), cfg.out / name
    if resume and _stage_done(stage_dir, stage.steps):
        _log(accelerator, stage_dir, {"stage": name, "event": "already trained; skipped", "steps": stage.steps})
        finished = StageResult(name, stage.steps, stage.steps, [], 0.0, skipped=True, model_dir=str(stage_dir / "model"))
        return accelerator, stage, stage_dir, finished
    _check_fresh(stage_dir, resume)
    return accelerator, stage, stage_dir, None


# ------------------------------------------------------------------------------------------------ stage 1: VAE
def train_vae(cfg: GeneratorConfig, resume: bool = False, accelerator=None) -> StageResult:
    accelerator, stage, stage_dir, finished = _start_stage(cfg, "vae", resume, accelerator)
    if finished is not None:
        return finished
    bank, samples = WaveBank.for_stage(cfg, accelerator), stage.crop_frames * cfg.mel.hop_length

    def batch_fn(step, generator):
        wave = bank.sample(stage.batch_size, samples, generator, stage.gain_db)
        return log_mel(wave, cfg.mel)[:, None, : stage.crop_frames]  # (B, 1, frames, mels)

    def loss_fn(model, mel):
        with torch.set_grad_enabled(not stage.decoder_only):  # a frozen encoder needs no backward pass
            posterior = model.encode(mel).latent_dist
        recon = model.decode(posterior.sample()).sample.float()
        rec = F.l1_loss(recon, mel) if stage.recon_loss == "l1" else F.mse_loss(recon, mel)
        kl = posterior.kl().float().mean() / posterior.mean[0].numel()  # per latent element
        loss, parts = rec + stage.kl_weight * kl, {"recon": rec, "kl": kl}
        if adversary is not None:
            loss = adversary.add_terms(loss, parts, mel, recon)
        return loss, parts

    torch.manual_seed(cfg.seed)
    vae = build_vae(stage).to(accelerator.device)
    if stage.init:
        load_weights(vae, stage.init, "vae", "vae.init")
    else:  # start the decoder at the mean log-mel (silence is -11.5): saves the first hundreds of steps
        with torch.no_grad():
            vae.decoder.conv_out.bias.fill_(float(batch_fn(0, step_generator(cfg.seed, 0, 0)).mean()))
    if stage.decoder_only:
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    adversary = None
    if stage.adversarial_weight > 0:
        from tclap_gen.trainers.discriminators import MelPatchDiscriminator

        adversary = Adversary(MelPatchDiscriminator(stage.discriminator_channels), stage, accelerator)
    result, vae = run_loop("vae", cfg, stage, accelerator, vae, batch_fn, loss_fn, resume)

    if stage.decoder_only:  # the latent space is the init's: so is its scale
        config = json.loads((component_folder(stage.init, "vae") / "config.json").read_text())
        scaling_factor, extra = float(config["scaling_factor"]), {"decoder_only": True}
    else:  # 1 / std of the latents the UNet will see (posterior means), measured on fresh crops
        vae.eval()
        means = []
        with torch.no_grad():
            for k in range(stage.scale_batches):
                mel = batch_fn(10**9 + k, step_generator(cfg.seed + 1, k, accelerator.process_index))
                means.append(vae.encode(mel).latent_dist.mean.float())
        latents = accelerator.gather(torch.cat(means))
        scaling_factor = float(1.0 / latents.std().clamp_min(1e-6))
        extra = {"latent_mean": float(latents.mean())}
    vae.register_to_config(scaling_factor=scaling_factor)
    _save_model(accelerator, vae, stage_dir, result, {"scaling_factor": scaling_factor, **extra})
    _log(accelerator, stage_dir, {"stage": "vae", "event": "saved", "scaling_factor": scaling_factor})
    return result


# ------------------------------------------------------------------------------------------------ stage 2: vocoder
def train_vocoder(cfg: GeneratorConfig, resume: bool = False, accelerator=None) -> StageResult:
    accelerator, stage, stage_dir, finished = _start_stage(cfg, "vocoder", resume, accelerator)
    if finished is not None:
        return finished
    bank, samples = WaveBank.for_stage(cfg, accelerator), stage.segment_frames * cfg.mel.hop_length

    def batch_fn(step, generator):
        wave = bank.sample(stage.batch_size, samples, generator, stage.gain_db)
        return wave, log_mel(wave, cfg.mel)

    torch.manual_seed(cfg.seed)
    vocoder = build_vocoder(stage, cfg.mel)
    if stage.init:
        load_weights(vocoder, stage.init, "vocoder", "vocoder.init")
    adversary = None
    if stage.adversarial_weight > 0:
        from tclap_gen.trainers.discriminators import VocoderDiscriminator

        adversary = Adversary(VocoderDiscriminator(stage.mpd_periods, stage.mpd_channels, stage.mrd_resolutions,
                                                   stage.mrd_channels, stage.mrd_layers), stage, accelerator)

    def loss_fn(model, batch):
        wave, mel = batch
        # HiFi-GAN's transposed convolutions may overshoot by a few samples: cut to one hop per frame.
        pred = model(mel).float()[:, : wave.shape[-1]]
        stft = multi_resolution_stft_loss(pred, wave, stage.stft_resolutions)
        mel_l1 = F.l1_loss(log_mel(pred, cfg.mel), mel)
        loss, parts = stft + stage.mel_weight * mel_l1, {"stft": stft, "mel_l1": mel_l1}
        if adversary is not None:
            loss = adversary.add_terms(loss, parts, wave, pred)
        return loss, parts

    result, vocoder = run_loop("vocoder", cfg, stage, accelerator, vocoder, batch_fn, loss_fn, resume)
    _save_model(accelerator, vocoder.eval(), stage_dir, result)
    return result


class Adversary:
    """A discriminator and its optimiser, prepared with the accelerator before the stage's model (so that
    save_state / load_state carry them in the same order on resume). The loop stays one optimiser step per step:
    the model's loss function runs the discriminator's step first, on the detached prediction, as HiFi-GAN does."""

    def __init__(self, discriminator: torch.nn.Module, stage: AdversarialTerms, accelerator):
        self.accelerator, self.stage = accelerator, stage
        discriminator = discriminator.to(accelerator.device)
        optimizer = torch.optim.AdamW(discriminator.parameters(), lr=stage.discriminator_learning_rate, betas=(0.8, 0.99))
        self.model, self.optimizer = accelerator.prepare(discriminator, optimizer)

    def add_terms(self, loss: torch.Tensor, parts: dict, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """One discriminator step, then `loss` plus the weighted GAN terms for the model; logs disc, adv and fm."""
        parts["disc"] = self.discriminator_step(real, fake.detach())
        parts["adv"], parts["fm"] = self.generator_terms(real, fake)
        return loss + self.stage.adversarial_weight * (parts["adv"] + self.stage.feature_matching_weight * parts["fm"])

    def discriminator_step(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        from tclap_gen.trainers.discriminators import discriminator_loss

        self.optimizer.zero_grad(set_to_none=True)  # also drops what the last generator pass left on it
        loss = discriminator_loss(self.model(real), self.model(fake))
        self.accelerator.backward(loss)
        if self.stage.max_grad_norm > 0:
            self.accelerator.clip_grad_norm_(self.model.parameters(), self.stage.max_grad_norm)
        self.optimizer.step()
        return loss.detach()

    def generator_terms(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from tclap_gen.trainers.discriminators import feature_matching_loss, generator_adversarial_loss

        model = self.accelerator.unwrap_model(self.model)  # no gradient all-reduce for the discriminator here
        with torch.no_grad():
            real_out = model(real)
        model.requires_grad_(False)  # the model's backward need not reach the discriminator's weights
        fake_out = model(fake)
        model.requires_grad_(True)
        return generator_adversarial_loss(fake_out), feature_matching_loss(real_out, fake_out)


# ------------------------------------------------------------------------------------------------ stage 3: UNet
def unconditional_embedding(tclap) -> torch.Tensor:
    """(1, D) the T-CLAP text embedding of "" tokenised as the pipeline does (padded to max length): what
    classifier-free guidance feeds as the negative prompt by default."""
    tokenizer = tclap.processor.tokenizer
    tokens = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")
    with torch.no_grad():
        output = tclap.model.get_text_features(
            input_ids=tokens["input_ids"].to(tclap.device), attention_mask=tokens["attention_mask"].to(tclap.device)
        )
    return F.normalize(output.pooler_output.float(), dim=-1)


class _PoolExamples(torch.utils.data.Dataset):
    """Pool item i: a single clip (the first `n_single` items, epoch by epoch over the clips) or a mix-up."""

    def __init__(self, records, cfg: GeneratorConfig):
        from tclap_gen.datasets import MixupDataset, SingleClipDataset

        unet, sr = cfg.unet, cfg.mel.sampling_rate
        self.n_single = int(round(unet.pool_size * unet.single_fraction))
        self.n_mix = unet.pool_size - self.n_single
        self.samples = int(round(unet.example_seconds * sr))
        self.single = SingleClipDataset(records, sampling_rate=sr, seconds=unet.example_seconds, seed=cfg.seed)
        self.mix = None
        if self.n_mix:
            self.mix = MixupDataset(
                records, sampling_rate=sr, seconds=unet.example_seconds, num_events=tuple(unet.num_events),
                length=self.n_mix, seed=cfg.seed,
            )

    def __len__(self) -> int:
        return self.n_single + self.n_mix

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        if index < self.n_single:
            self.single.set_epoch(index // len(self.single))  # items stay deterministic per (seed, epoch, index)
            example = self.single[index % len(self.single)]
        else:
            example = self.mix[index - self.n_single]
        out = np.zeros(self.samples, dtype=np.float32)
        out[: min(example.audio.size, self.samples)] = example.audio[: self.samples]
        return out, example.caption


def _stack(items):
    waves, captions = zip(*items)
    return torch.from_numpy(np.stack(waves)), list(captions)


def _pool_key(cfg: GeneratorConfig, records, vae_dir: Path, tclap_source: str) -> str:
    """Changes whenever the pool's contents would: examples, VAE weights, T-CLAP weights."""
    u = cfg.unet
    parts = [
        json.dumps([u.example_seconds, u.single_fraction, list(u.num_events), u.pool_size, cfg.seed, asdict(cfg.mel)]),
        json.dumps(sorted(str(r.path) for r in records)),
        (vae_dir / "done.json").read_text() if (vae_dir / "done.json").is_file() else "",
    ]
    if u.text_condition_fraction:  # pools built before text embeddings were stored keep their keys
        parts.append("text embeddings")
    source = Path(tclap_source)
    for weights in sorted(source.rglob("*.safetensors")) if source.is_dir() else []:
        stat = weights.stat()
        parts.append(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}")
    parts.append(tclap_source)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@torch.no_grad()
def build_pool(cfg: GeneratorConfig, records, vae, tclap, device) -> dict[str, torch.Tensor]:
    """latents (N, C, H, W) = posterior mean * scaling_factor; embeddings (N, D) = normalised T-CLAP audio
    embeddings; text_embeddings (N, D) = normalised T-CLAP text embeddings of the examples' captions."""
    examples = _PoolExamples(records, cfg)
    loader = torch.utils.data.DataLoader(
        examples, batch_size=cfg.unet.pool_batch, num_workers=cfg.unet.pool_workers, collate_fn=_stack
    )
    pool = {"latents": [], "embeddings": [], "text_embeddings": []}
    for waves, captions in loader:
        latents, embeddings = latents_and_embeddings(waves.numpy(), vae, tclap, cfg.mel, device)
        pool["latents"].append(latents.cpu())
        pool["embeddings"].append(embeddings.cpu())
        pool["text_embeddings"].append(tclap.embed_text(captions).cpu())
    return {name: torch.cat(parts).contiguous() for name, parts in pool.items()}


@torch.no_grad()
def latents_and_embeddings(waves: np.ndarray, vae, tclap, mel: MelConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    """What a UNet learns on, from (batch, samples) waves: the VAE posterior means of their log-mel times the
    scaling factor, and their normalised T-CLAP audio embeddings (its condition)."""
    spectrogram = log_mel(torch.from_numpy(waves).to(device), mel)[:, None]
    latents = vae.encode(spectrogram).latent_dist.mean.float() * vae.config.scaling_factor
    return latents, tclap.embed_audio(waves, sampling_rate=mel.sampling_rate).float()


def train_unet(cfg: GeneratorConfig, resume: bool = False, accelerator=None) -> StageResult:
    from diffusers import AutoencoderKL
    from diffusers.training_utils import EMAModel
    from safetensors.torch import load_file, save_file

    from tclap_gen.model import TClap

    accelerator, stage, stage_dir, finished = _start_stage(cfg, "unet", resume, accelerator)
    if finished is not None:
        return finished
    if not stage.tclap:
        raise ConfigError("unet.tclap is not set: the UNet is conditioned on a trained T-CLAP (a TClap folder)")
    vae_dir = cfg.out / "vae"
    if not (vae_dir / "model").is_dir():
        raise FileNotFoundError(f"{vae_dir / 'model'} not found: run --stage vae first")
    device = accelerator.device
    vae = AutoencoderKL.from_pretrained(str(vae_dir / "model")).to(device).eval()
    tclap = TClap.from_pretrained(stage.tclap, device=device)
    records = train_records(cfg.data)

    # The pool: built by the main process once, cached on disk, read by every process.
    pool_file = stage_dir / "pool.safetensors"
    key = _pool_key(cfg, records, vae_dir, str(stage.tclap))
    if accelerator.is_main_process:
        stage_dir.mkdir(parents=True, exist_ok=True)
        cached = pool_file.is_file() and _read_pool_key(pool_file) == key
        if not cached:
            began = time.perf_counter()
            built = build_pool(cfg, records, vae, tclap, device)
            tmp = pool_file.with_name(".pool.safetensors.tmp")
            save_file(built, str(tmp), metadata={"key": key})
            os.replace(tmp, pool_file)
            _log(accelerator, stage_dir, {"stage": "unet", "event": "pool built", "examples": len(built["latents"]),
                                          "seconds": round(time.perf_counter() - began, 1)})
    accelerator.wait_for_everyone()
    pool = load_file(str(pool_file))
    latents, embeddings = pool["latents"].to(device), pool["embeddings"].to(device)
    text_embeddings = pool["text_embeddings"].to(device) if stage.text_condition_fraction else None
    empty = unconditional_embedding(tclap).to(device)
    projection_dim = tclap.projection_dim
    del tclap, vae
    _log(accelerator, stage_dir, {"stage": "unet", "event": "pool", "latents": list(latents.shape),
                                  "latent_std": float(latents.std())})

    noise_scheduler = build_noise_scheduler(stage)
    alphas = noise_scheduler.alphas_cumprod.to(device)

    def batch_fn(step, generator):
        index = torch.randint(len(latents), (stage.batch_size,), generator=generator).to(device)
        drop = (torch.rand(stage.batch_size, generator=generator) < stage.condition_dropout).to(device)
        cond = embeddings[index]
        if text_embeddings is not None:  # drawn only when used: audio-only recipes keep their random stream
            text = (torch.rand(stage.batch_size, generator=generator) < stage.text_condition_fraction).to(device)
            cond = torch.where(text[:, None], text_embeddings[index], cond)
        cond = torch.where(drop[:, None], empty.expand(stage.batch_size, -1), cond)
        # the noise is drawn on the device (a big tensor), from a generator seeded like the CPU one
        noise = torch.randn(
            (stage.batch_size, *latents.shape[1:]), device=device,
            generator=torch.Generator(device=device).manual_seed(int(torch.randint(2**62, (1,), generator=generator))),
        )
        timesteps = torch.randint(stage.num_train_timesteps, (stage.batch_size,), generator=generator).to(device)
        return latents[index], cond, noise, timesteps

    def loss_fn(model, batch):
        return diffusion_loss(model, *batch, alphas, stage.prediction_type, stage.snr_gamma), {}

    def log_condition_use(model, when: str):
        if not accelerator.is_main_process:  # only the main process logs: the others need not compute it
            return
        use = condition_use(model, latents[:CONDITION_USE_EXAMPLES], embeddings[:CONDITION_USE_EXAMPLES], empty, alphas,
                            stage.prediction_type)
        _log(accelerator, stage_dir, {"stage": "unet", "event": f"condition use {when}", **use})

    torch.manual_seed(cfg.seed)
    sample_size = latents.shape[2]
    unet = build_unet(stage, latents.shape[1], projection_dim, sample_size)
    if stage.init:
        load_weights(unet, stage.init, "unet", "unet.init")
    if stage.class_embedding_init_std is not None:
        torch.nn.init.normal_(unet.class_embedding.weight, std=stage.class_embedding_init_std)
        torch.nn.init.zeros_(unet.class_embedding.bias)
    if latest_checkpoint(stage_dir / "checkpoints") is None:  # a fresh start (with or without --resume)
        log_condition_use(unet, "at start")
    ema = None
    if stage.ema_decay > 0:
        ema = EMAModel(unet.parameters(), decay=stage.ema_decay, foreach=True, model_cls=type(unet), model_config=unet.config)
        ema.to(device)
    result, unet = run_loop("unet", cfg, stage, accelerator, unet, batch_fn, loss_fn, resume, ema=ema)
    if ema is not None:
        ema.copy_to(unet.parameters())  # ship the averaged weights
    log_condition_use(unet.eval(), "at end")
    _save_model(accelerator, unet, stage_dir, result, {"ema_decay": stage.ema_decay})
    return result


CONDITION_USE_EXAMPLES = 128


@torch.no_grad()
def condition_use(unet, latents, embeddings, empty, alphas_cumprod, prediction: str = "epsilon", seed: int = 0) -> dict:
    """Does `unet` use its condition? Its diffusion loss on `latents` with their own `embeddings`, with another
    example's (each gets the next one's in a fixed random order, never its own) and with the unconditional `empty`
    one, at the same noise and at timesteps spread evenly over the schedule. A UNet that ignores the condition gives
    three equal losses; `gain` = other / own - 1."""
    generator = torch.Generator().manual_seed(seed)
    n, device = len(latents), latents.device
    noise = torch.randn(latents.shape, generator=generator).to(device)
    timesteps = torch.linspace(0, len(alphas_cumprod) - 1, n).round().long().to(device)
    order = torch.randperm(n, generator=generator)
    partner = torch.empty_like(order)
    partner[order] = order.roll(1)  # a derangement: no example is paired with itself
    other = embeddings[partner.to(device)]
    was_training = unet.training
    unet.eval()
    losses = {name: float(diffusion_loss(unet, latents, cond, noise, timesteps, alphas_cumprod, prediction))
              for name, cond in (("own", embeddings), ("other", other), ("empty", empty.expand(n, -1)))}
    unet.train(was_training)
    return {**losses, "gain": losses["other"] / losses["own"] - 1.0}


def diffusion_loss(unet, clean, cond, noise, timesteps, alphas_cumprod, prediction: str = "epsilon",
                   snr_gamma: float | None = None) -> torch.Tensor:
    """MSE of the UNet's prediction (the noise, or the velocity for "v_prediction") on `clean` latents noised to
    `timesteps` (as DDPMScheduler.add_noise), conditioned on `cond` through the class embedding as AudioLDM is.
    With `snr_gamma`, each example is weighted by Min-SNR-gamma (`min_snr_weights`)."""
    alpha = alphas_cumprod[timesteps]
    a, s = alpha.sqrt()[:, None, None, None], (1 - alpha).sqrt()[:, None, None, None]
    target = noise if prediction == "epsilon" else a * noise - s * clean  # = DDPMScheduler.get_velocity
    pred = unet(a * clean + s * noise, timesteps, encoder_hidden_states=None, class_labels=cond).sample
    per_example = F.mse_loss(pred.float(), target, reduction="none").mean(dim=(1, 2, 3))
    if snr_gamma is None:
        return per_example.mean()
    return (per_example * min_snr_weights(alpha, snr_gamma, prediction)).mean()


def min_snr_weights(alphas_cumprod_t: torch.Tensor, gamma: float, prediction: str = "epsilon") -> torch.Tensor:
    """Min-SNR-gamma loss weights (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting"): the loss
    of a step with signal-to-noise ratio SNR counts min(SNR, gamma) / SNR (noise target) or min(SNR, gamma) / (SNR + 1)
    (velocity target), so the many nearly clean steps stop dominating the gradient; the paper's gamma is 5."""
    snr = alphas_cumprod_t / (1 - alphas_cumprod_t)
    clipped = snr.clamp(max=gamma)
    return clipped / snr if prediction == "epsilon" else clipped / (snr + 1)


def component_folder(source: str, component: str) -> Path:
    """`source` itself, or its `component`/ when it is a pipeline folder."""
    folder = Path(source)
    return folder / component if (folder / component).is_dir() else folder


def load_weights(model, source: str, component: str, key: str) -> None:
    """Copy a trained component's weights (safetensors) into `model`, which must have the same architecture: how
    vae.init / unet.init / vocoder.init fine-tune an existing one instead of starting from noise. `source` is the
    component's folder or a pipeline folder holding `component`/; `key` names the setting in errors."""
    from safetensors.torch import load_file

    folder = component_folder(source, component)
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if len(files) != 1:
        raise FileNotFoundError(f"{key}={source}: expected one {component} .safetensors file in {folder}, found {len(files)}")
    state = load_file(str(files[0]))
    expected = model.state_dict()
    wrong = sorted(k for k in expected.keys() | state.keys() if k not in state or k not in expected
                   or state[k].shape != expected[k].shape)
    if wrong:
        raise ConfigError(
            f"{key}={source}: its {component} does not match the {component} section's architecture "
            f"({len(wrong)} tensors differ, first {wrong[0]!r}); set the same sizes in the recipe"
        )
    model.load_state_dict(state)  # fp16 weights are cast to the model's dtype


def _read_pool_key(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return (handle.metadata() or {}).get("key")
    except Exception:  # a corrupt cache is rebuilt
        return None


# ------------------------------------------------------------------------------------------------ stage 4: assemble
def assemble(cfg: GeneratorConfig, fp16_weights: bool | None = None) -> Path:
    """Load the trained components and save a TClapAudioLDMPipeline folder (safetensors)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from tclap_gen.model import TClap
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline
    from tclap_gen.vocoder import load_vocoder

    source = cfg.assemble.tclap or cfg.unet.tclap
    if not source:
        raise ConfigError("assemble.tclap (or unet.tclap) is not set: which T-CLAP conditions the pipeline?")
    parts = {}
    for name in ("vae", "vocoder", "unet"):
        folder = cfg.out / name / "model"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found: run --stage {name} first")
        parts[name] = folder
    tclap = TClap.from_pretrained(source)
    vae = AutoencoderKL.from_pretrained(str(parts["vae"]))
    unet = UNet2DConditionModel.from_pretrained(str(parts["unet"]))
    vocoder = load_vocoder(parts["vocoder"])
    pipe = TClapAudioLDMPipeline.from_components(tclap, vae=vae, unet=unet, scheduler=build_inference_scheduler(cfg.unet), vocoder=vocoder)
    fp16 = cfg.assemble.fp16_weights if fp16_weights is None else fp16_weights
    if fp16:
        pipe.to(dtype=torch.float16)  # halves the folder; load with torch_dtype=torch.float32 to compute in fp32

    output = Path(cfg.assemble.output) if cfg.assemble.output else cfg.out / "pipeline"
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    pipe.save_pretrained(str(tmp), safe_serialization=True)
    record = {"config": _jsonable(asdict(cfg)), "fp16_weights": bool(fp16)}
    for name in ("vae", "vocoder", "unet"):
        done = cfg.out / name / "done.json"
        record[name] = json.loads(done.read_text()) if done.is_file() else None
    write_json(tmp / "generator_training.json", record)
    replace_dir(tmp, output)
    print(json.dumps({"stage": "assemble", "event": "saved", "pipeline": str(output), "fp16_weights": bool(fp16)}), flush=True)
    return output


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


# ------------------------------------------------------------------------------------------------ CLI
def run_stages(cfg: GeneratorConfig, stage: str, resume: bool = False, fp16_weights: bool | None = None) -> dict:
    if stage not in STAGES + ("all",):
        raise ConfigError(f"--stage must be one of {STAGES + ('all',)}, got {stage!r}")
    results = {}
    order = STAGES if stage == "all" else (stage,)
    accelerator = None
    for name in order:
        if name == "assemble":
            if accelerator is None or accelerator.is_main_process:
                results[name] = assemble(cfg, fp16_weights)
            continue
        if accelerator is None:
            accelerator = make_accelerator(cfg)
        results[name] = {"vae": train_vae, "vocoder": train_vocoder, "unet": train_unet}[name](cfg, resume, accelerator)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_arguments(parser, "recipe YAML, or the name of one in training/configs (generator-mini)",
                         "vae.steps=100", "continue from the newest complete checkpoint; skip finished stages",
                         config_default="generator-mini")
    parser.add_argument("--stage", default="all", choices=STAGES + ("all",))
    parser.add_argument("--fp16-weights", action="store_true", help="assemble: save the pipeline's weights in float16")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides, data_root=args.data_root)
        if args.output_dir:
            cfg.output_dir = str(Path(args.output_dir).resolve())
        run_stages(cfg, args.stage, resume=args.resume, fp16_weights=True if args.fp16_weights else None)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"train_generator: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
