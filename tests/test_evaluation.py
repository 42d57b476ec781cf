"""Evaluation: exact metric arithmetic on hand-made similarities and oracle models, mechanics on the tiny T-CLAP."""

import copy
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tclap_gen.captions import parse_events
from tclap_gen.evaluation import (
    DEFAULT_PROBE_CAPTIONS,
    EvaluationError,
    build_tclassify_examples,
    class_prompts,
    evaluate_tclassify,
    fit_linear_probe,
    format_result,
    linear_probe,
    retrieval,
    retrieval_from_similarity,
    run_eval,
    t_classify,
    tclassify_from_similarity,
    text_drift,
    zero_shot,
    zero_shot_from_similarity,
)


def wave_key(wave) -> str:
    return hashlib.sha1(np.ascontiguousarray(wave, dtype=np.float32).tobytes()).hexdigest()


class LookupModel:
    """A TClap stand-in whose embeddings come from tables: audio by content hash, text by string.
    Counts its calls, so tests can check that embedding is batched."""

    sampling_rate = 16000
    max_samples = 32000

    def __init__(self, audio_table: dict, text_table: dict, dim: int):
        self.audio_table, self.text_table, self.dim = audio_table, text_table, dim
        self.calls = {"audio": 0, "text": 0}

    def embed_audio(self, waves, sampling_rate, batch_size=32):
        self.calls["audio"] += 1
        assert sampling_rate == self.sampling_rate
        return F.normalize(torch.stack([self.audio_table[wave_key(w)] for w in waves]).float(), dim=-1)

    def embed_text(self, texts, batch_size=64):
        self.calls["text"] += 1
        return F.normalize(torch.stack([self.text_table[t] for t in texts]).float(), dim=-1)


def one_hot(i: int, dim: int) -> torch.Tensor:
    return F.one_hot(torch.tensor(i), dim).float()


@dataclass
class Example:  # the fields of datasets.TemporalExample that T-Classify reads
    audio: np.ndarray
    caption: str
    negatives: list
    audio_negatives: list
    sampling_rate: int = 16000
    labels: list = field(default_factory=list)


# ---------------------------------------------------------------- T-Classify arithmetic


def test_tclassify_arithmetic_with_ties_as_wrong():
    sim = torch.tensor([
        [[0.9, 0.1], [0.2, 0.8]],  # all four comparisons right
        [[0.5, 0.4], [0.6, 0.7]],  # A2T both right; T2A: caption AB prefers audio BA (0.6 > 0.5)
        [[0.3, 0.3], [0.1, 0.9]],  # audio AB ties between the captions: wrong
    ])
    result = tclassify_from_similarity(sim)
    assert result.n_pairs == 3
    assert result.a2t == pytest.approx(5 / 6)
    assert result.t2a == pytest.approx(5 / 6)
    assert result.group == pytest.approx(1 / 3)
    assert result.margin == pytest.approx((0.8 + 0.1 + 0.0 + 0.6 + 0.1 + 0.8) / 6)
    assert set(result.to_dict()) == {"a2t", "t2a", "group", "n_pairs", "margin"}


def test_tclassify_all_ties_score_zero_and_bad_shapes_raise():
    result = tclassify_from_similarity(torch.full((4, 2, 2), 0.5))
    assert (result.a2t, result.t2a, result.group) == (0.0, 0.0, 0.0)
    with pytest.raises(EvaluationError, match="shape"):
        tclassify_from_similarity(torch.zeros(3, 2, 3))
    with pytest.raises(EvaluationError, match="shape"):
        tclassify_from_similarity(torch.zeros(0, 2, 2))
    with pytest.raises(EvaluationError, match="NaN"):
        tclassify_from_similarity(torch.full((1, 2, 2), float("nan")))


