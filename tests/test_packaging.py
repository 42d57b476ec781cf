"""The wheel: builds without setuptools warnings, carries the shipped weights, recipes and prompt sets, and installs
nothing generic at the top level (pipelines/, training/ and samples/ go under tclap_gen)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_builds_cleanly_with_its_data(tmp_path):
    had_build_dir = (ROOT / "build").exists()  # setuptools builds in the source tree; leave it as it was
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(ROOT)], capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    if not had_build_dir:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    (wheel,) = (tmp_path / "dist").glob("tclap_gen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("tclap_gen/weights/mini/vocoder/config.json", "tclap_gen/weights/mini/model_index.json",
                     "tclap_gen/training/configs/generator-mini.yaml", "tclap_gen/training/accelerate/cpu.yaml",
                     "tclap_gen/samples/prompts/gallery.txt", "tclap_gen/pipelines/pipeline_tclap_audioldm.py"):
        assert required in names, required
    top_level = {name.split("/")[0] for name in names}
    assert top_level <= {"tclap_gen"} | {n for n in top_level if n.endswith(".dist-info")}, top_level
