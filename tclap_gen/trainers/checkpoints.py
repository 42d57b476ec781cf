"""Checkpoints and atomic writes, shared by both trainers.

A checkpoint is `<folder>/step-XXXXXXXX`: accelerate's save_state plus `trainer_state.json` (the trainer's own
state: at least the step). It is written as `.step-XXXXXXXX.tmp` and renamed once complete, so a run killed at
any moment leaves complete checkpoints and hidden temporary folders, which listing ignores. Checkpoints are our
own files and are loaded with accelerate's load_state (torch.load of the optimizer state): never resume from a
folder you did not write.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tclap_gen.audio import atomic_write

CHECKPOINT_RE = re.compile(r"^step-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file and a rename: never half a file."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: Path, data: dict) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a finished folder into place; an older folder of that name is removed only after."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in `folder` as (step, path), oldest first."""
    found = []
    if Path(folder).is_dir():
        for path in Path(folder).iterdir():
            match = CHECKPOINT_RE.match(path.name)
            if match and (path / TRAINER_STATE).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(folder: Path) -> Path | None:
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def save_checkpoint(accelerator, folder: Path, step: int, state: dict, keep: int) -> Path:
    """save_state + `state` (with "step") as step-XXXXXXXX in `folder`, keeping the newest `keep` (at least 1)."""
    folder = Path(folder)
    final, tmp = folder / f"step-{step:08d}", folder / f".step-{step:08d}.tmp"
    if accelerator.is_main_process:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(tmp / TRAINER_STATE, {"step": step, **state})
        replace_dir(tmp, final)
        for _, stale in list_checkpoints(folder)[: -max(1, keep)]:
            shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final
