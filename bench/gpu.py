"""One prepared GPU run: Triton kernel correctness on the device, then training-step timings.

On a CUDA machine, from the repository root (spikegrad, triton and pytest installed):

    python bench/gpu.py                      # everything, results in bench/results/gpu/
    python bench/gpu.py --quick              # fewer timed steps
    python bench/gpu.py --skip-tests         # timings only

1. **Correctness, compiled**: runs tests/test_kernels_triton.py on the GPU
   (``SPIKEGRAD_TEST_DEVICE=cuda TRITON_INTERPRET=0``: the same checks the CPU suite runs
   in Triton's interpreter, now with the compiled kernels), then measures the largest
   gradient disagreement of ``backend="triton"`` against ``"reference"`` on the
   bench/peers.py network (float32 and float64).
2. **Training step of the bench/peers.py network** (700 inputs, 200 LIF, 20 readout,
   batch 256, T = 100 and 500, ff and rec; forward, backward, Adam step) for spikegrad
   ``triton`` / ``fused`` / ``reference``, SpikingJelly (its CUBA LIF node, the same
   neuron, in torch ops; SpikingJelly's fused CuPy/Triton backends exist only for its
   voltage-only ``LIFNode`` and are timed in part 3 where the installed version has
   them) and Spyx (when a JAX environment with a GPU is found: ``.venv-jax`` or this
   python).
3. **Open Neuromorphic sizes**: one ``Linear(4096, 4096)`` + LIF layer, batch 16,
   T = 500, forward + backward of the summed spikes (their benchmark's setting), for
   spikegrad triton / fused / reference and SpikingJelly ``LIFNode`` on each backend
   it offers (``torch``, ``cupy``, ``triton``).
4. **Every model** (issue 31): a training step (forward, backward, Adam step) of the
   adaptive LIF network (``ALIFNetwork``, recurrent: :func:`~spikegrad.kernels.alif_fused.
   alif_sequence_fused`), the same network with learned synaptic delays (``max_delay``,
   feed-forward), bench/conv_peers.py's conv network (``conv_network``, 2 x 16 x 16 event
   frames, 4 classes) and an Izhikevich network (``IzhikevichLayer`` + ``Readout``:
   :func:`~spikegrad.kernels.izhikevich_fused.izhikevich_sequence_fused`), each on the
   default backend (``auto``: the fused kernels; on CPU, ``--cpu-interpret``, their numba
   kernels) and on ``reference``, with the largest gradient difference between the two
   (float32, same weights, relative to each gradient's largest magnitude), plus the
   kernels alone: ``alif_sequence_fused`` (recurrent) and ``izhikevich_sequence_fused``,
   forward + backward of the summed spikes and membrane, default (on CUDA: the fused
   torch loop; on CPU: numba) vs ``kernel="torch"`` vs the reference step under autograd.

Every row records the median seconds per step over the timed steps and the peak GPU
memory (``torch.cuda.max_memory_allocated`` over the timed steps, reset before them;
JAX rows leave it empty). Output: ``gpu.json`` (every row, the device, versions) and
``gpu.md`` (the tables) in ``--out``.

Without CUDA the script stops at once with a one-line message (exit 2). ``--cpu-interpret``
runs the whole timing path on the CPU under Triton's interpreter at tiny sizes (it only
checks that the script works; its timings mean nothing).
"""

from __future__ import annotations

import sys

if "--cpu-interpret" in sys.argv:  # must precede the first import of triton
    import os as _os

    _os.environ["TRITON_INTERPRET"] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
import peers  # noqa: E402

SPIKEGRAD_BACKENDS = ("triton", "fused", "reference")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, device: torch.device, warmup: int, steps: int) -> dict:
    """Median wall seconds of ``step()`` (synchronised) and the peak GPU memory (MB) of
    the timed steps (``None`` on CPU)."""
    for _ in range(warmup):
        step()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    wall = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        _sync(device)
        wall.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"s_per_step": statistics.median(wall), "peak_mb": peak, "steps": steps}


# ---------------------------------------------------------------- models
def sj_lif_backends() -> list[str]:
    """Backends of SpikingJelly's ``LIFNode`` in the installed version (``[]`` if none)."""
    if importlib.util.find_spec("spikingjelly") is None:
        return []
    from spikingjelly.activation_based import neuron

    if "backend" not in inspect.signature(neuron.LIFNode.__init__).parameters:
        return ["torch"]  # versions without a backend switch: torch ops only
    node = neuron.LIFNode(step_mode="m")
    return list(getattr(node, "supported_backends", ("torch",)))


