"""Training losses of T-CLAP: the symmetric CLAP contrastive loss and the temporal (order) loss.

T-CLAP (arXiv 2404.17806) trains with ``L = L_contrastive + 0.5 * L_temporal``:

* ``contrastive_loss``: CLIP-style symmetric cross-entropy between audio and caption embeddings. Under
  distributed training every rank scores its LOCAL rows against the GLOBAL batch (gathered from all ranks),
  so negatives span the whole global batch.
* ``temporal_loss``: each audio must prefer its true caption over the same caption with the events in a
  wrong order (and, where given, each caption must prefer its audio over the same clips mixed in a wrong
  order).

Logit scales
------------
``logit_scale`` is the LOG of the inverse temperature (a learnable scalar, CLIP-style): logits are
``logit_scale.exp() * a @ t.T``. It may be one tensor, or a pair ``(scale_audio_to_text, scale_text_to_audio)``
for models with two scales, such as transformers' ``ClapModel``: pass
``(model.logit_scale_a, model.logit_scale_t)``. The losses clamp the log-scale to at most ``log(100)`` (CLIP's
bound); call :func:`clamp_logit_scale` after each optimizer step so the parameter itself stays in range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence, Union

import torch
import torch.distributed as dist
import torch.nn.functional as F

__all__ = [
    "MAX_LOGIT_SCALE",
    "LossOutput",
    "TClapLoss",
    "clamp_logit_scale",
    "class_prompt_loss",
    "contrastive_loss",
    "gather_features",
    "paraphrase_loss",
    "temporal_loss",
]

# CLIP's bound on the inverse temperature: exp(logit_scale) <= 100.
MAX_LOGIT_SCALE = math.log(100.0)

ScaleArg = Union[torch.Tensor, float, Sequence[Union[torch.Tensor, float]]]


# --------------------------------------------------------------------------------------------------
# logit scales
# --------------------------------------------------------------------------------------------------


def clamp_logit_scale(param: torch.Tensor | Sequence[torch.Tensor], max_value: float = MAX_LOGIT_SCALE) -> None:
    """Clamp a log-scale parameter (or a pair / list of them) in place to at most ``max_value``.

    Call it after every optimizer step, as CLIP does, so that ``exp(logit_scale) <= 100``.
    """
    params = [param] if isinstance(param, torch.Tensor) else list(param)
    if not params:
        raise ValueError("clamp_logit_scale: `param` is empty")
    with torch.no_grad():
        for p in params:
            if not isinstance(p, torch.Tensor):
                raise ValueError(f"clamp_logit_scale: `param` must be tensors, got {type(p).__name__}")
            p.clamp_(max=max_value)


def _scale_pair(logit_scale: ScaleArg, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (exp scale audio->text, exp scale text->audio), each clamped, as scalars on ``like``'s device."""
    if isinstance(logit_scale, (tuple, list)):
        if len(logit_scale) != 2:
            raise ValueError(
                f"`logit_scale` must be one tensor or a pair (audio_to_text, text_to_audio), got {len(logit_scale)} items"
            )
        pair = tuple(logit_scale)
    else:
        pair = (logit_scale, logit_scale)
    out = []
    for s in pair:
        if isinstance(s, torch.Tensor):
            s = s.to(device=like.device)  # keep its dtype: a float32 scale stays exact under bf16 embeddings
        else:
            s = torch.tensor(float(s), device=like.device, dtype=like.dtype)
        if s.numel() != 1:
            raise ValueError(f"`logit_scale` must be a scalar (log inverse temperature), got shape {tuple(s.shape)}")
        # Clamping the log value (not the exp) keeps the gradient at zero above the bound, as CLIP's clamp does.
        out.append(torch.clamp(s.reshape(()), max=MAX_LOGIT_SCALE).exp())
    return out[0], out[1]


