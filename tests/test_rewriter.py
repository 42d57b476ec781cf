"""Tests of the order-negative rewriters (tclap_gen.rewriter)."""

import json

import pytest

from tclap_gen.captions import CaptionError
from tclap_gen.rewriter import (
    PROMPT_TEMPLATE,
    LLMRewriter,
    RewriterError,
    RuleRewriter,
    get_rewriter,
)

ORDERED = "a dog barks then a man speaks"
SWAPPED = "a man speaks then a dog barks"
AFTER = "a car horn honks after a door slams"


def test_rule_rewriter():
    rewriter = RuleRewriter()
    assert rewriter.rewrite(ORDERED) == [SWAPPED]
    assert rewriter.rewrite("a dog barks and a man speaks") == []
    assert len(rewriter.rewrite("a, b, c, then d")) == 23
    assert rewriter.stats.to_dict() == {
        "requested": 3, "cached": 0, "skipped": 1, "generated": 0, "valid": 24, "invalid": 0
    }
    assert len(RuleRewriter(limit=2).rewrite("a, b, c, then d")) == 2
    assert RuleRewriter().rewrite_many([ORDERED, AFTER]) == [[SWAPPED], ["a door slams after a car horn honks"]]
    with pytest.raises(RewriterError, match="limit"):
        RuleRewriter(limit=0)


