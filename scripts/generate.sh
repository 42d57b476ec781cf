#!/usr/bin/env bash
# The README's main job: set up .venv (first run only installs), then generate with the embedded `mini` models.
# Usage: bash scripts/generate.sh ["PROMPT" ...] [--out DIR] [other tclap-gen generate options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$#" -eq 0 ]; then
  set -- "glass smash then bicycle bell" --out out/
fi
case " $* " in *" --out "*) ;; *) set -- "$@" --out out/ ;; esac
HF_HUB_OFFLINE=1 exec .venv/bin/tclap-gen generate "$@"
