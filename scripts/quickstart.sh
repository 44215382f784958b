#!/usr/bin/env bash
# Set up .venv and run the quickstart on a bundled sample scene with the shipped model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh widgets
.venv/bin/python -m egx_notebook.quickstart "$@"
