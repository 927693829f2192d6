#!/usr/bin/env bash
# Build the sdist and wheel, install the wheel into a fresh virtual environment (no
# source tree on the path) and run the CLI there: --help, --version and a tiny training
# run. torch is installed first, pinned to the CPU build (pip reuses its cache).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m build --outdir "$tmp/dist" . >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
wheel=$(ls "$tmp"/dist/spikegrad-*.whl)
ls "$tmp"/dist/spikegrad-*.tar.gz >/dev/null
"$PY" - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "spikegrad/py.typed" in names, "py.typed missing from the wheel"
assert not any(n.startswith(("tests/", "bench/")) for n in names), "tests shipped"
print(f"wheel: {len(names)} files, py.typed included")
PY
"$PY" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q torch==2.13.0
"$tmp/venv/bin/python" -m pip install -q "$wheel"
cd "$tmp"  # nothing of the source tree importable from here
unset PYTHONPATH
venv/bin/spikegrad --help >/dev/null
venv/bin/spikegrad --version
want=$(venv/bin/python -c "import importlib.metadata as m; print(m.version('spikegrad'))")
[ "$(venv/bin/spikegrad --version)" = "spikegrad $want" ]
OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 venv/bin/spikegrad train --epochs 1 --classes 2 \
  --samples-per-class 20 --hidden 8 --quiet --no-plots --out "$tmp/run"
venv/bin/python - "$tmp/run/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["epochs"] == 1 and m["synops"]["total"]["synops"] > 0, m
print("wheel check passed: installed CLI trained one epoch")
PY
