"""Shared fixtures: a tiny random T-CLAP (built offline), a tiny pipeline around it and the real clips in
tests/data/clips."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on the Hub: offline, transformers 5 retries for minutes

import torch  # noqa: E402

# The test models are tiny: one thread avoids the threading overhead that dominates them (about 10x on 2 cores).
# TCLAP_TEST_THREADS=N runs the suite with N threads (the float tolerances must hold for any count).
torch.set_num_threads(int(os.environ.get("TCLAP_TEST_THREADS", "1")))

TEST_DATA = Path(__file__).resolve().parent / "data"
CLIPS_CSV = TEST_DATA / "clips" / "metadata.csv"


@pytest.fixture(scope="session")
def tiny_tclap():
    """A random tiny T-CLAP; session-scoped, so tests must not modify its weights (copy.deepcopy it if needed)."""
    from tclap_gen.testing import tiny_tclap as build

    return build(seed=0)


@pytest.fixture(scope="session")
def clips_csv() -> Path:
    """metadata.csv (path,label,fold,source_id,seconds) of 12 real clips: 6 classes x 2 recordings."""
    return CLIPS_CSV


@pytest.fixture(scope="module")
def pipe(tiny_tclap):
    """A TClapAudioLDMPipeline of tiny random components around `tiny_tclap`, one per test module."""
    from tclap_gen.testing import tiny_pipeline

    pipe = tiny_pipeline(tiny_tclap)
    pipe.set_progress_bar_config(disable=True)
    return pipe