# --------------------------------------------------------------------------------------------------
# gathering across processes
# --------------------------------------------------------------------------------------------------


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the SUM over ranks of the gradient on its own rows.

    Every rank's loss uses the rows of every other rank as negatives, so a rank's embeddings receive gradient
    from all ranks' losses. A plain all_gather drops those contributions (only the local loss reaches the
    local rows), and the DDP-averaged gradient would then differ from the single-process one. Summing the
    gathered gradient over ranks (all_reduce) restores them. all_reduce is used rather than reduce_scatter
    because gloo (CPU) does not implement the latter.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, sizes: list[int], rank: int) -> torch.Tensor:
        max_size = max(sizes)
        padded = x.new_zeros((max_size,) + tuple(x.shape[1:]))
        padded[: x.shape[0]] = x
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        # The local slice is the local tensor itself (bit-identical, and keeps rank order).
        parts[rank] = padded
        ctx.sizes = sizes
        ctx.rank = rank
        return torch.cat([p[:n] for p, n in zip(parts, sizes)], dim=0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None


def _world(accelerator: Any) -> tuple[int, int]:
    """(world size, rank) for an Accelerator-like object; (1, 0) when there is none."""
    if accelerator is None:
        return 1, 0
    world = int(getattr(accelerator, "num_processes", 1))
    rank = int(getattr(accelerator, "process_index", 0))
    return world, rank


def _gather_with_offset(x: torch.Tensor, accelerator: Any) -> tuple[torch.Tensor, int]:
    """Gather ``x`` (rows) from all ranks; return it and the row offset of this rank's shard."""
    world, rank = _world(accelerator)
    if world == 1:
        return x, 0
    if not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError("gather_features: the accelerator reports several processes but torch.distributed is not initialized")
    # Ranks may hold different numbers of rows (e.g. a last batch with even_batches=False): share sizes first.
    size = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes_list = [int(s.item()) for s in sizes]
    gathered = _GatherWithGrad.apply(x, sizes_list, rank)
    return gathered, sum(sizes_list[:rank])


def gather_features(x: torch.Tensor, accelerator: Any = None) -> torch.Tensor:
    """Concatenate ``x`` (first dimension = rows) from all processes in rank order.

    The local shard keeps its gradient, and the backward pass also returns to each rank the gradient that
    the other ranks' losses put on its rows (see ``_GatherWithGrad``), so that averaging gradients across
    ranks (DDP) gives the gradient of the global-batch loss. Every rank must call this the same number of
    times, in the same order, and backpropagate through it. Without an accelerator, or with one process,
    returns ``x`` unchanged.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError("gather_features: `x` must be a tensor with at least one dimension")
    return _gather_with_offset(x, accelerator)[0]


# --------------------------------------------------------------------------------------------------
# contrastive loss
# --------------------------------------------------------------------------------------------------


def _check_emb(name: str, x: Any) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"`{name}` must have shape (N, D), got {tuple(x.shape)}")


def contrastive_loss(
    audio_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: ScaleArg,
    accelerator: Any = None,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric CLIP-style loss: mean of the audio->text and text->audio cross-entropies.

    ``audio_emb`` and ``text_emb`` are (N, D), L2-normalised, row i of each being a matching pair.
    ``logit_scale`` is the log inverse temperature: one tensor, or a pair (audio->text, text->audio).
    With a multi-process ``accelerator``, each rank scores its local rows against the rows of all ranks
    (labels offset by the rows of the ranks before it) and returns the mean over its local rows; with
    equal local batches, the DDP average of gradients equals the single-process gradient on the global batch.

    ``groups`` (N,) integer ids, optional: rows with the same id describe the same thing (two recordings of one
    class under one caption) and are positives of each other: each row's term is ``-log`` of the softmax mass on
    ALL its positives, so the loss stops pushing apart what it cannot tell apart. With all ids distinct it is the
    plain loss.
    """
    _check_emb("audio_emb", audio_emb)
    _check_emb("text_emb", text_emb)
    if audio_emb.shape != text_emb.shape:
        raise ValueError(
            f"`audio_emb` {tuple(audio_emb.shape)} and `text_emb` {tuple(text_emb.shape)} must have the same shape"
        )
    if audio_emb.shape[0] == 0:
        raise ValueError("`audio_emb` is empty: the contrastive loss needs at least one pair")
    scale_a2t, scale_t2a = _scale_pair(logit_scale, audio_emb)

    all_audio, offset = _gather_with_offset(audio_emb, accelerator)
    all_text, _ = _gather_with_offset(text_emb, accelerator)
    logits_a2t = scale_a2t * audio_emb @ all_text.T  # local audio rows vs every caption
    logits_t2a = scale_t2a * text_emb @ all_audio.T  # local caption rows vs every audio
    if groups is None:
        labels = torch.arange(audio_emb.shape[0], device=audio_emb.device) + offset
        return 0.5 * (F.cross_entropy(logits_a2t, labels) + F.cross_entropy(logits_t2a, labels))

    groups = torch.as_tensor(groups, device=audio_emb.device)
    if groups.shape != (audio_emb.shape[0],) or groups.dtype.is_floating_point:
        raise ValueError(f"`groups` must be {audio_emb.shape[0]} integer ids, got {tuple(groups.shape)} {groups.dtype}")
    all_groups, _ = _gather_with_offset(groups.long(), accelerator)
    positive = groups[:, None].long() == all_groups[None, :]  # includes each row's own pair
    blocked = torch.finfo(logits_a2t.dtype).min

    def multi_positive(logits):
        return (torch.logsumexp(logits, dim=-1) - torch.logsumexp(logits.masked_fill(~positive, blocked), dim=-1)).mean()

    return 0.5 * (multi_positive(logits_a2t) + multi_positive(logits_t2a))


# --------------------------------------------------------------------------------------------------
# temporal loss
# --------------------------------------------------------------------------------------------------


def _check_owner(name: str, owner: Any, rows: int, num_anchors: int, like: torch.Tensor) -> torch.Tensor:
    owner = torch.as_tensor(owner, device=like.device)
    if owner.dim() != 1 or owner.shape[0] != rows:
        raise ValueError(f"`{name}` must be a 1-D tensor with one owner index per negative row ({rows}), got {tuple(owner.shape)}")
    if owner.dtype.is_floating_point or owner.dtype == torch.bool:
        raise ValueError(f"`{name}` must hold integer indices, got dtype {owner.dtype}")
    owner = owner.long()
    if rows and (int(owner.min()) < 0 or int(owner.max()) >= num_anchors):
        raise ValueError(f"`{name}` has indices outside [0, {num_anchors}): min {int(owner.min())}, max {int(owner.max())}")
    return owner


def _order_terms(
    anchor: torch.Tensor, positive: torch.Tensor, negatives: torch.Tensor, owner: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy terms, one per anchor that owns negatives, over [its positive, its negatives].

    Vectorised with scatter operations: the log-sum-exp of each anchor's group is built from a per-group
    maximum (detached: shifting by a constant leaves the value and gradient unchanged) and an index_add.
    """
    pos = scale * (anchor * positive).sum(-1)  # (B,)
    neg = scale * (anchor[owner] * negatives).sum(-1)  # (M,)
    with torch.no_grad():
        peak = pos.scatter_reduce(0, owner, neg, reduce="amax", include_self=True)
    sum_exp = torch.exp(pos - peak).index_add(0, owner, torch.exp(neg - peak[owner]))
    losses = peak + torch.log(sum_exp) - pos  # -log softmax of the positive
    has_negatives = torch.bincount(owner, minlength=anchor.shape[0]) > 0
    return losses[has_negatives]


def temporal_loss(
    audio_emb: torch.Tensor,
    pos_text_emb: torch.Tensor,
    neg_text_emb: torch.Tensor | None,
    neg_owner: torch.Tensor | None,
    logit_scale: ScaleArg,
    audio_neg_emb: torch.Tensor | None = None,
    audio_neg_owner: torch.Tensor | None = None,
) -> torch.Tensor:
    """Order loss of T-CLAP, averaged over the cross-entropy terms that exist.

    Text side: for each audio i owning order-negative captions (rows j of ``neg_text_emb`` with
    ``neg_owner[j] == i``), cross-entropy over [caption i, its negatives] with caption i as target, using the
    audio->text scale. Audio side (when ``audio_neg_emb`` is given): for each caption i owning audio negatives
    (the same clips mixed in a wrong order), cross-entropy over [audio i, its audio negatives] with audio i as
    target, using the text->audio scale. Samples without negatives contribute nothing; with no negatives at
    all the loss is 0 (still connected to the graph). The loss is local to a process (no gathering).
    """
    _check_emb("audio_emb", audio_emb)
    _check_emb("pos_text_emb", pos_text_emb)
    if audio_emb.shape != pos_text_emb.shape:
        raise ValueError(
            f"`audio_emb` {tuple(audio_emb.shape)} and `pos_text_emb` {tuple(pos_text_emb.shape)} must have the same shape"
        )
    batch, dim = audio_emb.shape
    scale_a2t, scale_t2a = _scale_pair(logit_scale, audio_emb)
    terms: list[torch.Tensor] = []

    if neg_text_emb is not None:
        _check_emb("neg_text_emb", neg_text_emb)
        if neg_text_emb.shape[1] != dim:
            raise ValueError(f"`neg_text_emb` has dimension {neg_text_emb.shape[1]}, expected {dim}")
        if neg_owner is None:
            raise ValueError("`neg_owner` is required when `neg_text_emb` is given")
        owner = _check_owner("neg_owner", neg_owner, neg_text_emb.shape[0], batch, audio_emb)
        if owner.numel():
            terms.append(_order_terms(audio_emb, pos_text_emb, neg_text_emb, owner, scale_a2t))

    if audio_neg_emb is not None:
        _check_emb("audio_neg_emb", audio_neg_emb)
        if audio_neg_emb.shape[1] != dim:
            raise ValueError(f"`audio_neg_emb` has dimension {audio_neg_emb.shape[1]}, expected {dim}")
        if audio_neg_owner is None:
            raise ValueError("`audio_neg_owner` is required when `audio_neg_emb` is given")
        owner = _check_owner("audio_neg_owner", audio_neg_owner, audio_neg_emb.shape[0], batch, audio_emb)
        if owner.numel():
            terms.append(_order_terms(pos_text_emb, audio_emb, audio_neg_emb, owner, scale_t2a))

    if not terms:
        # Zero that is part of the graph, so backward() on it (or on a sum with it) still works.
        return (audio_emb.sum() + pos_text_emb.sum()) * 0.0
    return torch.cat(terms).mean()


def class_prompt_loss(audio_emb: torch.Tensor, prompt_emb: torch.Tensor, targets: torch.Tensor,
                      logit_scale: ScaleArg) -> torch.Tensor:
    """Zero-shot classification as a training term (not in the paper; off by default).

    Each clip with a class must pick its own class's phrase among the phrases of every training class (the rows of
    ``prompt_emb``): cross-entropy over ``prompt_emb`` with the audio->text scale. ``targets`` is either one class
    index per clip (``-1``: no class, e.g. a mix-up; such rows do not count) or one distribution over the classes per
    clip (rows summing to 1: a window shared by two events holds each in proportion to its time there).
    0 (with a gradient path) when no row has a class.
    The contrastive loss of a batch of 16 sees a few classes at a time; this term sees every class at every step.
    """
    _check_emb("audio_emb", audio_emb)
    _check_emb("prompt_emb", prompt_emb)
    rows_count, classes = audio_emb.shape[0], prompt_emb.shape[0]
    if targets.is_floating_point():
        if targets.shape != (rows_count, classes):
            raise ValueError(f"`targets` as class distributions must have shape ({rows_count}, {classes}), "
                             f"got {tuple(targets.shape)}")
        if rows_count and not torch.allclose(targets.sum(-1), torch.ones_like(targets[:, 0]), atol=1e-4):
            raise ValueError("`targets` as class distributions must have rows that sum to 1")
    else:
        if targets.shape != (rows_count,):
            raise ValueError(f"`targets` must have shape ({rows_count},), got {tuple(targets.shape)}")
        if rows_count and int(targets.max()) >= classes:
            raise ValueError(f"`targets` must index the {classes} prompts, got {int(targets.max())}")
        rows = targets >= 0
        audio_emb, targets = audio_emb[rows], targets[rows]
    if audio_emb.shape[0] == 0:
        return audio_emb.sum() * 0.0
    scale_a2t, _ = _scale_pair(logit_scale, audio_emb)
    return F.cross_entropy(scale_a2t * audio_emb @ prompt_emb.T, targets)


def paraphrase_loss(
    text_emb: torch.Tensor,
    paraphrase_emb: torch.Tensor,
    paraphrase_owner: torch.Tensor,
    neg_text_emb: torch.Tensor,
    neg_owner: torch.Tensor,
    logit_scale: ScaleArg,
) -> torch.Tensor:
    """Text-only order loss (not in the paper; for towers trained from scratch, off by default).

    Each caption that owns a paraphrase (``paraphrase_owner[j] == i``: the same events in the same order with
    another template, "A then B" -> "B after A") must be closer to it than to its order negatives (same template,
    other order): cross-entropy over [paraphrase, negatives] anchored at the caption, with the text->audio scale.
    Word order is then the only way to tell them apart, so the text tower has to encode it; without that, a tower
    trained from scratch stays a bag of words and the temporal loss gets no gradient (README, "The mini models").
    Zero (connected to the graph) when no caption has both a paraphrase and negatives.
    """
    _check_emb("text_emb", text_emb)
    batch = text_emb.shape[0]
    owner = _check_owner("paraphrase_owner", paraphrase_owner, paraphrase_emb.shape[0], batch, text_emb)
    neg = _check_owner("neg_owner", neg_owner, neg_text_emb.shape[0], batch, text_emb)
    if owner.unique().numel() != owner.numel():
        raise ValueError("`paraphrase_owner` must name each caption at most once")
    position = torch.full((batch,), -1, dtype=torch.long, device=text_emb.device)
    position[owner] = torch.arange(owner.numel(), device=text_emb.device)
    keep = position[neg] >= 0  # negatives of captions that have a paraphrase
    if not bool(keep.any()):
        return (text_emb.sum() + paraphrase_emb.sum()) * 0.0
    _, scale_t2a = _scale_pair(logit_scale, text_emb)
    terms = _order_terms(text_emb[owner], paraphrase_emb, neg_text_emb[keep], position[neg[keep]], scale_t2a)
    return terms.mean()


# --------------------------------------------------------------------------------------------------
# combined loss
# --------------------------------------------------------------------------------------------------


@dataclass
class LossOutput:
    """Scalars of one step. ``total = contrastive + temporal_weight * temporal + anchor_weight * anchor +
    paraphrase_weight * paraphrase + class_prompt_weight * class_prompt + window_class_weight * window_class``; the
    last four are 0 where they are not computed."""

    total: torch.Tensor
    contrastive: torch.Tensor
    temporal: torch.Tensor
    anchor: torch.Tensor | None = None
    paraphrase: torch.Tensor | None = None
    class_prompt: torch.Tensor | None = None
    window_class: torch.Tensor | None = None


def _global_share(count: int, accelerator: Any, device) -> float:
    """count_local x processes / count_global: scales a local mean so that the mean over processes (what DDP
    averages) equals the mean over the global batch's terms."""
    if accelerator is None or getattr(accelerator, "num_processes", 1) == 1:
        return 1.0
    total = accelerator.reduce(torch.tensor(float(count), device=device), reduction="sum").item()
    return count * accelerator.num_processes / total if total > 0 else 0.0


class TClapLoss:
    """The T-CLAP objective: contrastive loss + ``temporal_weight`` * temporal loss (0.5 in the paper), and in
    training two optional terms (0 by default): ``anchor_weight`` * anchor (1 - cosine between the text embeddings of
    captions that state no order and the initial text encoder's) and ``paraphrase_weight`` * paraphrase
    (paraphrase_loss: a text-only order term). ``order_negatives`` chooses the temporal loss's negatives: "both"
    (order-switched captions and re-ordered mix-ups), "captions" or "audio" only (the ablations of the README).
    ``same_events_positive``: in ``batch_loss``, rows whose clips hold the same classes in the same order
    (batch["event_groups"]) are positives of each other in the contrastive loss (``contrastive_loss``'s groups).
    ``class_prompt_weight`` * ``class_prompt_loss`` (0 by default): in ``batch_loss``, each single clip must also
    pick its class's phrase among every training class's (batch["class_target"]). ``window_class_weight`` *
    ``class_prompt_loss`` on short windows cut from the clips and mix-ups (0 by default): each window must pick the
    phrases of the events sounding in it (batch["window_target"]), the decision the scorer's timeline makes.

    ``__call__`` takes the embeddings as separate tensors; ``batch_loss`` takes one training batch's embeddings as
    the trainer computes them (tclap_gen.trainers.tclap), so the loss the tests and the benchmark run is the one
    training runs. With ``temporal_weight == 0`` the temporal loss is not computed at all (reported as 0).
    """

    ORDER_NEGATIVES = ("both", "captions", "audio")

    def __init__(self, temporal_weight: float = 0.5, anchor_weight: float = 0.0, paraphrase_weight: float = 0.0,
                 order_negatives: str = "both", same_events_positive: bool = False, class_prompt_weight: float = 0.0,
                 window_class_weight: float = 0.0):
        if order_negatives not in self.ORDER_NEGATIVES:
            raise ValueError(f"`order_negatives` must be one of {self.ORDER_NEGATIVES}, got {order_negatives!r}")
        self.order_negatives = order_negatives
        self.same_events_positive = bool(same_events_positive)
        for name, value in (("temporal_weight", temporal_weight), ("anchor_weight", anchor_weight),
                            ("paraphrase_weight", paraphrase_weight), ("class_prompt_weight", class_prompt_weight),
                            ("window_class_weight", window_class_weight)):
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value}")
        self.temporal_weight = float(temporal_weight)
        self.anchor_weight = float(anchor_weight)
        self.paraphrase_weight = float(paraphrase_weight)
        self.class_prompt_weight = float(class_prompt_weight)
        self.window_class_weight = float(window_class_weight)

    def __repr__(self) -> str:
        return (f"TClapLoss(temporal_weight={self.temporal_weight}, anchor_weight={self.anchor_weight}, "
                f"paraphrase_weight={self.paraphrase_weight}, order_negatives={self.order_negatives!r}, "
                f"same_events_positive={self.same_events_positive}, class_prompt_weight={self.class_prompt_weight}, "
                f"window_class_weight={self.window_class_weight})")

    def _chosen_negatives(self, neg_text_emb, neg_owner, audio_neg_emb, audio_neg_owner):
        """The order negatives `order_negatives` keeps for the temporal loss; the other side becomes None."""
        if self.order_negatives == "audio":
            neg_text_emb = neg_owner = None
        if self.order_negatives == "captions":
            audio_neg_emb = audio_neg_owner = None
        return neg_text_emb, neg_owner, audio_neg_emb, audio_neg_owner

    def __call__(
        self,
        audio_emb: torch.Tensor,
        text_emb: torch.Tensor,
        logit_scale: ScaleArg,
        neg_text_emb: torch.Tensor | None = None,
        neg_owner: torch.Tensor | None = None,
        audio_neg_emb: torch.Tensor | None = None,
        audio_neg_owner: torch.Tensor | None = None,
        accelerator: Any = None,
    ) -> LossOutput:
        contrastive = contrastive_loss(audio_emb, text_emb, logit_scale, accelerator=accelerator)
        if self.temporal_weight == 0:
            temporal = contrastive.new_zeros(())
            return LossOutput(total=contrastive, contrastive=contrastive, temporal=temporal)
        neg_text_emb, neg_owner, audio_neg_emb, audio_neg_owner = self._chosen_negatives(
            neg_text_emb, neg_owner, audio_neg_emb, audio_neg_owner)
        temporal = temporal_loss(
            audio_emb, text_emb, neg_text_emb, neg_owner, logit_scale,
            audio_neg_emb=audio_neg_emb, audio_neg_owner=audio_neg_owner,
        )
        return LossOutput(total=contrastive + self.temporal_weight * temporal, contrastive=contrastive, temporal=temporal)

    def batch_loss(self, audio_all: torch.Tensor, text_all: torch.Tensor, batch: dict, logit_scale: ScaleArg,
                   accelerator: Any = None, original_text: torch.Tensor | None = None) -> LossOutput:
        """The objective of one training batch (tclap_gen.datasets.collate_examples' layout).

        audio_all: the clips, their audio order negatives (batch["audio_negative_owner"]), then the windows of
        batch["window_target"] (when there is one). text_all: the captions, their text negatives
        (batch["negative_owner"]), the paraphrases (batch["paraphrase_owner"]), then the class phrases that
        batch["class_target"] and batch["window_target"] index (when class_prompt_weight or window_class_weight > 0).
        original_text: the initial encoder's normalised embeddings of the captions in batch["anchor_mask"] (for the
        anchor term). The temporal, anchor, paraphrase, class-phrase and window terms are scaled so that their mean
        over processes is the global batch's mean.
        """
        n = int(batch["anchor_mask"].shape[0])
        audio, text = audio_all[:n], text_all[:n]
        end = n + int(batch["negative_owner"].numel())
        audio_end = n + int(batch["audio_negative_owner"].numel())
        groups = None
        if self.same_events_positive:
            if "event_groups" not in batch:
                raise ValueError("same_events_positive needs batch['event_groups'] (one id per clip's ordered classes)")
            groups = batch["event_groups"]
        contrastive = contrastive_loss(audio, text, logit_scale, accelerator=accelerator, groups=groups)
        zero = contrastive * 0.0
        temporal = anchor = paraphrase = class_prompt = window_class = zero
        total = contrastive
        if self.temporal_weight > 0:
            neg_text, neg_owner, audio_neg, audio_neg_owner = self._chosen_negatives(
                text_all[n:end], batch["negative_owner"], audio_all[n:audio_end], batch["audio_negative_owner"])
            temporal = temporal_loss(audio, text, neg_text, neg_owner, logit_scale,
                                     audio_neg_emb=audio_neg, audio_neg_owner=audio_neg_owner)
            terms = sum(int(torch.unique(owner).numel()) for owner in (neg_owner, audio_neg_owner) if owner is not None)
            temporal = temporal * _global_share(terms, accelerator, audio.device)
            total = total + self.temporal_weight * temporal
        if self.anchor_weight > 0 and original_text is not None:
            mask = batch["anchor_mask"]
            rows = int(mask.sum())
            if rows:
                anchor = (1.0 - (text[mask] * original_text).sum(-1)).mean()
            anchor = anchor * _global_share(rows, accelerator, audio.device)
            total = total + self.anchor_weight * anchor
        if self.paraphrase_weight > 0:
            owner = batch["paraphrase_owner"]
            paraphrase = paraphrase_loss(text, text_all[end:end + int(owner.numel())], owner, text_all[n:end],
                                         batch["negative_owner"], logit_scale)
            paraphrase = paraphrase * _global_share(int(owner.numel()), accelerator, audio.device)
            total = total + self.paraphrase_weight * paraphrase
        if self.class_prompt_weight > 0 or self.window_class_weight > 0:  # the class phrases close text_all
            prompts = text_all[end + int(batch["paraphrase_owner"].numel()):]
        if self.class_prompt_weight > 0:
            if "class_target" not in batch:
                raise ValueError("class_prompt_weight needs batch['class_target'] and the class phrases after the "
                                 "paraphrases in text_all")
            targets = batch["class_target"]
            class_prompt = class_prompt_loss(audio, prompts, targets, logit_scale)
            class_prompt = class_prompt * _global_share(int((targets >= 0).sum()), accelerator, audio.device)
            total = total + self.class_prompt_weight * class_prompt
        if self.window_class_weight > 0:
            if "window_target" not in batch:
                raise ValueError("window_class_weight needs batch['window_target'], the windows after the audio "
                                 "negatives in audio_all and the class phrases after the paraphrases in text_all")
            targets = batch["window_target"]
            window_class = class_prompt_loss(audio_all[audio_end:], prompts, targets, logit_scale)
            window_class = window_class * _global_share(int(targets.shape[0]), accelerator, audio.device)
            total = total + self.window_class_weight * window_class
        return LossOutput(total=total, contrastive=contrastive, temporal=temporal, anchor=anchor, paraphrase=paraphrase,
                          class_prompt=class_prompt, window_class=window_class)