def synthetic_examples(n: int, seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ab, ba = rng.standard_normal(800).astype(np.float32), rng.standard_normal(800).astype(np.float32)
        out.append(Example(ab, f"sound {i} then other {i}", [f"other {i} then sound {i}"], [ba]))
    return out


def oracle_for(examples, mode: str) -> LookupModel:
    """mode "order": reads the order (AB and BA get their own directions, matching their captions);
    "inverted": matches each caption to the switched mixture; "blind": one direction per pair for both orders."""
    n = len(examples)
    audio, text = {}, {}
    for i, ex in enumerate(examples):
        ab, ba = one_hot(2 * i, 2 * n), one_hot(2 * i + 1, 2 * n)
        if mode == "blind":
            ba = ab
        audio[wave_key(ex.audio)], audio[wave_key(ex.audio_negatives[0])] = ab, ba
        if mode == "inverted":
            ab, ba = ba, ab
        text[ex.caption], text[ex.negatives[0]] = ab, ba
    return LookupModel(audio, text, 2 * n)


@pytest.mark.parametrize("mode, expected", [("order", 1.0), ("inverted", 0.0), ("blind", 0.0)])
def test_tclassify_oracles(mode, expected):
    examples = synthetic_examples(5)
    model = oracle_for(examples, mode)
    result = t_classify(model, examples)
    assert (result.a2t, result.t2a, result.group) == (expected, expected, expected)
    assert result.n_pairs == 5
    assert model.calls == {"audio": 1, "text": 1}  # everything embedded in one batched call each


def test_tclassify_rejects_examples_without_one_switched_order():
    examples = synthetic_examples(2)
    examples[1].negatives = ["a", "b"]
    with pytest.raises(EvaluationError, match=r"examples\[1\]"):
        t_classify(oracle_for(synthetic_examples(2), "order"), examples)
    with pytest.raises(EvaluationError, match="at least one"):
        t_classify(oracle_for(synthetic_examples(2), "order"), [])


# ---------------------------------------------------------------- T-Classify on real clips


def test_tclassify_mixups_are_deterministic_and_oracle_scores_perfectly(clips_csv):
    from tclap_gen.datasets import read_clip_metadata

    records = read_clip_metadata(clips_csv)
    first = build_tclassify_examples(records, 4, seed=3, sampling_rate=16000, seconds=2.0)
    again = build_tclassify_examples(records, 4, seed=3, sampling_rate=16000, seconds=2.0)
    other = build_tclassify_examples(records, 4, seed=4, sampling_rate=16000, seconds=2.0)
    assert [wave_key(e.audio) for e in first] == [wave_key(e.audio) for e in again]
    assert [wave_key(e.audio) for e in first] != [wave_key(e.audio) for e in other]
    for ex in first:
        assert len(set(ex.labels)) == 2
        assert len(ex.negatives) == 1 and len(ex.audio_negatives) == 1
        assert ex.negatives[0] != ex.caption
        assert not np.array_equal(ex.audio, ex.audio_negatives[0])
        assert parse_events(ex.negatives[0]).events == parse_events(ex.caption).events[::-1]

    # The oracle is built from the examples of seed 3; evaluate_tclassify rebuilds them itself, so a perfect score
    # also shows that it hands over the same, deterministic mix-ups with their orders the right way round.
    oracle = oracle_for(first, "order")
    oracle.max_samples = 2 * oracle.sampling_rate  # the oracle's window: 2 s mixtures
    result = evaluate_tclassify(oracle, records, n_pairs=4, seed=3)
    assert (result.a2t, result.t2a, result.group, result.n_pairs) == (1.0, 1.0, 1.0, 4)
    blind = evaluate_tclassify(oracle_for(first, "blind"), records, n_pairs=4, seed=3, seconds=2.0)
    assert (blind.a2t, blind.t2a, blind.group) == (0.0, 0.0, 0.0)


def test_tclassify_needs_two_classes(clips_csv):
    from tclap_gen.datasets import read_clip_metadata

    records = [r for r in read_clip_metadata(clips_csv) if r.label == "typing"]
    with pytest.raises(EvaluationError, match="two classes"):
        build_tclassify_examples(records, 2)
    with pytest.raises(EvaluationError, match="pairs"):
        build_tclassify_examples(read_clip_metadata(clips_csv), 0)


def test_tclassify_with_tiny_tclap(tiny_tclap, clips_csv):
    report = run_eval("tclassify", tiny_tclap, clips_csv, pairs=4, seed=1)
    assert report["n_pairs"] == 4 and report["n_clips"] == 12 and report["seconds"] == pytest.approx(2.0)
    # a2t / t2a count 8 items (both orders of 4 pairs), group counts 4 pairs.
    for key, count in (("a2t", 8), ("t2a", 8), ("group", 4)):
        assert 0.0 <= report[key] <= 1.0 and (report[key] * count) == pytest.approx(round(report[key] * count))
    assert report == run_eval("tclassify", tiny_tclap, clips_csv, pairs=4, seed=1)  # deterministic
    json.dumps(report)
    text = format_result("tclassify", report)
    assert "A2T" in text and "group" in text and "pairs 4" in text


# ---------------------------------------------------------------- zero-shot


def test_zero_shot_arithmetic_topk_and_ties():
    classes = ["a", "b", "c", "d", "e", "f"]
    sim = torch.tensor([
        [0.9, 0.1, 0.0, 0.0, 0.0, 0.0],  # target 0: top-1
        [0.9, 0.8, 0.0, 0.0, 0.0, 0.0],  # target 1: second -> top-5 only
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],  # target 5: last of six -> wrong at top-5
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # target 2: ties with all others -> wrong everywhere
    ])
    result = zero_shot_from_similarity(sim, [0, 1, 5, 2], class_names=classes)
    assert (result.top1, result.top5, result.k) == (0.25, 0.5, 5)
    assert (result.n_clips, result.n_classes) == (4, 6)
    assert result.per_class == {"a": 1.0, "b": 0.0, "c": 0.0, "f": 0.0}

    three = zero_shot_from_similarity(sim[:, :3], [0, 1, 2, 2], k=5)
    assert three.k == 3 and (three.top1, three.top5) == (0.25, 1.0)  # top-k with k = n_classes is always right
    with pytest.raises(EvaluationError, match="targets"):
        zero_shot_from_similarity(sim, [0, 1, 6, 2])


