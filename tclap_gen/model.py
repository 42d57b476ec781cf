"""The T-CLAP model: a thin wrapper over transformers' `ClapModel` and `ClapProcessor`.

A T-CLAP folder is an ordinary CLAP folder (config.json, model.safetensors, processor files) plus
`tclap_config.json` with how it was trained, so any CLAP checkpoint (laion/clap-htsat-unfused, a local folder)
loads as a TClap and any TClap loads in plain transformers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    ClapAudioConfig,
    ClapConfig,
    ClapFeatureExtractor,
    ClapModel,
    ClapProcessor,
    ClapTextConfig,
    ClapTextModelWithProjection,
    RobertaTokenizer,
)

from .audio import check_waveform, resample, to_mono
from .registry import TCLAP_SUBFOLDER, is_pipeline_folder, resolve_builtin

TCLAP_CONFIG_NAME = "tclap_config.json"
# A real RoBERTa vocabulary has 50k entries; transformers 5 loading "roberta-base" offline silently yields a 5-token one.
MIN_TOKENIZER_SIZE = 32
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0..4, which ClapTextConfig expects


@dataclass
class TClapInfo:
    """What a T-CLAP folder records about its training (free-form `extra` for recipes)."""

    base_model: str | None = None
    temporal_weight: float | None = None
    recipe: str | None = None
    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def check_tokenizer(tokenizer, where: str = "the tokenizer"):
    """Raise ValueError when `tokenizer` is too small to be real; returns it. transformers 5 does not fail when a
    tokenizer cannot be fetched offline: it returns a 5-token stand-in that encodes every text alike."""
    if len(tokenizer) < MIN_TOKENIZER_SIZE:
        raise ValueError(f"{where} holds only {len(tokenizer)} tokens: it was not loaded properly (an offline Hub "
                         "lookup returns a stand-in tokenizer in transformers 5)")
    return tokenizer


class TClap:
    """A CLAP model with its processor: embeds audio and text into one L2-normalised space."""

    def __init__(self, model: ClapModel, processor: ClapProcessor, info: TClapInfo | None = None):
        check_tokenizer(processor.tokenizer)
        self.model = model.eval()
        self.processor = processor
        self.info = info or TClapInfo()
        self.name_or_path: str | None = None  # what from_pretrained was given (for reports)

    # ----- loading and saving -----
    @classmethod
    def from_pretrained(cls, name_or_path, device=None, dtype=torch.float32) -> "TClap":
        """Load from a built-in name ("mini", "mini-clap"), a local folder, or a Hub id.

        `dtype` defaults to float32 whatever the saved weights' type (the shipped minis are stored in float16).

        A TClapAudioLDMPipeline folder works too: its T-CLAP is read from `tclap/`, `tokenizer/` and
        `feature_extractor/`."""
        source = resolve_builtin(name_or_path)
        if Path(str(source)).exists():
            folder = Path(source)
            if is_pipeline_folder(folder):
                model = ClapModel.from_pretrained(str(folder / TCLAP_SUBFOLDER), use_safetensors=True, dtype=dtype)
                processor = ClapProcessor(
                    feature_extractor=ClapFeatureExtractor.from_pretrained(str(folder / "feature_extractor")),
                    tokenizer=RobertaTokenizer.from_pretrained(str(folder / "tokenizer")),
                )
                tclap = cls(model, processor, read_info(folder / TCLAP_SUBFOLDER))
                tclap.name_or_path = str(name_or_path)
                return tclap.to(device=device, dtype=dtype)
            if not (folder / "config.json").is_file():
                raise FileNotFoundError(f"{folder}: not a CLAP folder (no config.json)")
        model = ClapModel.from_pretrained(str(source), use_safetensors=True, dtype=dtype)
        processor = ClapProcessor.from_pretrained(str(source))
        tclap = cls(model, processor, read_info(Path(str(source))))
        tclap.name_or_path = str(name_or_path)
        return tclap.to(device=device, dtype=dtype)

    def save_pretrained(self, folder) -> Path:
        """Write model (safetensors), processor and tclap_config.json; a folder that exists is replaced file by file."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder, safe_serialization=True)
        self.processor.save_pretrained(folder)
        tmp = folder / (TCLAP_CONFIG_NAME + ".tmp")
        tmp.write_text(json.dumps(asdict(self.info), indent=2, sort_keys=True))
        tmp.replace(folder / TCLAP_CONFIG_NAME)
        return folder

    def to(self, device=None, dtype=None) -> "TClap":
        if device is not None or dtype is not None:
            self.model.to(device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def sampling_rate(self) -> int:
        return int(self.processor.feature_extractor.sampling_rate)

    @property
    def max_samples(self) -> int:
        """Samples in one audio window of the model (longer audio is embedded window by window)."""
        return int(self.processor.feature_extractor.nb_max_samples)

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)

    # ----- inputs (differentiable paths use these with model.get_*_features) -----
    def prepare_waves(self, waves, sampling_rate: int) -> list[np.ndarray]:
        """Check, mix down and resample each waveform to the model's rate."""
        if sampling_rate is None or int(sampling_rate) <= 0:
            raise ValueError(f"sampling_rate must be a positive integer, got {sampling_rate!r}")
        if isinstance(waves, torch.Tensor):
            waves = waves.detach().float().cpu().numpy()
        if isinstance(waves, np.ndarray) and waves.ndim == 1:
            waves = [waves]
        prepared = []
        for i, wave in enumerate(waves):
            wave = to_mono(check_waveform(wave, name=f"audio[{i}]"))
            prepared.append(resample(wave, int(sampling_rate), self.sampling_rate))
        if not prepared:
            raise ValueError("no audio given")
        return prepared

    def audio_inputs(self, waves, sampling_rate: int) -> dict[str, torch.Tensor]:
        """Features for `model.get_audio_features`; each wave is cropped to its first window (no random crop)."""
        waves = [wave[: self.max_samples] for wave in self.prepare_waves(waves, sampling_rate)]
        features = clap_audio_features(self.processor.feature_extractor, waves)
        return {"input_features": features.to(self.device, self.dtype)}

    def text_inputs(self, texts) -> dict[str, torch.Tensor]:
        """Token ids and attention mask for `model.get_text_features`."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no text given")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"text[{i}] is empty: {text!r}")
        tokenizer = self.processor.tokenizer
        tokens = tokenizer(
            texts, padding=True, truncation=True, max_length=tokenizer.model_max_length, return_tensors="pt"
        )
        return {"input_ids": tokens["input_ids"].to(self.device), "attention_mask": tokens["attention_mask"].to(self.device)}

    # ----- embeddings -----
    @torch.no_grad()
    def embed_audio(self, waves, sampling_rate: int, batch_size: int = 32) -> torch.Tensor:
        """(N, D) L2-normalised audio embeddings. Audio longer than one window is split into windows (the last one
        aligned to the end) whose embeddings are averaged, so results never depend on a random crop."""
        waves = self.prepare_waves(waves, sampling_rate)
        windows, owners = [], []
        for index, wave in enumerate(waves):
            for start in window_starts(len(wave), self.max_samples):
                windows.append(wave[start : start + self.max_samples])
                owners.append(index)
        chunks = []
        for start in range(0, len(windows), batch_size):
            inputs = self.audio_inputs(windows[start : start + batch_size], self.sampling_rate)
            chunks.append(self.model.get_audio_features(**inputs).pooler_output.float())
        per_window = torch.cat(chunks)
        owners_t = torch.tensor(owners, device=per_window.device)
        summed = torch.zeros(len(waves), per_window.shape[1], device=per_window.device).index_add_(0, owners_t, per_window)
        return F.normalize(summed, dim=-1)

    @torch.no_grad()
    def embed_text(self, texts, batch_size: int = 64, canonicalize: bool = False) -> torch.Tensor:
        """(N, D) L2-normalised text embeddings. With `canonicalize`, each text is first rewritten by
        `captions.canonical_caption` (its events in temporal order joined by "then")."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if canonicalize:
            from .captions import canonical_caption

            texts = [canonical_caption(text) for text in texts]
        chunks = []
        for start in range(0, max(len(texts), 1), batch_size):
            inputs = self.text_inputs(texts[start : start + batch_size])
            chunks.append(self.model.get_text_features(**inputs).pooler_output.float())
        return F.normalize(torch.cat(chunks), dim=-1)

    def export_text_encoder(self) -> ClapTextModelWithProjection:
        """The text tower as the `ClapTextModelWithProjection` that AudioLDM conditions on (its `text_embeds`,
        normalised, equal `embed_text`)."""
        encoder = ClapTextModelWithProjection(self.model.config.text_config)
        state = {k: v for k, v in self.model.state_dict().items() if k.startswith(("text_model.", "text_projection."))}
        missing, unexpected = encoder.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise RuntimeError(f"text tower export mismatch: missing {missing}, unexpected {unexpected}")
        return encoder.to(device=self.device, dtype=self.dtype).eval()


