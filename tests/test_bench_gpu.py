"""bench/gpu.py's CPU smoke mode (``--cpu-interpret``): the prepared GPU run must work.

The first task with a GPU runs ``python bench/gpu.py`` once; these tests run its code
paths on the CPU at tiny sizes beforehand, so that run does not die on a typo. The timings
of this mode mean nothing and are not checked; what is checked is that every row ran
(no ``error``) and that the default backends' gradients agree with the reference ones
(float32, measured at most 1.8e-6 relative at smoke sizes, over three input settings).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
GPU = ROOT / "bench" / "gpu.py"

TINY = dict(n_in=9, n_hid=7, n_out=3, batch=3, m_in=9, m_hid=7, m_T=20, m_batch=3,
            m_density=0.8, max_delay=3e-3, conv_shape=(2, 4, 4), conv_channels=(2, 3),
            conv_hidden=5)  # fmt: skip


def _gpu_module():
    spec = importlib.util.spec_from_file_location("bench_gpu", GPU)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.usefixtures("one_thread")
def test_model_and_kernel_rows_run_on_cpu():
    pytest.importorskip("numba")
    gpu = _gpu_module()
    rows = gpu.model_rows(torch.device("cpu"), TINY, warmup=1, steps=1)
    models = [r for r in rows if r["part"] == "models"]
    kernels = [r for r in rows if r["part"] == "kernels"]
    names = {"alif-rec", "alif-delays", "conv", "izhikevich"}
    assert {r["variant"] for r in models} == names
    assert {(r["variant"], r["library"]) for r in kernels} == {
        (k, f"kernel-{b}")
        for k in ("alif_sequence_fused", "izhikevich_sequence_fused")
        for b in ("auto", "torch", "reference")
    }
    for r in rows:
        assert "error" not in r, r
        assert r["s_per_step"] > 0
    for r in models:
        if r["library"] == "spikegrad-auto":
            assert r["max_rel_grad_err_vs_reference"] <= 1e-5, r
            assert r["hidden_rate"] > 0, r  # the hidden layer spikes, so the spike paths run
    md = gpu.markdown({"device": "cpu", "versions": dict.fromkeys(("torch", "triton",
                       "spikingjelly"), "x"), "rows": rows})  # fmt: skip
    assert "## models" in md and "## kernels" in md and "izhikevich" in md


@pytest.mark.slow
def test_cpu_interpret_smoke_mode_end_to_end(tmp_path):
    pytest.importorskip("triton")
    p = subprocess.run(
        [sys.executable, str(GPU), "--cpu-interpret", "--skip-tests", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    report = json.loads((tmp_path / "gpu.json").read_text())
    parts = {r["part"] for r in report["rows"]}
    assert parts == {"peers-network", "open-neuromorphic", "models", "kernels"}
    assert not [r for r in report["rows"] if "error" in r and r["part"] in ("models", "kernels")]
