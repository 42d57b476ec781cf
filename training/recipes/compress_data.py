"""Copy labelled-clip folders (Kitchen20, UIowa layouts: metadata.csv + audio) to Ogg/Opus, about 7x smaller,
keeping metadata.csv with the paths renamed. Used to carry the data to a GPU machine whose upload is capped;
the shipped mini weights record that they were trained on this copy.

    python training/recipes/compress_data.py ../shared/data .gpu/data kitchen20 uiowa
"""

import csv
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf


def convert(job, compression_level: float | None = None):
    """job = (source, target). compression_level (0-1, libsndfile's): None is the default, about 28 kb/s for these
    16 kHz clips; 0.8 gives about 59 kb/s."""
    source, target = job
    if target.exists():
        return
    data, rate = sf.read(str(source), dtype="float32")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    level = {} if compression_level is None else {"compression_level": compression_level}
    sf.write(str(tmp), data, rate, format="OGG", subtype="OPUS", **level)
    tmp.replace(target)


def main(source_root, target_root, *datasets):
    jobs = []
    for name in datasets:
        src, dst = Path(source_root) / name, Path(target_root) / name
        with open(src / "metadata.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            ogg = str(Path(row["path"]).with_suffix(".ogg"))
            jobs.append((src / row["path"], dst / ogg))
            row["path"] = ogg
        dst.mkdir(parents=True, exist_ok=True)
        with open(dst / "metadata.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(convert, jobs, chunksize=16))
    print(f"{len(jobs)} clips written under {target_root}")


if __name__ == "__main__":
    main(*sys.argv[1:])