def sj_lif_layer(n_in: int, n: int, backend: str, tau: float) -> nn.Module:
    from spikingjelly.activation_based import layer, neuron, surrogate

    kw = dict(tau=tau, decay_input=False, v_threshold=1.0, v_reset=0.0, detach_reset=True,
              surrogate_function=surrogate.Sigmoid(), step_mode="m")  # fmt: skip
    if "backend" in inspect.signature(neuron.LIFNode.__init__).parameters:
        kw["backend"] = backend
    return nn.Sequential(layer.Linear(n_in, n, bias=False, step_mode="m"), neuron.LIFNode(**kw))


class SpikegradONLayer(nn.Module):
    """One ``Linear(n, n)`` + LIF layer of spikegrad (the Open Neuromorphic setting)."""

    def __init__(self, n: int, backend: str) -> None:
        super().__init__()
        from spikegrad.nn import LIFLayer

        self.layer = LIFLayer(n, n, backend=backend, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        return self.layer(x)


# ---------------------------------------------------------------- parts
def run_tests(device: torch.device) -> dict:
    """tests/test_kernels_triton.py on the device, compiled (or interpreted on CPU)."""
    env = dict(os.environ, SPIKEGRAD_TEST_DEVICE=device.type, PYTHONPATH=str(ROOT / "src"))
    env["TRITON_INTERPRET"] = "1" if device.type == "cpu" else "0"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "test_kernels_triton.py")]  # fmt: skip
    log(f"[tests] {' '.join(cmd[2:])} (SPIKEGRAD_TEST_DEVICE={device.type})")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    tail = (p.stdout + p.stderr).strip().splitlines()[-1:] or [""]
    log(f"[tests] exit {p.returncode}: {tail[0]}")
    return {"exit": p.returncode, "summary": tail[0], "seconds": time.perf_counter() - t0}


def agreement(device: torch.device, sizes: dict, dtypes=(torch.float32, torch.float64)) -> list:
    """Largest per-element gradient difference, triton vs reference, on the peers network
    (abs, and relative to the gradient's largest magnitude); spikes compared exactly."""
    from spikegrad.nn import SpikingNetwork

    rows = []
    for dtype in dtypes:
        for rec in (False, True):
            g = torch.Generator().manual_seed(1)
            T, B = sizes["T_agree"], sizes["batch_agree"]
            x = (torch.rand(T, B, sizes["n_in"], generator=g) < peers.P_IN).to(dtype)
            x = x.to(device)
            y = torch.randint(0, sizes["n_out"], (B,), generator=g).to(device)
            nets, outs = [], []
            for backend in ("reference", "triton"):
                net = SpikingNetwork(sizes["n_in"], sizes["n_out"], (sizes["n_hid"],),
                                     recurrent=rec, learn_tau=True, seed=0,
                                     backend=backend).to(device=device, dtype=dtype)  # fmt: skip
                with torch.no_grad():  # the peers network's active input weights
                    net.layers[0].weight.mul_(peers.WEIGHT_SCALE)
                o = net(x)
                torch.nn.functional.cross_entropy(net.logits(o), y).backward()
                nets.append(net)
                outs.append(o)
            same = torch.equal(outs[0].spikes[0], outs[1].spikes[0])
            worst_abs = worst_rel = 0.0
            for (_, a), (_, b) in zip(
                nets[0].named_parameters(), nets[1].named_parameters(), strict=True
            ):
                d = (a.grad - b.grad).abs().max().item()
                worst_abs = max(worst_abs, d)
                worst_rel = max(worst_rel, d / max(a.grad.abs().max().item(), 1e-300))
            rows.append({"dtype": str(dtype).replace("torch.", ""),
                         "variant": "rec" if rec else "ff", "T": T, "batch": B,
                         "spikes_identical": bool(same),
                         "hidden_rate": float(outs[0].spikes[0].detach().mean()),
                         "max_abs_grad_err": worst_abs, "max_rel_grad_err": worst_rel})  # fmt: skip
            log(f"[agreement] {rows[-1]}")
    return rows


