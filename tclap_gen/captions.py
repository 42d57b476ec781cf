"""Temporal captions: a small event grammar for sound captions.

``parse_events`` reads a caption such as "a car horn honks after a dog barks" into its events in
TEMPORAL order (["a dog barks", "a car horn honks"]) with one relation per consecutive pair
("before" or "overlap"). ``order_negatives`` re-renders the same caption with the events in every
other temporal order, changing nothing but the order, and ``render_caption`` writes captions from
event phrases with varied templates (plus their order negatives), for mix-up training data.

The grammar (case, punctuation and stray whitespace do not matter):

* sequence connectives, "A <conn> B" means A happens before B: "then", "and then", "followed by"
  (also "is followed by", "quickly followed by", and "proceeded by" / "following by", which AudioCaps
  annotators write for "followed by"), "succeeded by", "replaced by", "gives way to", "before" /
  "comes before" / "prior to", "precedes", "until", "finally" / "and finally", "afterwards" / "after
  that" / "after a while", and after "and", "then" or a punctuation mark the adverbs "later" / "a
  moment later", "next", "eventually", "subsequently", "in the end"; "ends with" / "at the end";
* "after" (also "comes after", "but only after"), "following", "succeeds", "not until",
  "preceded by", "before that" / "earlier" / "beforehand" reverse the mention order: "B after A" ->
  [A, B]; a caption that starts with "After / Once / Following / As soon as A, B" -> [A, B] and one
  that starts with "Before / Prior to / Until A, B" -> [B, A];
* overlap connectives "while", "whilst", "as" (not in "as well as", "such as", "as if", "as loud
  as", ...), "all the while", "meanwhile": the events are simultaneous. They bind tighter than the
  sequence connectives, so "A while B then C" is {A, B} before C, and "C after A while B" is
  {A, B} before C. A caption may open with "While A, B" / "As A, B";
* "first A, then B, (and) finally C" (a leading marker: "first", "initially", "at the start", "to
  begin with", "it starts with" ...);
* comma lists next to a sequence connective are sequences too: "A, B, then C", "A, B, and then C"
  and "A followed by B, and C" are three events in that order. A list item made only of
  adjectives ("loud, high pitched buzzing") is not an event and stays with the next item;
* when "after" follows a sequence of several groups it attaches to the group just before it
  ("A then C after B" -> A, B, C); a later sequence connective appends at the end.

Decisions:

* Plain "and" is NOT a connective. "a man speaks and a dog barks" states no order (and "humming and
  vibrating" is often one sound), so it is one event: the whole caption, relations [] and
  ``has_explicit_order`` False.
* A caption has an explicit order when at least one sequence connective links two events
  (relations contain "before"). Overlap-only captions ("A while B") have several events but no
  order: ``has_explicit_order`` is False and they have no order negatives.
* Events in one overlap group are simultaneous, so permuting them does not change the temporal
  order; ``order_negatives`` does not count such permutations as negatives.
* Event texts are the clause texts, lowercase, with connectives and surrounding punctuation
  removed and whitespace collapsed ("A dog barks," -> "a dog barks").
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass, field

__all__ = [
    "EventPlan",
    "CaptionStructure",
    "RenderedCaption",
    "CaptionError",
    "parse_events",
    "parse_structure",
    "order_negatives",
    "has_explicit_order",
    "render_caption",
    "same_events_other_order",
    "canonical_caption",
    "word_stems",
    "unknown_events",
    "TEMPLATES",
]

BEFORE = "before"
OVERLAP = "overlap"
# Bounds on the work one caption can cause. Parsing costs about the square of the number of connectives, so a
# caption is read up to MAX_CAPTION_CHARS (AudioCaps' longest is under 300). Up to MAX_LISTED_EVENTS events every
# other order is a negative (at most 5! - 1 = 119; the paper's 2-3 event captions have 1 and 5); beyond, a
# bounded sample: the reversal, each swap of neighbours, then seeded random orders, SAMPLED_NEGATIVES at most.
MAX_CAPTION_CHARS = 2000
MAX_LISTED_EVENTS = 5
SAMPLED_NEGATIVES = 24
# Mention-order link kinds between consecutive slots of a caption. "after" means the slot on the
# right happens first ("B after A"); it never appears in an EventPlan, which is in temporal order.
_AFTER = "after"


class CaptionError(ValueError):
    """A caption or phrase that the event grammar cannot work with."""


# --------------------------------------------------------------------------------------------
# Outputs


@dataclass
class EventPlan:
    """Events of a caption in temporal order, one relation per consecutive pair."""

    events: list[str]
    relations: list[str] = field(default_factory=list)
    caption: str = ""

    @property
    def explicit_order(self) -> bool:
        return BEFORE in self.relations

    def groups(self) -> list[list[str]]:
        """Events grouped by simultaneity: groups in temporal order, overlapping events together."""
        if not self.events:
            return []
        out = [[self.events[0]]]
        for relation, event in zip(self.relations, self.events[1:]):
            if relation == OVERLAP:
                out[-1].append(event)
            else:
                out.append([event])
        return out

    def order_key(self) -> tuple[tuple[str, ...], ...]:
        """Hashable temporal order: groups in order, each group's events sorted (order-free)."""
        return tuple(tuple(sorted(group)) for group in self.groups())

    def to_dict(self) -> dict:
        return {
            "caption": self.caption,
            "events": list(self.events),
            "relations": list(self.relations),
            "explicit_order": self.explicit_order,
        }

    def __str__(self) -> str:
        lines = []
        for i, event in enumerate(self.events):
            note = ""
            if i > 0:
                note = f"  (after {i})" if self.relations[i - 1] == BEFORE else f"  (overlaps {i})"
            lines.append(f"{i + 1}. {event}{note}")
        lines.append(f"explicit order: {'yes' if self.explicit_order else 'no'}")
        return "\n".join(lines)


