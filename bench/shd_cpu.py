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

``--recipe`` times instead the spoken-digit task's default recipe (issue 29;
``spikegrad tasks --task spoken-digits``): the 700 channels of :func:`make_batch` pooled
into 140 bands (five neighbouring channels summed), batch 32, T = 100, a recurrent layer of
128 neurons of the ALIF network (the recipe's ``adapt``, 0 since issue 29's ablation: plain
LIF) whose 17,920 input synapses each have a learned delay of up to 10 steps (linear
taps), Adam with the delays' own learning rate, the task's loss (max-over-time
cross-entropy + the upper activity bound). Rows: ``spikegrad`` (the model, optimiser
and loss the trainer builds from the recipe), ``torch`` (:class:`TorchRecipe`, the same
equations as a plain PyTorch loop: delays as one ``conv1d`` of interpolated taps, then the
ALIF loop with autograd; checked against spikegrad's forward on the same weights before
timing) and ``spyx`` (Spyx has no per-synapse delays and no recurrent adaptive neuron: its
recurrent CuBa LIF on the same 140 bands, i.e. less work than the recipe, so its ratio is
a bound in Spyx's favour) next to ``spikegrad-lif``, spikegrad's recurrent LIF network
on the same bands with the same weights (the like-for-like pair). An epoch is
:data:`SD_TRAIN` utterances (the 16-speaker set plus the 12 extra speakers of
docs/audio.md, less 10 % validation).

Like ``bench/peers.py``, the workers hide an installed Triton from torch (the first
``torch.optim.Adam`` would import it through ``torch._dynamo``: +~71 MB resident that no
step here uses; see ``peers.HIDE_TRITON_ENV``).

    python bench/shd_cpu.py --json shd.json
    python bench/shd_cpu.py --recipe       # the spoken-digit recipe (issue 29), see below
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


#: training utterances per epoch of the recipe's measurement (docs/audio.md: 960 + 240,
#: less the stratified 10 % validation split)
SD_TRAIN = 1080
SD_BATCH = 32
SD_BANDS = 140


def recipe_batch(T: int = 100, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`make_batch` at the recipe's batch size, pooled to 140 bands (sums of 5)."""
    x, y = make_batch(T, SD_BATCH, seed)
    return x.view(T, SD_BATCH, SD_BANDS, -1).sum(-1), y


def recipe_config():
    """The spoken-digit task's default recipe as a TrainConfig (the shipped subset)."""
    from spikegrad.learning.config import TrainConfig
    from spikegrad.tasks.recipes import recipe

    settings = dict(recipe("spoken-digits").settings)
    return TrainConfig(dataset="spoken-digits", **settings)


class SpikegradRecipe(torch.nn.Module):
    """The recipe's model and loss exactly as ``spikegrad train`` builds them."""

    def __init__(self) -> None:
        super().__init__()
        from spikegrad.learning.config import build_model, build_task

        cfg = recipe_config()
        self.cfg = cfg
        self.task = build_task(cfg)
        self.net = build_model(cfg, SD_BANDS, 20)

    def optimizer(self):
        from spikegrad.learning.config import build_optimizer

        return build_optimizer(self.cfg, self.net)

    def loss(self, x, y):
        return self.task.loss(self.net, self.net(x), y)


class TorchRecipe(torch.nn.Module):
    r"""The recipe as a plain PyTorch loop, with :class:`SpikegradRecipe`'s parameters.

    Delays: taps :math:`K_{ji}[k] = \max(0, 1 - |k - d_{ji}|)` (``d`` in steps), the input
    current one causal ``conv1d`` of ``W * K`` over time. Neurons (detach reset, threshold
    :math:`1 + \alpha A`): :math:`S = H(U - \Theta)`, :math:`U \leftarrow (\beta_m U +
    (1-\beta_m) I)(1 - \mathrm{sg}(S))`, :math:`I \leftarrow \beta_s I + h + V S`,
    :math:`A \leftarrow \rho A + S`; SuperSpike surrogate of the model's scale; leaky
    readout, max over time, cross-entropy + the upper activity bound of the recipe.
    """

    def __init__(self, ref: SpikegradRecipe) -> None:
        super().__init__()
        net, cfg = ref.net, ref.cfg
        layer = net.layers[0]
        proj = layer.projection
        self.W = torch.nn.Parameter(proj.weight.detach().clone())
        self.d = torch.nn.Parameter((proj.delays.detach() / proj.dt).clone())
        self.K = proj.max_steps + 1
        self.V = torch.nn.Parameter(layer.rec_weight.detach().clone())
        self.Wout = torch.nn.Parameter(net.readout.weight.detach().clone())
        dt = cfg.dt
        self.bm, self.bs = math.exp(-dt / cfg.tau_mem), math.exp(-dt / cfg.tau_syn)
        self.bo = math.exp(-dt / cfg.tau_out)
        import inspect

        from spikegrad.nn.alif import ALIFNetwork

        sig = inspect.signature(ALIFNetwork.__init__).parameters
        mo = {k: cfg.model_options.get(k, sig[k].default) for k in ("adapt", "tau_adapt")}
        self.alpha, self.rho = mo["adapt"], math.exp(-dt / mo["tau_adapt"])
        self.beta = cfg.beta
        # Adam moves a parameter by ~lr per update whatever its unit: spikegrad's delays
        # (seconds) move lr * lr_scale seconds, so these (steps) get lr * lr_scale / dt
        self.lr_delay = cfg.lr * float(getattr(proj.delays, "lr_scale", 1.0)) / dt
        self.cfg = cfg

    def optimizer(self):
        c = self.cfg
        return torch.optim.Adam([{"params": [self.W, self.V, self.Wout], "lr": c.lr},
                                 {"params": [self.d], "lr": self.lr_delay}])  # fmt: skip

    def forward(self, x):
        T, B, M = x.shape
        k = torch.arange(self.K, dtype=x.dtype)
        d = self.d.clamp(0, self.K - 1)
        taps = (1 - (k - d[..., None]).abs()).clamp_min(0) * self.W[..., None]  # [N, M, K]
        xp = torch.nn.functional.pad(x.permute(1, 2, 0), (self.K - 1, 0))  # [B, M, T+K-1]
        h = torch.nn.functional.conv1d(xp, taps.flip(-1)).permute(2, 0, 1)  # [T, B, N]
        N = h.shape[-1]
        u = x.new_zeros(B, N)
        i = torch.zeros_like(u)
        a = torch.zeros_like(u)
        beta = self.beta
        spikes = []
        for h_t in h.unbind(0):
            v = u - (1.0 + self.alpha * a)
            s = _SurrogateStep.apply(v, beta)
            u = (self.bm * u + (1 - self.bm) * i) * (1.0 - s.detach())
            i = self.bs * i + h_t + s @ self.V.t()
            a = self.rho * a + s
            spikes.append(s)
        spk = torch.stack(spikes)
        ho = spk @ self.Wout.t()
        uo = x.new_zeros(B, self.Wout.shape[0])
        io = torch.zeros_like(uo)
        out = []
        for h_t in ho.unbind(0):
            out.append(uo)
            uo = self.bo * uo + (1 - self.bo) * io
            io = self.bs * io + h_t
        return spk, torch.stack(out)

    def loss(self, x, y):
        spk, out = self(x)
        ce = torch.nn.functional.cross_entropy(out.max(0).values, y)
        c = self.cfg  # population upper bound: mean_b relu(mean_j count_bj - thr)^2
        up = torch.relu(spk.sum(0).mean(1) - c.upper_threshold).pow(2).mean()
        return ce + c.upper_strength * up


class PlainRecipe(torch.nn.Module):
    """spikegrad's recurrent LIF on the recipe's 140 bands without adaptation or delays:
    the network of the ``spyx`` row (same weights), for a like-for-like ratio."""

    def __init__(self, ref: SpikegradRecipe) -> None:
        super().__init__()
        from spikegrad.nn import SpikingNetwork

        cfg, layer = ref.cfg, ref.net.layers[0]
        self.net = SpikingNetwork(SD_BANDS, 20, (128,), recurrent=True, seed=cfg.seed)
        with torch.no_grad():
            self.net.layers[0].weight.copy_(layer.projection.weight)
            self.net.layers[0].rec_weight.copy_(layer.rec_weight)
            self.net.readout.weight.copy_(ref.net.readout.weight)
        self.task, self.lr = ref.task, cfg.lr

    def optimizer(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)

    def loss(self, x, y):
        return self.task.loss(self.net, self.net(x), y)


class _SurrogateStep(torch.autograd.Function):
    """Heaviside (H(0) = 0) forward, SuperSpike 1 / (beta |v| + 1)^2 backward."""

    @staticmethod
    def forward(ctx, v, beta):
        ctx.save_for_backward(v)
        ctx.beta = beta
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g / (ctx.beta * v.abs() + 1.0) ** 2, None


def recipe_worker(lib: str, warmup: int, steps: int, threads: int) -> dict:
    """Time one row of ``--recipe`` in this process; returns the JSON row."""
    thread_info = peers.set_threads(threads)
    x, y = recipe_batch()
    base = memory_baseline()
    torch.manual_seed(0)
    ref = SpikegradRecipe()
    model = {"spikegrad": ref, "torch": TorchRecipe, "spikegrad-lif": PlainRecipe}[lib]
    if model is not ref:
        model = model(ref)
    parity = None
    if lib == "torch":
        with torch.no_grad():
            s_ref = ref.net(x).spikes[0]
            s_t = model(x)[0]
        parity = float((s_ref != s_t).float().mean())
        if float(s_ref.mean()) == 0:
            raise RuntimeError("the recipe's hidden layer is silent: the parity check is void")
        del ref
    with torch.no_grad():
        net = ref.net if lib == "spikegrad" else getattr(model, "net", None)
        rate = float(model(x)[0].mean()) if net is None else float(net(x).spikes[0].mean())
    wall, cpu, _, _ = peers.train_steps(model, x, y, warmup, steps, base, f"recipe {lib}",
                                        opt=model.optimizer())  # fmt: skip
    s = statistics.median(wall)
    return {"library": lib, "hidden": 128, "T": int(x.shape[0]), "batch": SD_BATCH,
            "s_per_step": s, "s_per_step_min": min(wall), "s_per_step_max": max(wall),
            "s_per_epoch": s * SD_TRAIN / SD_BATCH, "cpu_s": statistics.median(cpu),
            "steady_peak_mb": peak_since_baseline(base), "input_density": float(x.mean()),
            "spike_mismatch_vs_spikegrad": parity, "hidden_rate": rate, "steps": steps,
            "warmup": warmup, "threads": thread_info}  # fmt: skip


def spawn_recipe_spyx(warmup: int, steps: int, threads: int) -> dict:
    """Spyx's recurrent CuBa LIF (no adaptation, no delays) on the recipe's batch."""
    x, y = recipe_batch()
    torch.manual_seed(0)
    ref = SpikegradRecipe()
    layer = ref.net.layers[0]
    w = {"W": layer.projection.weight.detach().numpy(), "V": layer.rec_weight.detach().numpy(),
         "Wout": ref.net.readout.weight.detach().numpy()}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        fw, fx = os.path.join(d, "w.npz"), os.path.join(d, "x.npz")
        np.savez(fw, **w)
        np.savez(fx, x=x.numpy(), y=y.numpy())
        args = ["time", "--weights", fw, "--input", fx, "--variant", "rec", "--warmup",
                str(warmup), "--steps", str(steps), "--threads", str(threads)]  # fmt: skip
        row = peers.run_jax_worker(args, threads, "spyx recipe")
    row.update(s_per_epoch=row["s_per_step"] * SD_TRAIN / SD_BATCH, batch=SD_BATCH)
    return row


def run_recipe(libs: list[str], warmup: int, steps: int, threads: int, repeats: int) -> list:
    """``--recipe``: every library ``repeats`` times, alternating; prints the table."""
    rows: list[dict] = []
    for _ in range(repeats):
        for lib in libs:
            log(f"  recipe {lib} ...")
            if lib == "spyx":
                rows.append(spawn_recipe_spyx(warmup, steps, threads))
            else:
                rows.append(peers.run_worker(__file__, ["recipe:" + lib, "0", "0", str(warmup),
                                                        str(steps), str(threads)],
                                             threads, f"recipe {lib}"))  # fmt: skip
    med = {lib: statistics.median(r["s_per_step"] for r in rows if r["library"] == lib)
           for lib in libs}  # fmt: skip
    print(
        f"| library | s/step (median of {repeats} runs' medians) | s/epoch ({SD_TRAIN} "
        "utterances) | x spikegrad | spike mismatch vs spikegrad |"
    )
    print("|---|---|---|---|---|")
    for lib in libs:
        mm = [r.get("spike_mismatch_vs_spikegrad") for r in rows if r["library"] == lib]
        mm_s = "-" if mm[0] is None else f"{max(mm):.2e}"
        print(
            f"| {lib} | {med[lib]:.4f} | {med[lib] * SD_TRAIN / SD_BATCH:.1f} | "
            f"{med[lib] / med['spikegrad']:.2f} | {mm_s} |"
        )
    return rows


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
        if lib.startswith("recipe:"):
            row = recipe_worker(lib[7:], int(warmup), int(steps), int(threads))
        elif lib.startswith("adjoint:"):
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
    p.add_argument("--recipe", action="store_true",
                   help="instead: the spoken-digit recipe (issue 29) against a torch loop "
                   "and Spyx")  # fmt: skip
    p.add_argument("--repeats", type=int, default=3, help="--recipe: alternating runs")
    args = p.parse_args(argv)
    if args.recipe:
        libs = [lib for lib in ("spikegrad", "torch", "spyx") if lib in args.libraries
                and (lib != "spyx" or peers.available("spyx")[0])]  # fmt: skip
        if "spyx" in libs:
            libs.insert(libs.index("spyx"), "spikegrad-lif")
        rows = run_recipe(libs, args.warmup, args.steps, args.threads, args.repeats)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))
        return
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
