"""Caption parsing time against caption length: parse_events must stay linear in the caption's characters.

Variants are the same caption shape at two lengths, SHORT and LONG = 4 x SHORT events (a chain of "then", a
reversed-mention chain of "after", a comma list closed by "then"). Linear parsing costs about 4 x as much for the
long one, quadratic parsing 16 x. The figure that counts: time per character, long over short (target <= 2).
The captions go past MAX_CAPTION_CHARS (the cap that the public API applies) on purpose: the cap bounds the work,
this shows the parser itself scales.

    python benchmarks/bench_parse.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

from tclap_gen import captions  # noqa: E402

SHAPES = {
    "then": lambda n: " then ".join(f"s{i} rings" for i in range(n)),
    "after": lambda n: " after ".join(f"s{i} rings" for i in range(n)),
    "list": lambda n: ", ".join(f"s{i} rings" for i in range(n - 1)) + f", then s{n - 1} rings",
}


def build_parser():
    parser = C.base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=None, help="events of the short captions (default 200; quick 20)")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.events = args.events or (20 if args.quick else 200)
    C.check_args(args, default_repeats=5)
    texts = {f"{shape}_{size}": write(args.events * (4 if size == "long" else 1))
             for shape, write in SHAPES.items() for size in ("short", "long")}
    def parse(text):
        return lambda: captions.parse_events(text)

    memory = None  # a pure-Python parser: its memory is the text's
    started = time.perf_counter()
    cap = captions.MAX_CAPTION_CHARS
    captions.MAX_CAPTION_CHARS = 10**9  # the public cap is the API's bound, not the parser's cost being measured
    try:
        timings = C.interleaved({name: parse(text) for name, text in texts.items()}, args.repeats, args.warmup)
        events = {name: len(captions.parse_events(text).events) for name, text in texts.items()}
    finally:
        captions.MAX_CAPTION_CHARS = cap  # callers in the same process (the smoke test) keep the bound
    per_char = {shape: round((timings.median(f"{shape}_long") / len(texts[f"{shape}_long"]))
                             / (timings.median(f"{shape}_short") / len(texts[f"{shape}_short"])), 3)
                for shape in SHAPES}
    figures = {
        "characters": {name: len(text) for name, text in texts.items()},
        "events_parsed": events,
        "per_char_ratio_long_over_short": per_char,
        "timed_s": round(time.perf_counter() - started, 1),
    }
    result = {
        "benchmark": "parse",
        "command": C.command_line(__file__, argv),
        "environment": C.environment(),
        "config": {"events_short": args.events, "events_long": 4 * args.events, "repeats": args.repeats},
        "figures": figures,
        "targets": [C.target(f"time per character, long / short ({shape})", value, 2.0)
                    for shape, value in per_char.items()],
    }
    C.report(result, timings, memory, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
