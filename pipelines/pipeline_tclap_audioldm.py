"""TClapAudioLDMPipeline: AudioLDM's text-to-audio generation conditioned on a T-CLAP.

AudioLDM (Liu et al., 2023) denoises mel-spectrogram latents with a UNet that receives the CLAP text embedding as
a class embedding; a VAE decodes the latents to a mel spectrogram and a HiFi-GAN vocoder turns that into a
waveform. This pipeline runs exactly that algorithm (diffusers' AudioLDMPipeline gives the same output for the same
components, seed and steps) and changes only the conditioner: the text tower of a T-CLAP, whose audio tower then
scores what was generated, so that several candidates per prompt can be re-ranked.

The file imports only installed packages (no relative imports), so diffusers can also load it as a custom pipeline:
`DiffusionPipeline.from_pretrained(folder, custom_pipeline=<path of this file>, trust_remote_code=True)`.
"""

import inspect
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.schedulers import KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput, logging
from diffusers.utils.torch_utils import randn_tensor
from transformers import (
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    RobertaTokenizer,
    RobertaTokenizerFast,
    SpeechT5HifiGan,
)

from tclap_gen.captions import MAX_CAPTION_CHARS, CaptionError, canonical_caption, parse_events, unknown_events
from tclap_gen.layout import EventSpan, LayoutBatch, auto_spans, check_spans
from tclap_gen.model import TCLAP_CONFIG_NAME, TClap, TClapInfo
from tclap_gen.registry import SHARED_COMPONENTS, TCLAP_SUBFOLDER, resolve_builtin
from tclap_gen.vocoder import VocosVocoder, load_vocoder

logger = logging.get_logger(__name__)

RERANK_MODES = ("temporal", "clap")
# from_audioldm warns when the mean cosine between the T-CLAP's text embeddings and the checkpoint's own text
# encoder's, over PROBE_CAPTIONS, falls below this: the UNet was trained on the checkpoint's CLAP space, and a
# conditioner that left it feeds the UNet embeddings it never saw. A T-CLAP fine-tuned from the same CLAP stays
# close to 1 on ordinary captions; an unrelated text tower lands near 0.
DRIFT_THRESHOLD = 0.9
PROBE_CAPTIONS = (
    "a dog barks",
    "a car horn honks",
    "rain falls on a roof",
    "a man speaks",
    "a woman laughs",
    "birds chirp in the morning",
    "a door slams shut",
    "glass shatters on the floor",
    "a bicycle bell rings",
    "water splashes",
    "someone types on a keyboard",
    "a microwave beeps",
    "a drawer opens and closes",
    "a baby cries",
    "thunder rumbles in the distance",
    "a train passes by",
    "footsteps on a wooden floor",
    "an engine idles",
    "a dog barks then a car horn honks",
    "glass shatters followed by a bicycle bell",
)


@dataclass
class TClapAudioLDMPipelineOutput(BaseOutput):
    """Output of TClapAudioLDMPipeline.

    audios: (batch, samples) at `pipe.sampling_rate`, np.ndarray or torch.Tensor by `output_type` (with
        output_type="latent": the denoised latents, (batch, channels, frames, bins), not decoded). Without
        re-ranking, batch = prompts x num_waveforms_per_prompt (the candidates of prompt i are rows i*N .. i*N+N-1);
        with re-ranking, one row per prompt: its best candidate.
    scores: with re-ranking, the score of each kept candidate (one per prompt); else None.
    candidates_scores: with re-ranking, every candidate's score, one list of N per prompt; else None.
    reports: with rerank="temporal", the TemporalScorer's full report (`tclap_gen.scoring.ScoreReport`: events,
        spans, curves) of each kept candidate, one per prompt, so that nobody scores it a second time
        (`reports[i].faithfulness == scores[i]`); else None. Only in this object: the tuple form is unchanged.
    layouts: with `layout` or `events`, each prompt's spans as dicts {"text", "start", "end"} (seconds; an empty
        list where the prompt has one event and plain generation was used); else None.
    """

    audios: np.ndarray | torch.Tensor
    scores: list[float] | None = None
    candidates_scores: list[list[float]] | None = None
    reports: list[Any] | None = None
    layouts: list[list[dict]] | None = None


@dataclass
class ConditionerDrift:
    """How far a T-CLAP's text space is from an AudioLDM checkpoint's own text encoder, on probe captions."""

    mean_cosine: float
    min_cosine: float
    threshold: float
    num_probes: int

    @property
    def drifted(self) -> bool:
        return self.mean_cosine < self.threshold