@dataclass
class RenderedCaption:
    """A caption written from event phrases, with its order negatives (same template)."""

    text: str
    negatives: list[str]
    events: list[str]
    template: str
    relations: list[str] = field(default_factory=list)


@dataclass
class CaptionStructure:
    """A caption cut into event slots and the text around them, enough to re-render it.

    ``pieces[0] + slots[0] + pieces[1] + ... + slots[-1] + pieces[-1]`` is the caption (with
    whitespace normalised, and the first letter lowercased when ``capitalise`` is set).
    ``links[i]`` relates ``slots[i]`` to ``slots[i + 1]`` in mention order: "before" (left first),
    "after" (right first) or "overlap".
    """

    pieces: list[str]
    slots: list[str]
    links: list[str]
    capitalise: bool = False
    caption: str = ""

    def render(self, slots: list[str] | None = None) -> str:
        slots = self.slots if slots is None else slots
        if len(slots) != len(self.slots):
            raise CaptionError(f"expected {len(self.slots)} slot texts, got {len(slots)}")
        parts = [self.pieces[0]]
        for slot, piece in zip(slots, self.pieces[1:]):
            parts.extend([slot, piece])
        text = "".join(parts)
        if self.capitalise and text:
            text = text[0].upper() + text[1:]
        return text

    def temporal_groups(self) -> list[list[int]]:
        """Slot indices grouped by simultaneity, groups in temporal order."""
        groups = [[0]]
        group_links = []
        for i, link in enumerate(self.links):
            if link == OVERLAP:
                groups[-1].append(i + 1)
            else:
                group_links.append(link)
                groups.append([i + 1])
        sequence = [0]
        for right, link in enumerate(group_links, start=1):
            if link == BEFORE:
                sequence.append(right)
            else:  # "B after A": A goes just before the group it is attached to
                sequence.insert(sequence.index(right - 1), right)
        return [groups[g] for g in sequence]

    def plan(self, slots: list[str] | None = None) -> EventPlan:
        texts = [_clean_event(s) for s in (self.slots if slots is None else slots)]
        events, relations = [], []
        for group in self.temporal_groups():
            for k, index in enumerate(group):
                if events:
                    relations.append(OVERLAP if k > 0 else BEFORE)
                events.append(texts[index])
        return EventPlan(events=events, relations=relations, caption=self.caption)

    def negatives(self, limit: int | None = None, check: bool = True) -> list[str]:
        """The caption with its slots permuted into every other temporal order (same template).

        Permutations inside an overlap group keep the temporal order and are skipped, so are
        permutations that give back the same text (repeated events). ``limit`` caps the count.
        Beyond MAX_LISTED_EVENTS slots the orders are not all listed (they grow factorially): the
        reversal, the swaps of neighbours and seeded random orders (the same for the same caption)
        are tried, and at most ``limit`` or SAMPLED_NEGATIVES are kept. With ``check``
        each candidate is parsed again and kept only if it reads as the intended order: a slot
        can read differently in another place (a comma list moved next to "then" becomes several
        events; "shortly after" moved before "and then" becomes a connective).
        """
        if BEFORE not in self.links and _AFTER not in self.links:
            return []
        groups = self.temporal_groups()
        cleaned = [_clean_event(s) for s in self.slots]

        def key(order: tuple[int, ...]) -> tuple:
            return tuple(tuple(sorted(cleaned[order[i]] for i in g)) for g in groups)

        identity = tuple(range(len(self.slots)))
        seen_keys = {key(identity)}
        seen_texts = {self.render()}
        out: list[str] = []
        if len(identity) <= MAX_LISTED_EVENTS:
            candidates = itertools.permutations(identity)
        else:
            limit = SAMPLED_NEGATIVES if limit is None else min(limit, SAMPLED_NEGATIVES)
            candidates = _sampled_orders(identity, random.Random(f"negatives:{self.render()}"), 20 * limit)
        for order in candidates:
            k = key(order)
            if k in seen_keys:
                continue
            seen_keys.add(k)
            text = self.render([self.slots[i] for i in order])
            if text in seen_texts:
                continue
            if check:
                try:
                    if parse_events(text).order_key() != k:
                        continue
                except CaptionError:
                    continue
            seen_texts.add(text)
            out.append(text)
            if limit is not None and len(out) >= limit:
                break
        return out


