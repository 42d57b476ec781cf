"""Tests of the caption event grammar (tclap_gen.captions)."""

import itertools
import json
import random
import re
from math import factorial

import pytest

from tclap_gen.captions import (
    TEMPLATES,
    CaptionError,
    EventPlan,
    has_explicit_order,
    order_negatives,
    parse_events,
    parse_structure,
    render_caption,
    same_events_other_order,
)
from tclap_gen.datasets import LABEL_PHRASES, label_to_phrase

B, O = "before", "overlap"
DOG, MAN, CAR = "a dog barks", "a man speaks", "a car passes"

# caption -> (events in temporal order, relations)
PARSE_CASES = [
    ("a dog barks then a man speaks", [DOG, MAN], [B]),
    ("a dog barks and then a man speaks", [DOG, MAN], [B]),
    ("a dog barks, and then a man speaks", [DOG, MAN], [B]),
    ("a dog barks, then a man speaks", [DOG, MAN], [B]),
    ("a dog barks followed by a man speaks", [DOG, MAN], [B]),
    ("a dog barks is followed by a man speaks", [DOG, MAN], [B]),
    ("a dog barks is quickly followed by a man speaks", [DOG, MAN], [B]),
    ("a man speaking quickly followed by a dog barks", ["a man speaking quickly", DOG], [B]),
    ("a dog barks, quickly followed by a man speaks", [DOG, MAN], [B]),
    ("a man speaks, loudly, then a dog barks", ["a man speaks, loudly", DOG], [B]),
    ("a ruffle, followed by two short, sharp beeps", ["a ruffle", "two short, sharp beeps"], [B]),
    ("a dog barks and then is followed by a man speaks", [DOG, MAN], [B]),
    ("a dog barks proceeded by a man speaks", [DOG, MAN], [B]),  # AudioCaps' "followed by"
    ("a man speaks preceded by a dog barks", [DOG, MAN], [B]),
    ("a dog barks precedes a man speaks", [DOG, MAN], [B]),
    ("a dog barks until a man speaks", [DOG, MAN], [B]),
    ("a dog barks. Then a man speaks.", [DOG, MAN], [B]),
    ("a dog barks followed by a man speaks, all the while rain falls", [DOG, MAN, "rain falls"], [B, O]),
    ("a dog barks followed by a man speaks. Meanwhile, rain falls", [DOG, MAN, "rain falls"], [B, O]),
    ("a dog barks followed by a man speaks, and a car passes", [DOG, MAN, CAR], [B, B]),
    ("loud crumpling followed by loud, high pitched buzzing", ["loud crumpling", "loud, high pitched buzzing"], [B]),
    ("a long, slow hum, a dog barks, then a man speaks", ["a long, slow hum", DOG, MAN], [B, B]),
    ("a man talking afterwards followed by a dog barks", ["a man talking afterwards", DOG], [B]),
    ("a toilet flushes after a few seconds of silence", ["a few seconds of silence", "a toilet flushes"], [B]),
    ("a dog barks before a man speaks", [DOG, MAN], [B]),
    ("a man speaks after a dog barks", [DOG, MAN], [B]),
    ("a car horn honks after a dog barks", [DOG, "a car horn honks"], [B]),
    ("a man speaks shortly after a dog barks", [DOG, MAN], [B]),
    ("After a dog barks, a man speaks", [DOG, MAN], [B]),
    ("after a dog barks , a man speaks.", [DOG, MAN], [B]),
    ("Before a man speaks, a dog barks", [DOG, MAN], [B]),
    ("a dog barks and afterwards a man speaks", [DOG, MAN], [B]),
    ("a dog barks, after a while a man speaks", [DOG, MAN], [B]),
    ("first a dog barks, then a man speaks", [DOG, MAN], [B]),
    ("First, a dog barks, then a man speaks, and finally a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks, then a man speaks, and finally a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks, a man speaks, then a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks, a man speaks, and then a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks then a man speaks then a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks followed by a man speaks then a car passes", [DOG, MAN, CAR], [B, B]),
    ("a dog barks then a man speaks followed by a car passes", [DOG, MAN, CAR], [B, B]),
    ("a car passes after a man speaks after a dog barks", [DOG, MAN, CAR], [B, B]),
    ("a dog barks then a car passes after a man speaks", [DOG, MAN, CAR], [B, B]),
    ("a man speaks after a dog barks, then a car passes", [DOG, MAN, CAR], [B, B]),
    ("  A DOG BARKS   THEN a man  speaks.  ", [DOG, MAN], [B]),
    ("A dog barks then a man speaks!", [DOG, MAN], [B]),
    ("a dog barks,then a man speaks", [DOG, MAN], [B]),
    ("a dog barks while a man speaks", [DOG, MAN], [O]),
    ("a dog barks as a man speaks", [DOG, MAN], [O]),
    ("While a dog barks, a man speaks", [DOG, MAN], [O]),
    ("a dog barks while a man speaks then a car passes", [DOG, MAN, CAR], [O, B]),
    ("a car passes after a dog barks while a man speaks", [DOG, MAN, CAR], [O, B]),
    ("a dog barks followed by a man speaks as a car passes", [DOG, MAN, CAR], [B, O]),
    (
        "birds sing, a dog barks, a man speaks, a car passes, then rain falls",
        ["birds sing", DOG, MAN, CAR, "rain falls"],
        [B, B, B, B],
    ),
    (
        "First birds sing, then a dog barks, then a man speaks, then a car passes, and finally rain falls",
        ["birds sing", DOG, MAN, CAR, "rain falls"],
        [B, B, B, B],
    ),
    (
        "A man talking followed by another man talking then a spring bouncing before a frog croaks "
        "as music plays in the background",
        ["a man talking", "another man talking", "a spring bouncing", "a frog croaks", "music plays in the background"],
        [B, B, B, O],
    ),
    # More of English's ways to state an order (session 6): reversed mention, adverbs, framing markers.
    ("a man speaks following a dog barks", [DOG, MAN], [B]),
    ("a man speaks, preceded by a dog barks", [DOG, MAN], [B]),
    ("a man speaks comes after a dog barks", [DOG, MAN], [B]),
    ("a man speaks, but only after a dog barks", [DOG, MAN], [B]),
    ("a man speaks, but not until a dog barks", [DOG, MAN], [B]),
    ("a man speaks; before that, a dog barks", [DOG, MAN], [B]),
    ("A man speaks. Earlier, a dog barks", [DOG, MAN], [B]),
    ("once a dog barks, a man speaks", [DOG, MAN], [B]),
    ("following a dog barks, a man speaks", [DOG, MAN], [B]),
    ("prior to a man speaks, a dog barks", [DOG, MAN], [B]),
    ("a dog barks prior to a man speaks", [DOG, MAN], [B]),
    ("a dog barks, and a moment later a man speaks", [DOG, MAN], [B]),
    ("a dog barks and later on a man speaks", [DOG, MAN], [B]),
    ("A dog barks. Subsequently, a man speaks", [DOG, MAN], [B]),
    ("a dog barks. Next, a man speaks", [DOG, MAN], [B]),
    ("a dog barks and eventually a man speaks", [DOG, MAN], [B]),
    ("a dog barks and gives way to a man speaks", [DOG, MAN], [B]),
    ("a dog barks succeeded by a man speaks", [DOG, MAN], [B]),
    ("engine following by revving", ["engine", "revving"], [B]),
    ("it starts with a dog barks and ends with a man speaks", [DOG, MAN], [B]),
    ("at the start a dog barks, and at the end a man speaks", [DOG, MAN], [B]),
    ("initially a dog barks; later, a man speaks", [DOG, MAN], [B]),
    # ... and the same words where they state no order
    ("a man speaks next to a dog", ["a man speaks next to a dog"], []),
    ("a dog barks once or twice", ["a dog barks once or twice"], []),
    ("thunder later erupts", ["thunder later erupts"], []),
    ("people talk at the end of a hallway", ["people talk at the end of a hallway"], []),
    ("beeps following one another", ["beeps following one another"], []),
    ("the motor starts with a snap", ["the motor starts with a snap"], []),
    # No order: plain "and", single events, words that only look like connectives.
    ("a man speaks and a dog barks", ["a man speaks and a dog barks"], []),
    ("A dog barks.", [DOG], []),
    ("a dog barks as well as a cat meows", ["a dog barks as well as a cat meows"], []),
    ("a dog barks as loud as a lion", ["a dog barks as loud as a lion"], []),
    ("water drips every now and then", ["water drips every now and then"], []),
    ("people cheer one after another", ["people cheer one after another"], []),
    ("a crowd cheers after", ["a crowd cheers after"], []),
    ("a chainsaw is then started", ["a chainsaw is then started"], []),
    ("a man speaks before and after a gunshot", ["a man speaks before and after a gunshot"], []),
    ("a dog barks for a while", ["a dog barks for a while"], []),
]


