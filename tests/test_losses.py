"""Tests of tclap_gen.losses: values checked by hand, gradients, the temporal loss, and a real 2-rank DDP run."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tclap_gen.losses import (
    MAX_LOGIT_SCALE,
    LossOutput,
    TClapLoss,
    clamp_logit_scale,
    class_prompt_loss,
    contrastive_loss,
    gather_features,
    paraphrase_loss,
    temporal_loss,
)

HERE = Path(__file__).resolve().parent


def _ce(logits: list[float], target: int) -> float:
    """Cross-entropy of one row, by hand."""
    return -logits[target] + math.log(sum(math.exp(v) for v in logits))


def _unit(n: int, d: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)


# ------------------------------------------------------------------------------------------------ contrastive


def test_contrastive_identity_2x2_by_hand():
    eye = torch.eye(2)
    # scale exp(0) = 1: logits = I, each row/column CE = log(1 + e^-1)
    loss = contrastive_loss(eye, eye, torch.tensor(0.0))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-6)


def test_contrastive_asymmetric_2x2_by_hand():
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    s = math.log(2.0)  # inverse temperature 2
    # a @ t.T = [[1, 0.6], [0, 0.8]]; times 2
    a2t = (_ce([2.0, 1.2], 0) + _ce([0.0, 1.6], 1)) / 2  # rows
    t2a = (_ce([2.0, 0.0], 0) + _ce([1.2, 1.6], 1)) / 2  # columns
    loss = contrastive_loss(audio, text, torch.tensor(s))
    assert loss.item() == pytest.approx((a2t + t2a) / 2, abs=1e-6)
    # symmetric: swapping the modalities gives the same value
    assert contrastive_loss(text, audio, torch.tensor(s)).item() == pytest.approx(loss.item(), abs=1e-6)


def test_contrastive_pair_of_scales():
    audio, text = _unit(5, 8, 0), _unit(5, 8, 1)
    sa, st = torch.tensor(1.0), torch.tensor(2.5)
    labels = torch.arange(5)
    expected = 0.5 * (
        F.cross_entropy(sa.exp() * audio @ text.T, labels) + F.cross_entropy(st.exp() * text @ audio.T, labels)
    )
    assert contrastive_loss(audio, text, (sa, st)).item() == pytest.approx(expected.item(), abs=1e-6)
    # the same scale twice equals the single-tensor form; a float is accepted too
    assert contrastive_loss(audio, text, (sa, sa)).item() == pytest.approx(contrastive_loss(audio, text, sa).item())
    assert contrastive_loss(audio, text, 1.0).item() == pytest.approx(contrastive_loss(audio, text, sa).item())


def test_contrastive_perfect_alignment_high_scale_is_near_zero():
    emb = torch.eye(4)
    assert contrastive_loss(emb, emb, torch.tensor(MAX_LOGIT_SCALE)).item() < 1e-6
    # and a mismatched batch at the same scale is far from zero
    assert contrastive_loss(emb, emb.roll(1, dims=0), torch.tensor(MAX_LOGIT_SCALE)).item() > 10


def test_contrastive_groups_make_same_event_rows_positives():
    audio, text = _unit(6, 8, 5), _unit(6, 8, 6)
    scale = torch.tensor(1.2)
    plain = contrastive_loss(audio, text, scale)
    # distinct ids: exactly the plain loss
    distinct = contrastive_loss(audio, text, scale, groups=torch.tensor([5, 1, 9, 2, 7, 3]))
    assert distinct.item() == pytest.approx(plain.item(), abs=1e-6)
    # rows 0 and 3 share an id: each row's term is -log of its softmax mass on both, by hand
    groups = torch.tensor([0, 1, 2, 0, 4, 5])
    logits = [scale.exp() * audio @ text.T, scale.exp() * text @ audio.T]
    positives = [[0, 3], [1], [2], [0, 3], [4], [5]]
    expected = sum(-(lg[i].softmax(-1)[positives[i]].sum().log()) for lg in logits for i in range(6)) / 12
    assert contrastive_loss(audio, text, scale, groups=groups).item() == pytest.approx(expected.item(), abs=1e-5)
    # two recordings under one caption: nothing left to push apart, where the plain loss cannot go below log 2
    same = torch.cat([audio[:1], audio[:1], audio[1:2]]), torch.cat([audio[:1], audio[:1], audio[1:2]])
    assert contrastive_loss(*same, torch.tensor(math.log(100.0)), groups=torch.tensor([0, 0, 1])).item() < 1e-3
    assert contrastive_loss(*same, torch.tensor(math.log(100.0))).item() > 2 / 3 * math.log(2) - 1e-4
    with pytest.raises(ValueError, match="groups"):
        contrastive_loss(audio, text, scale, groups=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="groups"):
        contrastive_loss(audio, text, scale, groups=torch.zeros(6))


def test_contrastive_clamps_scale_inside_loss():
    audio, text = _unit(4, 6, 2), _unit(4, 6, 3)
    at_max = contrastive_loss(audio, text, torch.tensor(MAX_LOGIT_SCALE))
    scale = torch.tensor(math.log(1000.0), requires_grad=True)
    above = contrastive_loss(audio, text, scale)
    assert above.item() == pytest.approx(at_max.item(), abs=1e-6)
    above.backward()
    assert scale.grad.item() == 0.0  # clamped: no gradient pushes the scale further
    below = torch.tensor(1.0, requires_grad=True)
    contrastive_loss(audio, text, below).backward()
    assert below.grad.item() != 0.0


def test_clamp_logit_scale_in_place():
    big = torch.nn.Parameter(torch.tensor(7.0))
    small = torch.nn.Parameter(torch.tensor(2.0))
    clamp_logit_scale(big)
    assert big.item() == pytest.approx(math.log(100.0))
    assert big.exp().item() == pytest.approx(100.0, rel=1e-5)
    pair = (torch.nn.Parameter(torch.tensor(9.0)), small)
    clamp_logit_scale(pair)
    assert pair[0].item() == pytest.approx(MAX_LOGIT_SCALE)
    assert small.item() == 2.0  # in range: untouched
    with pytest.raises(ValueError, match="param"):
        clamp_logit_scale([])


def test_contrastive_gradcheck_float64():
    audio = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    text = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    sa = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    st = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, t, x, y: contrastive_loss(a, t, (x, y)), (audio, text, sa, st))


def test_contrastive_rejects_bad_input():
    with pytest.raises(ValueError, match="text_emb"):
        contrastive_loss(torch.randn(3, 4), torch.randn(2, 4), torch.tensor(1.0))
    with pytest.raises(ValueError, match="audio_emb"):
        contrastive_loss(torch.randn(3), torch.randn(3), torch.tensor(1.0))
    with pytest.raises(ValueError, match="logit_scale"):
        contrastive_loss(torch.randn(3, 4), torch.randn(3, 4), torch.ones(2))
    with pytest.raises(ValueError, match="logit_scale"):
        contrastive_loss(torch.randn(3, 4), torch.randn(3, 4), (torch.tensor(1.0),) * 3)


def test_gather_features_single_process_is_identity():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_features(x) is x

    class OneProcess:
        num_processes = 1
        process_index = 0

    assert gather_features(x, OneProcess()) is x


# ------------------------------------------------------------------------------------------------ temporal


def test_temporal_by_hand_and_ignores_samples_without_negatives():
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    neg = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    owner = torch.tensor([0, 0])  # only audio 0 has negatives
    # audio 0: logits [1, 0.6, 0] (scale 1), target the positive
    expected = _ce([1.0, 0.6, 0.0], 0)
    loss = temporal_loss(audio, pos, neg, owner, torch.tensor(0.0))
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # changing sample 1 (no negatives) changes nothing
    pos2 = pos.clone()
    pos2[1] = torch.tensor([1.0, 0.0])
    assert temporal_loss(audio, pos2, neg, owner, torch.tensor(0.0)).item() == pytest.approx(expected, abs=1e-6)


def test_paraphrase_by_hand_only_for_captions_with_a_paraphrase():
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    paraphrase = torch.tensor([[0.8, 0.6]])  # caption 0's
    negatives = torch.tensor([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]])
    neg_owner = torch.tensor([0, 0, 2])  # caption 2 has a negative but no paraphrase: no term
    scale = (torch.tensor(0.0), torch.tensor(math.log(2.0)))  # text->audio scale 2 is the one used
    expected = _ce([2 * 0.8, 2 * 0.0, 2 * 0.6], 0)
    loss = paraphrase_loss(text, paraphrase, torch.tensor([0]), negatives, neg_owner, scale)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # no caption with both a paraphrase and negatives: zero, still on the graph
    text.requires_grad_(True)
    zero = paraphrase_loss(text, paraphrase, torch.tensor([1]), negatives, neg_owner, scale)
    zero.backward()
    assert zero.item() == 0.0 and text.grad is not None
    with pytest.raises(ValueError, match="at most once"):
        paraphrase_loss(text, torch.cat([paraphrase, paraphrase]), torch.tensor([0, 0]), negatives, neg_owner, scale)


def test_temporal_audio_side_by_hand():
    audio = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    neg_text = torch.tensor([[1.0, 0.0]])
    audio_neg = torch.tensor([[0.0, 1.0], [0.8, 0.6]])
    s = math.log(3.0)
    # text side, audio 0: [a0.t0, a0.n0] = [0.6, 1.0]; audio side, caption 1: [t1.a1, t1.an0, t1.an1] = [1, 1, 0.6]
    text_term = _ce([1.8, 3.0], 0)
    audio_term = _ce([3.0, 3.0, 1.8], 0)
    loss = temporal_loss(
        audio, text, neg_text, torch.tensor([0]), torch.tensor(s),
        audio_neg_emb=audio_neg, audio_neg_owner=torch.tensor([1, 1]),
    )
    assert loss.item() == pytest.approx((text_term + audio_term) / 2, abs=1e-6)


def _temporal_reference(audio, text, neg, owner, scale, audio_neg, audio_owner):
    """Plain loop version: one cross-entropy per sample that has negatives."""
    terms = []
    for i in range(len(audio)):
        rows = neg[owner == i]
        if len(rows):
            logits = scale.exp() * torch.cat([text[i : i + 1], rows]) @ audio[i]
            terms.append(-torch.log_softmax(logits, 0)[0])
        rows = audio_neg[audio_owner == i]
        if len(rows):
            logits = scale.exp() * torch.cat([audio[i : i + 1], rows]) @ text[i]
            terms.append(-torch.log_softmax(logits, 0)[0])
    return torch.stack(terms).mean()


def test_temporal_matches_loop_reference():
    audio, text = _unit(6, 8, 10), _unit(6, 8, 11)
    owner = torch.tensor([3, 0, 3, 5, 3, 0])  # samples 1, 2, 4 have none; unsorted owners
    neg = _unit(len(owner), 8, 12)
    audio_owner = torch.tensor([2, 2, 4])
    audio_neg = _unit(len(audio_owner), 8, 13)
    scale = torch.tensor(2.0)
    got = temporal_loss(audio, text, neg, owner, scale, audio_neg_emb=audio_neg, audio_neg_owner=audio_owner)
    want = _temporal_reference(audio, text, neg, owner, scale, audio_neg, audio_owner)
    assert got.item() == pytest.approx(want.item(), abs=1e-6)
    # a large scale must not overflow (log-sum-exp is shifted by each group's maximum)
    big = temporal_loss(audio * 50, text, neg, owner, torch.tensor(MAX_LOGIT_SCALE))
    assert torch.isfinite(big)


def test_temporal_without_negatives_is_zero_with_grad_path():
    audio = torch.randn(3, 4, requires_grad=True)
    text = torch.randn(3, 4, requires_grad=True)
    for loss in (
        temporal_loss(audio, text, None, None, torch.tensor(1.0)),
        temporal_loss(audio, text, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.tensor(1.0)),
    ):
        assert loss.item() == 0.0
        loss.backward()
        assert audio.grad is not None and torch.all(audio.grad == 0)


def test_temporal_gradcheck_float64():
    audio = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    text = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    neg = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    audio_neg = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    owner, audio_owner = torch.tensor([2, 0, 2]), torch.tensor([1, 1])

    def fn(a, t, n, an, s):
        return temporal_loss(a, t, n, owner, s, audio_neg_emb=an, audio_neg_owner=audio_owner)

    assert torch.autograd.gradcheck(fn, (audio, text, neg, audio_neg, scale))


def test_temporal_rejects_bad_owners():
    audio, text, neg = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match="neg_owner"):
        temporal_loss(audio, text, neg, None, torch.tensor(1.0))
    with pytest.raises(ValueError, match="neg_owner"):
        temporal_loss(audio, text, neg, torch.tensor([0, 2]), torch.tensor(1.0))
    with pytest.raises(ValueError, match="neg_owner"):
        temporal_loss(audio, text, neg, torch.tensor([0]), torch.tensor(1.0))
    with pytest.raises(ValueError, match="audio_neg_owner"):
        temporal_loss(audio, text, None, None, torch.tensor(1.0), audio_neg_emb=neg, audio_neg_owner=torch.tensor([-1, 0]))
    with pytest.raises(ValueError, match="neg_text_emb"):
        temporal_loss(audio, text, torch.randn(2, 3), torch.tensor([0, 1]), torch.tensor(1.0))


# ------------------------------------------------------------------------------------------------ TClapLoss


def test_tclap_loss_total_is_contrastive_plus_half_temporal():
    audio, text = _unit(4, 8, 20), _unit(4, 8, 21)
    neg, owner = _unit(3, 8, 22), torch.tensor([0, 0, 3])
    scale = torch.tensor(2.0)
    out = TClapLoss()(audio, text, scale, neg_text_emb=neg, neg_owner=owner)
    assert isinstance(out, LossOutput)
    assert out.contrastive.item() == pytest.approx(contrastive_loss(audio, text, scale).item())
    assert out.temporal.item() == pytest.approx(temporal_loss(audio, text, neg, owner, scale).item())
    assert out.temporal.item() > 0
    assert out.total.item() == pytest.approx(out.contrastive.item() + 0.5 * out.temporal.item(), abs=1e-6)
    w = TClapLoss(temporal_weight=2.0)(audio, text, scale, neg_text_emb=neg, neg_owner=owner)
    assert w.total.item() == pytest.approx(w.contrastive.item() + 2.0 * w.temporal.item(), abs=1e-6)


def test_tclap_loss_zero_weight_skips_temporal(monkeypatch):
    import tclap_gen.losses as losses

    def boom(*args, **kwargs):
        raise AssertionError("temporal_loss must not run when temporal_weight == 0")

    monkeypatch.setattr(losses, "temporal_loss", boom)
    audio, text = _unit(4, 8, 30), _unit(4, 8, 31)
    out = TClapLoss(temporal_weight=0)(audio, text, torch.tensor(1.0), neg_text_emb=_unit(2, 8, 32), neg_owner=torch.tensor([0, 1]))
    assert out.temporal.item() == 0.0
    assert out.total.item() == pytest.approx(out.contrastive.item())
    with pytest.raises(ValueError, match="temporal_weight"):
        TClapLoss(temporal_weight=-1)


@pytest.mark.parametrize("negatives", ["both", "captions", "audio"])
def test_batch_loss_order_negatives_choose_the_temporal_terms(negatives):
    # 3 clips; captions 0 and 2 own order-switched captions, captions 0 and 1 own re-ordered mixtures
    audio_all, text_all = _unit(3 + 2, 8, 40), _unit(3 + 3, 8, 41)
    batch = {"anchor_mask": torch.zeros(3, dtype=torch.bool), "negative_owner": torch.tensor([0, 2, 2]),
             "audio_negative_owner": torch.tensor([0, 1]), "paraphrase_owner": torch.tensor([], dtype=torch.long)}
    scale = torch.tensor(2.0)
    out = TClapLoss(0.5, order_negatives=negatives).batch_loss(audio_all, text_all, batch, scale)
    text_neg = (text_all[3:], batch["negative_owner"]) if negatives != "audio" else (None, None)
    audio_neg = (audio_all[3:], batch["audio_negative_owner"]) if negatives != "captions" else (None, None)
    expected = temporal_loss(audio_all[:3], text_all[:3], *text_neg, scale, *audio_neg)
    assert out.temporal.item() == pytest.approx(expected.item(), rel=1e-6)
    both = temporal_loss(audio_all[:3], text_all[:3], text_all[3:], batch["negative_owner"], scale,
                         audio_all[3:], batch["audio_negative_owner"])
    assert (out.temporal.item() == pytest.approx(both.item(), rel=1e-6)) == (negatives == "both")
    with pytest.raises(ValueError, match="order_negatives"):
        TClapLoss(order_negatives="text")


def test_class_prompt_loss_is_cross_entropy_over_every_class_phrase_for_single_clips_only():
    audio, prompts = _unit(4, 8, 50), _unit(5, 8, 51)
    scale = torch.tensor(1.5)
    targets = torch.tensor([2, -1, 4, -1])  # rows 1 and 3: mix-ups
    by_hand = (_ce((scale.exp() * audio[0] @ prompts.T).tolist(), 2)
               + _ce((scale.exp() * audio[2] @ prompts.T).tolist(), 4)) / 2
    assert class_prompt_loss(audio, prompts, targets, scale).item() == pytest.approx(by_hand, rel=1e-5)
    # no single clip: zero, with a graph
    audio.requires_grad_(True)
    none = class_prompt_loss(audio, prompts, torch.full((4,), -1), scale)
    assert none.item() == 0.0 and none.requires_grad
    with pytest.raises(ValueError, match="targets"):
        class_prompt_loss(audio, prompts, torch.tensor([0, 5, -1, -1]), scale)
    with pytest.raises(ValueError, match="targets"):
        class_prompt_loss(audio, prompts, torch.tensor([0, 1]), scale)


def test_class_prompt_loss_takes_class_distributions_as_soft_targets():
    audio, prompts = _unit(3, 8, 52), _unit(4, 8, 53)
    scale = torch.tensor(1.5)
    targets = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.25, 0.0, 0.75, 0.0], [0.0, 0.0, 0.0, 1.0]])
    rows = [(scale.exp() * audio[i] @ prompts.T).tolist() for i in range(3)]
    by_hand = (_ce(rows[0], 1) + 0.25 * _ce(rows[1], 0) + 0.75 * _ce(rows[1], 2) + _ce(rows[2], 3)) / 3
    assert class_prompt_loss(audio, prompts, targets, scale).item() == pytest.approx(by_hand, rel=1e-5)
    # one-hot distributions are the class indices
    one_hot = torch.eye(4)[[1, 3]]
    assert class_prompt_loss(audio[[0, 2]], prompts, one_hot, scale).item() == pytest.approx(
        class_prompt_loss(audio[[0, 2]], prompts, torch.tensor([1, 3]), scale).item(), rel=1e-6)
    empty = class_prompt_loss(audio[:0].requires_grad_(True), prompts, targets[:0], scale)
    assert empty.item() == 0.0 and empty.requires_grad
    with pytest.raises(ValueError, match="sum to 1"):
        class_prompt_loss(audio, prompts, targets * 2, scale)
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        class_prompt_loss(audio, prompts, targets[:, :3], scale)


def test_batch_loss_reads_the_windows_after_the_audio_negatives():
    # 2 clips, clip 0 owns one audio and one text negative; then 3 windows; 4 class phrases after the negative
    audio_all, text_all = _unit(2 + 1 + 3, 8, 62), _unit(2 + 1 + 4, 8, 63)
    targets = torch.tensor([[1.0, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1.0]])
    batch = {"anchor_mask": torch.zeros(2, dtype=torch.bool), "negative_owner": torch.tensor([0]),
             "audio_negative_owner": torch.tensor([0]), "paraphrase_owner": torch.tensor([], dtype=torch.long),
             "window_target": targets}
    scale = torch.tensor(2.0)
    out = TClapLoss(0.5, window_class_weight=0.3).batch_loss(audio_all, text_all, batch, scale)
    expected = class_prompt_loss(audio_all[3:], text_all[3:], targets, scale)
    assert out.window_class.item() == pytest.approx(expected.item(), rel=1e-6)
    assert out.total.item() == pytest.approx(out.contrastive.item() + 0.5 * out.temporal.item()
                                             + 0.3 * expected.item(), rel=1e-6)
    # the windows do not change the other terms: the temporal loss reads only the audio negative
    off = TClapLoss(0.5).batch_loss(audio_all[:3], text_all[:3], batch, scale)
    assert off.temporal.item() == pytest.approx(out.temporal.item(), rel=1e-6)
    assert off.contrastive.item() == pytest.approx(out.contrastive.item(), rel=1e-6)
    with pytest.raises(ValueError, match="window_target"):
        TClapLoss(window_class_weight=1.0).batch_loss(audio_all, text_all, {k: v for k, v in batch.items()
                                                                            if k != "window_target"}, scale)
    with pytest.raises(ValueError, match="window_class_weight"):
        TClapLoss(window_class_weight=float("nan"))


def test_batch_loss_reads_the_class_phrases_after_the_paraphrases():
    # 3 clips; caption 0 owns one order negative and one paraphrase; then 4 class phrases
    audio_all, text_all = _unit(3, 8, 60), _unit(3 + 1 + 1 + 4, 8, 61)
    batch = {"anchor_mask": torch.zeros(3, dtype=torch.bool), "negative_owner": torch.tensor([0]),
             "audio_negative_owner": torch.tensor([], dtype=torch.long), "paraphrase_owner": torch.tensor([0]),
             "class_target": torch.tensor([-1, 3, 0])}
    scale = torch.tensor(2.0)
    out = TClapLoss(0.5, class_prompt_weight=0.7).batch_loss(audio_all, text_all, batch, scale)
    expected = class_prompt_loss(audio_all, text_all[5:], batch["class_target"], scale)
    assert out.class_prompt.item() == pytest.approx(expected.item(), rel=1e-6)
    assert out.total.item() == pytest.approx(out.contrastive.item() + 0.5 * out.temporal.item()
                                             + 0.7 * out.class_prompt.item(), rel=1e-6)
    off = TClapLoss(0.5).batch_loss(audio_all, text_all[:5], batch, scale)
    assert off.class_prompt.item() == 0.0 and off.total.item() == pytest.approx(out.total.item() - 0.7 * expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="class_target"):
        TClapLoss(class_prompt_weight=1.0).batch_loss(audio_all, text_all, {k: v for k, v in batch.items()
                                                                            if k != "class_target"}, scale)
    with pytest.raises(ValueError, match="class_prompt_weight"):
        TClapLoss(class_prompt_weight=-0.1)


# ------------------------------------------------------------------------------------------------ DDP (2 gloo ranks)


def _load_worker():
    spec = importlib.util.spec_from_file_location("ddp_loss_worker", HERE / "ddp_loss_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_ranks_match_single_process(tmp_path):
    from safetensors.torch import load_file

    worker = _load_worker()
    seed = 3
    out_file = tmp_path / "ddp.safetensors"
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf"))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
        str(HERE / "ddp_loss_worker.py"), "--out", str(out_file), "--seed", str(seed),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"accelerate launch failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    ddp = load_file(str(out_file))
    assert ddp["world_size"].item() == 2  # really two ranks, not one silently

    batch = worker.make_batch(seed)
    for variant in worker.VARIANTS:
        model = worker.build_model(seed)
        ref = worker.compute(model, batch, None, variant)
        ref.total.backward()
        for field in ("total", "contrastive", "temporal"):
            assert ddp[f"{variant}/{field}"].item() == pytest.approx(getattr(ref, field).item(), abs=1e-5), (variant, field)
        for name, param in model.named_parameters():
            got = ddp[f"{variant}/grad/{name}"]
            assert param.grad.abs().max() > 1e-4  # the comparison is not between zeros
            torch.testing.assert_close(got, param.grad, atol=1e-5, rtol=1e-5, msg=f"{variant}: grad of {name}")