def _sampled_orders(identity: tuple[int, ...], rng: random.Random, attempts: int):
    """Candidate orders for a long caption: the reversal, each swap of neighbours, then random shuffles."""
    yield identity[::-1]
    for i in range(len(identity) - 1):
        order = list(identity)
        order[i], order[i + 1] = order[i + 1], order[i]
        yield tuple(order)
    for _ in range(attempts):
        order = list(identity)
        rng.shuffle(order)
        yield tuple(order)


# --------------------------------------------------------------------------------------------
# Parsing

_PUNCT = r"[,;:]"
# Adverbs inside "followed quickly by". Before "followed" they count only after an auxiliary or a
# comma ("is quickly followed by", ", quickly followed by"): "a man speaking quickly followed by
# ..." keeps "quickly" in its event, so an event reads the same wherever it stands (order
# negatives move events around).
_MOD = r"(?:closely|quickly|shortly|soon|immediately|briefly|eventually|later|suddenly|then)"
_AUX = (
    r"(?:then\s+)?(?:(?:is|are|was|were|being|gets)\s+(?:(?:closely|quickly|shortly|soon|immediately)\s+)?"
    r"|(?<=[,;:]\s)(?:closely|quickly|shortly|soon|immediately)\s+)?(?:then\s+)?"
)
# Sequence and overlap connectives found inside a caption. Each needs whitespace on its left (a
# connective never opens the scanned text) and is followed by whitespace (checked by lookahead,
# so two connectives in a row do not swallow each other's space). Order matters: longer forms
# first, "afterwards"/"after that" before plain "after".
# A verb that only carries the connective ("comes after", "is heard before"): part of the link, not of an event.
_LINK_VERB = r"(?:(?:comes?|came|happens?|occurs?|is\s+heard|can\s+be\s+heard|takes\s+place)\s+)?"
_CONNECTIVES: list[tuple[str, str]] = [
    (BEFORE, rf"(?:and\s+)?{_AUX}follow(?:ed|ing)\s+(?:{_MOD}\s+)?by"),  # "following by": a common slip
    (BEFORE, rf"(?:and\s+)?{_AUX}(?:succeeded|replaced)\s+(?:{_MOD}\s+)?by"),
    (BEFORE, r"(?:and\s+)?(?:then\s+)?gives?\s+way\s+to"),
    # AudioCaps annotators write "proceeded by" for "followed by".
    (BEFORE, rf"(?:and\s+)?{_AUX}proceeded\s+(?:{_MOD}\s+)?by"),
    (_AFTER, rf"(?:and\s+)?{_AUX}preceded\s+(?:{_MOD}\s+)?by"),
    (BEFORE, r"(?:and\s+)?(?:then\s+)?finally"),
    # Adverbs that link clauses only after "and", "then" or a punctuation mark ("thunder later erupts" is one event):
    # the same check as "afterwards".
    ("afterwards", r"(?:and\s+)?(?:then\s+)?(?:eventually|subsequently|next(?!\s+(?:to|door)\b)|in\s+the\s+end)"),
    ("afterwards", r"(?:and\s+)?(?:then\s+)?(?:(?:a|one)\s+(?:moment|second|minute|bit|little|while|few\s+seconds)\s+"
                   r"|(?:moments?|seconds?|shortly|soon|much|not\s+long)\s+)?later(?:\s+on)?"),
    (BEFORE, r"(?:and\s+)?(?:then\s+)?(?:it\s+)?(?:ends|finishes|closes|concludes)\s+with"),
    (BEFORE, r"(?:and\s+)?(?:then\s+)?at\s+the\s+end(?:\s+of\s+(?:the|this)\s+(?:clip|recording|audio|sound|video|track))?"
             r"(?!\s+of\b)"),
    (BEFORE, r"(?:and\s+)?then"),
    # "B; before that, A" / "B. Earlier, A": the clause on the right happened first.
    (_AFTER, r"(?:and\s+)?(?:(?:just|right|shortly|not\s+long)\s+)?(?:before\s+(?:that|this)|earlier(?:\s+on)?|beforehand)"),
    (
        "afterwards",
        r"(?:and\s+)?(?:then\s+)?(?:afterwards?|after\s+(?:that|this|which|some\s+time"
        r"|a\s+(?:short\s+)?(?:while|moment|pause|second|bit|few\s+seconds))(?!\s+of\b))",
    ),
    (BEFORE, rf"(?:and\s+)?{_LINK_VERB}(?:(?:shortly|just|right|long|moments?|immediately)\s+)?(?:before|prior\s+to)"),
    (BEFORE, r"(?:and\s+)?(?:precedes|precede|preceding|until)"),
    (_AFTER, rf"(?:and\s+)?(?:but\s+)?(?:only\s+)?{_LINK_VERB}(?:(?:shortly|just|right|sometime|moments?|not\s+long|soon"
             r"|immediately|directly)\s+)?(?:after|following|succeeds?)"),
    (_AFTER, r"(?:and\s+)?(?:but\s+)?not\s+until"),
    (OVERLAP, r"(?:and\s+)?(?:all\s+the\s+while|while|whilst|as|meanwhile|in\s+the\s+meantime)"),
]
_CONNECTIVE_RE = re.compile(
    r"[,;:.]?\s+(?:" + "|".join(f"(?P<c{i}>{p})" for i, (_, p) in enumerate(_CONNECTIVES)) + rf"){_PUNCT}?(?=\s)",
    re.IGNORECASE,
)
# "After A, B" / "Before A, B" / "While A, B" / "As A, B": a leading clause closed by a comma.
_LEAD_RE = re.compile(
    r"^(?P<word>(?:(?:shortly|just|right|soon|not\s+long|immediately)\s+)?(?:after|following|once)|as\s+soon\s+as"
    rf"|before|prior\s+to|until|while|whilst|as)\s+(?P<clause>[^,;:]+?)\s*{_PUNCT}\s+(?=\S)", re.I)
