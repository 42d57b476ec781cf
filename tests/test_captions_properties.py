"""Property-based tests (hypothesis) of the caption grammar and of the CLI on bad input: no input crashes the
parser, every order negative states the same events in another order, and the CLI answers bad arguments with a
clear error and exit status 2, never a traceback."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tclap_gen.captions import (
    CaptionError,
    order_negatives,
    parse_events,
    render_caption,
    same_events_other_order,
)
from tclap_gen.cli import main as cli_main
from tclap_gen.datasets import LABEL_PHRASES

CONNECTIVES = [" then ", ", then ", " followed by ", " after ", " before ", " while ", " as ", ", ", " and ",
               ". ", " and then ", ", followed by ", " as well as ", " until ", "; "]
WORDS = ["a", "dog", "barks", "car", "horn", "honks", "glass", "smashing", "bell", "rings", "man", "speaks",
         "water", "flows", "door", "closes", "loud", "the", "and", "then", "after", "first", "finally", "twice"]

phrase = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
# Captions built from the grammar's own pieces: phrases joined by connectives, sometimes with a capital or a dot.
caption_like = st.builds(
    lambda first, rest, cap, dot: ((first + "".join(c + p for c, p in rest)).capitalize() if cap
                                   else first + "".join(c + p for c, p in rest)) + ("." if dot else ""),
    phrase, st.lists(st.tuples(st.sampled_from(CONNECTIVES), phrase), max_size=4), st.booleans(), st.booleans(),
)
any_text = st.one_of(st.text(max_size=200), caption_like)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(any_text)
def test_no_input_crashes_the_parser(text):
    for call in (parse_events, order_negatives):
        try:
            call(text)
        except CaptionError:
            pass  # the one documented error: a caption the grammar cannot work with


@FAST
@given(caption_like)
def test_every_negative_reparses_to_the_same_events_in_another_order(caption):
    try:
        plan, negatives = parse_events(caption), order_negatives(caption)
    except CaptionError:
        return
    assert len(set(negatives)) == len(negatives) and caption not in negatives
    if not plan.explicit_order:
        assert negatives == []
    for negative in negatives:
        other = parse_events(negative)
        assert sorted(other.events) == sorted(plan.events), (caption, negative)
        assert other.order_key() != plan.order_key(), (caption, negative)
        assert same_events_other_order(caption, negative)


@FAST
@given(st.lists(st.sampled_from(sorted(set(LABEL_PHRASES.values()))), min_size=1, max_size=4, unique=True),
       st.integers(0, 2**32 - 1), st.data())
def test_rendered_captions_parse_back_to_their_events(phrases, seed, data):
    relations = data.draw(st.lists(st.sampled_from(["before", "overlap"]), min_size=len(phrases) - 1,
                                   max_size=len(phrases) - 1))
    rendered = render_caption(phrases, random.Random(seed), relations=relations)
    plan = parse_events(rendered.text)
    assert plan.events == phrases and plan.relations == relations
    for negative in rendered.negatives:
        assert sorted(parse_events(negative).events) == sorted(phrases)


@settings(max_examples=60, deadline=None)
@given(any_text)
def test_cli_parse_answers_any_caption(text):
    # argparse reads a leading "-" as an option: pass such text after "--", as a user would have to
    assert cli_main(["parse", "--json", "--", text]) in (0, 2)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["eval tclassify --clips", "eval zeroshot --clips", "score"]),
       st.text(alphabet="abc/._- ", min_size=1, max_size=30))
def test_cli_missing_files_are_clear_errors(tmp_path_factory, capsys, command, name):
    missing = str(tmp_path_factory.getbasetemp() / "no-such-dir" / name)
    argv = command.split() + [missing] + (["a dog barks"] if command == "score" else [])
    assert cli_main(argv) == 2
    assert "error" in capsys.readouterr().err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.floats(0.0, 2.5), rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
       channels=st.sampled_from([1, 2]), dtype=st.sampled_from(["float32", "float64", "int16"]),
       kind=st.sampled_from(["noise", "silence", "clipped", "tone"]), seed=st.integers(0, 2**16))
def test_the_scorer_answers_any_audio_with_a_report_or_a_named_error(tiny_tclap, seconds, rate, channels, dtype,
                                                                   kind, seed):
    """Length (empty included), sampling rate, channels, dtype, silence and clipping: a report whose numbers lie in
    [0, 1], or the documented error for audio that cannot be scored (empty)."""
    import numpy as np

    from tclap_gen.audio import AudioError
    from tclap_gen.scoring import TemporalScorer

    n = int(seconds * rate)
    rng = np.random.default_rng(seed)
    wave = {"noise": 0.1 * rng.standard_normal((channels, n)), "silence": np.zeros((channels, n)),
            "clipped": np.clip(3.0 * rng.standard_normal((channels, n)), -1, 1),
            "tone": 0.5 * np.sin(np.arange(n)[None] * 0.05) * np.ones((channels, 1))}[kind]  # (channels, samples)
    wave = (wave * 32767).astype(np.int16) if dtype == "int16" else wave.astype(dtype)
    if channels == 1:
        wave = wave[0]
    try:
        report = TemporalScorer(tiny_tclap).score(wave, rate, "a dog barks then a car horn honks")
    except AudioError as error:
        assert n == 0 and "empty" in str(error)
        return
    assert 0.0 <= report.faithfulness <= 1.0
    assert all(0.0 <= event.confidence <= 1.0 for event in report.events)
    assert report.order_probability is None or 0.0 <= report.order_probability <= 1.0
    if kind == "silence":
        assert not any(event.present for event in report.events)