@pytest.mark.parametrize("caption,events,relations", PARSE_CASES)
def test_parse_events(caption, events, relations):
    plan = parse_events(caption)
    assert plan.events == events
    assert plan.relations == relations
    assert len(plan.relations) == len(plan.events) - 1
    assert has_explicit_order(caption) == (B in relations)


def test_design_example():
    plan = parse_events("a car horn honks after a dog barks")
    assert plan.events == ["a dog barks", "a car horn honks"]
    assert plan.relations == ["before"]


def test_plan_dict_and_str():
    plan = parse_events("A dog barks while a man speaks, then a car passes.")
    data = plan.to_dict()
    assert data == {
        "caption": "A dog barks while a man speaks, then a car passes.",
        "events": [DOG, MAN, CAR],
        "relations": [O, B],
        "explicit_order": True,
    }
    json.dumps(data)
    text = str(plan)
    assert "1. a dog barks" in text and "(overlaps 1)" in text and "3. a car passes  (after 2)" in text
    assert plan.groups() == [[DOG, MAN], [CAR]]
    assert "explicit order: no" in str(parse_events("a dog barks"))


@pytest.mark.parametrize("bad", ["", "   ", " , . ", None, 3])
def test_parse_rejects_bad_captions(bad):
    with pytest.raises(CaptionError):
        parse_events(bad)