_LEAD_KIND = {"before": _AFTER, "prior to": _AFTER, "until": _AFTER, "while": OVERLAP, "whilst": OVERLAP, "as": OVERLAP}
# Markers that open the first of a sequence of events: "first A, then B", "it starts with A and ends with B".
_FIRST_RE = re.compile(
    r"^(?:(?:at\s+)?first(?:ly)?|initially|to\s+begin\s+with|in\s+the\s+beginning"
    r"|at\s+the\s+(?:start|beginning)(?:\s+of\s+(?:the|this)\s+\w+)?"
    rf"|(?:it|the\s+(?:recording|clip|audio|sound|video|track))\s+(?:starts|begins|opens)\s+with){_PUNCT}?\s+(?=\S)",
    re.I)
_LIST_SEP_RE = re.compile(rf"{_PUNCT}\s+(?:and\s+)?")
_WORD_RE = re.compile(r"[a-z0-9']+")

# Words around "as" that make it a comparison or a preposition, not "at the same time".
_AS_NEXT_STOP = {"well", "if", "though", "soon", "long", "much", "many", "far", "such", "per", "usual",
                 "always", "expected", "opposed", "follows", "shown", "seen", "heard", "before"}
_AS_PREV_STOP = {"such", "well", "same", "so", "known", "used", "serves", "serve", "acts", "act", "acting"}
_CONNECTIVE_WORDS = {"then", "and", "followed", "before", "after", "while", "as", "finally", "until", "later", "next",
                     "following", "earlier", "eventually", "subsequently"}
_AUXILIARIES = {"is", "are", "was", "were", "be", "been", "being", "gets", "get"}


def _normalise(caption: str) -> str:
    if not isinstance(caption, str):
        raise CaptionError(f"caption must be a string, got {type(caption).__name__}")
    text = re.sub(r"\s+", " ", caption).strip()
    text = re.sub(r"\s+([,;:.!?])", r"\1", text)  # no space before punctuation
    text = re.sub(r"([,;:])(?=[^\s\d])", r"\1 ", text)  # one space after a comma
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)  # ",," -> ","
    if not re.search(r"\w", text):
        raise CaptionError(f"caption has no words: {caption!r}")
    return text


def _clean_event(text: str) -> str:
    text = re.sub(r"\s+", " ", text.lower())
    return text.strip(" ,;:.!?\"'")


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


