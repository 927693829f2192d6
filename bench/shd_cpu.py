"""SHD-sized training on CPU: seconds per step and per epoch, spikegrad against its peers.

The recipe of Cramer et al. 2020 / Zenke & Vogels 2021 for the Spiking Heidelberg Digits:
700 input channels, one recurrent hidden layer of 128 or 256 current-based LIF neurons,
20 leaky readout units, max-over-time cross-entropy, Adam, batch 256, T = 100 or 250
bins over 1 s; an epoch is the 8,156 training samples of SHD (32 batches, the last one
of 220 samples).

The input is generated with the statistics of the spoken-digit subset shipped with
spikegrad (``make_spoken_digits()``, SHD's layout, about 9,700 spikes per second of
speech): the probability that channel c holds an event in bin t is the fraction of the
shipped utterances that do, and every sample of a batch draws each (t, c) from it
independently. So the density (about 8.5 % of the bins at T = 100, 3.7 % at T = 250)
and its distribution over channels and time are those of the spoken digits.

The models are those of ``bench/peers.py`` (its builders, unchanged: same LIF equations,
SuperSpike surrogate, tau_mem 10 ms / tau_syn 5 ms at 1 ms per step, reset to zero),
with its hidden size set to 128 or 256. Every (library, hidden, T) runs in a process
of its own: a few warm-up steps, then the median wall time of the timed steps; the
epoch time is that median x 8156 / 256 (extrapolated, not a measured epoch). Peak
memory is the RSS high-water over the timed steps above the RSS after imports and
data (``bench/_memory.py``); ``rss_after_mb`` is the RSS above that base after the last
step, and ``rss_released_mb`` the same after ``spikegrad.kernels.release_buffers()``.

Spyx (JAX) runs in the JAX environment (``.venv-jax``, or the python named by
``SPIKEGRAD_JAX_PYTHON``; made by scripts/setup_bench.sh) through ``bench/peers_jax.py``:
the same weights (built and scaled as for the other libraries) and the same batch are
written to a temporary folder and trained there with one ``jax.jit``-compiled step
(forward scan, backward, optax Adam); without that environment Spyx is skipped with a
message. Its network differs from the others by design (bench/peers.py, docs/peers.md):
Spyx's LIF resets by subtraction, its hidden spikes come one step earlier and its
recurrent loop is one step shorter, and its readout is two leaky integrators; so its
spike trains, hidden rate and loss are not spikegrad's, only the work per step is the
same size. No forward parity is checked here (bench/peers.py does); it has no
``rss_released_mb`` (no spikegrad buffers to release).

Like ``bench/peers.py``, the workers hide an installed Triton from torch (the first
``torch.optim.Adam`` would import it through ``torch._dynamo``: +~71 MB resident that no
step here uses; see ``peers.HIDE_TRITON_ENV``).

    python bench/shd_cpu.py --json shd.json
    python bench/shd_cpu.py --hidden 128 --T 100 --libraries spikegrad torch --steps 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers  # noqa: E402
from _memory import _status_mb, memory_baseline, peak_since_baseline  # noqa: E402

SHD_TRAIN = 8156
BATCH = 256
LIBRARIES = ("spikegrad", "torch", "snntorch", "norse", "spikingjelly", "spyx")
#: run when --libraries is not given (those not installed are skipped with a message)
DEFAULT_LIBRARIES = ("spikegrad", "torch", "snntorch", "spyx")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def event_profile(T: int) -> np.ndarray:
    """[T, 700] probability that a bin holds an event, over the shipped spoken digits."""
    from spikegrad.data.spoken_digits import make_spoken_digits

    train, val, test = make_spoken_digits(n_steps=T, duration=1.0)
    occ = [ds.dense(dtype=torch.bool).float().mean(1) * len(ds) for ds in (train, val, test)]
    return (sum(occ) / sum(len(ds) for ds in (train, val, test))).numpy()


def make_batch(T: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Input spikes [T, batch, 700] drawn from :func:`event_profile`, labels of 20 classes."""
    p = torch.from_numpy(event_profile(T)).float()
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(T, batch, peers.N_IN)
    for t in range(T):  # step by step: no [T, B, 700] temporary raises the RSS mark
        x[t] = torch.rand(batch, peers.N_IN, generator=g) < p[t]
    return x, torch.randint(0, 20, (batch,), generator=g)


