"""Measure the caption grammar (tclap_gen.captions) on real captions.

Usage:  python scripts/caption_figures.py [--data ../shared/data/captions] [--json]

1. Agreement with Make-An-Audio 2's structured captions (make_an_audio2/audiocaps_test_struct.tsv,
   where an LLM tagged each event of an AudioCaps test caption start/mid/end/all).
   Eligible: captions where parse_events finds an explicit order (>= 2 events, a "before"
   relation) and whose structure has at least two distinct tags among start/mid/end ("all" says
   nothing about order). Matching: each parsed event is mapped to the structured event with the
   highest word overlap (Jaccard of content words: lowercase, stop words dropped, a crude
   -ing/-ed/-s stem); ties go to a structured event no earlier parsed event took (captions often
   repeat an event: "speech, a door, then speech"), then to the first listed; events with no
   shared word stay unmatched. A comparable pair is two parsed
   events in different temporal groups (so ordered by the parser), both matched to events tagged
   start/mid/end with different tags. The pair is concordant when the earlier parsed event has
   the earlier tag (start < mid < end), discordant otherwise. A caption AGREES when it has a
   concordant pair and no discordant one, DISAGREES when it has a discordant pair, and is
   UNDECIDED when it has no comparable pair. Reported: agreement = agree / (agree + disagree),
   no-violation = (eligible - disagree) / eligible, and the pairwise concordance.
2. Order negatives on AudioCaps (train/val/test, column caption) and Clotho
   (development/validation/evaluation, columns caption_1..5): the share of captions with an
   explicit order, and among those the share that get a VALID negative set: order_negatives is
   non-empty and every negative parses to the same events in another temporal order
   (same_events_other_order). order_negatives re-parses its candidates and drops those that read
   differently, so the script also reports the share that is valid WITHOUT that check (plain slot
   substitution, CaptionStructure.negatives(check=False)). At most --limit negatives are made
   per caption (orders grow factorially beyond 5 events).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

from tclap_gen.captions import parse_events, parse_structure

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "captions"
RANK = {"start": 0, "mid": 1, "end": 2}
STOP = set(
    "a an the of in on at by to from with and or is are was were be being been it its as into onto "
    "some someone something while then followed before after over under near nearby background "
    "distance loud loudly quietly softly briefly several multiple other another".split()
)
_STRUCT_RE = re.compile(r"<([^&<>]*)&\s*([a-z]+)\s*>")


def content_words(text: str) -> set[str]:
    out = set()
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in STOP or len(word) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        out.add(word)
    return out


def parse_struct(text: str) -> list[tuple[str, str]]:
    return [(m.group(1).strip(), m.group(2)) for m in _STRUCT_RE.finditer(text)]


def maa2_agreement(path: Path) -> dict:
    counts = {"captions": 0, "eligible": 0, "agree": 0, "disagree": 0, "undecided": 0,
              "concordant_pairs": 0, "discordant_pairs": 0}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            counts["captions"] += 1
            plan = parse_events(row["ori_cap"])
            structure = parse_struct(row["caption"])
            tags = {tag for _, tag in structure if tag in RANK}
            if not plan.explicit_order or len(tags) < 2:
                continue
            counts["eligible"] += 1
            struct_words = [content_words(text) for text, _ in structure]
            ranks = []  # per parsed event: the rank of its best-matching structured event, or None
            taken: set[int] = set()
            for event in plan.events:
                words = content_words(event)
                best, best_key = None, (0.0, False)
                for index, other in enumerate(struct_words):
                    union = words | other
                    score = len(words & other) / len(union) if union else 0.0
                    key = (score, index not in taken)
                    if score > 0 and key > best_key:
                        best, best_key = index, key
                if best is not None:
                    taken.add(best)
                ranks.append(RANK.get(structure[best][1]) if best is not None else None)
            group_of = []
            for g, group in enumerate(plan.groups()):
                group_of.extend([g] * len(group))
            concordant = discordant = 0
            for i in range(len(plan.events)):
                for j in range(i + 1, len(plan.events)):
                    if group_of[i] == group_of[j] or ranks[i] is None or ranks[j] is None or ranks[i] == ranks[j]:
                        continue
                    if ranks[i] < ranks[j]:
                        concordant += 1
                    else:
                        discordant += 1
            counts["concordant_pairs"] += concordant
            counts["discordant_pairs"] += discordant
            if discordant:
                counts["disagree"] += 1
            elif concordant:
                counts["agree"] += 1
            else:
                counts["undecided"] += 1
    decided = counts["agree"] + counts["disagree"]
    pairs = counts["concordant_pairs"] + counts["discordant_pairs"]
    counts["agreement"] = counts["agree"] / decided if decided else None
    eligible = counts["eligible"]
    counts["no_violation"] = (eligible - counts["disagree"]) / eligible if eligible else None
    counts["pair_concordance"] = counts["concordant_pairs"] / pairs if pairs else None
    return counts


def read_captions(path: Path, columns: list[str]) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row[c] for row in rows for c in columns if row.get(c) and row[c].strip()]


def negative_figures(captions: list[str], limit: int) -> dict:
    ordered = valid = raw_valid = events = 0
    for caption in captions:
        structure = parse_structure(caption)
        plan = structure.plan()
        if not plan.explicit_order:
            continue
        ordered += 1
        events += len(plan.events)
        events_sorted, key = sorted(plan.events), plan.order_key()

        def other_order(negative: str) -> bool:  # same_events_other_order, with the caption parsed once
            other = parse_events(negative)
            return other.explicit_order and sorted(other.events) == events_sorted and other.order_key() != key

        negatives = structure.negatives(limit=limit)  # what order_negatives(caption, limit) returns
        if negatives and all(other_order(n) for n in negatives):
            valid += 1
        raw = structure.negatives(limit=limit, check=False)
        if raw and all(other_order(n) for n in raw):
            raw_valid += 1
    return {
        "captions": len(captions),
        "ordered": ordered,
        "ordered_share": ordered / len(captions) if captions else None,
        "valid_negatives": valid,
        "valid_share": valid / ordered if ordered else None,
        "valid_without_check": raw_valid,
        "valid_without_check_share": raw_valid / ordered if ordered else None,
        "mean_events_when_ordered": events / ordered if ordered else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the captions folder (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=24, help="most negatives made per caption (default: 24)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    data = args.data
    sets = {
        "audiocaps": (["train.csv", "val.csv", "test.csv"], ["caption"]),
        "clotho": (["development.csv", "validation.csv", "evaluation.csv"], [f"caption_{i}" for i in range(1, 6)]),
    }
    struct = data / "make_an_audio2" / "audiocaps_test_struct.tsv"
    for path in [struct] + [data / name / f for name, (files, _) in sets.items() for f in files]:
        if not path.is_file():
            raise SystemExit(f"error: {path} not found (pass the captions folder with --data)")

    start = time.time()
    figures = {"maa2": maa2_agreement(struct), "negatives": {}}
    for name, (files, columns) in sets.items():
        captions = [c for f in files for c in read_captions(data / name / f, columns)]
        figures["negatives"][name] = negative_figures(captions, args.limit)
    figures["seconds"] = round(time.time() - start, 1)

    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    m = figures["maa2"]
    print("Make-An-Audio 2 structured captions (AudioCaps test)")
    print(f"  captions {m['captions']}, eligible (explicit order, >= 2 distinct start/mid/end tags) {m['eligible']}")
    print(f"  agree {m['agree']}, disagree {m['disagree']}, undecided {m['undecided']}")
    print(f"  agreement (agree / decided) {m['agreement']:.1%}, no violation (of eligible) {m['no_violation']:.1%}, "
          f"pair concordance {m['pair_concordance']:.1%} ({m['concordant_pairs']} / "
          f"{m['concordant_pairs'] + m['discordant_pairs']} pairs)")
    print()
    print("Order negatives (share of valid = of the captions with an explicit order)")
    print(f"{'set':<10} {'captions':>9} {'ordered':>8} {'share':>7} {'valid neg':>10} {'share':>7} "
          f"{'unchecked':>10} {'share':>7} {'events':>7}")
    for name, f in figures["negatives"].items():
        print(f"{name:<10} {f['captions']:>9} {f['ordered']:>8} {f['ordered_share']:>7.1%} "
              f"{f['valid_negatives']:>10} {f['valid_share']:>7.1%} {f['valid_without_check']:>10} "
              f"{f['valid_without_check_share']:>7.1%} {f['mean_events_when_ordered']:>7.2f}")
    print(f"\n({figures['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
