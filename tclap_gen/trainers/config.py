"""Training configuration: typed dataclasses filled from a YAML recipe plus `--set key.sub=value` overrides.

A recipe is data (see training/configs/*.yaml). Loading it:

1. reads the YAML (a path, or the name of a recipe shipped in training/configs, e.g. `smoke`);
2. applies each override `a.b.c=value` (the value is parsed as YAML, so `3`, `1e-4`, `[2, 3]`, `null` work;
   list items are addressed by index, `data.mixture.0.weight=2`);
3. substitutes `${VAR}` and `${VAR:-default}` in strings from the environment (`DATA` defaults to
   `../shared/data` and is set by `--data-root`);
4. builds the dataclasses, rejecting unknown keys and wrongly typed values with the key's dotted name;
5. makes relative paths absolute against the repository root (the folder holding `training/`; outside a
   checkout, the current folder).
"""

from __future__ import annotations

import os
import re
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from tclap_gen.losses import TClapLoss

# The recipes ship with the training entry points (training/configs, installed as tclap_gen/training/configs).
CONFIGS_DIR = Path(__file__).resolve().parent.parent.parent / "training" / "configs"
if not CONFIGS_DIR.is_dir():  # an installed package
    CONFIGS_DIR = Path(__file__).resolve().parent.parent / "training" / "configs"
DEFAULT_DATA_ROOT = "../shared/data"


class ConfigError(ValueError):
    """A recipe or override that cannot be used; the message names the key or file."""


# ----------------------------------------------------------------------------------------------------------
# The recipe, section by section


@dataclass
class TokenizerConfig:
    """Tokenizer trained offline for `model.init: scratch` (cached in the output folder, reused on resume)."""

    texts: list[str] = field(default_factory=list)  # .txt (a text a line) or .csv (caption / caption_N columns)
    max_texts: int = 200_000  # texts read from the files, at most
    vocab_size: int = 2000
    max_length: int = 77


@dataclass
class ModelConfig:
    init: str = "scratch"  # "pretrained": load `name`; "scratch": random weights of `size`
    name: str | None = None  # pretrained: built-in name ("mini"), local folder or Hub id
    size: dict = field(default_factory=dict)  # scratch: fields of tclap_gen.model.ClapSize
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    # An AudioLDM pipeline (folder or Hub id): its text_encoder/ and tokenizer/ replace the text tower.
    text_tower_from: str | None = None
    freeze_audio: bool = False
    freeze_text: bool = False
    dropout: float | None = None  # overrides every dropout / drop-path probability of the model
    # > 0: add a directional pattern to the last two audio stages' position biases (tclap_gen.model.add_order_bias)
    # so that an HTSAT trained from scratch can learn event order; 0 for pretrained towers.
    audio_order_bias: float = 0.0


@dataclass
class ClipSetConfig:
    """A labelled clip collection (generic path,label[,fold,source_id] CSV, ESC-50, UrbanSound8K, UIowa)."""

    metadata: str = ""
    audio_root: str | None = None
    split: str = "source"  # "source" (split_by_source), "fold" (split_by_fold) or "none" (all clips train)
    test_fraction: float = 0.2
    test_folds: list = field(default_factory=list)
    split_seed: int = 0


MIXER_KEYS = ("gap_s", "crossfade_s", "gain_db", "crossfade_probability")  # what a mixup source's `mixer` may set


@dataclass
class SourceConfig:
    """One component of the training mixture."""

    kind: str = "mixup"  # "mixup" | "single" (of the clips' train side) | "captions" (a caption CSV)
    weight: float = 1.0  # relative sampling weight
    num_events: list[int] = field(default_factory=lambda: [2, 3])  # mixup
    length: int | None = None  # mixup: distinct items per epoch (default: data.samples_per_epoch)
    csv: str | None = None  # captions: the CSV
    audio_root: str | None = None  # captions: where its audio is
    layout: str = "audiocaps"  # captions: audiocaps | clotho | generic
    # mixup: the mixer's ranges, overriding datasets.MixupDataset's defaults: gap_s, crossfade_s, gain_db (each
    # [low, high]) and crossfade_probability, e.g. {gain_db: [-15, 0], gap_s: [0.05, 1.0]}.
    mixer: dict = field(default_factory=dict)
    # single: crop each clip to a random length in [low, high] seconds (short events, as the scorer's 1-2 s windows
    # see them); null: clips up to data.seconds
    crop_s: list[float] | None = None


