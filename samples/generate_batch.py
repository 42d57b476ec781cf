"""Batch generation: many prompts, resumable, sharded across processes, with a manifest and an HTML gallery.

    tclap-gen batch samples/prompts/mini_temporal.txt --out runs/gallery
    accelerate launch samples/generate_batch.py samples/prompts/mini_temporal.txt --out runs/gallery   # several GPUs

Prompts come from .txt (one a line), .jsonl ({"id", "prompt", optional "seed", "negative_prompt", "seconds"}) or
.csv with the same columns. Every file is written under a temporary name and renamed; each finished prompt appends
one line to its process's manifest shard (manifest.rank{R}.jsonl), and the shards are merged into manifest.jsonl
at the end. Rerunning the same command skips the prompts whose audio, report and manifest line all exist, so a
run killed at any moment resumes without losing or duplicating an entry.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import math
import os
import re
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from tclap_gen.audio import atomic_write
from tclap_gen.captions import MAX_CAPTION_CHARS
from tclap_gen.generate import MAX_STEM_CHARS, safe_stem, write_clip, write_json
from tclap_gen.layout import auto_spans, check_spans

MANIFEST = "manifest.jsonl"


@dataclass
class PromptItem:
    id: str
    prompt: str
    seed: int
    negative_prompt: str | None = None
    seconds: float | None = None
    events: list | None = None  # [[text, start_s, end_s], ...]: the layout spans of this prompt (.jsonl / .csv)


@dataclass
class BatchOptions:
    model: str = "mini"
    batch_size: int = 4
    candidates: int = 1
    rerank: str | None = "temporal"
    steps: int = 50
    guidance: float = 2.5
    seconds: float | None = None
    seed: int = 0
    html: bool = True
    no_contrast: bool = False  # the scorer's events compete only with each other, silence and background noise
    layout: str | None = None  # "auto": each event of a prompt conditions its own stretch of time


# ----- reading prompts -----
def read_prompts(path, base_seed: int = 0) -> list[PromptItem]:
    """Prompts from .txt, .jsonl or .csv (UTF-8, with or without a byte-order mark). .jsonl and .csv entries may give
    `events` ([[text, start_s, end_s], ...]; JSON in a CSV cell): the spans that entry's events condition. Missing ids
    are made from the prompt text (stable across edits of other lines); missing seeds are derived from (base_seed,
    id). Anything the batch could not generate is a ValueError naming the file and the entry: text that is not UTF-8,
    a JSON line that is not an object, an empty or over-long prompt (captions.MAX_CAPTION_CHARS), a seed that is not
    an integer, seconds that are not a positive number, events that are not valid spans, a duplicate id."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv"):
        raise ValueError(f"{path}: unsupported prompts file (use .txt, .jsonl or .csv)")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error})") from None
    if suffix == ".txt":
        rows = [{"prompt": line.strip()} for line in text.splitlines() if line.strip() and not line.startswith("#")]
    elif suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not valid JSON ({error})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number}: expected a JSON object with a \"prompt\", got {type(row).__name__}")
                rows.append(row)
    else:
        try:
            rows = [{k: v for k, v in row.items() if v not in (None, "")} for row in csv.DictReader(io.StringIO(text))]
        except csv.Error as error:
            raise ValueError(f"{path}: not a readable CSV ({error})") from None

    items, seen, made = [], set(), {}
    for number, row in enumerate(rows, 1):
        where = f"{path}: entry {number}"
        if not isinstance(row.get("prompt", ""), str):
            raise ValueError(f"{where}: the prompt must be text, got {type(row['prompt']).__name__}")
        prompt = row.get("prompt", "").strip()
        if not prompt:
            raise ValueError(f"{where} has an empty prompt")
        if len(prompt) > MAX_CAPTION_CHARS:
            raise ValueError(f"{where}: the prompt is {len(prompt):,} characters long; at most {MAX_CAPTION_CHARS:,}")
        if row.get("id") not in (None, ""):
            item_id = str(row["id"])
        else:  # the same prompt twice without ids: number the repeats
            stem = safe_stem(prompt)
            made[stem] = made.get(stem, 0) + 1
            item_id = stem if made[stem] == 1 else f"{stem}-{made[stem]}"
        if item_id in seen:
            raise ValueError(f"{path}: duplicate id {item_id!r} (entry {number})")
        seen.add(item_id)
        seed, seconds = derived_seed(base_seed, item_id), None
        if row.get("seed") not in (None, ""):
            try:
                seed = int(str(row["seed"]).strip())
            except ValueError:
                seed = -1
            if not 0 <= seed < 2**63:
                raise ValueError(f"{where}: seed must be an integer in [0, 2**63), got {row['seed']!r}")
        if row.get("seconds") not in (None, ""):
            try:
                seconds = float(row["seconds"])
            except (TypeError, ValueError):
                seconds = math.nan
            if not math.isfinite(seconds) or seconds <= 0:
                raise ValueError(f"{where}: seconds must be a positive number, got {row['seconds']!r}")
        negative = row.get("negative_prompt")
        events = row.get("events")
        if events not in (None, ""):
            try:
                events = json.loads(events) if isinstance(events, str) else events  # a CSV cell holds JSON
                spans = check_spans(events, seconds if seconds is not None else math.inf, name=f"events of entry {number}")
            except (TypeError, ValueError) as error:
                raise ValueError(f"{where}: {error}") from None
            events = [[span.text, span.start, span.end] for span in spans]
        items.append(PromptItem(item_id, prompt, seed, str(negative) if negative not in (None, "") else None, seconds,
                                events or None))
    return items