def test_structure_renders_the_caption_back():
    for caption, _, _ in PARSE_CASES:
        structure = parse_structure(caption)
        normalised = " ".join(caption.split())
        rendered = structure.render()
        assert rendered.replace(" ", "").lower() == normalised.replace(" ", "").lower()


# caption -> expected negatives (exact)
NEGATIVE_CASES = [
    ("a dog barks then a man speaks", ["a man speaks then a dog barks"]),
    ("A dog barks then a man speaks.", ["A man speaks then a dog barks."]),
    ("a car horn honks after a dog barks", ["a dog barks after a car horn honks"]),
    ("After a dog barks, a man speaks", ["After a man speaks, a dog barks"]),
    ("a dog barks, and then a man speaks", ["a man speaks, and then a dog barks"]),
    (
        "a dog barks while a man speaks then a car passes",
        ["a dog barks while a car passes then a man speaks", "a man speaks while a car passes then a dog barks"],
    ),
    ("a man speaks and a dog barks", []),
    ("a dog barks while a man speaks", []),
    ("a dog barks", []),
    ("a dog barks then a dog barks", []),
]


@pytest.mark.parametrize("caption,expected", NEGATIVE_CASES)
def test_order_negatives_exact(caption, expected):
    assert order_negatives(caption) == expected


@pytest.mark.parametrize(
    "caption,count",
    [
        ("a dog barks then a man speaks then a car passes", 5),
        ("first a dog barks, then a man speaks, and finally a car passes", 5),
        ("a dog barks, a man speaks, then a car passes", 5),
        ("a car passes after a man speaks after a dog barks", 5),
        ("birds sing, a dog barks, a man speaks, then a car passes", 23),
        ("birds sing, a dog barks, a man speaks, a car passes, then rain falls", 119),
        ("a dog barks while a man speaks then a car passes", 2),  # 3!/(2!1!) - 1
        ("a dog barks while a man speaks then a car passes while rain falls", 5),  # 4!/(2!2!) - 1
    ],
)
def test_order_negatives_count_and_validity(caption, count):
    negatives = order_negatives(caption)
    assert len(negatives) == count == len(set(negatives))
    plan = parse_events(caption)
    keys = {plan.order_key()}
    words = sorted(re.findall(r"\w+", caption.lower()))
    for negative in negatives:
        assert sorted(re.findall(r"\w+", negative.lower())) == words  # only the order changes
        other = parse_events(negative)
        assert sorted(other.events) == sorted(plan.events)
        assert other.relations == plan.relations  # same template
        assert other.order_key() not in keys  # a genuinely different order each time
        keys.add(other.order_key())
        assert same_events_other_order(caption, negative)
    assert not same_events_other_order(caption, caption)


def test_order_negatives_limit():
    caption = "birds sing, a dog barks, a man speaks, a car passes, then rain falls"
    assert len(order_negatives(caption, limit=7)) == 7