def train_step_rows(device, sizes, T_list, warmup, steps) -> list:
    rows = []
    for variant in ("ff", "rec"):
        rec = variant == "rec"
        w = make_weights(rec, sizes)
        for T in T_list:
            x, y = peers.make_data(T, sizes["batch"], seed=0)
            x, y = x[:, :, : sizes["n_in"]].contiguous().to(device), y % sizes["n_out"]
            y = y.to(device)
            libs = [f"spikegrad-{b}" for b in SPIKEGRAD_BACKENDS]
            if importlib.util.find_spec("spikingjelly") is not None and sizes["peers"]:
                libs.append("spikingjelly-cuba-torch")
            for lib in libs:
                if lib.startswith("spikegrad"):
                    model = SpikegradPeersNet(w, rec, lib.split("-", 1)[1], sizes)
                else:  # the same network (CUBA LIF) in SpikingJelly's torch ops
                    model = peers.SpikingJellyModel(w, rec)
                model = model.to(device)
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)

                def step(model=model, opt=opt, x=x, y=y):
                    opt.zero_grad(set_to_none=True)
                    model.loss(x, y).backward()
                    opt.step()

                try:
                    r = time_steps(step, device, warmup, steps)
                except Exception as exc:  # a peer that fails on this machine: say so
                    r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
                rows.append({"part": "peers-network", "library": lib, "variant": variant,
                             "T": T, "batch": sizes["batch"], **r})  # fmt: skip
                log(f"[train step] {rows[-1]}")
                del model, opt
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    rows += spyx_rows(T_list, warmup, steps) if sizes["peers"] else []
    return rows


def make_weights(rec: bool, sizes: dict) -> dict:
    """bench/peers.py's weights (spikegrad's seed-0 init, input weights scaled) at ``sizes``."""
    from spikegrad.nn import SpikingNetwork

    net = SpikingNetwork(sizes["n_in"], sizes["n_out"], (sizes["n_hid"],), recurrent=rec,
                         seed=0, backend="reference")  # fmt: skip
    w = {"W": net.layers[0].weight.detach() * peers.WEIGHT_SCALE,
         "Wout": net.readout.weight.detach().clone()}  # fmt: skip
    if rec:
        w["V"] = net.layers[0].rec_weight.detach().clone()
    return {k: v.numpy() for k, v in w.items()}


class SpikegradPeersNet(nn.Module):
    """bench/peers.py's spikegrad network on any backend, for any (tiny) sizes."""

    def __init__(self, w: dict, rec: bool, backend: str, sizes: dict) -> None:
        super().__init__()
        from spikegrad.nn import SpikingNetwork

        self.net = SpikingNetwork(sizes["n_in"], sizes["n_out"], (sizes["n_hid"],),
                                  recurrent=rec, seed=0, backend=backend)  # fmt: skip
        with torch.no_grad():
            self.net.layers[0].weight.copy_(torch.as_tensor(w["W"]))
            if rec:
                self.net.layers[0].rec_weight.copy_(torch.as_tensor(w["V"]))
            self.net.readout.weight.copy_(torch.as_tensor(w["Wout"]))

    def loss(self, x, y):
        return torch.nn.functional.cross_entropy(self.net.logits(self.net(x)), y)


def spyx_rows(T_list, warmup, steps) -> list:
    """Spyx through bench/peers_jax.py, if a JAX environment that sees a GPU exists."""
    jax_py = peers.jax_python()
    py = str(jax_py) if jax_py.exists() else sys.executable
    probe = subprocess.run([py, "-c", "import jax, spyx; print(jax.default_backend())"],
                           capture_output=True, text=True)  # fmt: skip
    backend = probe.stdout.strip()
    if probe.returncode or backend != "gpu":
        log(f"[spyx] skipped: no JAX+Spyx with a GPU backend ({backend or 'not installed'})")
        return []
    rows = []
    for variant in ("ff", "rec"):
        with tempfile.TemporaryDirectory() as d:
            fw = Path(d) / "w.npz"
            np.savez(fw, **peers.make_weights(variant == "rec"))
            for T in T_list:
                args = ["time", "--weights", str(fw), "--variant", variant, "--T", str(T),
                        "--batch", str(peers.BATCH), "--warmup", str(warmup),
                        "--steps", str(steps)]  # fmt: skip
                p = subprocess.run([py, str(peers.JAX_SCRIPT), *args], capture_output=True,
                                   text=True, cwd=ROOT)  # fmt: skip
                if p.returncode:
                    rows.append({"part": "peers-network", "library": "spyx", "variant": variant,
                                 "T": T, "error": p.stderr.strip().splitlines()[-1:]})  # fmt: skip
                    continue
                r = json.loads(p.stdout.strip().splitlines()[-1])
                rows.append({"part": "peers-network", "library": "spyx", "variant": variant,
                             "T": T, "batch": peers.BATCH, "s_per_step": r["s_per_step"],
                             "peak_mb": None, "steps": steps})  # fmt: skip
                log(f"[train step] {rows[-1]}")
    return rows