@dataclass
class DataConfig:
    sampling_rate: int = 16000
    seconds: float = 2.0  # length of every training example (at most the model's audio window)
    clips: list[ClipSetConfig] = field(default_factory=list)
    mixture: list[SourceConfig] = field(default_factory=list)
    phrases: dict = field(default_factory=dict)  # label -> caption phrase overrides
    template_weights: dict = field(default_factory=dict)  # mix-up caption template -> relative weight (default 1)
    samples_per_epoch: int = 1024  # rounded down to a multiple of optim.batch_size
    num_workers: int = 0  # DataLoader worker processes (features are computed there); -1: one per spare core, <= 8
    max_audio_negatives: int | None = None  # audio order negatives kept per example (each costs a forward); None: all
    cache_mb: float = 0.0  # decoded clips kept in memory, loaded before the workers start (they share it)
    # SpecAugment on the training features (not in the paper; for recognition on recordings never heard): each
    # example gets `freq_masks` bands of up to `freq_mask_width` mel bins and `time_masks` stretches of up to
    # `time_mask_width` frames set to its mean; its re-ordered mixtures get the same masks. 0: off.
    freq_masks: int = 0
    freq_mask_width: int = 0
    time_masks: int = 0
    time_mask_width: int = 0
    window_seconds: float = 1.0  # the windows of loss.window_class_weight (the scorer's window)
    # A noise floor under training examples (not in the paper; real recordings and generated clips are never
    # digitally silent, and a faint floor cost the scorer's presence 13 points on held-out mixes): with
    # `noise_floor_probability` an example gets coloured noise (power ~ 1 / f**slope, slope drawn from
    # `noise_floor_slope`: 0 white, 1 pink, 2 brown) `noise_floor_db` dB (drawn from [low, high]) under its RMS; its
    # re-ordered mixtures get the same noise, its windows (loss.window_class_weight) are cut from the noisy audio.
    noise_floor_probability: float = 0.0
    noise_floor_db: list[float] = field(default_factory=lambda: [30.0, 60.0])
    noise_floor_slope: list[float] = field(default_factory=lambda: [0.0, 2.0])


@dataclass
class OptimConfig:
    batch_size: int = 8  # GLOBAL examples per optimizer step = per-process batch x processes x accumulation
    grad_accum_steps: int = 1
    max_steps: int = 100
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    warmup_steps: int = 0
    schedule: str = "cosine"  # cosine | constant (after the linear warmup)
    min_lr_ratio: float = 0.0  # cosine floor, as a fraction of lr
    max_grad_norm: float | None = 1.0
    # Stop early after this many seconds from the start (a lease that ends): checkpoint, final save, summary
    # status "time budget reached"; --resume continues to max_steps. None: no limit.
    time_budget_s: float | None = None


@dataclass
class LossConfig:
    temporal_weight: float = 0.5  # lambda: 0 trains the plain-CLAP baseline with the same code
    anchor_weight: float = 0.0  # keeps un-ordered captions' text embeddings near the initial encoder's
    # Not in the paper: a caption must be closer to its paraphrase (same order, another template) than to its
    # order negatives; makes a from-scratch text tower encode order (losses.paraphrase_loss). 0: off.
    paraphrase_weight: float = 0.0
    # The temporal loss's negatives: both (the paper's captions with the order switched, and the same clips mixed in
    # another order), captions or audio only (ablations).
    order_negatives: str = "both"
    # Not in the paper: clips holding the same classes in the same order (two recordings of one class) are
    # positives of each other in the contrastive loss instead of negatives it cannot separate.
    same_events_positive: bool = False
    # Not in the paper: each single clip must also pick its class's phrase among the phrases of every training class
    # (zero-shot classification as a loss term, losses.class_prompt_loss). 0: off.
    class_prompt_weight: float = 0.0
    # Not in the paper: one window of data.window_seconds per example (a loud stretch that events cover for at least
    # half of it) must pick the phrases of the events sounding in it, each weighted by its time there: the decision
    # the scorer's timeline makes on 1 s windows (class_prompt_loss on windows). 0: off.
    window_class_weight: float = 0.0


@dataclass
class EvalConfig:
    every_steps: int = 0  # 0: only at the start and the end
    at_start: bool = True  # evaluate the initial model too (the baseline the final metrics compare with)
    at_end: bool = True
    loss_batches: int = 1  # fixed batches (drawn once from the mixture) whose loss is tracked
    tclassify_pairs: int = 100
    zeroshot: bool = True
    max_clips: int | None = 400  # zero-shot: at most this many held-out clips
    probe_captions: list[str] = field(default_factory=list)  # drift probe: captions or .txt files (default set if empty)
    seed: int = 0