def test_same_events_other_order_rejects():
    caption = "a dog barks then a man speaks"
    assert same_events_other_order(caption, "a man speaks then a dog barks")
    assert same_events_other_order(caption, "a dog barks after a man speaks")  # other words, still valid
    assert not same_events_other_order(caption, "a dog barks then a man speaks")
    assert not same_events_other_order(caption, "a man speaks then a cat meows")
    assert not same_events_other_order(caption, "a man speaks and a dog barks")  # order lost
    assert not same_events_other_order(caption, "")
    # Swapping events inside an overlap group is not a different order.
    assert not same_events_other_order(
        "a dog barks while a man speaks then a car passes", "a man speaks while a dog barks then a car passes"
    )


# ------------------------------------------------------------------ labels


def test_label_to_phrase():
    assert label_to_phrase("glass_smash") == "glass smashing"
    assert label_to_phrase("boiling-water") == "water boiling"  # Kitchen20 uses hyphens
    assert label_to_phrase("Boiling_Water") == "water boiling"
    assert label_to_phrase("some_new_label") == "some new label"
    assert label_to_phrase("stove-fan-2") == "stove fan 2"
    assert label_to_phrase("glass_smash", {"glass_smash": "a window breaking"}) == "a window breaking"
    assert label_to_phrase("glass-smash", {"glass_smash": "a window breaking"}) == "a window breaking"
    assert label_to_phrase("typing", {"glass_smash": "x"}) == LABEL_PHRASES["typing"]
    with pytest.raises(CaptionError, match="label"):
        label_to_phrase("")


KITCHEN20 = ("blender boiling-water book chopping clean-dishes cupboard cutlery dishwasher drawer eat fridge "
             "frying-pan juicer microwave peel plates stove-burner stove-fan sweep water-flowing").split()
UIOWA = ("bicycle_bell bicycle_freewheel bite_chew_apple blender boiling_kettle branch_trimmer chainsaw "
         "chopping_vegetables clanking_dishes coffee_bean_grinder coin_drop compressed_air_spray crumpling_paper "
         "drill dropping_stones electric_can_opener electric_shaver footsteps_in_pebbles footsteps_in_sand "
         "glass_smash hair_dryer hammer_metal hammer_nail hands_rubbing hatchet lawnmower leaf_blower nails_from_box "
         "peeling_vegetables pepper_grinder pouring_liquid ratchet rustling_branch sawing_wood scissors shovel "
         "spray_can_shake stapler suitcase_rolling typing vacuum velcro walking_leaves water_splash zipper").split()


def test_label_table_covers_the_data_sets_and_renders():
    assert len(set(KITCHEN20)) == 20 and len(set(UIOWA)) == 45
    rng = random.Random(0)
    for label in KITCHEN20 + UIOWA:
        key = label.replace("-", "_")
        assert key in LABEL_PHRASES, label
        phrase = label_to_phrase(label)
        # Every built-in phrase survives every template as one event.
        assert parse_events(phrase).events == [phrase]
        other = label_to_phrase(rng.choice(KITCHEN20 + UIOWA))
        if other != phrase:
            rendered = render_caption([phrase, other], rng)
            assert parse_events(rendered.text).events == [phrase, other], rendered


# ------------------------------------------------------------------ rendering

PHRASES = ["glass smashing", "bicycle bell ringing", "a dog barking", "water splashing", "typing on a keyboard"]


def _allowed(template, groups):
    counts, singles = TEMPLATES[template]
    return len(groups) in counts and not (singles and any(len(g) > 1 for g in groups[:-1]))


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_render_round_trip_every_template(template, n):
    phrases = PHRASES[:n]
    rng = random.Random(n)
    relation_sets = [[B] * (n - 1)] + [list(r) for r in itertools.product([B, O], repeat=n - 1) if B in r]
    if n == 5:  # keep the test fast: all-before and two mixes
        relation_sets = [[B, B, B, B], [B, O, B, O], [O, O, B, O]]
    tried = 0
    for relations in relation_sets:
        groups = EventPlan(phrases, relations).groups()
        if not _allowed(template, groups):
            continue
        tried += 1
        out = render_caption(phrases, rng, relations=relations, template=template)
        assert out.template.split("+")[0] == template
        plan = parse_events(out.text)
        assert plan.events == phrases, out.text
        assert plan.relations == relations, out.text
        assert out.events == phrases and out.relations == relations
        # Negatives: the same template with the phrases in every other temporal order.
        assert len(out.negatives) == len(set(out.negatives)) > 0
        # Distinct temporal orders = multinomial n! / prod(|group|!), minus the positive.
        total = factorial(n)
        for g in groups:
            total //= factorial(len(g))
        assert len(out.negatives) == total - 1
        keys = {plan.order_key()}
        for negative in out.negatives:
            other = parse_events(negative)
            assert sorted(other.events) == sorted(phrases) and other.relations == relations
            assert other.order_key() not in keys
            keys.add(other.order_key())
            assert sorted(re.findall(r"\w+", negative)) == sorted(re.findall(r"\w+", out.text))
    if n in TEMPLATES[template][0]:
        assert tried > 0