class TClapAudioLDMPipeline(DiffusionPipeline):
    r"""Text-to-audio generation with AudioLDM's UNet, VAE and vocoder, conditioned on a T-CLAP.

    Components:
        vae (`AutoencoderKL`): encodes/decodes mel spectrograms to/from latents.
        tclap (`transformers.ClapModel`): the T-CLAP, both towers: the text tower conditions the UNet, the audio
            tower scores candidates for re-ranking.
        tokenizer (`RobertaTokenizer`): the T-CLAP's tokenizer.
        feature_extractor (`ClapFeatureExtractor`): the T-CLAP's audio features (for scoring).
        unet (`UNet2DConditionModel`): denoises latents; the text embedding enters as its class embedding.
        scheduler: any diffusers scheduler compatible with the UNet (`KarrasDiffusionSchedulers`).
        vocoder (`SpeechT5HifiGan` or `tclap_gen.VocosVocoder`): mel spectrogram -> waveform (called the same way).
        tclap_info (`dict`, optional): the T-CLAP's TClapInfo as a dict (how it was trained, known classes).
    """

    # The text tower runs first, but through ClapModel.get_text_features, which bypasses ClapModel.forward and so
    # the offload hook on it: enable_model_cpu_offload also hooks the towers themselves (see there).
    model_cpu_offload_seq = "tclap->unet->vae->vocoder"
    # Bounds on the work one call can cause: the text tower reads 77 tokens and the event
    # grammar MAX_CAPTION_CHARS characters; the audio length bounds the latents, and so time and memory (a 60 s
    # clip is 6 of AudioLDM's 10 s clips). Raise it on the instance for longer audio.
    max_prompt_chars = MAX_CAPTION_CHARS
    max_audio_length_in_s = 60.0
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        vae: AutoencoderKL,
        tclap: ClapModel,
        tokenizer: RobertaTokenizer | RobertaTokenizerFast,
        feature_extractor: ClapFeatureExtractor,
        unet: UNet2DConditionModel,
        scheduler: KarrasDiffusionSchedulers,
        vocoder: SpeechT5HifiGan | VocosVocoder,
        tclap_info: dict | None = None,
    ):
        super().__init__()
        check_projection(tclap, unet)
        self.register_modules(
            vae=vae,
            tclap=tclap,
            tokenizer=tokenizer,
            feature_extractor=feature_extractor,
            unet=unet,
            scheduler=scheduler,
            vocoder=vocoder,
        )
        self.register_to_config(tclap_info=dict(tclap_info or {}))
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if getattr(self, "vae", None) else 8
        self.conditioner_drift: ConditionerDrift | None = None  # set by from_audioldm
        self._guidance_scale, self._num_timesteps, self._interrupt = 1.0, 0, False

    # ------------------------------------------------------------------ building and loading
    @classmethod
    def from_components(cls, tclap: TClap, vae, unet, scheduler, vocoder) -> "TClapAudioLDMPipeline":
        """Assemble a pipeline from a TClap and AudioLDM-style vae/unet/scheduler/vocoder (shared, not copied)."""
        return cls(
            vae=vae,
            tclap=tclap.model,
            tokenizer=tclap.processor.tokenizer,
            feature_extractor=tclap.processor.feature_extractor,
            unet=unet,
            scheduler=scheduler,
            vocoder=vocoder,
            tclap_info=asdict(tclap.info),
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs) -> "TClapAudioLDMPipeline":
        """Load a saved pipeline: a built-in name ("mini"), a local folder or a Hub id (see DiffusionPipeline)."""
        source = resolve_builtin(pretrained_model_name_or_path)
        dtype = kwargs.get("torch_dtype", kwargs.get("dtype"))
        for name, owner in SHARED_COMPONENTS.get(str(pretrained_model_name_or_path), {}).items():
            if name not in kwargs:  # a built-in that shares this component with another: load it from there
                folder, load = resolve_builtin(owner) / name, {} if dtype is None else {"dtype": dtype}
                kwargs[name] = load_vocoder(folder, **load) if name == "vocoder" else AutoencoderKL.from_pretrained(
                    folder, **load)
        info_file = Path(str(source)) / TCLAP_SUBFOLDER / TCLAP_CONFIG_NAME
        if "tclap_info" not in kwargs and info_file.is_file():
            # tclap/tclap_config.json is what TClap.from_pretrained reads: the authority on the T-CLAP's record
            kwargs["tclap_info"] = json.loads(info_file.read_text())
        pipe = super().from_pretrained(str(source), **kwargs)
        if kwargs.get("torch_dtype") is None and kwargs.get("dtype") is None:
            # Weights saved in float16 (the shipped mini) load in float16 in transformers 5 but float32 in
            # diffusers: without an explicit dtype, run everything in float32 as diffusers' default promises.
            for component in pipe.components.values():
                if isinstance(component, torch.nn.Module):
                    component.float()
        return pipe

    def save_pretrained(self, save_directory, **kwargs):
        """Save all components; also write tclap/tclap_config.json so TClap.from_pretrained(folder) reads it."""
        super().save_pretrained(save_directory, **kwargs)
        tclap_folder = Path(save_directory) / TCLAP_SUBFOLDER
        tmp = tclap_folder / (TCLAP_CONFIG_NAME + ".tmp")
        tmp.write_text(json.dumps(asdict(self.tclap_info), indent=2, sort_keys=True))
        tmp.replace(tclap_folder / TCLAP_CONFIG_NAME)

    @classmethod
    def from_audioldm(
        cls,
        audioldm: str | Path,
        tclap: TClap | str | Path,
        *,
        drift_threshold: float = DRIFT_THRESHOLD,
        probe_captions: list[str] | tuple[str, ...] = PROBE_CAPTIONS,
        torch_dtype: torch.dtype | None = None,
        **load_kwargs,
    ) -> "TClapAudioLDMPipeline":
        """A pipeline from an AudioLDM checkpoint in diffusers format (Hub id such as "cvssp/audioldm-s-full-v2", or
        a folder) with `tclap` (a TClap, or a name/folder for TClap.from_pretrained) as its conditioner.

        Raises ValueError when the T-CLAP's projection size differs from the UNet's class-embedding input. Measures
        how far the T-CLAP's text space is from the checkpoint's own text encoder on `probe_captions` (mean cosine,
        kept on `pipe.conditioner_drift`) and warns below `drift_threshold`. `load_kwargs` (cache_dir, revision,
        local_files_only, ...) go to every component's from_pretrained.
        """
        import diffusers
        from transformers import ClapTextModelWithProjection

        from tclap_gen.model import check_tokenizer

        if not isinstance(tclap, TClap):
            tclap = TClap.from_pretrained(tclap)
        source = str(audioldm)
        if Path(source).exists() and not (Path(source) / "model_index.json").is_file():
            raise FileNotFoundError(f"audioldm={source!r}: not a diffusers pipeline folder (no model_index.json)")

        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", **load_kwargs)
        check_projection(tclap.model, unet)  # refuse before loading the rest
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", **load_kwargs)
        vocoder = SpeechT5HifiGan.from_pretrained(source, subfolder="vocoder", **load_kwargs)
        # any scheduler class reads scheduler_config.json; the class to build is the one it names
        scheduler_config = diffusers.DDIMScheduler.load_config(source, subfolder="scheduler", **load_kwargs)
        scheduler_class = getattr(diffusers, scheduler_config["_class_name"])
        scheduler = scheduler_class.from_config(scheduler_config)

        # The checkpoint's own conditioner, loaded only to measure the drift.
        text_encoder = ClapTextModelWithProjection.from_pretrained(source, subfolder="text_encoder", **load_kwargs)
        tokenizer = check_tokenizer(RobertaTokenizer.from_pretrained(source, subfolder="tokenizer", **load_kwargs),
                                    f"{source}/tokenizer")
        drift = measure_drift(text_encoder.eval(), tokenizer, tclap, probe_captions, drift_threshold)
        del text_encoder
        if drift.drifted:
            logger.warning(
                f"The T-CLAP's text embeddings have drifted from {source}'s own text encoder: mean cosine "
                f"{drift.mean_cosine:.3f} (min {drift.min_cosine:.3f}) over {drift.num_probes} probe captions, below "
                f"{drift_threshold}. The UNet was trained on that encoder's embedding space, so expect weaker "
                "conditioning; a T-CLAP fine-tuned from the checkpoint's CLAP stays close to it."
            )

        pipe = cls.from_components(tclap, vae=vae, unet=unet, scheduler=scheduler, vocoder=vocoder)
        pipe.conditioner_drift = drift
        if torch_dtype is not None:
            pipe.to(dtype=torch_dtype)
        return pipe

    # ------------------------------------------------------------------ accessors
    @property
    def tclap_info(self) -> TClapInfo:
        return TClapInfo(**(self.config.tclap_info or {}))

    def get_tclap(self) -> TClap:
        """The pipeline's T-CLAP as a tclap_gen TClap; it shares the modules (no copy)."""
        processor = ClapProcessor(feature_extractor=self.feature_extractor, tokenizer=self.tokenizer)
        return TClap(self.tclap, processor, self.tclap_info)

    @property
    def sampling_rate(self) -> int:
        return int(self.vocoder.config.sampling_rate)

    @property
    def guidance_scale(self) -> float:
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    def enable_model_cpu_offload(self, gpu_id: int | None = None, device: torch.device | str | None = None):
        """diffusers' model offload, plus hooks on the T-CLAP's towers: the pipeline calls them through
        get_text_features / get_audio_features, which never reach ClapModel.forward (where the base class hooks).
        The UNet's hook still offloads the whole T-CLAP when denoising starts."""
        from accelerate import cpu_offload_with_hook

        super().enable_model_cpu_offload(gpu_id=gpu_id, device=device)
        for tower in (("text_model", "text_projection"), ("audio_model", "audio_projection")):
            hook = None
            for name in tower:
                _, hook = cpu_offload_with_hook(getattr(self.tclap, name), self._offload_device, prev_module_hook=hook)
                self._all_hooks.append(hook)

    # ------------------------------------------------------------------ steps of __call__
    def check_inputs(
        self,
        prompt,
        audio_length_in_s,
        num_inference_steps,
        num_waveforms_per_prompt,
        negative_prompt=None,
        prompt_embeds=None,
        negative_prompt_embeds=None,
        output_type="np",
        rerank=None,
        callback_on_step_end_tensor_inputs=None,
    ):
        """Raise ValueError (naming the argument) on bad input; returns the batch size (number of prompts)."""
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("pass either `prompt` or `prompt_embeds`, not both")
        if prompt is None and prompt_embeds is None:
            raise ValueError("pass `prompt` (a string or a list of strings) or `prompt_embeds`")
        if prompt is not None:
            prompts = [prompt] if isinstance(prompt, str) else prompt
            if not isinstance(prompts, list) or not prompts:
                raise ValueError(f"`prompt` must be a string or a non-empty list of strings, got {prompt!r}")
            for i, text in enumerate(prompts):
                if not isinstance(text, str) or not text.strip():
                    raise ValueError(f"`prompt[{i}]` is empty or not a string: {text!r}")
                if len(text) > self.max_prompt_chars:
                    raise ValueError(f"`prompt[{i}]` is {len(text):,} characters long; at most "
                                     f"{self.max_prompt_chars:,} are read (the text tower itself reads 77 tokens)")
            batch_size = len(prompts)
        else:
            if prompt_embeds.ndim != 2:
                raise ValueError(f"`prompt_embeds` must be (batch, dim), got shape {tuple(prompt_embeds.shape)}")
            batch_size = prompt_embeds.shape[0]
        expected_dim = self.unet.config.projection_class_embeddings_input_dim
        for name, embeds in (("prompt_embeds", prompt_embeds), ("negative_prompt_embeds", negative_prompt_embeds)):
            if embeds is not None and (embeds.ndim != 2 or embeds.shape[-1] != expected_dim):
                raise ValueError(f"`{name}` must have shape (batch, {expected_dim}), got {tuple(embeds.shape)}")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("pass either `negative_prompt` or `negative_prompt_embeds`, not both")
        if isinstance(negative_prompt, list) and len(negative_prompt) != batch_size:
            raise ValueError(
                f"`negative_prompt` has {len(negative_prompt)} entries but there are {batch_size} prompts; "
                "give one negative prompt per prompt, or a single string for all"
            )
        if negative_prompt is not None and not isinstance(negative_prompt, (str, list)):
            raise ValueError(f"`negative_prompt` must be a string or a list of strings, got {type(negative_prompt)}")
        if negative_prompt_embeds is not None and negative_prompt_embeds.shape[0] != batch_size:
            raise ValueError(
                f"`negative_prompt_embeds` has batch {negative_prompt_embeds.shape[0]}, the prompts {batch_size}"
            )

        if not isinstance(num_inference_steps, int) or num_inference_steps <= 0:
            raise ValueError(f"`num_inference_steps` must be a positive integer, got {num_inference_steps!r}")
        if not isinstance(num_waveforms_per_prompt, int) or num_waveforms_per_prompt <= 0:
            raise ValueError(f"`num_waveforms_per_prompt` must be a positive integer, got {num_waveforms_per_prompt!r}")
        if audio_length_in_s is not None:
            if not np.isfinite(audio_length_in_s) or audio_length_in_s <= 0:
                raise ValueError(f"`audio_length_in_s` must be a positive number of seconds, got {audio_length_in_s!r}")
            if audio_length_in_s > self.max_audio_length_in_s:
                raise ValueError(
                    f"`audio_length_in_s`={audio_length_in_s:g} is above the pipeline's bound of "
                    f"{self.max_audio_length_in_s:g} s (time and memory grow with it); set pipe.max_audio_length_in_s "
                    "to allow more"
                )
            frame_s = self.seconds_per_latent_frame
            if audio_length_in_s < frame_s:
                raise ValueError(
                    f"`audio_length_in_s`={audio_length_in_s} is shorter than one latent frame ({frame_s:g} s): "
                    f"ask for at least {frame_s:g} s"
                )
        if self.vocoder.config.model_in_dim % self.vae_scale_factor != 0:
            raise ValueError(
                f"the vocoder's {self.vocoder.config.model_in_dim} mel bins are not divisible by the VAE scale "
                f"factor {self.vae_scale_factor}"
            )
        if output_type not in ("np", "pt", "latent"):
            raise ValueError(f'`output_type` must be "np", "pt" or "latent", got {output_type!r}')
        if output_type == "latent" and rerank is not None:
            raise ValueError('re-ranking judges audio: `rerank` needs output_type "np" or "pt", not "latent"')
        if rerank is not None and rerank not in RERANK_MODES:
            raise ValueError(f"`rerank` must be one of {RERANK_MODES} or None, got {rerank!r}")
        if rerank == "temporal" and prompt is None:
            raise ValueError('rerank="temporal" needs the prompt text (it parses the events): pass `prompt`')
        if callback_on_step_end_tensor_inputs is not None:
            unknown = [k for k in callback_on_step_end_tensor_inputs if k not in self._callback_tensor_inputs]
            if unknown:
                raise ValueError(
                    f"`callback_on_step_end_tensor_inputs` {unknown} not in {self._callback_tensor_inputs}"
                )
        return batch_size

    @property
    def default_audio_length_in_s(self) -> float:
        """What `audio_length_in_s=None` generates: the UNet's sample size in seconds."""
        return self.unet.config.sample_size * self.seconds_per_latent_frame

    @property
    def seconds_per_latent_frame(self) -> float:
        """Audio seconds covered by one latent frame: vocoder hop / rate, times the VAE's downsampling."""
        hop = float(np.prod(self.vocoder.config.upsample_rates))
        return hop / self.vocoder.config.sampling_rate * self.vae_scale_factor

    def _tokenize(self, texts: list[str], device) -> dict[str, torch.Tensor]:
        """AudioLDM's tokenisation: padded to the tokenizer's maximum length, truncated with a warning."""
        max_length = self.tokenizer.model_max_length
        for i, ids in enumerate(self.tokenizer(texts, truncation=False)["input_ids"]):
            if len(ids) > max_length:
                dropped = self.tokenizer.decode(ids[max_length - 1 : -1])
                logger.warning(
                    f"prompt {i} was truncated to the tokenizer's {max_length} tokens; dropped: {dropped!r}"
                )
        tokens = self.tokenizer(
            texts, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        )
        return {"input_ids": tokens["input_ids"].to(device), "attention_mask": tokens["attention_mask"].to(device)}

    def _embed_texts(self, texts: list[str], device) -> torch.Tensor:
        # get_text_features already L2-normalises (AudioLDM normalises the text encoder's text_embeds): (B, D)
        output = self.tclap.get_text_features(**self._tokenize(texts, device))
        return output.pooler_output if hasattr(output, "pooler_output") else output

    def encode_prompt(
        self,
        prompt,
        device: torch.device | None = None,
        num_waveforms_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True,
        negative_prompt=None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(prompt_embeds, negative_prompt_embeds), each (prompts x num_waveforms_per_prompt, D); the negative ones
        are None without guidance. The negative prompt defaults to "" (AudioLDM's unconditional embedding); the
        device to the pipeline's execution device."""
        device = device or self._execution_device
        if prompt_embeds is None:
            prompts = [prompt] if isinstance(prompt, str) else list(prompt)
            prompt_embeds = self._embed_texts(prompts, device)
        batch_size = prompt_embeds.shape[0]
        dtype = self.unet.dtype
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype).repeat_interleave(num_waveforms_per_prompt, dim=0)

        if not do_classifier_free_guidance:
            return prompt_embeds, None
        if negative_prompt_embeds is None:
            if negative_prompt is None:
                negatives = [""] * batch_size
            elif isinstance(negative_prompt, str):
                negatives = [negative_prompt] * batch_size
            else:
                negatives = list(negative_prompt)
            # (diffusers' AudioLDMPipeline pads negative prompts to the embedding size rather than the tokenizer's
            # length; padding is masked out, so the embeddings agree to float rounding: see the parity tests)
            negative_prompt_embeds = self._embed_texts(negatives, device)
        negative_prompt_embeds = negative_prompt_embeds.to(device=device, dtype=dtype)
        return prompt_embeds, negative_prompt_embeds.repeat_interleave(num_waveforms_per_prompt, dim=0)

    def prepare_latents(self, batch_size, num_channels_latents, height, dtype, device, generator, latents=None):
        shape = (
            batch_size,
            num_channels_latents,
            int(height) // self.vae_scale_factor,
            int(self.vocoder.config.model_in_dim) // self.vae_scale_factor,
        )
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(
                f"{len(generator)} generators for {batch_size} waveforms (prompts x num_waveforms_per_prompt): "
                "pass one generator, or one per waveform"
            )
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"`latents` must have shape {shape}, got {tuple(latents.shape)}")
        else:
            latents = latents.to(device=device, dtype=dtype)
        # the scheduler's starting noise level
        return latents * self.scheduler.init_noise_sigma

    def prepare_extra_step_kwargs(self, generator, eta):
        """eta and generator for schedulers whose step() takes them (eta: DDIM only)."""
        params = set(inspect.signature(self.scheduler.step).parameters)
        kwargs = {}
        if "eta" in params:
            kwargs["eta"] = eta
        if "generator" in params:
            kwargs["generator"] = generator
        return kwargs

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        latents = latents.to(self.vae.dtype) / self.vae.config.scaling_factor
        return self.vae.decode(latents).sample

    def mel_spectrogram_to_waveform(self, mel_spectrogram: torch.Tensor) -> torch.Tensor:
        if mel_spectrogram.dim() == 4:
            mel_spectrogram = mel_spectrogram.squeeze(1)
        waveform = self.vocoder(mel_spectrogram.to(self.vocoder.dtype))
        # float32 on the CPU whatever the model dtype (numpy has no bfloat16)
        return waveform.cpu().float()

    def score_candidates(
        self, waveforms: torch.Tensor, rerank: str, prompts: list[str] | None, text_embeds: torch.Tensor,
        scorer=None,
    ) -> tuple[list[float], list | None]:
        """One score per waveform, and with rerank="temporal" the TemporalScorer's report of each (whose
        `faithfulness` is the score; None for "clap"), so that the kept candidates need no second scoring.
        waveforms: (prompts x N, samples); prompts / text_embeds: one per waveform. `scorer`: the TemporalScorer
        for rerank="temporal" (default: `TemporalScorer(self.get_tclap())`, default settings)."""
        if rerank == "clap":
            # cosine between the T-CLAP audio embedding and the (normalised) text embedding that conditioned it
            audio = self.get_tclap().embed_audio(list(waveforms.numpy()), sampling_rate=self.sampling_rate)
            text = F.normalize(text_embeds.float(), dim=-1).to(audio.device)
            return (audio * text).sum(-1).tolist(), None
        if prompts is None or len(prompts) != len(waveforms):
            raise ValueError(f"temporal scoring needs one prompt per waveform: {len(waveforms)} waveforms, "
                             f"{None if prompts is None else len(prompts)} prompts")
        if scorer is None:
            from tclap_gen.scoring import TemporalScorer  # lazy: only re-ranking needs it

            scorer = TemporalScorer(self.get_tclap())
        reports = [scorer.score(wave, sampling_rate=self.sampling_rate, prompt=text)
                   for wave, text in zip(waveforms.numpy(), prompts)]
        return [float(report.faithfulness) for report in reports], reports

    def plan_spans(self, prompts, layout, events, seconds: float, batch_size: int, layout_weight: float,
                   durations=None) -> list[list[EventSpan]] | None:
        """Per prompt, the spans its events condition (tclap_gen.layout); None without `layout` or `events`."""
        if layout is None and events is None:
            return None
        if layout not in (None, "auto"):
            raise ValueError(f'`layout` must be None or "auto", got {layout!r}')
        if not 0.0 <= layout_weight <= 1.0:
            raise ValueError(f"`layout_weight` must be in [0, 1], got {layout_weight!r}")
        if events is not None:
            if layout is not None:
                raise ValueError('pass `layout="auto"` (spans planned from the prompt) or `events`, not both')
            events = list(events)
            nested = bool(events) and isinstance(events[0], (list, tuple)) and not (
                events[0] and isinstance(events[0][0], str))
            per_prompt = events if nested else [events]
            if len(per_prompt) != batch_size:
                raise ValueError(f"`events` gives spans for {len(per_prompt)} prompts, but there are {batch_size}")
            # in the per-prompt form an empty list means plain generation for that prompt
            return [check_spans(p, seconds, "events" if not nested else f"events[{i}]") if (p or not nested) else []
                    for i, p in enumerate(per_prompt)]
        if prompts is None:
            raise ValueError('layout="auto" plans from the prompt text: pass `prompt` (or explicit `events`)')
        return [auto_spans(p, seconds, durations) for p in prompts]

    def warn_unknown_events(self, prompts: list[str]) -> None:
        """Warn when a prompt names sounds the T-CLAP was not trained on (its info.extra["classes"])."""
        classes = self.tclap_info.extra.get("classes") or []
        if not classes:
            return
        for i, text in enumerate(prompts):
            try:
                events = parse_events(text).events
            except CaptionError:
                continue
            unknown = unknown_events(events, classes)
            if unknown:
                logger.warning(
                    f"prompt {i} ({text!r}): {unknown} match none of the sounds this T-CLAP was trained on "
                    f"({', '.join(classes)}); expect weak conditioning and unreliable scores for them"
                )

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        audio_length_in_s: float | None = None,
        num_inference_steps: int = 10,
        guidance_scale: float = 2.5,
        negative_prompt: str | list[str] | None = None,
        num_waveforms_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        rerank: str | None = None,
        scorer=None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[Any, int, int, dict], dict]
        | PipelineCallback
        | MultiPipelineCallbacks
        | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        canonicalize: bool = False,
        layout: str | None = None,
        events=None,
        layout_weight: float = 0.3,
        event_durations: dict[str, float] | None = None,
    ):
        r"""Generate audio for `prompt`.

        Args:
            prompt: the prompt or prompts (or pass `prompt_embeds`).
            audio_length_in_s: seconds of audio per waveform; default: the UNet's sample size. Rounded up to whole
                latent frames for denoising, then cut back.
            num_inference_steps: denoising steps.
            guidance_scale: classifier-free guidance weight; guidance is on when > 1.
            negative_prompt: what to steer away from, one string for all prompts or one per prompt (default "").
            num_waveforms_per_prompt: candidates generated per prompt.
            eta: DDIM's eta (other schedulers ignore it).
            generator: one torch.Generator, or one per waveform (prompts x num_waveforms_per_prompt).
            latents: starting noise, (prompts x N, unet.in_channels, frames // vae scale, mel bins // vae scale).
            prompt_embeds / negative_prompt_embeds: precomputed (prompts, D) text embeddings (L2-normalised).
            rerank: None, "clap" (cosine of the T-CLAP audio and text embeddings) or "temporal" (the
                TemporalScorer's faithfulness): keeps each prompt's best candidate, among that prompt's own.
                With "temporal" the output also carries the kept candidates' score reports (`reports`).
            scorer: the `tclap_gen.scoring.TemporalScorer` rerank="temporal" uses (default: one over this
                pipeline's T-CLAP with default settings); only with rerank="temporal".
            output_type: "np" (np.ndarray) or "pt" (torch.Tensor), float32 of shape (batch, samples); or
                "latent": the denoised latents, neither decoded nor cut to `audio_length_in_s`.
            return_dict: return a TClapAudioLDMPipelineOutput rather than a tuple.
            callback_on_step_end: called after each step as fn(pipe, step, timestep, tensors) -> dict; the tensors
                named in `callback_on_step_end_tensor_inputs` (default ["latents"]) are passed and may be replaced.
            cross_attention_kwargs: passed to the UNet's attention processors.
            canonicalize: condition on each prompt rewritten by `tclap_gen.captions.canonical_caption` (its parsed
                events in temporal order, joined by "then"/"while"): "a horn honks after a dog barks" conditions
                as "a dog barks then a horn honks". Prompts the grammar cannot read are used as they are.
            layout: None (plain generation) or "auto": each event the prompt parses into conditions its own
                stretch of time (tclap_gen.layout.plan_layout: sequential events share the clip in turn, overlapping
                ones share a span, neighbours cross-fade over 0.25 s). At every step ONE batched UNet call predicts
                the noise for the whole prompt and for each event's own T-CLAP embedding, and the predictions are
                blended along the latents' time axis by soft masks; guidance applies to the blend.
            events: explicit spans instead of the parsed plan: [(text, start_s, end_s), ...] for one prompt, or one
                such list per prompt (an empty one: plain generation for that prompt). Spans outside the clip, reversed or empty are a ValueError naming the span.
            layout_weight: how much of the whole-prompt prediction is kept everywhere (coherence), in [0, 1].
            event_durations: with layout="auto", event text -> seconds, weighting each event's share of the clip.

        Returns:
            TClapAudioLDMPipelineOutput, or (audios,) / (audios, scores, candidates_scores) when not return_dict.
        """
        if rerank == "none":
            rerank = None  # the CLI spelling
        if scorer is not None and rerank != "temporal":
            raise ValueError(f'`scorer` is only used with rerank="temporal", got rerank={rerank!r}')
        if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        callback_on_step_end_tensor_inputs = callback_on_step_end_tensor_inputs or ["latents"]

        # 1. Check inputs; convert seconds to mel frames (a whole number of latent frames)
        batch_size = self.check_inputs(
            prompt,
            audio_length_in_s,
            num_inference_steps,
            num_waveforms_per_prompt,
            negative_prompt,
            prompt_embeds,
            negative_prompt_embeds,
            output_type,
            rerank,
            callback_on_step_end_tensor_inputs,
        )
        hop_s = float(np.prod(self.vocoder.config.upsample_rates)) / self.vocoder.config.sampling_rate
        if audio_length_in_s is None:
            audio_length_in_s = self.default_audio_length_in_s
        height = int(audio_length_in_s / hop_s)
        original_waveform_length = int(audio_length_in_s * self.vocoder.config.sampling_rate)
        if height % self.vae_scale_factor != 0:
            height = int(np.ceil(height / self.vae_scale_factor)) * self.vae_scale_factor
        prompts = None if prompt is None else ([prompt] if isinstance(prompt, str) else list(prompt))
        if prompts is not None:
            self.warn_unknown_events(prompts)
        spans = self.plan_spans(prompts, layout, events, audio_length_in_s, batch_size, layout_weight, event_durations)

        device = self._execution_device
        self._guidance_scale = guidance_scale
        self._interrupt = False

        # 2. Encode the prompts with the T-CLAP text tower (in canonical form if asked; re-ranking reads the originals)
        text_prompts = prompts
        if canonicalize and prompts is not None:
            text_prompts = [canonical_caption(p) for p in prompts]
        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            text_prompts,
            device,
            num_waveforms_per_prompt,
            self.do_classifier_free_guidance,
            negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
        )

        # 2b. The layout's UNet rows: the whole prompt and each event, per waveform (tclap_gen.layout.LayoutBatch)
        layout_batch = None
        if spans is not None:
            texts = [span.text for prompt_spans in spans for span in prompt_spans]
            flat = self._embed_texts(texts, device).to(prompt_embeds.dtype) if texts else prompt_embeds[:0]
            per_prompt = list(flat.split([len(prompt_spans) for prompt_spans in spans]))
            repeat = num_waveforms_per_prompt
            layout_batch = LayoutBatch.build(
                [s for s in spans for _ in range(repeat)], [e for e in per_prompt for _ in range(repeat)],
                prompt_embeds, negative_prompt_embeds if self.do_classifier_free_guidance else None,
                height // self.vae_scale_factor, self.seconds_per_latent_frame, layout_weight,
            )

        # 3. Timesteps and starting noise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(
            batch_size * num_waveforms_per_prompt,
            self.unet.config.in_channels,
            height,
            prompt_embeds.dtype,
            device,
            generator,
            latents,
        )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)

        # 4. Denoise; the CFG batch is [negative, positive], as in AudioLDM
        num_warmup_steps = len(timesteps) - num_inference_steps * self.scheduler.order
        with self.progress_bar(total=num_inference_steps) as progress_bar:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    continue
                if layout_batch is not None:
                    noise_pred = layout_batch.predict(
                        self.unet, self.scheduler.scale_model_input(latents, t), t,
                        self.guidance_scale if self.do_classifier_free_guidance else None, cross_attention_kwargs,
                    )
                else:
                    if self.do_classifier_free_guidance:
                        model_input = torch.cat([latents] * 2)
                        class_labels = torch.cat([negative_prompt_embeds, prompt_embeds])
                    else:
                        model_input, class_labels = latents, prompt_embeds
                    model_input = self.scheduler.scale_model_input(model_input, t)
                    noise_pred = self.unet(
                        model_input,
                        t,
                        encoder_hidden_states=None,
                        class_labels=class_labels,
                        cross_attention_kwargs=cross_attention_kwargs,
                    ).sample
                    if self.do_classifier_free_guidance:
                        noise_uncond, noise_text = noise_pred.chunk(2)
                        noise_pred = noise_uncond + self.guidance_scale * (noise_text - noise_uncond)
                latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample

                if callback_on_step_end is not None:
                    tensors = {
                        "latents": latents,
                        "prompt_embeds": prompt_embeds,
                        "negative_prompt_embeds": negative_prompt_embeds,
                    }
                    asked = {k: tensors[k] for k in callback_on_step_end_tensor_inputs}
                    outputs = callback_on_step_end(self, i, t, asked)
                    latents = outputs.pop("latents", latents)
                    prompt_embeds = outputs.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = outputs.pop("negative_prompt_embeds", negative_prompt_embeds)

                if i == len(timesteps) - 1 or ((i + 1) > num_warmup_steps and (i + 1) % self.scheduler.order == 0):
                    progress_bar.update()

        layouts = None if spans is None else [[span.to_dict() for span in prompt_spans] for prompt_spans in spans]
        if output_type == "latent":
            self.maybe_free_model_hooks()
            return TClapAudioLDMPipelineOutput(audios=latents, layouts=layouts) if return_dict else (latents,)

        # 5. Decode: latents -> mel spectrogram -> waveform, cut to the asked length
        mel_spectrogram = self.decode_latents(latents)
        audio = self.mel_spectrogram_to_waveform(mel_spectrogram)[:, :original_waveform_length]

        # 6. Re-rank each prompt's own candidates
        scores = candidates_scores = reports = None
        if rerank is not None:
            per_wave_prompts = None
            if prompts is not None:
                per_wave_prompts = [p for p in prompts for _ in range(num_waveforms_per_prompt)]
            flat, candidate_reports = self.score_candidates(audio, rerank, per_wave_prompts, prompt_embeds, scorer)
            keep, candidates_scores = best_per_prompt(flat, batch_size, num_waveforms_per_prompt)
            audio = audio[keep]
            scores = [candidates_scores[i][k - i * num_waveforms_per_prompt] for i, k in enumerate(keep)]
            if candidate_reports is not None:  # the kept ones are returned, so no caller scores them again
                reports = [candidate_reports[k] for k in keep]

        self.maybe_free_model_hooks()

        if output_type == "np":
            audio = audio.numpy()
        if not return_dict:
            return (audio,) if scores is None else (audio, scores, candidates_scores)
        return TClapAudioLDMPipelineOutput(
            audios=audio, scores=scores, candidates_scores=candidates_scores, reports=reports, layouts=layouts
        )


