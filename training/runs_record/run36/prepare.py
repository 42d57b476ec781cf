"""Build the two uploads of run 36 (run.sh beside this file) in .dev/c1 and .dev/c2 (about 58 and 35 MB; a call
takes at most 64 MiB with the working tree).

    python training/runs_record/run36/prepare.py          # about 3 minutes on one core; pip must reach the index

The working tree travels with each call, and the tracked tree is over 130 MB (weights and records). So, for the
two calls only, make the tracked tree small (untracked files stay where they are, nothing on disk changes):

    echo /.dev/ >> .git/info/exclude
    git checkout --orphan devslim && git rm -r --cached -q tclap_gen/weights training/runs_record samples/gallery tests/data
    git add -f training/runs_record/run36 && printf '%s\\n' /tclap_gen/weights/ '/training/runs_record/*' \\
        '!/training/runs_record/run36/' /samples/gallery/ /tests/data/ >> .git/info/exclude && git commit -qm slim
    device run, carry [".dev/c1"]: nvidia-smi -L                      (upload 1; the machine stays warm 30 s)
    device run, carry [".dev/c2"], timeout 590: OUT=$OUT bash training/runs_record/run36/run.sh
    git symbolic-ref HEAD refs/heads/main && git reset -q && git branch -D devslim   (and drop the exclude lines)
    bash training/runs_record/run36/assemble.sh FILES_AT     (both pipelines, float16, from what the run returned)
"""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "training/recipes")]
from compress_data import convert  # noqa: E402
from tclap_gen.datasets import split_clip_lists  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
C1, C2 = ROOT / ".dev" / "c1", ROOT / ".dev" / "c2"
WHEELS = ["diffusers==0.42.1", "soundfile==0.14.0", "cffi==2.1.1", "pycparser==3.12"]
C1_DATA_BYTES = 17_000_000  # what is left of upload 1 after the wheels, the VAE, run 28's T-CLAP and run 30's UNet


def main():
    for folder in (C1, C2):
        if folder.exists():
            shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                    "-d", str(C1 / "wheels"), *WHEELS], check=True)
    subprocess.run([sys.executable, str(ROOT / "training/recipes/unpack_pipeline.py"),
                    str(ROOT / "tclap_gen/weights/mini"), str(C1 / "gen"), "vae"], check=True)
    records = ROOT / "training/runs_record"
    for target, tclap, unet in ((C1, "run28", "run30"), (C2, "run29", "run31")):
        shutil.copytree(records / tclap / "tclap", target / "tclap")
        shutil.copytree(records / unet / "unet", target / "unet")

    # The train side as Ogg/Opus; metadata.csv keeps every row (renamed .ogg) so that the split stays the recipes'.
    names = ["kitchen20", "uiowa"]
    train, _ = split_clip_lists([DATA / n / "metadata.csv" for n in names])
    train_files = {Path(r.path).resolve() for r in train}
    c1_bytes = 0
    for name in names:
        with open(DATA / name / "metadata.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            source = (DATA / name / row["path"]).resolve()
            row["path"] = str(Path(row["path"]).with_suffix(".ogg"))
            if source not in train_files:
                continue  # held out: no audio travels
            upload = C1 if name == "kitchen20" and c1_bytes < C1_DATA_BYTES else C2
            target = upload / "data" / name / row["path"]
            convert((source, target), compression_level=0.8)
            c1_bytes += target.stat().st_size if upload is C1 else 0
        (C2 / "data" / name).mkdir(parents=True, exist_ok=True)
        with open(C2 / "data" / name / "metadata.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    for folder in (C1, C2):
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        print(f"{folder}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