def make_weights(hidden: int, density: float) -> tuple[dict[str, np.ndarray], float]:
    """bench/peers.py's recurrent seed-0 weights at this hidden size, input weights scaled
    for this input density: (weights, scale).

    The scale keeps the hidden layer active: bench/peers.py uses 7 at 2 % input density,
    and the input current's spread grows as sqrt(density), so scale = 7 sqrt(0.02 / p).
    Sets ``peers.N_HID`` to ``hidden`` (the peers' builders read the hidden size there).
    """
    peers.N_HID = hidden
    scale = peers.WEIGHT_SCALE * math.sqrt(peers.P_IN / density)
    return peers.make_weights(True, scale), scale


def worker(lib: str, hidden: int, T: int, warmup: int, steps: int, threads: int) -> dict:
    """Time one library at one size in this process; returns the JSON row."""
    thread_info = peers.set_threads(threads)
    x, y = make_batch(T, BATCH)
    density = float(x.mean())
    w, scale = make_weights(hidden, density)
    base = memory_baseline()
    model = peers.build(lib, w, True)
    with torch.no_grad():
        rate = float(model(x)[0].mean())
    wall, cpu, _, loss = peers.train_steps(model, x, y, warmup, steps, base,
                                           f"{lib} H={hidden} T={T}")  # fmt: skip
    steady = peak_since_baseline(base)
    del loss
    after = (_status_mb("VmRSS") or float("nan")) - base
    from spikegrad import kernels

    if hasattr(kernels, "release_buffers"):  # (absent in older spikegrad: before/after runs)
        kernels.release_buffers()
    released = (_status_mb("VmRSS") or float("nan")) - base
    s = statistics.median(wall)
    return {
        "library": lib,
        "hidden": hidden,
        "T": T,
        "s_per_step": s,
        "s_per_step_min": min(wall),
        "s_per_step_max": max(wall),
        "s_per_epoch": s * SHD_TRAIN / BATCH,
        "cpu_s": statistics.median(cpu),
        "steady_peak_mb": steady,
        "rss_after_mb": after,
        "rss_released_mb": released,
        "input_density": density,
        "hidden_rate": rate,
        "weight_scale": scale,
        "steps": steps,
        "warmup": warmup,
        "threads": thread_info,
    }


#: recurrent-adjoint paths of the numba backward: (SPARSE_ADJOINT_MAX, SWEEP_ADJOINT)
ADJOINT_MODES = {"sparse": (1.0, True), "sweep": (-1.0, True), "blas": (-1.0, False)}


