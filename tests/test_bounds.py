"""No input hangs: the work a caption, a prompt or an audio length can cause is bounded, and a bad --out or
--model is one clear line with exit status 2."""

import time

import pytest

from tclap_gen.captions import (
    MAX_CAPTION_CHARS,
    MAX_LISTED_EVENTS,
    SAMPLED_NEGATIVES,
    CaptionError,
    order_negatives,
    parse_events,
)
from tclap_gen.cli import main as cli_main
from tclap_gen.registry import resolve_builtin


def chain(n: int) -> str:
    return " then ".join(f"s{i} rings" for i in range(n))


def test_long_chains_get_a_bounded_seeded_sample_of_negatives():
    assert len(order_negatives(chain(MAX_LISTED_EVENTS))) == 119  # every other order of 5 events
    for n in (6, 8, 12):
        began = time.perf_counter()
        negatives = order_negatives(chain(n))
        assert time.perf_counter() - began < 2.0  # was 12.5 s for 8 events (all 40,319 orders)
        assert len(negatives) == SAMPLED_NEGATIVES and len(set(negatives)) == len(negatives)
        events = parse_events(chain(n)).events
        assert negatives[0] == " then ".join(reversed([e for e in events]))  # the reversal comes first
        for negative in negatives:
            assert sorted(parse_events(negative).events) == sorted(events) and negative != chain(n)
        assert order_negatives(chain(n)) == negatives  # seeded by the caption
    assert len(order_negatives(chain(8), limit=3)) == 3


def test_captions_longer_than_the_grammar_reads_are_a_clear_error():
    huge = "glass smash then drill " * 2000
    began = time.perf_counter()
    with pytest.raises(CaptionError, match=f"at most {MAX_CAPTION_CHARS:,}"):
        parse_events(huge)
    assert time.perf_counter() - began < 1.0


def test_the_pipeline_bounds_prompt_length_and_audio_length(pipe):
    with pytest.raises(ValueError, match=r"`prompt\[0\]` is 46,000 characters"):
        pipe("glass smash then drill " * 2000, num_inference_steps=1)
    with pytest.raises(ValueError, match="`audio_length_in_s`=10000 is above"):
        pipe("a dog barks", num_inference_steps=1, audio_length_in_s=10000)


def test_model_names_say_what_was_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a built-in name .* no such folder"):
        resolve_builtin(str(tmp_path / "nonexistent"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileNotFoundError, match="is a file"):
        resolve_builtin(str(tmp_path / "afile"))
    assert resolve_builtin("owner/name") == "owner/name"  # a Hub id is left to the Hub client


def test_cli_bad_out_and_model_are_one_line_and_exit_2(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert cli_main(["generate", "a dog barks", "--out", str(afile)]) == 2
    assert "--out" in capsys.readouterr().err and afile.read_text() == "keep me"  # nothing written over
    assert cli_main(["generate", "a dog barks", "--out", str(tmp_path / "o"), "--model", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert "not a built-in name" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["batch", str(afile), "--out", str(afile)]) == 2
    assert "--out" in capsys.readouterr().err