_CONTEXT_CHARS = 80  # characters read on each side of a connective by _accept


def _accept(kind: str, match: re.Match, text: str) -> bool:
    """Reject connective matches that are really another use of the word."""
    # Only the nearest two words on each side matter: read a bounded stretch, so that a caption's parse stays linear
    # in its length (a long side is not empty, it has words in any stretch of it that matters here).
    before = _words(text[max(0, match.start() - _CONTEXT_CHARS): match.start()])
    after = _words(text[match.end(): match.end() + _CONTEXT_CHARS])
    if not before and re.search(r"\w", text[: max(0, match.start() - _CONTEXT_CHARS)]):
        before = [""]  # words further away: the side is not empty, and no rule below reads them
    if not after and re.search(r"\w", text[match.end() + _CONTEXT_CHARS:]):
        after = [""]
    if not before or not after:
        return False  # nothing on one side: not a link between two events
    key = _words(match.group(0))
    if key[-1] == "as":
        if after[0] in _AS_NEXT_STOP or (len(after) > 1 and after[1] == "as"):
            return False
        if before[-1] in _AS_PREV_STOP or (len(before) > 1 and before[-2] == "as"):
            return False
    if key[-1] in ("while", "whilst") and len(key) == 1 and before[-1] in ("a", "short", "little", "long", "the"):
        return False  # "for a while", "all the while"
    if key == ["then"] and before[-1] in _AUXILIARIES and not match.group(0).lstrip().startswith((",", ";", ":")):
        return False  # "wood is then sawed": an adverb inside one clause
    if key == ["and", "then"] and before[-1] == "now":
        return False  # "every now and then"
    if key[-1] == "before" and after[:2] == ["and", "after"]:
        return False  # "A before and after B": A on both sides of B, not one order
    if kind == _AFTER:
        if after[0] in ("another", "each") or after[:2] in (["the", "other"], ["one", "another"], ["one", "after"]):
            return False  # "one after another", "following one another"
        if key[0] == "and" and before[-1] == "before":
            return False
        if after[0] in _CONNECTIVE_WORDS:
            return False  # "revs shortly after, then ...": an adverb ending its clause
    if kind == "afterwards":
        # "afterwards" links clauses only after "and", "then" or a comma: "talking afterwards"
        # ends its clause.
        if key[0] not in ("and", "then") and not match.group(0).startswith((",", ";", ":", ".")):
            return False
    return True


def _scan(text: str, start: int) -> list[tuple[str, int, int]]:
    """Accepted connectives in text[start:] as (kind, begin, end), leaving no empty slot."""
    found = []
    for match in _CONNECTIVE_RE.finditer(text, start):
        index = next(int(name[1:]) for name, value in match.groupdict().items() if value is not None)
        kind = _CONNECTIVES[index][0]
        if not _accept(kind, match, text):
            continue
        kind = BEFORE if kind == "afterwards" else kind
        left_begin = found[-1][2] if found else start
        if not re.search(r"\w", text[left_begin: match.start()]):
            continue  # two connectives in a row: keep the first
        found.append((kind, match.start(), match.end()))
    while found and not re.search(r"\w", text[found[-1][2]:]):
        found.pop()
    return found


_ADJECTIVES = set(
    "loud quiet soft faint brief long short slow fast quick rapid steady large small big little deep high low "
    "sharp heavy light distant close muffled metallic mechanical robotic rhythmic repetitive constant continuous "
    "intermittent electronic hollow dull shrill harsh gentle strong weak old young pitched very loud-pitched "
    "high-pitched low-pitched sudden powerful tinny squeaky raspy one two three four five several few many"
    .split()
)


def _is_adjective_run(text: str) -> bool:
    """Whether a comma-list item is only adjectives or adverbs ("a long, slow, steady hum",
    "speaks, loudly"): not an event."""
    words = [w for w in _words(text) if w not in ("a", "an", "the", "and", "very")]
    if not words:
        return False
    return all(w in _ADJECTIVES or (len(w) >= 5 and w.endswith(("al", "ic", "ous", "ful", "ive", "ly"))) for w in words)


def _split_list(slot_begin: int, slot_end: int, text: str) -> list[tuple[int, int]]:
    """Spans of the items of a comma list inside one slot ("A, B" -> A, B).

    An item made only of adjectives ("loud, high pitched buzzing") is not an event: it stays
    with the item after it (with the item before it when it ends the list).
    """
    spans, begin = [], slot_begin
    for sep in _LIST_SEP_RE.finditer(text, slot_begin, slot_end):
        if not _is_adjective_run(text[begin: sep.start()]):
            spans.append((begin, sep.start()))
            begin = sep.end()
    if spans and _is_adjective_run(text[begin:slot_end]):
        begin = spans.pop()[0]  # a trailing modifier ("a man speaks, loudly") joins the item before it
    spans.append((begin, slot_end))
    if any(not re.search(r"\w", text[b:e]) for b, e in spans):
        return [(slot_begin, slot_end)]
    return spans


