#!/usr/bin/env bash
# Install the peer libraries for bench/peers.py. Idempotent; safe to rerun.
#
# .venv (made by scripts/setup.sh): snnTorch, Norse and SpikingJelly with --no-deps,
# because Norse and SpikingJelly declare torchvision/torchaudio, whose newest releases
# would replace the CPU torch 2.13.0 with another torch and CUDA wheels; their light
# runtime needs are installed under a torch==2.13.0 constraint instead.
# .venv-jax: JAX, optax, flax and Spyx, in an environment of its own (Spyx is JAX-only).
# JAX 0.12 needs Python >= 3.12: the newest python3.12+ found is used (JAX_PYTHON=...
# overrides); with an older Python pip picks the newest JAX that supports it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"
.venv/bin/python -m pip install -q --no-deps "snntorch==1.0.0" "norse==1.1.0" "spikingjelly==2.0.0"
.venv/bin/python -m pip install -q -c "$constraints" \
  numpy "nir>=1.0.7,<2" "nirtorch>=2.6,<2.7" h5py "loguru>=0.7,<1" packaging tqdm psutil
.venv/bin/python - <<'PY'
import torch, snntorch, norse, spikingjelly.activation_based.neuron  # noqa: F401
assert torch.__version__.startswith("2.13.0"), torch.__version__
print("peers in .venv:", "torch", torch.__version__, "snntorch", snntorch.__version__)
PY

pick_python() {
  if [ -n "${JAX_PYTHON:-}" ]; then echo "$JAX_PYTHON"; return; fi
  for cand in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python \
              "$HOME"/.pyenv/versions/3.12*/bin/python python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv' 2>/dev/null; then
      echo "$cand"; return
    fi
  done
}
if [ ! -x .venv-jax/bin/python ]; then
  py=$(pick_python)
  "$py" -m venv .venv-jax
fi
.venv-jax/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv-jax/bin/python -m pip install -q jax jaxlib optax "flax>=0.12.7" nir grain jax-tqdm
# --no-deps: its docs/loaders extras are not needed; its runtime needs are above
.venv-jax/bin/python -m pip install -q --no-deps "spyx==1.0.0"
.venv-jax/bin/python -c "import jax, spyx, optax; print('spyx in .venv-jax:', spyx.__version__, 'jax', jax.__version__)"