def test_zero_shot_oracle_and_tiny_model(tiny_tclap, clips_csv):
    from tclap_gen.audio import load_audio
    from tclap_gen.datasets import read_clip_metadata

    records = read_clip_metadata(clips_csv)
    classes = sorted({r.label for r in records})
    prompts = class_prompts(classes)
    assert prompts[classes.index("glass_smash")] == "the sound of glass smashing"
    audio = {wave_key(load_audio(r.path, 16000)[0]): one_hot(classes.index(r.label), len(classes)) for r in records}
    text = {p: one_hot(i, len(classes)) for i, p in enumerate(prompts)}
    oracle = LookupModel(audio, text, len(classes))
    result = zero_shot(oracle, records)
    assert (result.top1, result.top5, result.n_clips, result.n_classes) == (1.0, 1.0, 12, 6)
    assert oracle.calls == {"audio": 1, "text": 1}

    # An oracle that hears every clip mostly as the next class, a little as its own: never top-1, always top-2.
    shifted = {k: v.roll(1) + 0.5 * v for k, v in audio.items()}
    wrong = zero_shot(LookupModel(shifted, text, len(classes)), records, k=2)
    assert (wrong.top1, wrong.top5, wrong.k) == (0.0, 1.0, 2)

    report = run_eval("zeroshot", tiny_tclap, clips_csv)
    assert report["n_clips"] == 12 and report["n_classes"] == 6 and report["k"] == 5
    assert 0.0 <= report["top1"] <= report["top5"] <= 1.0
    assert set(report["per_class"]) == set(classes)
    assert "top-1" in format_result("zeroshot", report)

    with pytest.raises(EvaluationError, match="outside classes"):
        zero_shot(oracle, records, classes=classes[:3])


def test_duplicate_class_prompts_warn():
    with pytest.warns(UserWarning, match="share the prompt"):
        class_prompts(["peel", "peeling_vegetables"])


# ---------------------------------------------------------------- retrieval


def test_retrieval_arithmetic():
    # 3 audios; audio 0 has captions 0 and 1, audio 1 caption 2, audio 2 caption 3.
    sim = torch.tensor([
        [0.9, 0.1, 0.2],  # caption 0 -> audio 0 first
        [0.3, 0.5, 0.1],  # caption 1 -> its audio 0 is second
        [0.4, 0.4, 0.0],  # caption 2 -> ties with audio 0: rank 1 (wrong at 1)
        [0.0, 0.1, 0.8],  # caption 3 -> audio 2 first
    ])
    result = retrieval_from_similarity(sim, [0, 0, 1, 2])
    assert result.t2a_r1 == pytest.approx(0.5) and result.t2a_r5 == 1.0
    # audio 0: best own caption 0.9, beats all -> right; audio 1: own 0.5 (caption 2 is 0.4 ... column 1:
    # captions 0..3 = 0.1, 0.5, 0.4, 0.1; own caption 2 = 0.4 < caption 1's 0.5 -> rank 1; audio 2: own 0.8 best.
    assert result.a2t_r1 == pytest.approx(2 / 3) and result.a2t_r5 == 1.0
    assert (result.n_audio, result.n_captions) == (3, 4)
    with pytest.raises(EvaluationError, match="no caption"):
        retrieval_from_similarity(sim, [0, 0, 0, 0])


