#!/usr/bin/env bash
# The README's test command: makes .venv (if absent), installs the pinned CPU stack and the project, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q "$@"
