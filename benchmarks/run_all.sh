#!/usr/bin/env bash
# Every benchmark at full size on this machine (CPU): prints each table and writes JSON files to DIR.
#   benchmarks/run_all.sh [DIR]        (default DIR: benchmarks/results; PYTHON=... picks the interpreter)
# Ratios are measured within one run (variants interleaved), so a busy machine slows both sides alike; the load
# average is recorded in each JSON and printed before and after. Takes about 1.5 hours on 2 CPU cores shared with
# other jobs (load 2-6): generation ~18 min, prompt cache ~50 min, scorer ~15 min, training ~6 min.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DIR=${1:-benchmarks/results}
mkdir -p "$DIR"
export HF_HUB_OFFLINE=1

echo "start: $(uptime)"
"$PY" benchmarks/bench_generation.py --size tiny --json "$DIR/generation_tiny.json"
"$PY" benchmarks/bench_generation.py --size real --json "$DIR/generation_real.json"
"$PY" benchmarks/bench_prompt_cache.py --size real --json "$DIR/prompt_cache_real.json"
"$PY" benchmarks/bench_scorer.py --size real --json "$DIR/scorer_real.json"
"$PY" benchmarks/bench_training.py --size real --json "$DIR/training_real.json"
"$PY" benchmarks/bench_layout.py --size real --json "$DIR/layout_real.json"
"$PY" benchmarks/bench_parse.py --json "$DIR/parse.json"
echo "end: $(uptime)"
echo "results in $DIR"