def clap_audio_features(feature_extractor: ClapFeatureExtractor, waves, truncation: str = "rand_trunc") -> torch.Tensor:
    """`input_features` (N, 1, frames, mels) exactly as `feature_extractor(waves, truncation=...)` computes them.

    For unfused models and waves no longer than the extractor's window (the only case this project feeds it: waves
    are cropped first) the STFT runs as one matrix FFT per wave instead of transformers' frame-by-frame loop, about
    five times faster; that is what keeps the training's data loaders ahead of the GPU. Other cases go to the
    extractor itself (fusion and random crops draw random numbers).
    """
    from numpy.lib.stride_tricks import sliding_window_view
    from transformers.audio_utils import window_function

    fe = feature_extractor
    max_samples = int(fe.nb_max_samples)
    waves = [np.asarray(wave, dtype=np.float64) for wave in waves]
    if truncation != "rand_trunc" or any(len(wave) > max_samples or len(wave) == 0 for wave in waves):
        return fe(waves, sampling_rate=fe.sampling_rate, truncation=truncation, return_tensors="pt")["input_features"]
    n_fft, hop = int(fe.fft_window_size), int(fe.hop_length)
    window = window_function(n_fft, "hann").astype(np.float64)
    features = []
    for wave in waves:
        if len(wave) < max_samples:  # the extractor's padding modes, in its order: repeat, then zeros
            if fe.padding == "repeat":
                wave = np.tile(wave, max_samples // len(wave) + 1)[:max_samples]
            elif fe.padding == "repeatpad":
                wave = np.tile(wave, max_samples // len(wave))
            wave = np.pad(wave, (0, max_samples - len(wave)))
        frames = sliding_window_view(np.pad(wave, n_fft // 2, mode="reflect"), n_fft)[::hop]
        spectrum = np.fft.rfft(frames * window, axis=-1).astype(np.complex64)  # transformers keeps complex64
        power = np.abs(spectrum, dtype=np.float64) ** 2
        mel = np.maximum(1e-10, power @ fe.mel_filters_slaney)  # mel floor, then dB against a reference of 1
        features.append((10.0 * np.log10(mel)).astype(np.float32))
    return torch.from_numpy(np.stack(features))[:, None]


def read_info(folder: Path) -> TClapInfo:
    """The folder's tclap_config.json, or an empty record for a plain CLAP checkpoint."""
    info_file = folder / TCLAP_CONFIG_NAME
    return TClapInfo(**json.loads(info_file.read_text())) if info_file.is_file() else TClapInfo()


def window_starts(num_samples: int, window: int) -> list[int]:
    """Start offsets of non-overlapping windows covering `num_samples`; the last window ends at the end."""
    if num_samples <= window:
        return [0]
    starts = list(range(0, num_samples - window + 1, window))
    if starts[-1] + window < num_samples:
        starts.append(num_samples - window)
    return starts


# ----- building models offline -----
def build_tokenizer(texts, folder, vocab_size: int = 2000, model_max_length: int = 77) -> RobertaTokenizer:
    """Train a RoBERTa-style byte-level BPE tokenizer on `texts` (no download) and save it in `folder`."""
    from tokenizers import ByteLevelBPETokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=1, special_tokens=SPECIAL_TOKENS)
    bpe.save_model(str(folder))
    return check_tokenizer(RobertaTokenizer.from_pretrained(str(folder), model_max_length=model_max_length),
                           f"the tokenizer trained in {folder}")


@dataclass
class ClapSize:
    """The few numbers that size a CLAP; `tiny` runs the tests, `mini` is the shipped model (issue 6)."""

    text_hidden: int = 32
    text_layers: int = 2
    text_heads: int = 4
    audio_mel_bins: int = 16
    audio_spec_size: int = 64
    audio_window: int = 4
    audio_patch_hidden: int = 16
    audio_depths: tuple = (2, 2)
    audio_heads: tuple = (2, 2)
    projection_dim: int = 32
    sampling_rate: int = 16000
    hop_length: int = 160
    fft_window: int = 400
    max_length_s: int = 2


def build_clap(tokenizer, size: ClapSize | None = None, seed: int = 0) -> TClap:
    """A randomly initialised CLAP of `size` with `tokenizer` (from scratch: no download)."""
    size = size or ClapSize()
    depths = list(size.audio_depths)
    text_config = ClapTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.text_hidden,
        num_hidden_layers=size.text_layers,
        num_attention_heads=size.text_heads,
        intermediate_size=4 * size.text_hidden,
        max_position_embeddings=tokenizer.model_max_length + 2,  # RoBERTa positions start after the pad id
        projection_dim=size.projection_dim,
    )
    audio_config = ClapAudioConfig(
        num_mel_bins=size.audio_mel_bins,
        spec_size=size.audio_spec_size,
        window_size=size.audio_window,
        patch_size=2,
        patch_stride=2,
        patch_embeds_hidden_size=size.audio_patch_hidden,
        depths=depths,
        num_attention_heads=list(size.audio_heads),
        hidden_size=size.audio_patch_hidden * 2 ** (len(depths) - 1),
        projection_dim=size.projection_dim,
        enable_fusion=False,
    )
    config = ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), projection_dim=size.projection_dim)
    torch.manual_seed(seed)
    model = ClapModel(config)
    feature_extractor = ClapFeatureExtractor(
        feature_size=size.audio_mel_bins,
        sampling_rate=size.sampling_rate,
        hop_length=size.hop_length,
        fft_window_size=size.fft_window,
        max_length_s=int(size.max_length_s),
        frequency_min=50,
        frequency_max=size.sampling_rate // 2,
        truncation="rand_trunc",  # unfused model: fusion would feed 4 channels to a 1-channel tower
        padding="repeatpad",
    )
    return TClap(model, ClapProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer))