def parse_structure(caption: str) -> CaptionStructure:
    """Cut a caption into event slots, the text around them and the links between them."""
    if isinstance(caption, str) and len(caption) > MAX_CAPTION_CHARS:
        raise CaptionError(
            f"the caption is {len(caption):,} characters long; the event grammar reads at most {MAX_CAPTION_CHARS:,}"
        )
    text = _normalise(caption)
    trailing = re.search(r"[\s.!?;:,]*$", text)
    body, suffix = text[: trailing.start()], text[trailing.start():]

    spans: list[tuple[int, int]] = []  # slot spans in mention order
    links: list[str] = []
    scan_from, lead_kind = 0, None
    lead = _LEAD_RE.match(body)
    if lead and re.search(r"\w", body[lead.end():]):
        spans.append(lead.span("clause"))
        lead_kind = _LEAD_KIND.get(re.sub(r"\s+", " ", lead.group("word").lower()), BEFORE)  # "after A, B" etc.
        scan_from = lead.end()
    found = _scan(body, scan_from)
    if not lead:
        first = _FIRST_RE.match(body)
        if first and found and any(kind != OVERLAP for kind, _, _ in found) and found[0][1] > first.end():
            scan_from = first.end()

    # Slots between the connectives. A comma list next to a sequence connective is a sequence
    # too: "A, B, then C" and "A followed by B, C" are three events in that order.
    boundaries = [(scan_from, lead_kind)] + [(end, kind) for kind, _, end in found]
    ends = [begin for _, begin, _ in found] + [len(body)]
    for (slot_begin, left_kind), slot_end, right in zip(boundaries, ends, [k for k, _, _ in found] + [None]):
        if left_kind is not None:
            links.append(left_kind)
        in_sequence = BEFORE in (left_kind, right)
        items = _split_list(slot_begin, slot_end, body) if in_sequence else [(slot_begin, slot_end)]
        for i, (b, e) in enumerate(items):
            if i > 0:
                links.append(BEFORE)
            spans.append((b, e))

    # Trim whitespace off slots (it belongs to the pieces around them).
    spans = [
        (b + len(body[b:e]) - len(body[b:e].lstrip()), e - (len(body[b:e]) - len(body[b:e].rstrip())))
        for b, e in spans
    ]
    slots = [body[b:e] for b, e in spans]
    pieces = [body[: spans[0][0]]]
    for (_, e), (b, _) in zip(spans, spans[1:]):
        pieces.append(body[e:b])
    pieces.append(body[spans[-1][1]:] + suffix)

    # A capitalised sentence start belongs to the sentence, not to the first event's words.
    capitalise = False
    if spans[0][0] == 0 and slots[0][:1].isupper():
        first_word = slots[0].split(" ", 1)[0]
        if len(first_word) == 1 or first_word[1:].islower():
            slots[0] = slots[0][0].lower() + slots[0][1:]
            capitalise = True
    elif pieces[0][:1].isupper():
        capitalise = True
        pieces[0] = pieces[0][0].lower() + pieces[0][1:]
    return CaptionStructure(pieces=pieces, slots=slots, links=links, capitalise=capitalise, caption=caption)


def parse_events(caption: str) -> EventPlan:
    """Events of ``caption`` in temporal order, one relation ("before"|"overlap") per pair.

    >>> parse_events("a car horn honks after a dog barks").events
    ['a dog barks', 'a car horn honks']
    """
    return parse_structure(caption).plan()


def canonical_caption(caption: str) -> str:
    """``caption`` rewritten as its parsed plan reads: the events in temporal order, joined by "then" (and by
    "while" where they overlap): "a car horn honks after a dog barks" -> "a dog barks then a car horn honks".
    A caption with fewer than two events, or one the grammar cannot read, comes back unchanged.

    Structured conditioning (as Make-An-Audio 2 feeds its LLM-parsed captions): a text tower then sees every
    phrasing the parser reads in the one form it was trained on most. An option wherever captions are embedded
    (`TClap.embed_text(..., canonicalize=True)`, `pipe(..., canonicalize=True)`), never applied silently.
    """
    try:
        plan = parse_events(caption)
    except CaptionError:
        return caption
    if len(plan.events) < 2:
        return caption
    text = plan.events[0]
    for relation, event in zip(plan.relations, plan.events[1:]):
        text += (" then " if relation == BEFORE else " while ") + event
    return text