def derived_seed(base_seed: int, item_id: str) -> int:
    return (base_seed * 1_000_003 + zlib.crc32(item_id.encode("utf-8"))) % (2**31)


def file_stem(item_id: str) -> str:
    """Ids can be anything a user typed: never let one become a path. An id of letters, digits, "_" and inner "-"
    (AudioTime's "syn_1", an AudioCaps "Yb0RFKhbpFJA_30") is its own stem, so the clips land as ID.wav, as
    `tclap-gen eval generation` reads them; anything else gets a safe stem with a hash."""
    if re.fullmatch(r"[A-Za-z0-9_]+(-[A-Za-z0-9_]+)*", item_id) and len(item_id) <= MAX_STEM_CHARS + 16:
        return item_id
    return safe_stem(item_id)


# ----- the manifest -----
def read_manifest(path: Path) -> dict[str, dict]:
    """Entries by id; a truncated last line (a killed write) and repeated ids are dropped."""
    entries = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            entries.setdefault(entry["id"], entry)
    return entries


def rewrite_jsonl(path: Path, entries) -> None:
    lines = "".join(json.dumps(entry) + "\n" for entry in entries)
    atomic_write(path, lambda tmp: Path(tmp).write_text(lines))


def append_line(path: Path, entry: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")
        f.flush()
        os.fsync(f.fileno())


def completed_entries(out: Path) -> dict[str, dict]:
    """Entries of the merged manifest and every shard whose audio and report exist."""
    entries = {}
    for manifest in [out / MANIFEST, *sorted(out.glob("manifest.rank*.jsonl"))]:
        for item_id, entry in read_manifest(manifest).items():
            if (out / entry["audio"]).is_file() and (out / entry["report"]).is_file():
                entries.setdefault(item_id, entry)
    return entries


def model_identity(model: str) -> dict:
    """Path and a content hash of the model's weight files, so a manifest says exactly what made its audio."""
    from tclap_gen.registry import resolve_builtin

    source = Path(str(resolve_builtin(model)))
    if not source.is_dir():
        return {"model": str(model), "model_hash": None}
    digest = hashlib.sha256()
    for file in sorted(source.rglob("*")):
        if file.is_file() and file.suffix in (".safetensors", ".json", ".txt"):
            digest.update(str(file.relative_to(source)).encode())
            digest.update(file.read_bytes())
    return {"model": str(source), "model_hash": digest.hexdigest()[:16]}


# ----- generation -----
def generate_batch(items: list[PromptItem], out, options: BatchOptions, pipe=None, scorer=None, rank: int = 0,
                   world_size: int = 1, device=None, show_progress: bool = True) -> list[dict]:
    """Generate this process's share (items[rank::world_size]) of the prompts not done yet; returns new entries."""
    from tclap_gen.generate import load_pipeline
    from tclap_gen.scoring import TemporalScorer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done = completed_entries(out)
    todo = [item for item in items[rank::world_size] if item.id not in done]
    shard = out / f"manifest.rank{rank}.jsonl"
    rewrite_jsonl(shard, read_manifest(shard).values())  # drop a line cut short by a kill
    if not todo:
        return []
    pipe = pipe or load_pipeline(options.model, device)
    scorer = scorer or TemporalScorer(pipe.get_tclap(), contrast_texts=None if options.no_contrast else "auto")
    identity = model_identity(options.model)
    embeddings = PromptEmbeddingCache(pipe)
    new_entries = []
    progress = tqdm(total=len(todo), desc=f"prompts (rank {rank})", unit="prompt", disable=not show_progress)
    for batch in batches_of_equal_length(todo, options):
        started = time.perf_counter()
        seconds = batch[0].seconds if batch[0].seconds is not None else options.seconds
        prompt_embeds = embeddings.get([item.prompt for item in batch])
        negative_embeds = embeddings.get([item.negative_prompt or "" for item in batch])
        generators = [torch.Generator().manual_seed(item.seed + k) for item in batch for k in range(options.candidates)]
        events = None
        if options.layout == "auto" or any(item.events for item in batch):
            # each prompt's own spans, else planned from its text (the pipeline sees cached embeddings); [] = plain
            length = seconds if seconds is not None else pipe.default_audio_length_in_s
            events = [check_spans(item.events, length, f"events of {item.id!r}") if item.events
                      else auto_spans(item.prompt, length) if options.layout == "auto" else [] for item in batch]
        # Prompts go in as cached embeddings; re-ranking (which needs the prompt text) is done here, per prompt,
        # with the pipeline's own scoring and selection.
        result = pipe(
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_embeds,
            audio_length_in_s=seconds,
            num_inference_steps=options.steps,
            guidance_scale=options.guidance,
            num_waveforms_per_prompt=options.candidates,
            generator=generators,
            output_type="pt",
            events=events,
        )
        generation_s = (time.perf_counter() - started) / len(batch)
        started = time.perf_counter()
        kept, kept_scores, kept_reports = pick_candidates(pipe, result.audios, batch, prompt_embeds, options, scorer)
        rerank_s = (time.perf_counter() - started) / len(batch)
        for index, (item, wave) in enumerate(zip(batch, kept.numpy())):
            started = time.perf_counter()
            report = kept_reports[index]  # temporal re-ranking already scored the kept candidate
            if report is None:
                report = scorer.score(wave, sampling_rate=pipe.sampling_rate, prompt=item.prompt)
            stem = file_stem(item.id)
            settings = {**asdict(item), "steps": options.steps, "guidance": options.guidance,
                        "candidates": options.candidates, "rerank": options.rerank if options.candidates > 1 else None,
                        "rerank_score": kept_scores[index], "no_contrast": options.no_contrast, **identity}
            planned = None if result.layouts is None else result.layouts[index]
            record = write_clip(out, stem, wave, pipe.sampling_rate, report, settings, planned)
            # the manifest line: the record without its report (in <stem>.json), with the report's summary
            entry = {key: value for key, value in record.items() if key != "score"}
            entry.update({"report": f"{stem}.json",
                          **{key: record["score"][key] for key in ("order_probability", "order_correct", "faithfulness")},
                          "timings": {"generate_s": round(generation_s, 3), "rerank_s": round(rerank_s, 3),
                                      "score_s": round(time.perf_counter() - started, 3)}})
            append_line(shard, entry)
            new_entries.append(entry)
            progress.update(1)
    progress.close()
    return new_entries


def pick_candidates(pipe, audios: torch.Tensor, batch: list[PromptItem], prompt_embeds, options: BatchOptions,
                    scorer=None):
    """Each prompt's kept waveform (its best candidate under options.rerank, else its first), that score and,
    with rerank="temporal", its score report from `scorer` (else None: the caller scores the kept audio)."""
    per_prompt = options.candidates
    if per_prompt == 1 or options.rerank is None:
        return audios[::per_prompt], [None] * len(batch), [None] * len(batch)
    from tclap_gen.pipelines.pipeline_tclap_audioldm import best_per_prompt

    prompts = [item.prompt for item in batch for _ in range(per_prompt)]
    flat, reports = pipe.score_candidates(audios, options.rerank, prompts,
                                          prompt_embeds.repeat_interleave(per_prompt, dim=0), scorer)
    keep, grid = best_per_prompt(flat, len(batch), per_prompt)
    kept_reports = [reports[k] for k in keep] if reports is not None else [None] * len(batch)
    return audios[keep], [max(row) for row in grid], kept_reports


def batches_of_equal_length(items: list[PromptItem], options: BatchOptions):
    """Consecutive runs of at most batch_size prompts that ask for the same length (one pipeline call each)."""
    batch = []
    for item in items:
        if batch and (len(batch) == options.batch_size or item.seconds != batch[0].seconds):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


class PromptEmbeddingCache:
    """Each distinct prompt's text embedding is computed once per run (prompts repeat across seeds and candidates)."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.cache: dict[str, torch.Tensor] = {}
        self.computed = 0

    def get(self, prompts: list[str]) -> torch.Tensor:
        missing = sorted({p for p in prompts if p not in self.cache})
        if missing:
            with torch.no_grad():
                embeds, _ = self.pipe.encode_prompt(missing, self.pipe._execution_device, 1, False)
            self.cache.update(zip(missing, embeds))
            self.computed += len(missing)
        return torch.stack([self.cache[p] for p in prompts])


# ----- finishing -----
def merge_manifests(items: list[PromptItem], out) -> list[dict]:
    """Write manifest.jsonl: one entry per completed prompt, in the prompts file's order."""
    out = Path(out)
    done = completed_entries(out)
    merged = [done[item.id] for item in items if item.id in done]
    rewrite_jsonl(out / MANIFEST, merged)
    return merged


def summarize(entries: list[dict], total: int, elapsed_s: float) -> dict:
    faith = [e["faithfulness"] for e in entries if e.get("faithfulness") is not None]
    ordered = [e["order_correct"] for e in entries if e.get("order_correct") is not None]
    return {
        "prompts": total,
        "completed": len(entries),
        "failures": total - len(entries),
        "mean_faithfulness": sum(faith) / len(faith) if faith else None,
        "order_accuracy": sum(ordered) / len(ordered) if ordered else None,
        "elapsed_s": round(elapsed_s, 2),
    }


def write_report_html(entries: list[dict], out) -> Path:
    """A static page: per prompt its audio player, spectrogram with event curves and scores; sortable columns."""
    rows = []
    for e in entries:
        order = "" if e.get("order_correct") is None else ("yes" if e["order_correct"] else "no")
        prob = "" if e.get("order_probability") is None else f"{e['order_probability']:.3f}"
        rows.append(
            f"<tr><td>{html.escape(e['id'])}</td><td>{html.escape(e['prompt'])}</td>"
            f"<td data-v=\"{e['faithfulness']:.6f}\">{e['faithfulness']:.3f}</td><td>{prob}</td><td>{order}</td>"
            f"<td><audio controls preload=\"none\" src=\"{html.escape(e['audio'])}\"></audio></td>"
            f"<td><img src=\"{html.escape(e['plot'])}\" width=\"360\" alt=\"spectrogram\"></td></tr>"
        )
    page = REPORT_TEMPLATE.replace("{rows}", "\n".join(rows)).replace("{count}", str(len(entries)))
    path = Path(out) / "report.html"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(page))