def add_order_bias(model: ClapModel, strength: float, stages: int = 2) -> None:
    """Add a directional pattern to the relative position biases of the last `stages` audio stages (in place).

    HTSAT stacks the window's time chunks as bands of rows of its input image, so in the last stages, where a
    band is a row or two, lower rows are later in time. Its relative position biases start near zero, so attention
    ignores direction, the average pool ignores position, and "A then B" embeds like "B then A": a tower trained
    from scratch never escaped that (README, "The mini models"). Here even heads of each attention get
    `strength` x (row offset), so they attend to EARLIER rows, and odd heads the opposite, to LATER rows; the
    pooled embedding then carries what comes first and last, and training refines the pattern. Meant for towers
    trained from scratch: a pretrained HTSAT's biases were already trained on far more audio.
    """
    strength = float(strength)
    if not np.isfinite(strength) or strength < 0:
        raise ValueError(f"order bias strength must be a finite number >= 0, got {strength}")
    layers = model.audio_model.audio_encoder.layers
    if not 1 <= stages <= len(layers):
        raise ValueError(f"stages must be between 1 and {len(layers)} (the audio stages), got {stages}")
    for stage in layers[len(layers) - stages :]:
        for block in stage.blocks:
            attention = block.attention.self
            table = attention.relative_position_bias_table  # ((2*Wh-1)*(2*Ww-1), heads)
            height, width = attention.window_size
            row_offset = torch.arange(table.shape[0]) // (2 * width - 1) - (height - 1)  # query row - key row
            sign = torch.tensor([1.0 if head % 2 == 0 else -1.0 for head in range(table.shape[1])])
            with torch.no_grad():
                table.add_(strength * row_offset[:, None].to(table) * sign[None, :].to(table))