def has_explicit_order(caption: str) -> bool:
    """True when a sequence connective orders at least two events of the caption."""
    return parse_events(caption).explicit_order


def order_negatives(caption: str, limit: int | None = None) -> list[str]:
    """The caption with its events in every other temporal order, nothing else changed.

    "a dog barks then a man speaks" -> ["a man speaks then a dog barks"]; "B after A" ->
    ["A after B"]; 3 ordered events -> 5 negatives. Captions with no explicit order -> [].
    """
    return parse_structure(caption).negatives(limit=limit)


def same_events_other_order(original: str, candidate: str) -> bool:
    """Whether ``candidate`` states the same events as ``original`` in a different temporal order.

    Used to validate order negatives (from the rule rewriter or a language model).
    """
    try:
        a, b = parse_events(original), parse_events(candidate)
    except CaptionError:
        return False
    if sorted(a.events) != sorted(b.events) or not b.explicit_order:
        return False
    return a.order_key() != b.order_key()


# --------------------------------------------------------------------------------------------
# Naming: does a phrase name one of the sounds a model knows?

_STOP_WORDS = {"a", "an", "the", "of", "on", "in", "into", "from", "by", "with", "and", "to", "at", "is", "are",
               "being", "some", "someone", "something", "its", "it", "his", "her", "their", "together"}