def test_retrieval_on_pairs(tiny_tclap):
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(1600).astype(np.float32) * 0.1 for _ in range(12)]
    items = [(w, f"caption {i}") for i, w in enumerate(waves)]
    items.insert(1, (waves[0], "another caption 0"))  # a second caption for the first audio
    audio = {wave_key(w): one_hot(i, 12) for i, w in enumerate(waves)}
    text = {c: audio[wave_key(w)] for w, c in items}
    oracle = LookupModel(audio, text, 12)
    result = retrieval(oracle, items, sampling_rate=16000)
    assert (result.n_audio, result.n_captions) == (12, 13)
    assert result.to_dict()["t2a_r1"] == 1.0 and result.a2t_r1 == 1.0 and oracle.calls == {"audio": 1, "text": 1}

    tiny = retrieval(tiny_tclap, items, sampling_rate=16000)
    assert (tiny.n_audio, tiny.n_captions) == (12, 13)
    assert 0.0 <= tiny.t2a_r1 <= tiny.t2a_r5 <= tiny.t2a_r10 <= 1.0
    assert 0.0 <= tiny.a2t_r1 <= tiny.a2t_r5 <= tiny.a2t_r10 <= 1.0
    with pytest.raises(EvaluationError, match="sampling_rate"):
        retrieval(oracle, items)


def test_retrieval_on_caption_dataset(tiny_tclap, tmp_path):
    from tclap_gen.audio import save_audio
    from tclap_gen.datasets import CaptionDataset

    rng = np.random.default_rng(1)
    rows = ["path,caption"]
    for i in range(4):
        save_audio(tmp_path / f"clip{i}.wav", rng.uniform(-0.5, 0.5, 8000).astype(np.float32), 16000)
        rows.append(f"clip{i}.wav,sound number {i}")
    rows.append("clip0.wav,another caption for clip zero")  # Clotho-style: one audio, several captions
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n")
    dataset = CaptionDataset(tmp_path / "captions.csv", layout="generic", sampling_rate=16000, seconds=1.0)

    examples = [dataset[i] for i in range(len(dataset))]
    audio = {wave_key(e.audio): one_hot(i, 4) for i, e in enumerate(examples[:4])}
    text = {e.caption: audio[wave_key(e.audio)] for e in examples}
    result = retrieval(LookupModel(audio, text, 4), dataset)
    assert (result.n_audio, result.n_captions) == (4, 5)
    assert (result.t2a_r1, result.a2t_r1) == (1.0, 1.0)
    mechanics = retrieval(tiny_tclap, dataset)
    assert (mechanics.n_audio, mechanics.n_captions) == (4, 5) and mechanics.t2a_r5 == 1.0  # 4 audios: all in top 5


# ---------------------------------------------------------------- drift


def test_retrieval_of_mixups_from_the_command_line(tiny_tclap, clips_csv, tmp_path, capsys):
    """`tclap-gen eval retrieval`: recall@k among two-event mix-ups of the clips and their captions."""
    from tclap_gen.cli import main

    tiny_tclap.save_pretrained(tmp_path / "model")
    assert main(["eval", "retrieval", "--model", str(tmp_path / "model"), "--clips", str(clips_csv), "--pairs", "6",
                 "--seed", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    from tclap_gen.datasets import read_clip_metadata

    report = run_eval("retrieval", tiny_tclap, clips_csv, pairs=6, seed=2)
    assert report["n_audio"] == report["n_captions"] == 6 and report["kind"] == "retrieval"
    for key in ("t2a", "a2t"):
        assert 0 <= report[f"{key}_r1"] <= report[f"{key}_r5"] <= report[f"{key}_r10"] == 1.0  # 6 items: R@10 is 1
    examples = build_tclassify_examples(read_clip_metadata(clips_csv), 6, seed=2, seconds=report["seconds"])
    direct = retrieval(tiny_tclap, examples)
    assert direct.to_dict() == {k: report[k] for k in direct.to_dict()}  # the same mix-ups, the same figures
    assert {k: printed[k] for k in direct.to_dict()} == {k: report[k] for k in direct.to_dict()}
    text = format_result("retrieval", report)
    assert "text->audio R@1" in text and "audio->text R@10" in text


def test_probe_captions_have_no_temporal_structure():
    assert 15 <= len(DEFAULT_PROBE_CAPTIONS) == len(set(DEFAULT_PROBE_CAPTIONS))
    for caption in DEFAULT_PROBE_CAPTIONS:
        plan = parse_events(caption)
        assert len(plan.events) == 1 and plan.relations == [], caption


def test_text_drift(tiny_tclap):
    assert text_drift(tiny_tclap, tiny_tclap) == pytest.approx(1.0, abs=1e-5)
    pair = (tiny_tclap.export_text_encoder(), tiny_tclap.processor.tokenizer)
    assert text_drift(tiny_tclap, pair) == pytest.approx(1.0, abs=1e-4)

    moved = copy.deepcopy(tiny_tclap)
    with torch.no_grad():
        for p in moved.model.text_projection.parameters():
            p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(0)) * p.abs().mean() * 3)
    drift = text_drift(moved, tiny_tclap, probe_captions=DEFAULT_PROBE_CAPTIONS[:5])
    assert -1.0 <= drift < 0.99

    class Narrow:
        def embed_text(self, texts):
            return F.normalize(torch.ones(len(texts), 16), dim=-1)

    with pytest.raises(EvaluationError, match="shapes differ"):
        text_drift(tiny_tclap, Narrow())
    with pytest.raises(EvaluationError, match="reference"):
        text_drift(tiny_tclap, object())