def check_projection(tclap: ClapModel | None, unet: UNet2DConditionModel | None) -> None:
    """Refuse a T-CLAP whose embedding size differs from what the UNet's class embedding takes."""
    if tclap is None or unet is None:
        return
    expected = unet.config.get("projection_class_embeddings_input_dim")
    actual = tclap.config.projection_dim
    if unet.config.get("class_embed_type") != "simple_projection" or expected is None:
        raise ValueError(
            "the UNet is not AudioLDM-style: it needs class_embed_type='simple_projection' with "
            "projection_class_embeddings_input_dim set (the text embedding enters as its class embedding)"
        )
    if actual != expected:
        raise ValueError(
            f"the T-CLAP's projection size is {actual} but the UNet's class embedding takes {expected}: this T-CLAP "
            "cannot condition this UNet (train or pick a T-CLAP with that projection_dim)"
        )


def best_per_prompt(scores: list[float], num_prompts: int, per_prompt: int) -> tuple[list[int], list[list[float]]]:
    """Index (into the flat candidate list) of each prompt's best candidate, and the scores per prompt.

    Candidates of prompt i are rows i*per_prompt .. i*per_prompt + per_prompt - 1; the choice is made among those
    only, never across prompts (AudioLDM 2 ranks the whole batch, which can hand a prompt another prompt's audio)."""
    if len(scores) != num_prompts * per_prompt:
        raise ValueError(f"{len(scores)} scores for {num_prompts} prompts x {per_prompt} candidates")
    grid = [list(map(float, scores[i * per_prompt : (i + 1) * per_prompt])) for i in range(num_prompts)]
    keep = [i * per_prompt + int(np.argmax(row)) for i, row in enumerate(grid)]
    return keep, grid


def measure_drift(text_encoder, tokenizer, tclap: TClap, captions, threshold: float) -> ConditionerDrift:
    """Cosine, caption by caption, between the checkpoint encoder's normalised text_embeds and the T-CLAP's."""
    captions = list(captions)
    if not captions:
        raise ValueError("probe_captions is empty")
    tokens = tokenizer(
        captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        output = text_encoder(tokens["input_ids"], attention_mask=tokens["attention_mask"])
    reference = F.normalize(output.text_embeds.float(), dim=-1)
    ours = tclap.embed_text(captions).to(reference.device)
    if ours.shape != reference.shape:
        raise ValueError(
            f"the T-CLAP's text embeddings have size {ours.shape[-1]}, "
            f"the checkpoint's text encoder's {reference.shape[-1]}"
        )
    cosine = (ours * reference).sum(-1)
    return ConditionerDrift(float(cosine.mean()), float(cosine.min()), float(threshold), len(captions))
