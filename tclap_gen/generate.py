"""Generate audio for prompts and write, per prompt, the audio (.wav), its record (.json: the settings that made it
and its score report) and a spectrogram with the scorer's event curves (.png). `write_clip` is the one writer of
those three files, for `tclap-gen generate` and for batch generation (samples/generate_batch.py) alike."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import torch

from .audio import atomic_write, save_audio
from .layout import plan_agreement

MAX_STEM_CHARS = 60


def safe_stem(prompt: str) -> str:
    """A file name stem for a prompt: lowercase words and dashes only (no path separators, no dots), bounded
    length, plus a short hash of the full prompt so that different prompts never collide."""
    words = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:MAX_STEM_CHARS].rstrip("-") or "prompt"
    digest = hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:8]
    return f"{words}-{digest}"


def write_json(path, data) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2) + "\n"))


def write_clip(out, stem: str, wave, sampling_rate: int, report, settings: dict, planned=None) -> dict:
    """Write <stem>.wav, <stem>.png (spectrogram, event curves and the planned spans) and <stem>.json into `out`;
    returns the record in the .json: `settings` (prompt, seed, ...), the file names, the clip's length, the layout
    plan, how the scorer's finds agree with it (`layout.plan_agreement`) and the score report (`score`). Each file
    is written under a temporary name and renamed."""
    out = Path(out)
    save_audio(out / f"{stem}.wav", wave, sampling_rate)
    report.plot(out / f"{stem}.png", planned=planned)
    score = report.to_dict()
    record = {**settings, "audio": f"{stem}.wav", "plot": f"{stem}.png", "seconds": len(wave) / sampling_rate,
              "layout": planned, "plan_agreement": plan_agreement(planned, score["events"]) if planned else None,
              "score": score}
    write_json(out / f"{stem}.json", record)
    return record


def load_pipeline(model: str, device: str | None = None):
    from .pipelines import TClapAudioLDMPipeline

    pipe = TClapAudioLDMPipeline.from_pretrained(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def generate_to_folder(prompts, out, model: str = "mini", seed: int = 0, steps: int = 50, guidance: float = 2.5,
                       seconds: float | None = None, candidates: int = 1, rerank: str | None = "temporal",
                       negative_prompt: str | None = None, pipe=None, scorer=None, layout: str | None = None,
                       canonicalize: bool = False):
    """Yield one record per prompt (`write_clip`'s) after writing its .wav, .json and .png into `out`.

    Each prompt gets its own generator seeded with `seed`, so its audio does not depend on the other prompts.
    `scorer` (default: a TemporalScorer over the pipeline's T-CLAP) writes the reports; with rerank="temporal" it
    also ranks the candidates, and the kept candidate's report comes from that ranking (each audio is scored once).
    `layout` and `canonicalize` go to the pipeline; the record keeps the planned spans (`layout`).
    """
    from .scoring import TemporalScorer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = pipe or load_pipeline(model)
    scorer = scorer or TemporalScorer(pipe.get_tclap())
    rerank = rerank if candidates > 1 else None
    for prompt in prompts:
        result = pipe(
            prompt,
            negative_prompt=negative_prompt,
            num_inference_steps=steps,
            guidance_scale=guidance,
            audio_length_in_s=seconds,
            num_waveforms_per_prompt=candidates,
            rerank=rerank,
            scorer=scorer if rerank == "temporal" else None,
            generator=torch.Generator().manual_seed(seed),
            layout=layout,
            canonicalize=canonicalize,
        )
        wave = result.audios[0]
        if result.reports is not None:
            report = result.reports[0]  # temporal re-ranking already scored the kept candidate with `scorer`
        else:
            report = scorer.score(wave, sampling_rate=pipe.sampling_rate, prompt=prompt)
        settings = {"prompt": prompt, "model": str(model), "seed": seed, "steps": steps, "guidance": guidance,
                    "candidates": candidates, "rerank": rerank,
                    "rerank_score": result.scores[0] if result.scores else None, "canonicalize": canonicalize}
        planned = None if result.layouts is None else result.layouts[0]
        yield write_clip(out, safe_stem(prompt), wave, pipe.sampling_rate, report, settings, planned)
