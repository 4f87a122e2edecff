#!/usr/bin/env bash
# Create .venv and install the project with its test extra and the domain extras ([astro], [grid], ...).
# torch is installed first, pinned to the CPU build (torch==2.13.0), so that
# nothing later resolves a multi-GB CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[dev,astro,grid,kv,llm,finetune,rl]"
# kvpress 0.5.5 pins pandas<3 and older cachetools/fire without needing them; its run-time imports are in [kv]
.venv/bin/python -m pip install --quiet --no-deps "kvpress==0.5.5"
echo "setup done: $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)')"
