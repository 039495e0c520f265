#!/usr/bin/env bash
# Reward model and learned-reward PPO on CUDA (and the same machine's CPU beside it).
# On a machine without our venv, missing pure-Python packages can travel as wheels in .whl/
# (gymnasium, stable-baselines3, sb3-contrib, pettingzoo, pygame-ce, farama-notifications).
# Usage: bash bench/gpu.sh [cuda|cpu] [extra args of bench/gpu.py]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
if [ -d .whl ] && ! $PY -c "import gymnasium, stable_baselines3" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" SDL_VIDEODRIVER=dummy PYTHONUNBUFFERED=1
device="${1:-cuda}"
shift || true
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$PY bench/gpu.py --device "$device" "$@"