# ---------------------------------------------------------------- command-line entry


def test_run_eval_errors_and_heldout(tiny_tclap, clips_csv, tmp_path):
    from tclap_gen.datasets import read_clip_metadata, split_by_source

    with pytest.raises(EvaluationError, match="kind"):
        run_eval("retrieve", tiny_tclap, clips_csv)
    with pytest.raises(FileNotFoundError, match="--clips"):
        run_eval("zeroshot", tiny_tclap, tmp_path / "missing.csv")
    with pytest.raises(EvaluationError, match="split"):
        run_eval("zeroshot", tiny_tclap, clips_csv, split="train")

    # Every class of the test clips has two recordings: one of each is held out.
    _, held = split_by_source(read_clip_metadata(clips_csv), test_fraction=0.2, seed=0)
    report = run_eval("zeroshot", tiny_tclap, clips_csv, split="heldout")
    assert report["split"] == "heldout" and report["n_clips"] == len(held) == 6 and report["n_classes"] == 6


# ---------------------------------------------------------------- linear probe


def test_linear_probe_fits_train_clips_and_scores_held_out_ones(tiny_tclap, clips_csv):
    from tclap_gen.audio import load_audio
    from tclap_gen.datasets import heldout_split, read_clip_metadata

    records = read_clip_metadata(clips_csv)
    train, held = heldout_split(records)
    classes = sorted({r.label for r in records})
    keys = {id(r): wave_key(load_audio(r.path, 16000)[0]) for r in records}
    # Each clip embeds as its class's direction plus a little noise: a probe must find every class again.
    noise = torch.Generator().manual_seed(0)
    audio = {keys[id(r)]: one_hot(classes.index(r.label), 8) + 0.05 * torch.randn(8, generator=noise) for r in records}
    result = linear_probe(LookupModel(audio, {}, 8), train, held)
    assert (result.top1, result.train_top1) == (1.0, 1.0)
    assert (result.n_train, result.n_clips, result.n_classes) == (len(train), len(held), 6)
    assert set(result.per_class) == set(classes)

    # Held-out clips that sound like the next class are all wrong, though the train side still fits.
    shifted = dict(audio)
    for r in held:
        shifted[keys[id(r)]] = one_hot((classes.index(r.label) + 1) % 6, 8)
    wrong = linear_probe(LookupModel(shifted, {}, 8), train, held)
    assert (wrong.top1, wrong.train_top1) == (0.0, 1.0)

    with pytest.raises(EvaluationError, match="no train clip"):
        linear_probe(LookupModel(audio, {}, 8), [r for r in train if r.label != classes[0]], held)

    report = run_eval("probe", tiny_tclap, clips_csv, split="heldout")
    assert report["n_clips"] == len(held) and report["n_train"] == len(train)
    assert 0.0 <= report["top1"] <= 1.0 and report["train_top1"] == 1.0  # 6 points in 32 dims are separable
    assert "held-out top-1" in format_result("probe", report)
    with pytest.raises(EvaluationError, match="split must be 'heldout'"):
        run_eval("probe", tiny_tclap, clips_csv)


def test_fit_linear_probe_is_a_minimum_of_its_loss():
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    weight, bias = fit_linear_probe(x, y, 3, weight_decay=1e-2)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * 1e-2 * weight.pow(2).sum()
    grads = torch.autograd.grad(loss, (weight, bias))
    assert max(float(g.abs().max()) for g in grads) < 1e-5  # L-BFGS reached the convex problem's optimum
    with pytest.raises(EvaluationError, match="weight_decay"):
        fit_linear_probe(x, y, 3, weight_decay=-1.0)
