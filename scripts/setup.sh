#!/usr/bin/env bash
# Create .venv and install egx-notebook with every dependency pinned by constraints.txt.
# torch is pinned to the CPU build (torch==2.13.0): the constraints keep pip from pulling
# a newer torch with several GB of CUDA packages. Usage: bash scripts/setup.sh [extra]
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-widgets}"
py="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -c constraints.txt -e ".[${extra}]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, egx_notebook.model, egx_notebook.widgets; print('egx-notebook installed; torch', torch.__version__)"