@dataclass
class DebugConfig:
    """Hooks for tests of the failure paths; leave them unset in real recipes."""

    nan_at_step: int | None = None  # make the loss NaN while computing this (1-based) optimizer step
    nan_rank: int | None = None  # ... on this process only (None: on all)
    step_sleep_s: float = 0.0  # sleep after each optimizer step (gives a test time to kill the run)


@dataclass
class TrainConfig:
    recipe: str = ""  # a name for the run (defaults to the recipe file's stem)
    output_dir: str = "runs/tclap"
    seed: int = 0
    mixed_precision: str | None = None  # no | fp16 | bf16; None: what `accelerate launch` was told
    cpu: bool | None = None  # None: CPU when no CUDA device is visible
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    trackers: str = "auto"  # auto (tensorboard when installed) | tensorboard | none
    progress_bar: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> "TrainConfig":
        """Check values that the dataclass types cannot; raise ConfigError naming the key."""
        def need(ok: bool, key: str, message: str) -> None:
            if not ok:
                raise ConfigError(f"{key}: {message}")

        need(self.model.init in ("pretrained", "scratch"), "model.init", f"must be pretrained or scratch, got {self.model.init!r}")
        need(self.model.init != "pretrained" or bool(self.model.name), "model.name", "required when model.init is pretrained")
        need(not (self.model.freeze_audio and self.model.freeze_text), "model.freeze_audio",
             "freezing both towers leaves nothing to train but the logit scales")
        need(self.model.dropout is None or 0 <= self.model.dropout < 1, "model.dropout", "must be in [0, 1)")
        need(0 <= self.model.audio_order_bias < float("inf"), "model.audio_order_bias", "must be a finite number >= 0")
        need(self.mixed_precision in (None, "no", "fp16", "bf16"), "mixed_precision", "must be no, fp16, bf16 or null")
        need(self.trackers in ("auto", "tensorboard", "none"), "trackers", "must be auto, tensorboard or none")
        need(self.data.sampling_rate > 0, "data.sampling_rate", "must be positive")
        need(self.data.seconds > 0, "data.seconds", "must be positive")
        need(self.data.num_workers >= -1, "data.num_workers", "must be >= 0, or -1 for automatic")
        for name in ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width"):
            need(getattr(self.data, name) >= 0, f"data.{name}", "must be >= 0")
        need(0 <= self.data.noise_floor_probability <= 1, "data.noise_floor_probability", "must be in [0, 1]")
        for name in ("noise_floor_db", "noise_floor_slope"):
            span = getattr(self.data, name)
            need(len(span) == 2 and 0 <= span[0] <= span[1], f"data.{name}", f"must be [low, high] with 0 <= low <= high, got {span}")
        need(self.data.max_audio_negatives is None or self.data.max_audio_negatives >= 0,
             "data.max_audio_negatives", "must be >= 0 or null")
        need(bool(self.data.mixture), "data.mixture", "lists no data source")
        for i, source in enumerate(self.data.mixture):
            key = f"data.mixture.{i}"
            need(source.kind in ("mixup", "single", "captions"), f"{key}.kind", f"must be mixup, single or captions, got {source.kind!r}")
            need(source.weight > 0, f"{key}.weight", "must be positive")
            if source.kind == "captions":
                need(bool(source.csv), f"{key}.csv", "required for a captions source")
                need(source.layout in ("audiocaps", "clotho", "generic"), f"{key}.layout", "must be audiocaps, clotho or generic")
            else:
                need(bool(self.data.clips), "data.clips", f"{key} ({source.kind}) needs labelled clips")
            unknown = sorted(set(source.mixer) - set(MIXER_KEYS))
            need(not source.mixer or source.kind == "mixup", f"{key}.mixer", "only a mixup source has a mixer")
            need(not unknown, f"{key}.mixer", f"unknown keys {unknown}; choose from {list(MIXER_KEYS)}")
            need(source.crop_s is None or source.kind == "single", f"{key}.crop_s", "only a single source crops")
            need(source.crop_s is None or (len(source.crop_s) == 2 and 0 < source.crop_s[0] <= source.crop_s[1]),
                 f"{key}.crop_s", f"must be [low, high] seconds with 0 < low <= high, got {source.crop_s}")
        for i, clip_set in enumerate(self.data.clips):
            key = f"data.clips.{i}"
            need(bool(clip_set.metadata), f"{key}.metadata", "required")
            need(clip_set.split in ("source", "fold", "none"), f"{key}.split", "must be source, fold or none")
            need(clip_set.split != "fold" or bool(clip_set.test_folds), f"{key}.test_folds", "required when split is fold")
        o = self.optim
        need(o.batch_size > 0, "optim.batch_size", "must be positive")
        need(o.grad_accum_steps > 0, "optim.grad_accum_steps", "must be positive")
        need(o.max_steps > 0, "optim.max_steps", "must be positive")
        need(o.lr > 0, "optim.lr", "must be positive")
        need(o.warmup_steps >= 0, "optim.warmup_steps", "must be >= 0")
        need(o.schedule in ("cosine", "constant"), "optim.schedule", "must be cosine or constant")
        need(len(o.betas) == 2, "optim.betas", "must be two numbers")
        need(o.max_grad_norm is None or o.max_grad_norm > 0, "optim.max_grad_norm", "must be positive or null")
        need(self.data.samples_per_epoch >= o.batch_size, "data.samples_per_epoch", "must be at least optim.batch_size")
        need(self.loss.temporal_weight >= 0, "loss.temporal_weight", "must be >= 0")
        need(self.loss.anchor_weight >= 0, "loss.anchor_weight", "must be >= 0")
        need(self.loss.paraphrase_weight >= 0, "loss.paraphrase_weight", "must be >= 0")
        need(self.loss.class_prompt_weight >= 0, "loss.class_prompt_weight", "must be >= 0")
        need(self.loss.window_class_weight >= 0, "loss.window_class_weight", "must be >= 0")
        need(self.loss.window_class_weight == 0 or 0 < self.data.window_seconds <= self.data.seconds,
             "data.window_seconds", f"must be in (0, data.seconds = {self.data.seconds}]")
        need(self.loss.order_negatives in TClapLoss.ORDER_NEGATIVES, "loss.order_negatives",
             f"must be one of {', '.join(TClapLoss.ORDER_NEGATIVES)}")
        need(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0 (0: no checkpoints)")
        need(self.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1")
        need(self.log_every > 0, "log_every", "must be positive")
        need(self.eval.every_steps >= 0, "eval.every_steps", "must be >= 0")
        return self


# ----------------------------------------------------------------------------------------------------------
# Loading


def repo_root() -> Path:
    """The checkout's root (relative recipe paths start there); the current folder for an installed package."""
    root = Path(__file__).resolve().parent.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "training").is_dir():
        return root
    return Path.cwd()


def add_recipe_arguments(parser, config_help: str, set_example: str, resume_help: str, config_default=None) -> None:
    """The options every trainer reads its recipe with: --config, --set, --output-dir, --data-root, --resume."""
    parser.add_argument("--config", required=config_default is None, default=config_default, help=config_help)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a recipe value, e.g. --set {set_example} (repeatable)")
    parser.add_argument("--output-dir", help="where the run writes (overrides output_dir)")
    parser.add_argument("--data-root", help="folder for ${DATA} in the recipe (default: $DATA or ../shared/data)")
    parser.add_argument("--resume", action="store_true", help=resume_help)


def find_recipe(config: str | os.PathLike) -> Path:
    """A recipe file: a path, or the name of one in training/configs (`smoke`, `mini`, ...)."""
    path = Path(config)
    if path.is_file():
        return path
    shipped = CONFIGS_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    names = sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml"))
    raise FileNotFoundError(f"--config {config}: no such file, and not a shipped recipe ({', '.join(names)})")


def load_config(
    config: str | os.PathLike | dict,
    overrides: list[str] | None = None,
    data_root: str | os.PathLike | None = None,
    base_dir: str | os.PathLike | None = None,
) -> TrainConfig:
    """Build a TrainConfig from a recipe (file, shipped name or dict), overrides and environment."""
    raw, recipe_name = read_recipe(config, overrides, data_root)
    result = build_dataclass(TrainConfig, raw, "")
    if not result.recipe:
        result.recipe = recipe_name or "custom"
    resolve_paths(result, Path(base_dir) if base_dir is not None else repo_root())
    return result.validate()


def read_recipe(config: str | os.PathLike | dict | None, overrides: list[str] | None = None,
                data_root: str | os.PathLike | None = None) -> tuple[dict, str]:
    """(the recipe as a dict, its name) for both trainers: the YAML (a path, a shipped name, or a dict already),
    its `extends`, the `key.sub=value` overrides, then `${DATA}` (`data_root`, else $DATA, else ../shared/data)
    and other `${VAR}`s substituted from the environment."""
    raw, name = {}, ""
    if isinstance(config, dict):
        raw = dict(config)
    elif config is not None:
        path = find_recipe(config)
        name = path.stem
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from error
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a recipe must be a mapping of keys to values")
        raw = resolve_extends(raw, path, seen=(path.resolve(),))
    for item in overrides or []:
        apply_override(raw, item)
    env = dict(os.environ)
    if data_root is not None:
        env["DATA"] = str(Path(data_root).resolve())
    env.setdefault("DATA", DEFAULT_DATA_ROOT)
    return substitute_env(raw, env), name


def resolve_extends(raw: dict, path: Path, seen: tuple) -> dict:
    """`extends: other` (a file beside this one, or a shipped recipe name): this recipe's keys, merged over the
    other's (mappings merge key by key, lists and values replace)."""
    parent_name = raw.pop("extends", None)
    if parent_name is None:
        return raw
    beside = path.parent / str(parent_name)
    candidates = [beside, beside.with_suffix(".yaml")] if not beside.suffix else [beside]
    parent_path = next((c for c in candidates if c.is_file()), None) or find_recipe(str(parent_name))
    if parent_path.resolve() in seen:
        raise ConfigError(f"{path}: `extends` loops back to {parent_path}")
    parent = yaml.safe_load(parent_path.read_text()) or {}
    if not isinstance(parent, dict):
        raise ConfigError(f"{parent_path}: a recipe must be a mapping of keys to values")
    parent = resolve_extends(parent, parent_path, seen + (parent_path.resolve(),))
    return deep_merge(parent, raw)


def deep_merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_override(raw: dict, item: str) -> None:
    """Set `a.b.c=value` in the nested dict/list `raw` (value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr=3e-4")
    key, text = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {key}: value {text!r} is not valid YAML: {error}") from error
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, ".".join(parts[: depth + 1]), create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, key)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {key}: {'.'.join(parts[:-1])} is a value, not a section")


def _index(node: list, part: str, key: str) -> int:
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"--set {key}: {part!r} is not an index of a {len(node)}-item list")
    return int(part)


def _child(node: Any, part: str, key: str, create: bool) -> Any:
    if isinstance(node, list):
        return node[_index(node, part, key)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {key}: the parent is a value, not a section")
    if part not in node or node[part] is None:
        if not create:
            raise ConfigError(f"--set {key}: no such key")
        node[part] = {}
    return node[part]


_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(value: Any, env: dict[str, str]) -> Any:
    """Replace ${VAR} / ${VAR:-default} in every string of a nested structure."""
    if isinstance(value, dict):
        return {k: substitute_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{value!r}: environment variable {name} is not set (and has no ${{{name}:-default}})")

    return _ENV_RE.sub(replace, value)


def build_dataclass(cls, raw: Any, where: str):
    """Instantiate dataclass `cls` from a dict, recursively; unknown keys and bad types raise ConfigError."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{_key(where, unknown[0])}: unknown key (known: {', '.join(sorted(known))})")
    values = {}
    for name, value in raw.items():
        values[name] = _convert(hints[name], value, _key(where, name))
    missing = [n for n, f in known.items() if n not in values and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ConfigError(f"{_key(where, missing[0])}: required")
    return cls(**values)


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, key)
    if is_dataclass(hint):
        return build_dataclass(hint, value, key)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        item = args[0] if args else Any
        return [_convert(item, v, f"{key}.{i}") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def absolute_path(path: str | None, base: Path) -> str | None:
    """`path` made absolute against `base` (None and "" stay as they are)."""
    if path is None or path == "":
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def maybe_path(name: str | None, base: Path) -> str | None:
    """Model sources may be built-in names or Hub ids: make them absolute only when they name a local path."""
    if not name:
        return name
    p = Path(name).expanduser()
    if p.is_absolute():
        return str(p)
    if (base / p).exists() or name.startswith((".", "~")):
        return str((base / p).resolve())
    return name


def resolve_paths(config: TrainConfig, base: Path) -> None:
    """Make the recipe's relative paths absolute against `base` (in place)."""
    config.output_dir = absolute_path(config.output_dir, base)
    config.model.name = maybe_path(config.model.name, base)
    config.model.text_tower_from = maybe_path(config.model.text_tower_from, base)
    config.model.tokenizer.texts = [absolute_path(t, base) for t in config.model.tokenizer.texts]
    for clip_set in config.data.clips:
        clip_set.metadata = absolute_path(clip_set.metadata, base)
        clip_set.audio_root = absolute_path(clip_set.audio_root, base)
    for source in config.data.mixture:
        source.csv = absolute_path(source.csv, base)
        source.audio_root = absolute_path(source.audio_root, base)
    config.eval.probe_captions = [
        absolute_path(p, base) if p.endswith(".txt") else p for p in config.eval.probe_captions
    ]


def dump_config(config: TrainConfig) -> str:
    """The config as YAML (what the run used, written to its output folder and model card)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
