"""What every benchmark shares: arguments, interleaved timing, peak memory, the printed table and the JSON.

Shared machines are noisy, so a benchmark compares variants measured in ONE run: after a warm-up, the variants
run in turn (A B A B ...) so that drift in the machine's load hits them alike, and the figure that counts is the
ratio of their medians. Peak RSS is a per-process high-water mark, so each variant's memory is measured in a
fresh subprocess of the same script (`--only VARIANT`) that builds only what that variant needs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded; never wait on the Hub

REPO = Path(__file__).resolve().parent.parent


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes: a smoke run of a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each variant (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each variant first")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-variant peak-memory subprocesses")
    parser.add_argument("--only", default=None, help=argparse.SUPPRESS)  # internal: one variant, for its memory
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    return parser


def check_args(args, default_repeats: int, quick_repeats: int = 2, default_threads: int | None = None) -> None:
    """Fill in the defaults; `default_threads` (e.g. 1 for tiny models, whose cost is thread overhead on a loaded
    machine) applies when --threads is not given."""
    if args.threads is None:
        args.threads = default_threads
    if args.repeats is None:
        args.repeats = quick_repeats if args.quick else default_repeats
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {args.warmup}")
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ValueError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)


# ----- memory -----
def peak_rss_mib() -> float:
    """This process's peak resident set size (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def sync(device) -> None:
    """Wait for queued GPU work, so that a timer stops when the work is done."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ----- timing -----
@dataclass
class Timings:
    times: dict[str, list[float]] = field(default_factory=dict)
    cuda_peak_mib: dict[str, float] = field(default_factory=dict)  # max allocated during the variant's calls
    cuda_resident_mib: dict[str, float] = field(default_factory=dict)  # allocated when its calls began

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])

    def ratio(self, a: str, b: str) -> float:
        return self.median(a) / self.median(b)

    def paired_ratio(self, a: str, b: str) -> float:
        """Median over rounds of a's time / b's time in the same round: neighbours in time share the machine's
        load, so this cancels drift better than the ratio of medians when the load swings."""
        return statistics.median(x / y for x, y in zip(self.times[a], self.times[b]))


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int, device="cpu") -> Timings:
    """Warm up each variant, then time them in turn, reversing the order every other round (A B, B A, A B, ...)
    so that neither variant always runs first; GPU peaks are tracked per variant."""
    import torch

    on_cuda = str(device).startswith("cuda") and torch.cuda.is_available()
    timings = Timings(times={name: [] for name in variants})
    for _ in range(warmup):
        for fn in variants.values():
            fn()
            sync(device)
    order = list(variants.items())
    for round_ in range(repeats):
        for name, fn in (order if round_ % 2 == 0 else order[::-1]):
            if on_cuda:
                sync(device)
                torch.cuda.reset_peak_memory_stats()
                resident = torch.cuda.memory_allocated() / 2**20
            started = time.perf_counter()
            fn()
            sync(device)
            timings.times[name].append(time.perf_counter() - started)
            if on_cuda:
                peak = torch.cuda.max_memory_allocated() / 2**20
                timings.cuda_peak_mib[name] = max(timings.cuda_peak_mib.get(name, 0.0), peak)
                timings.cuda_resident_mib[name] = resident
    return timings


# ----- per-variant memory in subprocesses -----
def memory_per_variant(script: str, argv: list[str], names: list[str]) -> dict[str, dict]:
    """Run `script argv --only NAME` for each name in a fresh process; return its peak-memory record."""
    results = {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "memory.json"
            # later occurrences of an option win in argparse: the overrides go last
            command = [sys.executable, script, *argv, "--only", name, "--repeats", "1", "--warmup", "0",
                       "--no-memory", "--json", str(out)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not out.is_file():
                raise RuntimeError(f"memory run of {name!r} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            record = json.loads(out.read_text())
            results[name] = record["only"]
    return results


def only_record(name: str, setup_rss_mib: float) -> dict:
    """What a `--only` subprocess reports: its peak RSS after building, and after running the variant once."""
    import torch

    record = {"variant": name, "setup_peak_rss_mib": round(setup_rss_mib, 1), "peak_rss_mib": round(peak_rss_mib(), 1)}
    if torch.cuda.is_available():
        record["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return record


# ----- reporting -----
def environment() -> dict:
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor() or "cpu"
    return {
        "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "load_average": None if load is None else [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device_name": device,
    }


def command_line(script: str, argv: list[str]) -> str:
    return " ".join(["python", os.path.relpath(script, REPO), *argv])


def target(name: str, value: float, limit: float, comparison: str = "<=") -> dict:
    met = value <= limit if comparison == "<=" else value < limit
    return {"name": name, "value": float(f"{value:.4g}"), "target": f"{comparison} {limit}", "met": bool(met)}


def report(result: dict, timings: Timings | None, memory: dict[str, dict] | None, json_path: Path | None) -> dict:
    """Fill the variants' section, print the table, figures and targets, write the JSON; returns the result."""
    variants = {}
    if timings is not None:
        for name, values in timings.times.items():
            row = {"median_s": round(statistics.median(values), 5), "min_s": round(min(values), 5),
                   "times_s": [round(v, 5) for v in values]}
            if name in timings.cuda_peak_mib:
                row["cuda_peak_mib"] = round(timings.cuda_peak_mib[name], 1)
                row["cuda_resident_mib"] = round(timings.cuda_resident_mib[name], 1)
            variants[name] = row
    for name, record in (memory or {}).items():
        row = variants.setdefault(name, {})
        row["peak_rss_mib"] = record["peak_rss_mib"]
        row["setup_peak_rss_mib"] = record["setup_peak_rss_mib"]
        if "cuda_peak_mib" in record:
            row["subprocess_cuda_peak_mib"] = record["cuda_peak_mib"]
    result["variants"] = variants
    result["process_peak_rss_mib"] = round(peak_rss_mib(), 1)
    print_report(result)
    if json_path is not None:
        write_json(json_path, result)
    return result


