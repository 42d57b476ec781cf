"""The README's mini-scale `eval generation` table from the JSON files commands.sh writes (runs/steam by default).
Usage: table.py [FOLDER]"""
import json, sys
from pathlib import Path

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/steam")
rows = [("real mixes, in order", "in_order"), ("real mixes, reversed", "reversed"), ("mini", "gen-mini-none"),
        ("mini, layout auto", "gen-mini-auto"), ("mini-clap", "gen-mini-clap-none"),
        ("mini-clap, layout auto", "gen-mini-clap-auto")]
print("| 100 clips (2 events, 5.12 s) | ordering error (not found / wrong order / overlap) | onset L1 | offset L1 "
      "| duration L1 | frequency L1 | segment F1 | labels found | CLAP score | FD vs real | KL vs real |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for label, name in rows:
    d = json.loads((folder / f"{name}.json").read_text())
    e = d["ordering_errors"]
    print(f"| {label} | {d['ordering_error_rate']:.2f} ({e['non_detect']} / {e['occur_error']} / {e['overlap_error']}) "
          f"| {d['onset_l1']:.2f} s | {d['offset_l1']:.2f} s | {d['duration_l1']:.2f} s | {d['frequency_l1']:.2f} "
          f"| {d['segment_f1']:.2f} | {d['events_detected']:.2f} | {d['clap_score']:.2f} | {d['fd']:.3f} | {d['kl']:.2f} |")
print()
for label, name in rows[2:]:
    if not (folder / f"{name}.batch.txt").is_file():  # the record keeps the JSON files only
        continue
    text = (folder / f"{name}.batch.txt").read_text()
    b = json.loads(text[text.rindex("\n{") + 1 :])  # the summary tclap-gen batch prints last
    print(f"{label}: order accuracy {b['order_accuracy']:.2f}, mean faithfulness {b['mean_faithfulness']:.3f}, "
          f"batch {b['elapsed_s']:.0f} s")
