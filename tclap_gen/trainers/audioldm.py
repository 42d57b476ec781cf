"""Fine-tune a real AudioLDM's UNet on a T-CLAP's audio embeddings: the paper's generation experiment at real scale.

AudioLDM's UNet learned on its own CLAP's AUDIO embeddings (the text embedding only replaces it at generation).
Conditioning it on a T-CLAP therefore means teaching the UNet the T-CLAP's audio space: this recipe keeps the
checkpoint's VAE and vocoder frozen and fine-tunes its UNet, every step:

    waves (the user's audio: an AudioCaps-style CSV, labelled clips with 2-3 event mix-ups, or both)
      -> log-mel (tclap_gen.mel, AudioLDM's: the vocoder's rate, hop and bands) -> VAE posterior mean x scaling
      -> noisy latents at random timesteps (the checkpoint's own noise schedule and prediction type)
      -> UNet(noisy, t, class_labels = T-CLAP audio embedding, or for `text_condition_fraction` of the examples
         the T-CLAP text embedding of their caption, or the text embedding of "" for `condition_dropout` of them:
         classifier-free guidance) -> MSE to the noise (or the velocity),
         each example weighted by Min-SNR-gamma with `snr_gamma` (generator.diffusion_loss)

then writes a TClapAudioLDMPipeline folder (the T-CLAP, the frozen VAE and vocoder, the EMA UNet, the checkpoint's
scheduler) that `TClapAudioLDMPipeline.from_pretrained` loads. The baseline is the same command with a plain CLAP
(`--set tclap=laion/clap-htsat-unfused`).

    accelerate launch -m tclap_gen.training.finetune_audioldm --config audioldm-finetune \\
        --set audioldm=cvssp/audioldm-s-full-v2 --set tclap=runs/tclap/final --output-dir runs/audioldm-tclap

Every process draws the same global batch per step (example indices, timesteps, noise and dropout from a generator
seeded by (seed, step)) and keeps its slice, so 1 process and N processes train the same weights, and a resumed run
sees exactly the data it would have seen. The loop, checkpoints (`unet/checkpoints/step-*`, accelerate
save_state: our own files, never resume from a folder you did not write), `--resume`, the time budget and EMA are
tclap_gen.trainers.generator.run_loop's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tclap_gen.mel import MelConfig
from tclap_gen.trainers.checkpoints import replace_dir, write_json
from tclap_gen.trainers.config import ConfigError, absolute_path, add_recipe_arguments, build_dataclass, maybe_path, read_recipe, repo_root
from tclap_gen.trainers.generator import (
    StageConfig, _log, diffusion_loss, latents_and_embeddings, make_accelerator, run_loop, unconditional_embedding,
)


@dataclass
class FinetuneData:
    captions_csv: str | None = None  # audio + caption pairs (the audio is what is used): AudioCaps, Clotho or path,caption
    captions_layout: str = "audiocaps"  # audiocaps | clotho | generic (tclap_gen.datasets.CaptionDataset)
    audio_root: str | None = None  # where the captions' audio is (default: the CSV's folder)
    clips: list[str] = field(default_factory=list)  # labelled clip lists (path,label[,fold,source_id])
    heldout: bool = True  # keep the clips the recipes hold out (datasets.split_clip_lists) out of training
    single_clips: bool = True  # each train clip is also an example on its own
    mixups: int = 4096  # 2-3 event mix-ups of the train clips (distinct examples); 0: none
    num_events: list[int] = field(default_factory=lambda: [2, 3])
    seconds: float | None = None  # example length; None: the pipeline's default length for this UNet
    num_workers: int = 2  # DataLoader processes that read and mix the audio


@dataclass
class FinetuneConfig(StageConfig):
    audioldm: str = ""  # a diffusers AudioLDM folder or Hub id (cvssp/audioldm-s-full-v2), or a TClapAudioLDMPipeline
    tclap: str = ""  # the conditioner: a T-CLAP (or, for the baseline, any CLAP): built-in name, folder or Hub id
    output_dir: str = "runs/audioldm-finetune"
    seed: int = 0
    mixed_precision: str = "no"  # no | fp16 | bf16
    ema_decay: float = 0.9999  # 0: no EMA
    condition_dropout: float = 0.1  # share of examples conditioned on the empty caption (classifier-free guidance)
    # share of examples conditioned on their caption's T-CLAP text embedding instead of their audio's: generation
    # conditions on text, and on the mini this made class phrases more recognisable (README, "Generator fidelity")
    text_condition_fraction: float = 0.0
    snr_gamma: float | None = None  # Min-SNR-gamma loss weighting (diffusers' --snr_gamma; the paper's value is 5)
    local_files_only: bool = False  # Hub ids from the local cache only
    data: FinetuneData = field(default_factory=FinetuneData)
    debug_step_sleep_s: float = 0.0  # tests: sleep per step (gives a test time to kill the run)

    @property
    def out(self) -> Path:
        return Path(self.output_dir)

    def validate(self) -> "FinetuneConfig":
        def need(ok: bool, key: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"{key}: {message}")

        need(bool(self.audioldm), "audioldm", "required: the AudioLDM checkpoint whose UNet is fine-tuned")
        need(bool(self.tclap), "tclap", "required: the T-CLAP (or CLAP) that conditions the UNet")
        need(self.mixed_precision in ("no", "fp16", "bf16"), "mixed_precision", "must be no, fp16 or bf16")
        need(0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        need(0 <= self.condition_dropout < 1, "condition_dropout", "must be in [0, 1)")
        need(0 <= self.text_condition_fraction <= 1, "text_condition_fraction", "must be in [0, 1]")
        need(self.snr_gamma is None or self.snr_gamma > 0, "snr_gamma", "must be positive (or null: plain MSE)")
        need(self.steps > 0 and self.batch_size > 0, "steps", "steps and batch_size must be positive")
        need(self.learning_rate > 0, "learning_rate", "must be positive")
        need(self.checkpoint_every > 0, "checkpoint_every", "must be positive")
        d = self.data
        need(d.captions_layout in ("audiocaps", "clotho", "generic"), "data.captions_layout",
             "must be audiocaps, clotho or generic")
        need(bool(d.captions_csv) or bool(d.clips), "data", "give data.captions_csv, data.clips, or both")
        need(not d.clips or d.single_clips or d.mixups > 0, "data.clips", "set data.single_clips or data.mixups")
        need(d.mixups >= 0 and all(k >= 2 for k in d.num_events) and bool(d.num_events), "data.num_events",
             "mix-ups hold 2 or more events")
        need(d.seconds is None or d.seconds > 0, "data.seconds", "must be positive")
        need(d.num_workers >= 0, "data.num_workers", "must be >= 0")
        return self


def load_config(config=None, overrides: list[str] | None = None, data_root=None) -> FinetuneConfig:
    """A FinetuneConfig from a recipe (YAML path or shipped name) and `key=value` overrides; relative paths are
    taken from the repository root (the checkpoint and T-CLAP may also be built-in names or Hub ids)."""
    raw, _ = read_recipe(config, overrides, data_root)
    cfg = build_dataclass(FinetuneConfig, raw, "")
    base = repo_root()
    cfg.output_dir = absolute_path(cfg.output_dir, base)
    cfg.audioldm, cfg.tclap = maybe_path(cfg.audioldm, base), maybe_path(cfg.tclap, base)
    cfg.data.captions_csv = absolute_path(cfg.data.captions_csv, base)
    cfg.data.audio_root = absolute_path(cfg.data.audio_root, base)
    cfg.data.clips = [absolute_path(path, base) for path in cfg.data.clips]
    return cfg.validate()


# ------------------------------------------------------------------------------------------------ the checkpoint
def load_base(cfg: FinetuneConfig, tclap):
    """(vae, unet, scheduler, vocoder) of `cfg.audioldm`: a diffusers AudioLDM checkpoint or a TClapAudioLDMPipeline
    folder. The UNet's config is the checkpoint's; a T-CLAP of another embedding size is refused."""
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline, check_projection
    from tclap_gen.registry import is_pipeline_folder, resolve_builtin

    source = resolve_builtin(cfg.audioldm)
    if is_pipeline_folder(source):
        pipe = TClapAudioLDMPipeline.from_pretrained(source)
        check_projection(tclap.model, pipe.unet)
    else:
        pipe = TClapAudioLDMPipeline.from_audioldm(source, tclap, local_files_only=cfg.local_files_only)
    return pipe.vae, pipe.unet, pipe.scheduler, pipe.vocoder


def mel_config_for(vocoder) -> MelConfig:
    """AudioLDM's log-mel at the vocoder's rate, hop (its upsampling) and number of bands."""
    rate = int(vocoder.config.sampling_rate)
    return MelConfig(sampling_rate=rate, hop_length=int(np.prod(vocoder.config.upsample_rates)),
                     n_mels=int(vocoder.config.model_in_dim), fmax=min(8000.0, rate / 2))


def example_samples(cfg: FinetuneConfig, mel: MelConfig, vae, unet) -> int:
    """Samples per example: data.seconds (or the UNet's default length), a whole number of UNet-divisible frames."""
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    multiple = vae_scale * 2 ** (len(unet.config.block_out_channels) - 1)
    frames = unet.config.sample_size * vae_scale if cfg.data.seconds is None else round(
        cfg.data.seconds * mel.sampling_rate / mel.hop_length)
    if frames % multiple or frames < multiple:
        raise ConfigError(f"data.seconds gives {frames} mel frames: it must be a multiple of {multiple} "
                          f"(the VAE's and the UNet's downsampling), e.g. {multiple * max(1, round(frames / multiple))}")
    return frames * mel.hop_length


# ------------------------------------------------------------------------------------------------ data
class FinetuneExamples(torch.utils.data.Dataset):
    """(fixed-length wave, caption): the captions' audio, then the train clips one by one, then the mix-ups."""

    def __init__(self, cfg: FinetuneConfig, sampling_rate: int, samples: int):
        from tclap_gen.datasets import CaptionDataset, MixupDataset, SingleClipDataset, read_clip_lists, split_clip_lists

        seconds, data = samples / sampling_rate, cfg.data
        self.samples, self.parts = samples, []
        if data.captions_csv:
            self.parts.append(CaptionDataset(data.captions_csv, data.audio_root, layout=data.captions_layout,
                                             sampling_rate=sampling_rate, seconds=seconds, seed=cfg.seed))
        if data.clips:
            records = split_clip_lists(data.clips)[0] if data.heldout else read_clip_lists(data.clips)
            if data.single_clips:
                self.parts.append(SingleClipDataset(records, sampling_rate=sampling_rate, seconds=seconds, seed=cfg.seed))
            if data.mixups:
                self.parts.append(MixupDataset(records, sampling_rate=sampling_rate, seconds=seconds,
                                               num_events=tuple(data.num_events), length=data.mixups, seed=cfg.seed))
        self.offsets = np.cumsum([0] + [len(part) for part in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> tuple[np.ndarray, str]:
        part = int(np.searchsorted(self.offsets, index, side="right")) - 1
        example = self.parts[part][index - int(self.offsets[part])]
        out = np.zeros(self.samples, dtype=np.float32)
        out[: min(example.audio.size, self.samples)] = example.audio[: self.samples]
        return out, example.caption


def _collate(items: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[str]]:
    return np.stack([wave for wave, _ in items]), [caption for _, caption in items]


def global_draws(seed: int, step: int, batch: int, length: int, latent_shape=None, condition_dropout: float = 0.0,
                 num_train_timesteps: int = 1000, text_condition_fraction: float = 0.0) -> dict:
    """What every process draws identically at `step`: the GLOBAL batch's example indices and, with
    `latent_shape`, its dropout, timesteps, noise and (when `text_condition_fraction` > 0) which examples are
    conditioned on their caption's text; each process then keeps its slice. Indices come first, so the data loader
    can draw them alone; the text draw comes last, so that audio-only runs keep their random stream."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    drawn = {"index": torch.randint(length, (batch,), generator=generator)}
    if latent_shape is not None:
        drawn["drop"] = torch.rand(batch, generator=generator) < condition_dropout
        drawn["timesteps"] = torch.randint(num_train_timesteps, (batch,), generator=generator)
        drawn["noise"] = torch.randn((batch, *latent_shape), generator=generator)
        if text_condition_fraction > 0:
            drawn["text"] = torch.rand(batch, generator=generator) < text_condition_fraction
    return drawn


class StepBatches(torch.utils.data.Sampler):
    """This process's slice of each step's global example indices, from step `start` on."""

    def __init__(self, seed: int, length: int, batch: int, start: int, steps: int, rank: int, local: int):
        self.seed, self.length, self.batch, self.start, self.steps = seed, length, batch, start, steps
        self.rank, self.local = rank, local

    def __iter__(self):
        for step in range(self.start, self.steps):
            index = global_draws(self.seed, step, self.batch, self.length)["index"]
            yield index[self.rank * self.local : (self.rank + 1) * self.local].tolist()

    def __len__(self) -> int:
        return self.steps - self.start


# ------------------------------------------------------------------------------------------------ the run
def finetune(cfg: FinetuneConfig, resume: bool = False) -> Path:
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    from tclap_gen.model import TClap
    from tclap_gen.pipelines.pipeline_tclap_audioldm import TClapAudioLDMPipeline

    accelerator = make_accelerator(cfg)
    stage_dir = cfg.out / "unet"
    if not resume and (stage_dir / "checkpoints").is_dir() and any((stage_dir / "checkpoints").glob("step-*")):
        raise ConfigError(f"{stage_dir / 'checkpoints'} holds checkpoints of an earlier run: pass --resume to continue "
                          "it, or choose another --output-dir")
    if cfg.batch_size % accelerator.num_processes:
        raise ConfigError(f"batch_size {cfg.batch_size} is the global batch: it must divide among "
                          f"{accelerator.num_processes} processes")
    device = accelerator.device
    tclap = TClap.from_pretrained(cfg.tclap, device=device)
    vae, unet, inference_scheduler, vocoder = load_base(cfg, tclap)
    vae, vocoder = vae.to(device).eval().requires_grad_(False), vocoder.eval()
    noise_scheduler = DDPMScheduler.from_config(inference_scheduler.config)  # the checkpoint's schedule
    mel = mel_config_for(vocoder)
    samples = example_samples(cfg, mel, vae, unet)
    vae_scale = 2 ** (len(vae.config.block_out_channels) - 1)
    latent_shape = (unet.config.in_channels, samples // mel.hop_length // vae_scale, mel.n_mels // vae_scale)
    examples = FinetuneExamples(cfg, mel.sampling_rate, samples)
    empty = unconditional_embedding(tclap).to(device)
    alphas = noise_scheduler.alphas_cumprod.to(device)
    prediction = noise_scheduler.config.prediction_type
    if prediction not in ("epsilon", "v_prediction"):
        raise ConfigError(f"{cfg.audioldm}: scheduler prediction_type {prediction!r} is not epsilon or v_prediction")
    local = cfg.batch_size // accelerator.num_processes
    rank = accelerator.process_index

    batches = None

    def batch_fn(step, _generator):
        nonlocal batches
        if batches is None:  # built at the first step run (after a resume, the checkpoint's)
            sampler = StepBatches(cfg.seed, len(examples), cfg.batch_size, step, cfg.steps, rank, local)
            loader = torch.utils.data.DataLoader(examples, batch_sampler=sampler, num_workers=cfg.data.num_workers,
                                                 collate_fn=_collate)
            batches = iter(loader)
        waves, captions = next(batches)
        if cfg.debug_step_sleep_s:
            time.sleep(cfg.debug_step_sleep_s)
        mine = slice(rank * local, (rank + 1) * local)
        drawn = global_draws(cfg.seed, step, cfg.batch_size, len(examples), latent_shape, cfg.condition_dropout,
                             noise_scheduler.config.num_train_timesteps, cfg.text_condition_fraction)
        drawn = {key: value[mine] for key, value in drawn.items()}
        latents, cond = latents_and_embeddings(waves, vae, tclap, mel, device)
        cond = cond.to(device)
        if "text" in drawn:
            text = tclap.embed_text(captions).float().to(device)
            cond = torch.where(drawn["text"].to(device)[:, None], text, cond)
        cond = torch.where(drawn["drop"].to(device)[:, None], empty.expand(local, -1), cond)
        return latents, cond, drawn["noise"].to(device), drawn["timesteps"].to(device)

    def loss_fn(model, batch):
        return diffusion_loss(model, *batch, alphas, prediction, snr_gamma=cfg.snr_gamma), {}

    unet.train()
    ema = None
    if cfg.ema_decay > 0:
        ema = EMAModel(unet.parameters(), decay=cfg.ema_decay, foreach=True, model_cls=type(unet), model_config=unet.config)
        ema.to(device)
    _log_settings(accelerator, stage_dir, cfg, mel, samples, latent_shape, len(examples), prediction)
    result, unet = run_loop("unet", cfg, cfg, accelerator, unet, batch_fn, loss_fn, resume, ema=ema)
    if ema is not None:
        ema.copy_to(unet.parameters())  # ship the averaged weights

    output = cfg.out / "pipeline"
    if accelerator.is_main_process:
        pipe = TClapAudioLDMPipeline.from_components(tclap, vae=vae, unet=unet.eval(), scheduler=inference_scheduler,
                                                     vocoder=vocoder)
        tmp = output.with_name(".pipeline.tmp")
        pipe.save_pretrained(str(tmp), safe_serialization=True)
        record = {"config": json.loads(json.dumps(asdict(cfg), default=str)), "steps": result.end_step,
                  "final_loss": result.losses[-1] if result.losses else None,
                  "finished": result.end_step >= cfg.steps, "seconds_per_step": result.seconds_per_step}
        write_json(tmp / "finetune.json", record)
        replace_dir(tmp, output)
        _log(accelerator, stage_dir, {"event": "saved", "pipeline": str(output), "step": result.end_step})
    accelerator.wait_for_everyone()
    return output


def _log_settings(accelerator, stage_dir, cfg, mel, samples, latent_shape, n_examples, prediction) -> None:
    if accelerator.is_main_process:
        stage_dir.mkdir(parents=True, exist_ok=True)
    _log(accelerator, stage_dir, {
        "event": "start", "audioldm": cfg.audioldm, "tclap": cfg.tclap, "processes": accelerator.num_processes,
        "examples": n_examples, "seconds": samples / mel.sampling_rate, "latents": list(latent_shape),
        "prediction_type": prediction, "mel": asdict(mel), "global_batch": cfg.batch_size,
        "steps": cfg.steps, "epochs": round(cfg.steps * cfg.batch_size / max(1, n_examples), 2),
        "mixed_precision": cfg.mixed_precision, "lr": cfg.learning_rate, "min_steps_per_epoch": math.ceil(
            n_examples / cfg.batch_size)})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_recipe_arguments(parser, "recipe YAML or the name of a shipped one", "steps=1000",
                         "continue from the newest complete checkpoint", config_default="audioldm-finetune")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides, data_root=args.data_root)
        if args.output_dir:
            cfg.output_dir = str(Path(args.output_dir).resolve())
        finetune(cfg, resume=args.resume)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"finetune_audioldm: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