def open_neuromorphic_rows(device, sizes, warmup, steps) -> list:
    n, T, B = sizes["on_n"], sizes["on_T"], sizes["on_batch"]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(T, B, n, generator=g).to(device)
    libs = [(f"spikegrad-{b}", b) for b in SPIKEGRAD_BACKENDS]
    if device.type == "cpu":  # (--cpu-interpret) SpikingJelly's CPU path: torch only
        libs += [("spikingjelly-lif-torch", "torch")] if sj_lif_backends() else []
    else:
        libs += [(f"spikingjelly-lif-{b}", b) for b in sj_lif_backends()]
    rows = []
    for lib, backend in libs:
        try:
            if lib.startswith("spikegrad"):
                model = SpikegradONLayer(n, backend).to(device)
            else:
                model = sj_lif_layer(n, n, backend, tau=1.0 / (1.0 - math.exp(-0.1))).to(device)
            xr = x.clone().requires_grad_()
            is_sj = lib.startswith("spikingjelly")

            def step(model=model, xr=xr, sj=is_sj):
                if sj:
                    from spikingjelly.activation_based import functional

                    functional.reset_net(model)
                model(xr).sum().backward()

            r = time_steps(step, device, warmup, steps)
        except Exception as exc:
            r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
        rows.append({"part": "open-neuromorphic", "library": lib, "variant": "ff", "T": T,
                     "batch": B, "neurons": n, **r})  # fmt: skip
        log(f"[open neuromorphic] {rows[-1]}")
    return rows


# ---------------------------------------------------------------- models (issue 31)
def _model_builders(sizes: dict) -> dict:
    """name -> (build(backend) -> model, input shape per step). Weights from seed 0."""
    from spikegrad.nn import Readout
    from spikegrad.nn.alif import ALIFNetwork
    from spikegrad.nn.izhikevich import IzhikevichLayer
    from spikegrad.nn.sequential import SpikingSequential, conv_network

    n_in, n_hid, n_out = sizes["m_in"], sizes["m_hid"], sizes["n_out"]
    shape = sizes["conv_shape"]

    def alif(backend):
        return ALIFNetwork(n_in, n_out, (n_hid,), recurrent=True, seed=0, backend=backend)

    def delays(backend):
        return ALIFNetwork(n_in, n_out, (n_hid,), max_delay=sizes["max_delay"], seed=0,
                           backend=backend)  # fmt: skip

    def conv(backend):
        return conv_network(shape, 4, channels=sizes["conv_channels"],
                            hidden=sizes["conv_hidden"], seed=0, backend=backend)  # fmt: skip

    def izhikevich(backend):
        g = torch.Generator().manual_seed(0)
        return SpikingSequential(IzhikevichLayer(n_in, n_hid, backend=backend, generator=g),
                                 Readout(n_hid, n_out, generator=g))  # fmt: skip

    return {
        "alif-rec": (alif, n_in),
        "alif-delays": (delays, n_in),
        "conv": (conv, shape[0] * shape[1] * shape[2]),
        "izhikevich": (izhikevich, n_in),
    }


