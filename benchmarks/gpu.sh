#!/usr/bin/env bash
# GPU figures: the real-size (AudioLDM-S, random weights) TClapAudioLDMPipeline in fp16 against diffusers'
# AudioLDMPipeline in the same run: time ratio, steps/s, seconds per generated second of audio, CUDA peak memory.
#
# Runs on a bare GPU machine that has torch, transformers >= 5.17 and accelerate but not diffusers or soundfile:
# training/recipes/device_env.sh installs the wheels in $WHEELS (default .whl/, if any) and makes tclap_gen importable.
# Results: $OUT/gpu_bench.json (OUT defaults to ./gpu-results), also printed.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1

WHEELS=${WHEELS:-.whl}  # wheels the machine lacks (diffusers, soundfile and its cffi/pycparser, ...)
source training/recipes/device_env.sh "$WHEELS"

python3 -P - <<'PY'  # -P: the repo's own tclap_gen (no pipelines/) must not shadow /tmp/pkg
import diffusers, torch, transformers
import tclap_gen.pipelines  # noqa: F401  (fails here, clearly, when a dependency is missing)
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), diffusers {diffusers.__version__}, "
      f"transformers {transformers.__version__}, GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}")
if not torch.cuda.is_available():
    raise SystemExit("gpu.sh: CUDA is not available")
PY

# one prompt (latency) and four prompts per call (throughput); 50 DDIM steps, 10.24 s clips, CFG 2.5
python3 benchmarks/bench_generation.py --size real --device cuda --dtype float16 --steps 50 --repeats 5 \
  --no-memory --json "$OUT/gpu_bench_1prompt.json"
python3 benchmarks/bench_generation.py --size real --device cuda --dtype float16 --steps 50 --repeats 5 \
  --prompts 4 --no-memory --json "$OUT/gpu_bench_4prompts.json"

python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
merged = {name: json.loads((out / f"gpu_bench_{name}.json").read_text()) for name in ("1prompt", "4prompts")}
tmp = out / "gpu_bench.json.tmp"
tmp.write_text(json.dumps(merged, indent=2) + "\n")
tmp.replace(out / "gpu_bench.json")
print(json.dumps(merged, indent=2))
PY