def print_report(result: dict) -> None:
    env = result.get("environment", {})
    print(f"== {result['benchmark']}: {result.get('command', '')}")
    print(f"   {env.get('when')}  load {env.get('load_average')}  {env.get('cpu_count')} CPUs, "
          f"{env.get('torch_threads')} torch threads, {env.get('device_name')}")
    if result.get("config"):
        print("   config: " + ", ".join(f"{k}={v}" for k, v in result["config"].items()))
    columns = [("median_s", "median s"), ("min_s", "min s"), ("peak_rss_mib", "peak RSS MiB"),
               ("cuda_peak_mib", "CUDA peak MiB")]
    shown = [(key, title) for key, title in columns if any(key in row for row in result["variants"].values())]
    width = max([len("variant")] + [len(name) for name in result["variants"]])
    print("   " + "variant".ljust(width) + "".join(title.rjust(15) for _, title in shown))
    for name, row in result["variants"].items():
        cells = []
        for key, _ in shown:
            value = row.get(key)
            cells.append(("-" if value is None else f"{value:.4f}" if key.endswith("_s") else f"{value:.0f}").rjust(15))
        print("   " + name.ljust(width) + "".join(cells))
    for key, value in result.get("figures", {}).items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for sub, row in value.items():  # e.g. one line per data-loader setting
                print(f"   {key} {sub}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
        else:
            print(f"   {key}: {value}")
    for item in result.get("targets", []):
        print(f"   target {item['name']}: {item['value']} (want {item['target']}): {'MET' if item['met'] else 'NOT MET'}")
    sys.stdout.flush()


def write_json(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def run_only(args, variants: list[str], build_one) -> int:
    """The `--only NAME` subprocess: build_one(name) returns the variant's callable; run it once and report memory."""
    if args.only not in variants:
        raise ValueError(f"--only must be one of {variants}, got {args.only!r}")
    run = build_one(args.only)
    setup = peak_rss_mib()
    run()
    write_only(args.json, only_record(args.only, setup))
    return 0


def write_only(json_path: Path | None, record: dict) -> None:
    """The `--only` subprocess's answer."""
    print(json.dumps(record))
    if json_path is not None:
        write_json(json_path, {"only": record})