class FakeGenerator:
    """Answers per caption from a table and records what it was asked."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, captions):
        self.calls.append(list(captions))
        return [self.answers[c] for c in captions]


def test_llm_rewriter_validates_and_counts():
    fake = FakeGenerator({
        ORDERED: [SWAPPED, "Rewritten: " + SWAPPED, "a cat meows then a dog barks", ORDERED, ""],
        AFTER: '"a door slams after a car horn honks"\nsome chatter on the next line',
    })
    rewriter = LLMRewriter(generate_fn=fake)
    out = rewriter.rewrite_many([ORDERED, "a dog barks and a man speaks", AFTER])
    # The label and the quotes are stripped; the duplicate, the other event, the copy and "" are dropped.
    assert out == [[SWAPPED], [], ["a door slams after a car horn honks"]]
    assert fake.calls == [[ORDERED, AFTER]]  # the unordered caption never reaches the model
    stats = rewriter.stats.to_dict()
    assert stats == {"requested": 3, "cached": 0, "skipped": 1, "generated": 2, "valid": 2, "invalid": 4}


def test_llm_rewriter_cache_roundtrip_and_truncated_line(tmp_path):
    cache = tmp_path / "sub" / "rewrites.jsonl"
    fake = FakeGenerator({ORDERED: [SWAPPED], AFTER: ["nonsense"]})
    first = LLMRewriter(generate_fn=fake, cache_path=cache, batch_size=1)
    assert first.rewrite_many([ORDERED, AFTER, ORDERED]) == [[SWAPPED], [], [SWAPPED]]
    assert fake.calls == [[ORDERED], [AFTER]]  # each caption generated once, in batches of 1
    assert first.stats.generated == 2 and first.stats.invalid == 1 and first.stats.cached == 0
    assert first.rewrite(ORDERED) == [SWAPPED] and first.stats.cached == 1 and len(fake.calls) == 2
    lines = cache.read_text().splitlines()
    assert [json.loads(line)["caption"] for line in lines] == [ORDERED, AFTER]

    # A run interrupted mid-append leaves a broken last line: it is dropped, the rest is reused.
    with open(cache, "a") as handle:
        handle.write('{"caption": "a door opens then a door clo')
    fake2 = FakeGenerator({"a door opens then a door closes": ["a door closes then a door opens"]})
    second = LLMRewriter(generate_fn=fake2, cache_path=cache)
    assert set(second.cache) == {ORDERED, AFTER}
    assert second.rewrite(ORDERED) == [SWAPPED]
    assert second.rewrite("a door opens then a door closes") == ["a door closes then a door opens"]
    assert fake2.calls == [["a door opens then a door closes"]]
    assert second.stats.cached == 1 and second.stats.generated == 1
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["caption"] for r in records] == [ORDERED, AFTER, "a door opens then a door closes"]


def test_llm_rewriter_cache_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('not json\n{"caption": "a", "outputs": []}\n')
    with pytest.raises(RewriterError, match="line 1"):
        LLMRewriter(generate_fn=lambda c: c, cache_path=bad)
    with pytest.raises(RewriterError, match="folder"):
        LLMRewriter(generate_fn=lambda c: c, cache_path=tmp_path)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({}, "model"),
        ({"model": "  "}, "model"),
        ({"model": "x", "max_new_tokens": 0}, "max_new_tokens"),
        ({"model": "x", "batch_size": 0}, "batch_size"),
        ({"model": "x", "num_return_sequences": 0}, "num_return_sequences"),
        ({"model": "x", "prompt_template": "no slot"}, "caption"),
    ],
)
def test_llm_rewriter_bad_arguments(kwargs, match):
    with pytest.raises(RewriterError, match=match):
        LLMRewriter(**kwargs)


def test_llm_rewriter_generator_answer_count():
    rewriter = LLMRewriter(generate_fn=lambda captions: [])
    with pytest.raises(RewriterError, match="0 answers for 1"):
        rewriter.rewrite(ORDERED)
    with pytest.raises(CaptionError):
        rewriter.rewrite("   ")


def test_missing_model_is_a_clear_error(tmp_path):
    rewriter = LLMRewriter(model=str(tmp_path / "no-such-model"))
    with pytest.raises(RewriterError, match="no-such-model"):
        rewriter.rewrite(ORDERED)


def test_get_rewriter(tmp_path):
    assert isinstance(get_rewriter(), RuleRewriter)
    assert isinstance(get_rewriter("rule"), RuleRewriter)
    llm = get_rewriter("llm:some/model", cache_path=tmp_path / "c.jsonl")
    assert isinstance(llm, LLMRewriter) and llm.model_name == "some/model"
    assert isinstance(get_rewriter(str(tmp_path)), LLMRewriter)
    with pytest.raises(RewriterError, match="unknown rewriter"):
        get_rewriter("rul")
    with pytest.raises(RewriterError, match="needs a model"):
        get_rewriter("llm:")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A random 1-layer GPT-2 with a byte-level BPE tokenizer trained here (no download)."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-lm")
    bpe = ByteLevelBPETokenizer()
    corpus = [PROMPT_TEMPLATE.format(caption=ORDERED), SWAPPED, AFTER] * 3
    bpe.train_from_iterator(corpus, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=512, n_embd=16, n_layer=1, n_head=2,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_llm_rewriter_with_a_real_tiny_model(tiny_lm, tmp_path):
    cache = tmp_path / "rewrites.jsonl"
    rewriter = get_rewriter(str(tiny_lm), cache_path=cache, max_new_tokens=6, device="cpu")
    out = rewriter.rewrite_many([ORDERED, AFTER, "a dog barks"])
    # A random model writes garbage: validation drops all of it and counts it.
    assert out == [[], [], []]
    assert rewriter.stats.generated == 2 and rewriter.stats.invalid == 2 and rewriter.stats.valid == 0
    assert rewriter.stats.skipped == 1
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [r["caption"] for r in records] == [ORDERED, AFTER]
    assert all(len(r["outputs"]) == 1 and isinstance(r["outputs"][0], str) for r in records)
    assert records[0]["model"] == str(tiny_lm)
    # The prompt asks for the order switch and carries the caption.
    prompt = rewriter.build_prompt(ORDERED)
    assert prompt.endswith(f"Description: {ORDERED}\nRewritten:") and "different order" in prompt
    # Several sampled answers per caption.
    sampled = LLMRewriter(tiny_lm, max_new_tokens=4, num_return_sequences=2, device="cpu")
    assert sampled.rewrite(ORDERED) == []
    assert len(sampled.cache[ORDERED]) == 2 and sampled.stats.invalid == 2


def test_llm_rewriter_uses_the_chat_template(tiny_lm):
    rewriter = LLMRewriter(tiny_lm, max_new_tokens=2, device="cpu")
    assert rewriter.rewrite(ORDERED) == []  # loads the model
    rewriter._tokenizer.chat_template = "{% for m in messages %}<user>{{ m['content'] }}{% endfor %}<bot>"
    prompt = rewriter.build_prompt(ORDERED)
    assert prompt.startswith("<user>Rewrite the sound description") and prompt.endswith("Rewritten:<bot>")