def model_rows(device, sizes, warmup, steps) -> list:
    """Training step of every model on the default and the reference backend."""
    rows = []
    T, B = sizes["m_T"], sizes["m_batch"]
    for name, (build, k_in) in _model_builders(sizes).items():
        g = torch.Generator().manual_seed(3)
        x = (torch.rand(T, B, k_in, generator=g) < sizes["m_density"]).float().to(device)
        n_cls = 4 if name == "conv" else sizes["n_out"]  # bench/conv_peers.py: 4 classes
        y = torch.randint(0, n_cls, (B,), generator=g).to(device)
        grads, rates = {}, {}
        for backend in ("auto", "reference"):
            try:
                model = build(backend).to(device)
                out = model(x)
                torch.nn.functional.cross_entropy(model.logits(out), y).backward()
                grads[backend] = [p.grad.clone() for p in model.parameters() if p.grad is not None]
                rates[backend] = float(out.spikes[0].detach().float().mean())
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)

                def step(model=model, opt=opt, x=x, y=y):
                    opt.zero_grad(set_to_none=True)
                    torch.nn.functional.cross_entropy(model.logits(model(x)), y).backward()
                    opt.step()

                r = time_steps(step, device, warmup, steps)
            except Exception as exc:  # a model that fails on this machine: say so
                r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            rows.append({"part": "models", "library": f"spikegrad-{backend}", "variant": name,
                         "T": T, "batch": B, "hidden_rate": rates.get(backend), **r})  # fmt: skip
            log(f"[models] {rows[-1]}")
        if len(grads) == 2 and len(grads["auto"]) == len(grads["reference"]):
            pairs = zip(grads["auto"], grads["reference"], strict=True)
            worst = max(((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
                        for a, b in pairs)  # fmt: skip
            rows[-2]["max_rel_grad_err_vs_reference"] = worst
    rows += kernel_rows(device, sizes, warmup, steps)
    return rows


def kernel_rows(device, sizes, warmup, steps) -> list:
    """``alif_sequence_fused`` / ``izhikevich_sequence_fused`` alone (and their references):
    forward + backward."""
    from spikegrad.functional.alif import ALIFParams, alif_sequence
    from spikegrad.functional.izhikevich import IzhikevichParams, izhikevich_sequence
    from spikegrad.functional.surrogate import SuperSpike
    from spikegrad.kernels.alif_fused import alif_sequence_fused
    from spikegrad.kernels.izhikevich_fused import izhikevich_sequence_fused

    T, B, N = sizes["m_T"], sizes["m_batch"], sizes["m_hid"]
    g = torch.Generator().manual_seed(4)
    sg = SuperSpike(10.0)
    rec = (torch.randn(N, N, generator=g) / math.sqrt(N)).to(device)
    x_alif = (torch.rand(T, B, N, generator=g) * 0.3).to(device).requires_grad_()
    x_izh = (torch.rand(T, B, N, generator=g) * 20.0).to(device).requires_grad_()
    p_izh = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 1.0, 30.0, 10.0)

    def alif(kernel):
        if kernel == "reference":
            prm = ALIFParams(0.95, 0.8, 0.99, 1.0, 0.2)
            s, _, u = alif_sequence(x_alif, prm, sg, rec_weight=rec, record_membrane=True)
            return s, u
        return alif_sequence_fused(x_alif, 0.95, 0.8, sg, rho=0.99, adapt=0.2, rec_weight=rec,
                                   kernel=kernel)  # fmt: skip

    def izh(kernel):
        if kernel == "reference":
            s, _, v = izhikevich_sequence(x_izh, p_izh, sg, record_membrane=True)
            return s, v
        return izhikevich_sequence_fused(x_izh, p_izh, sg, kernel=kernel)

    rows = []
    for name, fn, x in (("alif_sequence_fused", alif, x_alif),
                        ("izhikevich_sequence_fused", izh, x_izh)):  # fmt: skip
        for kernel in ("auto", "torch", "reference"):

            def step(fn=fn, kernel=kernel, x=x):
                s, u = fn(kernel)
                x.grad = None
                (s.sum() + 1e-3 * u.sum()).backward()

            try:
                r = time_steps(step, device, warmup, steps)
            except Exception as exc:
                r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            rows.append({"part": "kernels", "library": f"kernel-{kernel}", "variant": name,
                         "T": T, "batch": B, "neurons": N, **r})  # fmt: skip
            log(f"[kernels] {rows[-1]}")
    return rows


# ---------------------------------------------------------------- report
def markdown(report: dict) -> str:
    lines = [f"# bench/gpu.py on {report['device']}", "",
             f"torch {report['versions']['torch']}, triton {report['versions']['triton']}, "
             f"spikingjelly {report['versions']['spikingjelly']}", ""]  # fmt: skip
    t = report.get("tests")
    if t:
        lines += [f"Correctness tests on the device: exit {t['exit']} ({t['summary']})", ""]
    if report.get("agreement"):
        lines += ["| dtype | variant | spikes identical | max abs grad err | max rel grad err |",
                  "| --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in report["agreement"]:
            lines.append(f"| {r['dtype']} | {r['variant']} | {r['spikes_identical']} | "
                         f"{r['max_abs_grad_err']:.2e} | "
                         f"{r['max_rel_grad_err']:.2e} |")  # fmt: skip
        lines.append("")
    for part in ("peers-network", "open-neuromorphic", "models", "kernels"):
        rows = [r for r in report["rows"] if r["part"] == part]
        if not rows:
            continue
        lines += [f"## {part}", "", "| library | variant | T | batch | ms/step | peak GPU MB |"
                  + (" max rel grad err vs reference |" if part == "models" else ""),
                  "| --- | --- | --- | --- | --- | --- |"
                  + (" --- |" if part == "models" else "")]  # fmt: skip
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['library']} | {r['variant']} | {r['T']} | "
                             f"{r.get('batch', '')} | error: {r['error']} | |"
                             + (" |" if part == "models" else ""))  # fmt: skip
                continue
            peak = "" if r.get("peak_mb") is None else f"{r['peak_mb']:.0f}"
            err = r.get("max_rel_grad_err_vs_reference")
            extra = "" if part != "models" else (" |" if err is None else f" {err:.2e} |")
            lines.append(f"| {r['library']} | {r['variant']} | {r['T']} | {r['batch']} | "
                         f"{1e3 * r['s_per_step']:.2f} | {peak} |{extra}")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE / "results" / "gpu"), help="output folder")
    p.add_argument("--quick", action="store_true", help="1 warm-up and 3 timed steps")
    p.add_argument("--skip-tests", action="store_true", help="no correctness part")
    p.add_argument("--cpu-interpret", action="store_true",
                   help="run the timing path on CPU in Triton's interpreter at tiny sizes "
                        "(checks the script; the timings mean nothing)")  # fmt: skip
    a = p.parse_args(argv)
    if a.cpu_interpret:
        device = torch.device("cpu")
        sizes = dict(n_in=9, n_hid=7, n_out=3, batch=3, T_agree=6, batch_agree=3,
                     on_n=8, on_T=6, on_batch=2, peers=False, m_in=9, m_hid=7, m_T=20,
                     m_batch=3, m_density=0.8, max_delay=3e-3, conv_shape=(2, 4, 4),
                     conv_channels=(2, 3), conv_hidden=5)  # fmt: skip
        T_list, warmup, steps = [6], 1, 2
    else:
        if not torch.cuda.is_available():
            print("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False); "
                  "use --cpu-interpret to check the script on CPU", file=sys.stderr)  # fmt: skip
            return 2
        device = torch.device("cuda")
        sizes = dict(n_in=peers.N_IN, n_hid=peers.N_HID, n_out=peers.N_OUT, batch=peers.BATCH,
                     T_agree=100, batch_agree=32, on_n=4096, on_T=500, on_batch=16,
                     peers=True, m_in=700, m_hid=128, m_T=100, m_batch=64, m_density=0.02,
                     max_delay=25e-3, conv_shape=(2, 16, 16), conv_channels=(8, 16),
                     conv_hidden=64)  # fmt: skip
        T_list = [100, 500]
        warmup, steps = (1, 3) if a.quick else (3, 10)
    from spikegrad.kernels import lif_triton

    why = lif_triton.unsupported(None, torch.zeros(1, 1, 1, device=device))
    if why is not None:
        print(f"bench/gpu.py: the Triton kernels cannot run here: {why}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU ({platform.processor() or platform.machine()}), Triton interpreter")  # fmt: skip
    versions = {m: _version(m) for m in ("torch", "triton", "spikingjelly")}
    report = {"device": name, "sizes": sizes, "warmup": warmup, "steps": steps,
              "versions": versions}  # fmt: skip
    if not a.skip_tests:
        report["tests"] = run_tests(device)
        report["agreement"] = agreement(device, sizes)
    report["rows"] = train_step_rows(device, sizes, T_list, warmup, steps)
    report["rows"] += open_neuromorphic_rows(device, sizes, warmup, steps)
    report["rows"] += model_rows(device, sizes, warmup, steps)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(report, indent=1))
    (out / "gpu.md").write_text(markdown(report))
    print(markdown(report))
    log(f"wrote {out / 'gpu.json'} and {out / 'gpu.md'}")
    failed = report.get("tests", {}).get("exit", 0) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