def test_render_examples():
    rng = random.Random(0)
    seen = set()
    for _ in range(200):
        out = render_caption(["glass smashing", "bicycle bell ringing"], rng)
        seen.add(out.template)
        assert parse_events(out.text).events == ["glass smashing", "bicycle bell ringing"]
        assert len(out.negatives) == 1
    assert seen == {t for t, (counts, _) in TEMPLATES.items() if 2 in counts}
    assert render_caption(["a", "b"], rng, template="after").text == "b after a"
    assert render_caption(["x y", "z w"], rng, template="after_lead").text == "after x y, z w"
    assert render_caption(["a", "b", "c"], rng, template="list_then").text == "a, b, then c"
    assert render_caption(["a", "b", "c"], rng, template="first_then").text == "first a, then b, and finally c"
    overlap = render_caption(["a dog barking", "rain falling"], rng, relations=[O])
    assert overlap.text in ("a dog barking while rain falling", "a dog barking as rain falling")
    assert overlap.negatives == [] and not has_explicit_order(overlap.text)
    single = render_caption(["Glass  Smashing"], rng)
    assert (single.text, single.negatives, single.template) == ("glass smashing", [], "single")


def test_render_is_deterministic_per_seed():
    a = [render_caption(PHRASES[:3], random.Random(5)).text for _ in range(3)]
    assert len(set(a)) == 1


@pytest.mark.parametrize(
    "phrases,kwargs,match",
    [
        ([], {}, "phrases"),
        ("a dog", {}, "phrases"),
        (["a dog", ""], {}, r"phrases\[1\]"),
        (["a dog then a cat", "rain"], {}, "'then'"),
        (["dust as snow", "rain"], {}, "'as'"),
        (["rain, wind", "snow"], {}, "','"),
        (["a", "b"], {"relations": [B, B]}, "relations"),
        (["a", "b"], {"relations": ["after"]}, "relations"),
        (["a", "b"], {"template": "list_then"}, "template"),
        (["a", "b"], {"template": "nope"}, "template"),
    ],
)
def test_render_rejects_bad_input(phrases, kwargs, match):
    with pytest.raises(CaptionError, match=match):
        render_caption(phrases, random.Random(0), **kwargs)


def test_render_skips_templates_that_would_misread_a_phrase():
    # "static" reads as an adjective in a comma list ("static, rain falling" is one event), so the
    # comma-list template is never used for it and every caption still parses back.
    phrases = ["static", "rain falling", "thunder rumbling"]
    for seed in range(40):
        out = render_caption(phrases, random.Random(seed))
        assert out.template != "list_then"
        assert parse_events(out.text).events == phrases
    with pytest.raises(CaptionError, match="no template"):
        render_caption(phrases, random.Random(0), template="list_then")


def test_canonical_caption_writes_the_parsed_order():
    from tclap_gen.captions import canonical_caption

    assert canonical_caption("a car horn honks after a dog barks") == "a dog barks then a car horn honks"
    assert canonical_caption("After the bell rings, glass smashes") == "the bell rings then glass smashes"
    assert canonical_caption("a dog barks while a man speaks") == "a dog barks while a man speaks"
    for unchanged in ("a dog barks", "", "   "):
        assert canonical_caption(unchanged) == unchanged


def test_template_weights_skew_the_draw():
    rng = random.Random(0)
    drawn = [render_caption(["a dog barking", "water splashing"], rng, weights={"after": 50.0, "then": 0.0}).template
             for _ in range(300)]
    assert "then" not in drawn
    assert drawn.count("after") > 0.7 * len(drawn)  # 50 of 58 weight units: about 86 %
