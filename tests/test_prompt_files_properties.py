"""Property-based tests (hypothesis) of batch prompt files: whatever bytes a .txt, .jsonl or .csv holds (other
encodings, byte-order marks, blank lines, duplicate ids, huge lines, JSON that is not an object, bad seeds and
lengths), samples.generate_batch.read_prompts returns items the batch can generate or raises the documented
ValueError naming the file, quickly, and leaves the file as it was."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samples import generate_batch as gb
from tclap_gen.captions import MAX_CAPTION_CHARS

PROMPTS = ["a dog barks then a car horn honks", "glass smashing", "", "   ", "# a comment", "dog, \"quoted\", barks",
           "x" * (MAX_CAPTION_CHARS + 1), "y" * 200_000, "caf\u00e9 bell \u2014 rings", "tab\there", "\x00nul"]
ids = st.one_of(st.none(), st.sampled_from(["a", "b", "a", "", "../../etc", "a b/c", 7]))
seeds = st.one_of(st.none(), st.integers(-5, 2**64), st.sampled_from(["3", "x", "", 1.5, True, "1e3"]))
seconds = st.one_of(st.none(), st.sampled_from([2, 0, -1, "5", "nan", "inf", "abc", [], 1e308, 2.5]))
rows = st.lists(st.fixed_dictionaries({"prompt": st.one_of(st.sampled_from(PROMPTS), st.text(max_size=30),
                                                           st.integers(), st.none())},
                                      optional={"id": ids, "seed": seeds, "seconds": seconds}), max_size=6)


def as_text(rows, suffix: str, blank_lines: bool) -> str:
    sep = "\n\n" if blank_lines else "\n"
    if suffix == ".txt":
        return sep.join(str(r["prompt"]) for r in rows)
    if suffix == ".jsonl":
        return sep.join(json.dumps(r) for r in rows) + sep + "[1, 2]" * (len(rows) % 3 == 2)
    columns = ["id", "prompt", "seed", "seconds"]
    lines = [",".join(columns)] + [",".join(json.dumps(r.get(c, "")) if isinstance(r.get(c), str) else str(r.get(c, ""))
                                            for c in columns) for r in rows]
    return sep.join(lines)


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, suffix=st.sampled_from([".txt", ".jsonl", ".csv"]), blank_lines=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]), noise=st.binary(max_size=8))
def test_any_prompt_file_gives_valid_items_or_a_named_error(tmp_path_factory, rows, suffix, blank_lines, encoding,
                                                            noise):
    path = tmp_path_factory.mktemp("prompts") / f"prompts{suffix}"
    data = as_text(rows, suffix, blank_lines).encode(encoding, errors="replace") + noise
    path.write_bytes(data)
    try:
        items = gb.read_prompts(path, base_seed=1)
    except ValueError as error:
        assert str(path) in str(error)  # the error names the file
    else:
        assert len({item.id for item in items}) == len(items)
        for item in items:
            assert isinstance(item.prompt, str) and item.prompt == item.prompt.strip()
            assert 0 < len(item.prompt) <= MAX_CAPTION_CHARS
            assert 0 <= item.seed < 2**63
            assert item.seconds is None or 0 < item.seconds < float("inf")
            assert "/" not in gb.file_stem(item.id) and ".." not in gb.file_stem(item.id)
    assert path.read_bytes() == data  # reading never touches the file