def adjoint_worker(
    surrogate: str, hidden: int, T: int, warmup: int, steps: int, threads: int
) -> dict:
    """spikegrad's recurrent-adjoint paths on one network and batch, in this process.

    ``blas``: one BLAS product g_i[t+1] V per step across the batch, then a compiled
    step (the previous default); ``sweep``: the dense product per sample inside the one
    compiled backward sweep; ``sparse``: only the neurons inside the surrogate's
    support (Esser's only). Steps interleaved, no optimiser step (every step computes
    the same gradients); also the largest difference of each path's gradients from the
    ``blas`` ones relative to each gradient's largest magnitude, and the fraction of
    membrane values inside Esser's support.
    """
    from spikegrad.functional.surrogate import make_surrogate
    from spikegrad.kernels import lif_numba

    peers.N_HID = hidden
    thread_info = peers.set_threads(threads)
    x, y = make_batch(T, BATCH)
    scale = peers.WEIGHT_SCALE * math.sqrt(peers.P_IN / float(x.mean()))
    model = peers.build("spikegrad", peers.make_weights(True, scale), True)
    model.net.layers[0].surrogate = make_surrogate(surrogate, peers.BETA)
    params = [p for p in model.parameters() if p.requires_grad]
    modes = [m for m in ADJOINT_MODES if surrogate == "esser" or m != "sparse"]
    wall: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    grads = {}
    for k in range(warmup + steps):
        for mode in modes:
            lif_numba.SPARSE_ADJOINT_MAX, lif_numba.SWEEP_ADJOINT = ADJOINT_MODES[mode]
            t0, c0 = time.perf_counter(), time.process_time()
            loss = model.loss(x, y)
            grads[mode] = torch.autograd.grad(loss, params)
            if k >= warmup:
                wall[mode].append(time.perf_counter() - t0)
                cpu[mode].append(time.process_time() - c0)
        log(f"    {surrogate} H={hidden} T={T} step {k + 1}: "
            + ", ".join(f"{m} {wall[m][-1:]}" for m in modes))  # fmt: skip
    diff = {}
    for m in modes:
        diff[m] = max(
            float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
            for a, b in zip(grads[m], grads["blas"], strict=True)
        )
    with torch.no_grad():
        mem = model.net(x, record_membrane=True).membranes[0]
    frac = float(((1 - peers.BETA * (mem - 1).abs()) > 0).float().mean())
    return {
        "surrogate": surrogate, "hidden": hidden, "T": T,
        "s": {m: statistics.median(v) for m, v in wall.items()},
        "cpu_s": {m: statistics.median(v) for m, v in cpu.items()},
        "max_rel_grad_diff_vs_blas": diff, "support_fraction": frac, "steps": steps,
        "threads": thread_info,
    }  # fmt: skip


def spawn(lib: str, hidden: int, T: int, warmup: int, steps: int, threads: int) -> dict:
    """Time one library at one size in a process of its own; returns the JSON row."""
    if lib == "spyx":
        return spawn_spyx(hidden, T, warmup, steps, threads)
    args = [lib, str(hidden), str(T), str(warmup), str(steps), str(threads)]
    return peers.run_worker(__file__, args, threads, f"{lib} H={hidden} T={T}")


def spawn_spyx(hidden: int, T: int, warmup: int, steps: int, threads: int) -> dict:
    """Spyx in the JAX environment (bench/peers_jax.py) on :func:`make_batch`'s batch and
    :func:`make_weights`' weights, both passed as .npz files; returns the JSON row."""
    x, y = make_batch(T, BATCH)
    density = float(x.mean())
    n_hid = peers.N_HID
    try:
        w, scale = make_weights(hidden, density)
    finally:
        peers.N_HID = n_hid
    with tempfile.TemporaryDirectory() as d:
        fw, fx = os.path.join(d, "w.npz"), os.path.join(d, "x.npz")
        np.savez(fw, **w)
        np.savez(fx, x=x.to(torch.uint8).numpy(), y=y.numpy())
        del x, y
        args = ["time", "--weights", fw, "--input", fx, "--variant", "rec", "--warmup",
                str(warmup), "--steps", str(steps), "--threads", str(threads)]  # fmt: skip
        row = peers.run_jax_worker(args, threads, f"spyx H={hidden} T={T}")
    row.update(
        s_per_epoch=row["s_per_step"] * SHD_TRAIN / BATCH,
        rss_released_mb=None,  # no spikegrad buffers to release
        weight_scale=scale,
    )
    return row