REPORT_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tclap-gen batch report</title>
<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px;
vertical-align:middle}th{cursor:pointer;background:#eee}</style></head>
<body><h1>tclap-gen batch report</h1><p>{count} prompts. Click a column header to sort.</p>
<table id="results"><thead><tr><th>id</th><th>prompt</th><th>faithfulness</th><th>order probability</th>
<th>order correct</th><th>audio</th><th>spectrogram and event curves</th></tr></thead><tbody>
{rows}
</tbody></table>
<script>
document.querySelectorAll("#results th").forEach((th, col) => th.addEventListener("click", () => {
  const body = document.querySelector("#results tbody");
  const key = r => { const c = r.children[col]; return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent; };
  const rows = [...body.rows], down = th.dataset.down !== "1";
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1));
  th.dataset.down = down ? "1" : "0"; rows.forEach(r => body.appendChild(r));
}));
</script></body></html>
"""


# ----- command line -----
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tclap-gen batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("prompts", type=Path, help=".txt, .jsonl or .csv")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--model", default="mini")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=1)
    parser.add_argument("--rerank", choices=["temporal", "clap", "none"], default="temporal")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=2.5)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0, help="base seed for prompts without one")
    parser.add_argument("--no-html", action="store_true")
    parser.add_argument("--layout", choices=["auto", "none"], default="none",
                        help="auto: each event of a prompt conditions its own stretch of time (recorded in the manifest)")
    parser.add_argument("--no-contrast", action="store_true",
                        help="score without the model's trained classes as competitors (see tclap-gen score)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("batch_size", "candidates", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.out.exists() and not args.out.is_dir():
        raise FileExistsError(f"--out {args.out} is a file; give a folder (made if missing)")
    options = BatchOptions(
        model=args.model, batch_size=args.batch_size, candidates=args.candidates,
        rerank=None if args.rerank == "none" else args.rerank, steps=args.steps, guidance=args.guidance,
        seconds=args.seconds, seed=args.seed, html=not args.no_html, no_contrast=args.no_contrast,
        layout=None if args.layout == "none" else args.layout,
    )
    items = read_prompts(args.prompts, options.seed)
    from accelerate import PartialState

    # One process, or one per process under `accelerate launch`; on a machine without CUDA, cpu=True is what makes
    # `--multi_gpu --num_processes N` start N gloo ranks instead of silently running one.
    state = PartialState(cpu=not torch.cuda.is_available())
    started = time.perf_counter()
    generate_batch(items, args.out, options, rank=state.process_index, world_size=state.num_processes,
                   device=state.device, show_progress=True)
    state.wait_for_everyone()
    if state.is_main_process:
        merged = merge_manifests(items, args.out)
        if options.html:
            write_report_html(merged, args.out)
        summary = summarize(merged, len(items), time.perf_counter() - started)
        write_json(Path(args.out) / "summary.json", summary)
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