def word_stems(text: str) -> set[str]:
    """Crude stems of a phrase's content words ("smashing" -> "smash", "barks" -> "bark"); no NLP dependency."""
    stems = set()
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _STOP_WORDS or len(word) < 3:
            continue
        for suffix in ("ing", "es", "ed", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        stems.add(word)
    return stems


def unknown_events(events, classes) -> list[str]:
    """The events (each once, in order) that share no word stem with any of `classes` (phrases)."""
    known = set().union(*(word_stems(c) for c in classes)) if classes else set()
    return [event for event in dict.fromkeys(events) if not (word_stems(event) & known)]


# --------------------------------------------------------------------------------------------
# Rendering

# name -> (allowed numbers of sequence groups, whether groups other than the last must be single
# events). Every template parses back to the phrases in order (tests check all of them).
TEMPLATES: dict[str, tuple[range, bool]] = {
    "then": (range(2, 100), False),  # A then B then C
    "and_then": (range(2, 100), False),  # A and then B and then C
    "followed_by": (range(2, 4), False),  # A followed by B followed by C
    "before": (range(2, 3), False),  # A before B
    "after": (range(2, 3), False),  # B after A
    "after_lead": (range(2, 3), True),  # after A, B
    "first_then": (range(2, 100), False),  # first A, then B, and finally C
    "list_then": (range(3, 100), True),  # A, B, then C
    "list_finally": (range(3, 100), False),  # A, then B, and finally C
    "followed_then": (range(3, 100), False),  # A followed by B, then C
    "comma_followed_by": (range(2, 4), False),  # A, followed by B, followed by C
    "comma_after": (range(2, 3), False),  # B, after A
    "until": (range(2, 3), False),  # A until B
}
_PHRASE_BLOCK_RE = re.compile(
    r"\b(then|finally|followed|proceeded|preceded|precedes?|preceding|until|before|after|afterwards?|while|whilst|as"
    r"|meanwhile|later|next|following|once|earlier|beforehand|eventually|subsequently|succeeded|succeeds?|replaced"
    r"|prior)\b|[,;:.!?]",
    re.I,
)


def _check_phrase(phrase: str, index: int) -> str:
    if not isinstance(phrase, str) or not phrase.strip():
        raise CaptionError(f"phrases[{index}] must be a non-empty string, got {phrase!r}")
    text = re.sub(r"\s+", " ", phrase).strip().lower()
    bad = _PHRASE_BLOCK_RE.search(text) or re.match(r"(at\s+)?first\b", text)
    if bad:
        raise CaptionError(
            f"phrases[{index}] {phrase!r} contains {bad.group(0)!r}, which the caption grammar reads as a "
            "connective or separator; reword it (e.g. with a label_to_phrase override)"
        )
    return text


def _structure_from_template(template: str, groups: list[list[str]], overlap_word: str) -> CaptionStructure:
    """Build pieces/slots/links for ``template`` over groups given in temporal order."""
    seps: list[str] = []  # text between consecutive groups, in mention order
    order = list(range(len(groups)))  # mention order of the groups
    lead, tail = "", ""
    g = len(groups)
    if template == "then":
        seps = [" then "] * (g - 1)
    elif template == "and_then":
        seps = [" and then "] * (g - 1)
    elif template == "followed_by":
        seps = [" followed by "] * (g - 1)
    elif template == "before":
        seps = [" before "]
    elif template == "after":
        order, seps = [1, 0], [" after "]
    elif template == "after_lead":
        lead, seps = "after ", [", "]
    elif template == "first_then":
        lead = "first "
        seps = [", then "] * (g - 1)
        if g >= 3:
            seps[-1] = ", and finally "
    elif template == "list_then":
        seps = [", "] * (g - 2) + [", then "]
    elif template == "list_finally":
        seps = [", then "] * (g - 2) + [", and finally "]
    elif template == "comma_followed_by":
        seps = [", followed by "] * (g - 1)
    elif template == "comma_after":
        order, seps = [1, 0], [", after "]
    elif template == "until":
        seps = [" until "]
    elif template == "followed_then":
        seps = [" followed by "] + [", then "] * (g - 2)
        if g >= 4:
            seps[-1] = ", and finally "
    else:
        raise CaptionError(f"unknown template {template!r}; choose from {sorted(TEMPLATES)}")

    pieces, slots, links = [lead], [], []
    for position, group_index in enumerate(order):
        group = groups[group_index]
        for k, phrase in enumerate(group):
            if k > 0:
                pieces.append(f" {overlap_word} ")
                links.append(OVERLAP)
            slots.append(phrase)
        if position < len(order) - 1:
            pieces.append(seps[position])
            links.append(_AFTER if order[0] != 0 else BEFORE)  # mentioned second, happens first
    pieces.append(tail)
    return CaptionStructure(pieces=pieces, slots=slots, links=links)


def render_caption(
    phrases: list[str],
    rng: random.Random,
    relations: list[str] | None = None,
    template: str | None = None,
    weights: dict[str, float] | None = None,
) -> RenderedCaption:
    """Write a caption for ``phrases`` (temporal order) with a template chosen by ``rng``.

    ``relations`` (default all "before") has one entry per consecutive pair; "overlap" pairs are
    written with "while" or "as". ``template`` forces a template (see ``TEMPLATES``); otherwise one of
    those that fit is drawn, uniformly or by ``weights`` (template name -> relative weight, 1 for names
    not given). The negatives use the same template with the phrases in every other temporal order.
    """
    if isinstance(phrases, str) or not isinstance(phrases, (list, tuple)) or not phrases:
        raise CaptionError("phrases must be a non-empty list of strings")
    texts = [_check_phrase(p, i) for i, p in enumerate(phrases)]
    relations = [BEFORE] * (len(texts) - 1) if relations is None else list(relations)
    if len(relations) != len(texts) - 1:
        raise CaptionError(f"relations must have {len(texts) - 1} entries (one per pair), got {len(relations)}")
    for relation in relations:
        if relation not in (BEFORE, OVERLAP):
            raise CaptionError(f"relations entries must be 'before' or 'overlap', got {relation!r}")

    plan = EventPlan(events=texts, relations=relations)
    groups = plan.groups()
    overlap_word = rng.choice(["while", "as"]) if OVERLAP in relations else "while"
    if len(groups) == 1:
        name = "single" if len(texts) == 1 else f"overlap_{overlap_word}"
        structure = CaptionStructure(pieces=[""] + [f" {overlap_word} "] * (len(texts) - 1) + [""],
                                     slots=texts, links=[OVERLAP] * (len(texts) - 1))
    else:
        allowed = [
            name for name, (counts, singles) in TEMPLATES.items()
            if len(groups) in counts and not (singles and any(len(gr) > 1 for gr in groups[:-1]))
        ]
        if template is not None and template not in allowed:
            raise CaptionError(
                f"template {template!r} does not fit {len(groups)} event groups; allowed: {allowed}"
            )
        candidates = [template] if template is not None else allowed
        while True:
            if weights:
                name = rng.choices(candidates, weights=[float(weights.get(c, 1.0)) for c in candidates])[0]
            else:
                name = rng.choice(candidates)
            structure = _structure_from_template(name, groups, overlap_word)
            # A phrase can read differently in a template (an adjective-only phrase in a comma
            # list joins the next one): only templates that parse back to the phrases are used.
            parsed = parse_events(structure.render())
            if parsed.events == texts and parsed.relations == relations:
                break
            candidates = [c for c in candidates if c != name]
            if not candidates:
                raise CaptionError(f"no template renders {texts} so that it parses back to the same events")
        if OVERLAP in relations:
            name = f"{name}+{overlap_word}"
    text = structure.render()
    return RenderedCaption(
        text=text, negatives=structure.negatives(), events=texts, template=name, relations=relations
    )
