#!/usr/bin/env bash
# Create .venv and install spikegrad with its test tools. Idempotent; safe to rerun.
# torch is pinned to the CPU build first, so the compatible range in pyproject.toml
# is already satisfied and nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[test,docs]"
# Peer library for the NIR cross-reading test. --no-deps: its declared dependencies
# (torchvision/torchaudio) would replace torch with a CUDA build; it runs without them.
.venv/bin/python -m pip install -q --no-deps "norse==1.1.0" "nirtorch>=2,<3"
# snnTorch and SpikingJelly for the peer parity test (tests/test_peer_parity.py), the
# same way: --no-deps (SpikingJelly declares torchvision/torchaudio), plus loguru,
# which SpikingJelly imports, under a torch==2.13.0 constraint.
.venv/bin/python -m pip install -q --no-deps "snntorch==1.0.0" "spikingjelly==2.0.0"
printf 'torch==2.13.0\n' > .venv/torch-constraint.txt
.venv/bin/python -m pip install -q -c .venv/torch-constraint.txt "loguru>=0.7,<1"
# Tonic for the event-array cross-check (tests/test_events.py): --no-deps, because its
# declared dependencies pull librosa and, through its torch extra, torchvision; it imports
# with these two light packages.
.venv/bin/python -m pip install -q --no-deps "tonic==1.7.0" "importRosbag==1.0.4" "expelliarmus==1.1.12"
# Compile the CPU kernels now (numba caches the machine code on disk), so that the first
# `spikegrad train` starts at full speed instead of compiling inside its first epoch.
.venv/bin/python -m spikegrad.learning.warmup --quiet
# Compile the OeSNN kernels once into numba's on-disk cache (spikegrad/online/__pycache__),
# so that no stream, test or benchmark pays for their compilation.
.venv/bin/python -c "import spikegrad.online.esnn" || true