def print_table(rows: list[dict]) -> None:
    ref = {(r["hidden"], r["T"]): r["s_per_step"] for r in rows if r["library"] == "spikegrad"}
    print(
        "| library | hidden | T | s/step (median; min-max) | s/epoch (8,156 samples, "
        "extrapolated) | peak MB (timed steps) | RSS after / released MB | x spikegrad |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def mb(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    for r in rows:
        base = ref.get((r["hidden"], r["T"]))
        ratio = f"{r['s_per_step'] / base:.1f}" if base else "-"
        print(
            f"| {r['library']} | {r['hidden']} | {r['T']} | {r['s_per_step']:.3f} "
            f"({r['s_per_step_min']:.3f}-{r['s_per_step_max']:.3f}) | {r['s_per_epoch']:.1f} | "
            f"{r['steady_peak_mb']:.0f} | {mb(r.get('rss_after_mb'))} / "
            f"{mb(r.get('rss_released_mb'))} | {ratio} |"
        )
    dens = sorted({(r["T"], round(r["input_density"], 4), round(r["hidden_rate"], 4))
                   for r in rows if r["library"] == "spikegrad"})  # fmt: skip
    for T, d, h in dens:
        print(f"T = {T}: input density {d:.4f}; spikegrad hidden spike rate {h:.4f} per step")
    for r in rows:
        if r["library"] == "spyx":  # a different neuron by design: its own spike rate
            print(f"spyx H = {r['hidden']}, T = {r['T']}: hidden spike rate "
                  f"{r['hidden_rate']:.4f} per step (reset by subtraction)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_worker"]:
        lib, hidden, T, warmup, steps, threads = argv[1:7]
        if lib.startswith("adjoint:"):
            row = adjoint_worker(lib[8:], int(hidden), int(T), int(warmup), int(steps),
                                 int(threads))  # fmt: skip
        else:
            row = worker(lib, int(hidden), int(T), int(warmup), int(steps), int(threads))
        print(json.dumps(row))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[128, 256])
    p.add_argument("--T", type=int, nargs="+", default=[100, 250])
    p.add_argument("--libraries", nargs="+", choices=LIBRARIES,
                   default=list(DEFAULT_LIBRARIES))  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5, help="timed steps")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps")
    p.add_argument("--json", metavar="FILE", help="write the rows as a JSON list")
    p.add_argument("--adjoint", action="store_true",
                   help="instead: spikegrad with Esser's surrogate, sparse vs dense "
                   "recurrent adjoint (same process)")  # fmt: skip
    args = p.parse_args(argv)
    if args.adjoint:
        print(
            "| surrogate | hidden | T | blas s | sweep s | sparse s | blas / best "
            "| support fraction | max grad diff / max grad (sweep, sparse vs blas) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        arows = []
        for T in args.T:
            for h in args.hidden:
                for sur in ("superspike", "esser"):
                    r = spawn(f"adjoint:{sur}", h, T, args.warmup, args.steps, args.threads)
                    arows.append(r)
                    t, d = r["s"], r["max_rel_grad_diff_vs_blas"]
                    print(
                        f"| {sur} | {h} | {T} | {t['blas']:.4f} | {t['sweep']:.4f} | "
                        f"{t.get('sparse', float('nan')):.4f} | "
                        f"{t['blas'] / min(t.values()):.2f} | {r['support_fraction']:.4f} | "
                        f"{d['sweep']:.1e}, {d.get('sparse', float('nan')):.1e} |",
                        flush=True,
                    )
        if args.json:
            Path(args.json).write_text(json.dumps(arows, indent=1))
        return
    libs = []
    for lib in args.libraries:
        ok, why = peers.available(lib)
        if ok:
            libs.append(lib)
        else:
            log(f"skipping {lib}: {why}")
    rows = []
    for T in args.T:
        for hidden in args.hidden:
            for lib in libs:
                log(f"  {lib} H={hidden} T={T} ...")
                try:
                    rows.append(spawn(lib, hidden, T, args.warmup, args.steps, args.threads))
                except Exception as exc:  # report, keep going
                    log(f"  {lib} H={hidden} T={T}: FAILED {exc}")
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
