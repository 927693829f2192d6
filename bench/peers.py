"""spikegrad against snnTorch, Norse, SpikingJelly, Spyx and a plain PyTorch loop.

One network in every library: 700 input channels (spikes with probability 0.02 per
step), 200 current-based LIF neurons (tau_syn 5 ms, tau_mem 10 ms, dt 1 ms, threshold
1, reset to zero, SuperSpike surrogate with beta 10), feed-forward (``ff``) or
recurrent (``rec``), 20 leaky readout units (tau_mem 20 ms), max-over-time
cross-entropy, batch 256. One training step is the forward pass over all T steps,
backward and an Adam step.

First the forward parity of every installed peer is checked on identical weights and
input (docs/peers.md derives the mapping: weight scaling by 1 - beta_mem and a time
shift of the spike trains), then every (library, variant, T) is timed in a subprocess
of its own, so that peak memory (peak RSS growth after imports and data creation, the
peak mark reset by clear_refs) is per library. Spyx runs in the JAX environment
``.venv-jax`` (bench/peers_jax.py).

    python bench/peers.py --quick --json peers.json
    python bench/peers.py --T 100 500 --variants ff rec --threads 2

Peers that are not installed are skipped with a message. Progress goes to stderr,
the table to stdout.

``spikegrad-events`` is the same network as ``spikegrad`` fed the
way a :class:`~spikegrad.data.SpikeDataset` feeds it: the input is stored as events
(``SpikeDataset.from_dense`` of the benchmark's input, once) and every timed step builds
the compiled kernels' events from the batch's stored ``(t, b, u)`` triplets
(``spikegrad.kernels._coo_events.events_from_coo``) and attaches them to a fresh view of
the dense batch, so the first layer does not scan the dense tensor. The conversion is
inside the timed step; densifying the batch (which every library's data loader pays)
is not, and is logged once by the worker (``densify_s`` in the JSON row).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import memory_baseline, peak_since_baseline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
JAX_SCRIPT = Path(__file__).resolve().with_name("peers_jax.py")

# ---------------------------------------------------------------- the task
N_IN, N_HID, N_OUT = 700, 200, 20
P_IN = 0.02
BATCH = 256
DT = 1e-3
TAU_SYN, TAU_MEM, TAU_OUT = 5e-3, 10e-3, 20e-3
BETA = 10.0  # SuperSpike scale
U0 = -1e-3  # readout start value (spikegrad's Readout default)
LR = 1e-3
#: Input weights are spikegrad's default init (U(+-1/sqrt(700))) times this factor, so
#: the hidden layer is active (a few % of neurons spike per step) instead of silent.
WEIGHT_SCALE = 7.0

BM = math.exp(-DT / TAU_MEM)
BS = math.exp(-DT / TAU_SYN)
BMO = math.exp(-DT / TAU_OUT)

LIBRARIES = (
    "spikegrad",
    "spikegrad-events",
    "spikegrad-reference",
    "torch",
    "snntorch",
    "norse",
    "spikingjelly",
    "spyx",
)
#: Libraries timed by default (all of them; ``spikegrad-events`` is the same network fed
#: from stored events, see the module docstring).
DEFAULT_LIBRARIES = LIBRARIES
#: All ``--libraries`` choices.
ALL_LIBRARIES = LIBRARIES
#: Which Python package each library needs (None: always there).
_MODULES = {
    "spikegrad": None,
    "spikegrad-reference": None,
    "spikegrad-events": None,
    "torch": None,
    "snntorch": "snntorch",
    "norse": "norse",
    "spikingjelly": "spikingjelly",
}
#: peer hidden spikes at step t equal spikegrad's S[t + SHIFT] (see docs/peers.md)
SHIFT = {"torch": 0, "snntorch": 2, "norse": 2, "spikingjelly": 2, "spyx": 1}
#: peer readout at step t equals spikegrad's readout U_out[t + READOUT_SHIFT]
READOUT_SHIFT = {"torch": 0, "snntorch": 4, "norse": 4, "spikingjelly": 4, "spyx": 3}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def jax_python() -> Path:
    return Path(os.environ.get("SPIKEGRAD_JAX_PYTHON", ROOT / ".venv-jax" / "bin" / "python"))


def available(lib: str) -> tuple[bool, str]:
    """Whether a library can run here, and why not."""
    if lib == "spyx":
        py = jax_python()
        if not py.exists():
            return False, f"no JAX environment at {py} (run bash scripts/setup_bench.sh)"
        r = subprocess.run(
            [str(py), "-c", "import spyx, optax, flax"], capture_output=True, text=True
        )
        if r.returncode:
            return False, f"spyx does not import in {py}: {r.stderr.strip().splitlines()[-1:]}"
        return True, ""
    mod = _MODULES[lib]
    if mod is not None and importlib.util.find_spec(mod) is None:
        return False, f"{mod} is not installed (pip install -e '.[bench]' or setup_bench.sh)"
    return True, ""


#: Workers hide an installed Triton from torch unless ``--allow-triton``: the first
#: ``torch.optim.Adam`` imports ``torch._dynamo``, which imports ``triton`` when it is
#: installed (it is, in spikegrad's test and gpu extras), and that library adds ~71 MB
#: of resident memory to every torch-based library's process (measured:
#: ``import triton`` alone, +71 MB RSS). A CPU install of torch has no Triton, and no
#: step here uses it, so the memory columns describe that install.
HIDE_TRITON_ENV = "SPIKEGRAD_BENCH_HIDE_TRITON"


def hide_triton() -> None:
    """Make ``import triton`` fail in this process (torch then treats it as absent)."""
    if os.environ.get(HIDE_TRITON_ENV) == "1" and "triton" not in sys.modules:
        sys.modules["triton"] = None  # type: ignore[assignment]


def set_threads(k: int) -> str:
    """Pin this process to k CPUs and k torch/numba threads; returns a description.

    Also hides Triton when the parent asked for it (:func:`hide_triton`).
    """
    hide_triton()
    try:
        cpus = sorted(os.sched_getaffinity(0))[:k]
        os.sched_setaffinity(0, cpus)
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cpus = []
    from spikegrad.kernels import set_num_threads

    set_num_threads(k)
    return f"torch/numba threads={k}, cpu affinity={cpus}"


# ---------------------------------------------------------------- weights and data
def make_weights(rec: bool, scale: float = WEIGHT_SCALE) -> dict[str, np.ndarray]:
    """spikegrad's seed-0 weights (input ones scaled): W [200, 700], V [200, 200], Wout."""
    from spikegrad.nn import SpikingNetwork

    net = SpikingNetwork(N_IN, N_OUT, (N_HID,), recurrent=rec, seed=0, backend="reference")
    w = {
        "W": net.layers[0].weight.detach().numpy() * scale,
        "Wout": net.readout.weight.detach().numpy().copy(),
    }
    if rec:
        w["V"] = net.layers[0].rec_weight.detach().numpy().copy()
    return w


def make_data(T: int, batch: int, seed: int = 0, dtype=torch.float32):
    """Input spikes [T, B, 700] and labels; built step by step, so that no [T, B, 700]
    temporary raises the memory high-water mark the peak is measured from."""
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(T, batch, N_IN, dtype=dtype)
    for t in range(T):
        x[t] = torch.rand(batch, N_IN, generator=g) < P_IN
    y = torch.randint(0, N_OUT, (batch,), generator=g)
    return x, y


def _t(a: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)


# ---------------------------------------------------------------- the models
# Every model maps input spikes [T, B, 700] to (hidden spikes [T, B, 200], readout
# trace [T, B, 20]); the loss is max-over-time cross-entropy of the readout.


class SpikegradModel(nn.Module):
    """spikegrad's own network (``backend`` ``"auto"`` or ``"reference"``)."""

    def __init__(self, w: dict, rec: bool, backend: str = "auto") -> None:
        super().__init__()
        from spikegrad.nn import SpikingNetwork

        self.net = SpikingNetwork(N_IN, N_OUT, (N_HID,), recurrent=rec, seed=0, backend=backend)
        with torch.no_grad():
            self.net.layers[0].weight.copy_(_t(w["W"]))
            if rec:
                self.net.layers[0].rec_weight.copy_(_t(w["V"]))
            self.net.readout.weight.copy_(_t(w["Wout"]))

    def forward(self, x):
        out = self.net(x)
        return out.spikes[0], out.readout

    def loss(self, x, y):
        from spikegrad.functional.readout import readout_loss

        return readout_loss(self.net(x).readout, y)


class StoredEvents:
    """The benchmark input kept as events (a :class:`~spikegrad.data.SpikeDataset`).

    ``t, b, u`` are the ``(step, sample, channel)`` triplets of the whole batch (the
    batch is all samples in stored order), ``densify_s`` the one-off time of
    ``SpikeDataset.dense`` (what a data loader pays in every library, so not timed; it
    includes the events ``dense`` attaches itself, which the timed step builds again).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        from spikegrad.data import SpikeDataset

        ds = SpikeDataset.from_dense(x.permute(1, 0, 2), y)
        ds.dense([0], dtype=x.dtype)  # compiles (or loads) the event conversion
        t0 = time.perf_counter()
        dense = ds.dense(dtype=x.dtype)
        self.densify_s = time.perf_counter() - t0
        if not torch.equal(dense, x):
            raise RuntimeError("SpikeDataset.dense does not give back the benchmark input")
        del dense
        self.shape = tuple(x.shape)
        self.t = ds.times.numpy()
        self.u = ds.units.numpy()
        self.b = torch.repeat_interleave(torch.arange(len(ds)), ds.counts_per_sample()).numpy()


class SpikegradEventsModel(SpikegradModel):
    """spikegrad (``auto``) whose every step starts from the stored events.

    :meth:`loss` builds the kernel events from the triplets and attaches them to a
    fresh view of ``x`` (a new tensor object: no events cached by an earlier step), so
    the event conversion is timed and the dense scan is skipped.
    """

    def __init__(self, w: dict, rec: bool, stored: StoredEvents) -> None:
        super().__init__(w, rec, "auto")
        self.stored = stored

    def loss(self, x, y):
        from spikegrad.functional.readout import readout_loss
        from spikegrad.kernels._coo_events import attach_events, events_from_coo

        st = self.stored
        if tuple(x.shape) != st.shape:
            raise ValueError(f"input shape {tuple(x.shape)} is not the stored {st.shape}")
        ev = events_from_coo(st.t, st.b, st.u, *st.shape, x.dtype)
        if ev is None:
            raise RuntimeError("spikegrad-events needs numba")
        return readout_loss(self.net(attach_events(x.view_as(x), ev)).readout, y)


class _SuperSpike(torch.autograd.Function):
    """Heaviside (H(0) = 0) forward, 1 / (beta |x| + 1)^2 backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / (BETA * x.abs() + 1.0) ** 2


class TorchLoopModel(nn.Module):
    """A plain PyTorch loop of the same equations (what a user writes without a library).

    The input projection is one matmul over all steps; the per-step slices come from
    ``unbind`` (indexing ``h[t]`` would make backward quadratic in T).
    """

    def __init__(self, w: dict, rec: bool) -> None:
        super().__init__()
        self.W = nn.Parameter(_t(w["W"]))
        self.V = nn.Parameter(_t(w["V"])) if rec else None
        self.Wout = nn.Parameter(_t(w["Wout"]))

    def forward(self, x):
        T, B, _ = x.shape
        h = x @ self.W.t()
        u = torch.zeros(B, N_HID, dtype=x.dtype)
        i = torch.zeros_like(u)
        spikes = []
        for h_t in h.unbind(0):
            s = _SuperSpike.apply(u - 1.0)
            u = (BM * u + (1 - BM) * i) * (1.0 - s.detach())
            i = BS * i + h_t
            if self.V is not None:
                i = i + s @ self.V.t()
            spikes.append(s)
        spikes = torch.stack(spikes)
        ho = spikes @ self.Wout.t()
        uo = torch.full((B, N_OUT), U0, dtype=x.dtype)
        io = torch.zeros_like(uo)
        out = []
        for h_t in ho.unbind(0):
            out.append(uo)
            uo = BMO * uo + (1 - BMO) * io
            io = BS * io + h_t
        return spikes, torch.stack(out)

    def loss(self, x, y):
        return F.cross_entropy(self(x)[1].max(0).values, y)


class SnnTorchModel(nn.Module):
    """snnTorch 1.0: ``Synaptic`` / ``RSynaptic`` with reset to zero, the tutorials' loop.

    snnTorch has no (1 - beta) factor, so the weights are scaled by (1 - beta_mem).
    Its default ``reset_delay=True`` resets the membrane in the step after the spike,
    which is exactly spikegrad's model; the hidden spike at t is spikegrad's S[t + 2].
    The recurrent input is fed the spikes of two steps earlier (``RSynaptic``'s ``spk``
    argument), which gives spikegrad's two-step recurrent loop.
    """

    def __init__(self, w: dict, rec: bool) -> None:
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        grad = surrogate.fast_sigmoid(slope=BETA)  # 1 / (slope |x| + 1)^2: SuperSpike
        self.rec = rec
        self.fc1 = nn.Linear(N_IN, N_HID, bias=False)
        self.fc2 = nn.Linear(N_HID, N_OUT, bias=False)
        if rec:
            self.lif1 = snn.RSynaptic(
                alpha=BS,
                beta=BM,
                threshold=1.0,
                spike_grad=grad,
                reset_mechanism="zero",
                all_to_all=True,
                linear_features=N_HID,
            )
            self.lif1.recurrent.bias = None
        else:
            self.lif1 = snn.Synaptic(
                alpha=BS, beta=BM, threshold=1.0, spike_grad=grad, reset_mechanism="zero"
            )
        self.lif2 = snn.Synaptic(alpha=BS, beta=BMO, reset_mechanism="none")
        with torch.no_grad():
            self.fc1.weight.copy_(_t(w["W"]) * (1 - BM))
            if rec:
                self.lif1.recurrent.weight.copy_(_t(w["V"]) * (1 - BM))
            self.fc2.weight.copy_(_t(w["Wout"]) * (1 - BMO))

    def forward(self, x):
        T, B, _ = x.shape
        zeros = torch.zeros(B, N_HID, dtype=x.dtype)
        if self.rec:
            spk1, syn1, mem1 = self.lif1.reset_mem()
            hist = [zeros, zeros]
        else:
            syn1, mem1 = self.lif1.reset_mem()
        syn2 = torch.zeros(B, N_OUT, dtype=x.dtype)
        mem2 = torch.full((B, N_OUT), U0 * BMO**3, dtype=x.dtype)
        spk_rec, mem_rec = [], []
        for step in range(T):
            cur1 = self.fc1(x[step])
            if self.rec:
                spk1, syn1, mem1 = self.lif1(cur1, hist[-2], syn1, mem1)
                hist.append(spk1)
            else:
                spk1, syn1, mem1 = self.lif1(cur1, syn1, mem1)
            cur2 = self.fc2(spk1)
            _, syn2, mem2 = self.lif2(cur2, syn2, mem2)
            spk_rec.append(spk1)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)

    def loss(self, x, y):
        return F.cross_entropy(self(x)[1].max(0).values, y)


def norse_params(refractory: bool = False):
    """Norse LIF parameters whose Euler step equals the exact exponential decay.

    Norse integrates ``v += dt/tau_mem (i - v)``; with ``tau_mem_inv = (1 - beta_mem)/dt``
    that is ``beta_mem v + (1 - beta_mem) i``, spikegrad's form (same for the synapse).
    """
    from norse.torch import LIFParameters, LIParameters

    lif = LIFParameters(
        tau_syn_inv=torch.as_tensor((1 - BS) / DT),
        tau_mem_inv=torch.as_tensor((1 - BM) / DT),
        v_leak=torch.as_tensor(0.0),
        v_th=torch.as_tensor(1.0),
        v_reset=torch.as_tensor(0.0),
        method="super",
        alpha=torch.as_tensor(BETA),
    )
    li = LIParameters(
        tau_syn_inv=torch.as_tensor((1 - BS) / DT),
        tau_mem_inv=torch.as_tensor((1 - BMO) / DT),
        v_leak=torch.as_tensor(0.0),
    )
    if refractory:
        from norse.torch import LIFRefracParameters

        return LIFRefracParameters(lif, rho_reset=torch.as_tensor(1.0)), li
    return lif, li


class NorseModel(nn.Module):
    """Norse 1.1: ``Linear`` + ``LIF`` (ff) or ``LIFRecurrent`` (rec), ``LI`` readout.

    The hidden spike at t is spikegrad's S[t + 2] as long as no neuron has fired;
    Norse's reset differs (docs/peers.md). ``refractory=True`` swaps in
    ``LIFRefracCell`` with a one-step refractory period, which is spikegrad's model
    exactly (feed-forward only; used for the parity check).
    """

    def __init__(self, w: dict, rec: bool, refractory: bool = False) -> None:
        super().__init__()
        import norse.torch as norse

        p, pli = norse_params(refractory)
        self.rec, self.refractory = rec, refractory
        if rec:
            self.lif = norse.LIFRecurrent(
                N_IN,
                N_HID,
                p=p,
                autapses=True,
                input_weights=nn.Parameter(_t(w["W"])),
                recurrent_weights=nn.Parameter(_t(w["V"])),
            )
        else:
            self.fc1 = nn.Linear(N_IN, N_HID, bias=False)
            # Norse 1.1 has LIFRefrac only as a cell: step it by hand
            self.lif = norse.LIFRefracCell(p=p) if refractory else norse.LIF(p=p)
            with torch.no_grad():
                self.fc1.weight.copy_(_t(w["W"]))
        self.fc2 = nn.Linear(N_HID, N_OUT, bias=False)
        self.li = norse.LI(p=pli)
        with torch.no_grad():
            self.fc2.weight.copy_(_t(w["Wout"]))

    def forward(self, x):
        from norse.torch import LIState

        if self.rec:
            spikes, _ = self.lif(x)
        elif self.refractory:
            state, out = None, []
            for h_t in self.fc1(x).unbind(0):
                z, state = self.lif(h_t, state)
                out.append(z)
            spikes = torch.stack(out)
        else:
            spikes, _ = self.lif(self.fc1(x))
        B = x.shape[1]
        s0 = LIState(
            v=torch.full((B, N_OUT), U0 * BMO**3, dtype=x.dtype),
            i=torch.zeros(B, N_OUT, dtype=x.dtype),
        )
        readout, _ = self.li(self.fc2(spikes), s0)
        return spikes, readout

    def loss(self, x, y):
        return F.cross_entropy(self(x)[1].max(0).values, y)


class SpikingJellyModel(nn.Module):
    """SpikingJelly 2.0: ``CUBALIFNode`` (hard reset to 0, detached), two
    ``NonSpikingLIFNode`` filters as the readout.

    Feed-forward: multi-step mode over the whole sequence (``layer.Linear`` +
    ``CUBALIFNode`` with ``step_mode='m'``). Recurrent: SpikingJelly has no recurrent
    CUBA layer, so a single-step loop adds ``Linear`` of the spikes of two steps earlier.
    CUBALIFNode has no (1 - beta) factor: input weights are scaled by (1 - beta_mem).
    The readout filters are ``v += (x - v) / tau``; with tau = 1 / (1 - beta) they are
    spikegrad's decays, the synaptic filter's (1 - beta_syn) undone in the weights, and
    the readout's start value u0 added as its decaying trace.
    """

    def __init__(self, w: dict, rec: bool) -> None:
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        self.rec = rec
        self.lif = neuron.CUBALIFNode(
            c_decay=BS,
            v_decay=BM,
            v_threshold=1.0,
            v_reset=0.0,
            surrogate_function=surrogate.SuperSpike(alpha=1.0),
        )
        self.lif.detach_reset = True
        if rec:
            self.fc1 = nn.Linear(N_IN, N_HID, bias=False)
            self.fc_rec = nn.Linear(N_HID, N_HID, bias=False)
        else:
            self.fc1 = layer.Linear(N_IN, N_HID, bias=False, step_mode="m")
            self.lif.step_mode = "m"
        self.fc2 = layer.Linear(N_HID, N_OUT, bias=False, step_mode="m")
        self.syn_out = neuron.NonSpikingLIFNode(tau=1.0 / (1.0 - BS))
        self.mem_out = neuron.NonSpikingLIFNode(tau=1.0 / (1.0 - BMO))
        with torch.no_grad():
            self.fc1.weight.copy_(_t(w["W"]) * (1 - BM))
            if rec:
                self.fc_rec.weight.copy_(_t(w["V"]) * (1 - BM))
            self.fc2.weight.copy_(_t(w["Wout"]) / (1 - BS))

    def forward(self, x):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        T, B, _ = x.shape
        if self.rec:
            zeros = torch.zeros(B, N_HID, dtype=x.dtype, device=x.device)
            hist = [zeros, zeros]
            for x_t in x:
                hist.append(self.lif(self.fc1(x_t) + self.fc_rec(hist[-2])))
            spikes = torch.stack(hist[2:])
        else:
            spikes = self.lif(self.fc1(x))
        c = torch.stack(self.syn_out(self.fc2(spikes)))
        v = torch.stack(self.mem_out(c))
        decay = U0 * BMO ** torch.arange(4, T + 4, dtype=x.dtype, device=x.device)
        return spikes, v + decay[:, None, None]

    def loss(self, x, y):
        return F.cross_entropy(self(x)[1].max(0).values, y)


def build(lib: str, w: dict, rec: bool, stored: StoredEvents | None = None) -> nn.Module:
    if lib == "spikegrad":
        return SpikegradModel(w, rec, "auto")
    if lib == "spikegrad-events":
        if stored is None:
            raise ValueError("spikegrad-events needs the stored events")
        return SpikegradEventsModel(w, rec, stored)
    if lib == "spikegrad-reference":
        return SpikegradModel(w, rec, "reference")
    if lib == "torch":
        return TorchLoopModel(w, rec)
    if lib == "snntorch":
        return SnnTorchModel(w, rec)
    if lib == "norse":
        return NorseModel(w, rec)
    if lib == "spikingjelly":
        return SpikingJellyModel(w, rec)
    raise ValueError(lib)


# ---------------------------------------------------------------- parity
def compare(lib: str, ref_s, ref_u, peer_s, peer_u, *, exact_expected: bool) -> dict[str, object]:
    """Compare peer spikes/readout with spikegrad's after the documented shift."""
    ref_s, ref_u = np.asarray(ref_s), np.asarray(ref_u)
    peer_s, peer_u = np.asarray(peer_s), np.asarray(peer_u)
    T = ref_s.shape[0]
    k, r = SHIFT[lib], READOUT_SHIFT[lib]
    a, b = peer_s[: T - k], ref_s[k:]
    mism = a != b
    # steps before each (batch, neuron)'s first spike in either model: no reset yet
    fired = np.cumsum((a > 0) | (b > 0), axis=0) > 0
    before = np.concatenate([np.ones_like(fired[:1]), ~fired[:-1]], axis=0)
    res = {
        "spikes_equal": bool(not mism.any()),
        "mismatches": int(mism.sum()),
        "entries": int(mism.size),
        "mismatches_before_first_spike": int((mism & before).sum()),
        "first_spike_t": int(np.argmax(b.any(axis=(1, 2)))) + k if b.any() else None,
        "first_mismatch_t": int(np.argmax(mism.any(axis=(1, 2)))) + k if mism.any() else None,
        "ref_spikes": int(b.sum()),
        "peer_spikes": int(a.sum()),
        "readout_max_abs_diff": float(np.abs(peer_u[: T - r] - ref_u[r:]).max()),
        "shift": k,
        "exact_expected": exact_expected,
    }
    return res


def spikegrad_forward(w: dict, rec: bool, x: torch.Tensor, dtype=torch.float32):
    m = SpikegradModel(w, rec, "reference").to(dtype)
    with torch.no_grad():
        s, u = m(x.to(dtype))
    return s.numpy(), u.numpy()


def parity_torch_peer(lib: str, w: dict, rec: bool, x, dtype=torch.float32, **kw):
    ref_s, ref_u = spikegrad_forward(w, rec, x, dtype)
    if lib == "norse" and kw.get("refractory"):
        m = NorseModel(w, rec, refractory=True)
    else:
        m = build(lib, w, rec)
    m = m.to(dtype)
    with torch.no_grad():
        s, u = m(x.to(dtype))
    exact = lib in ("torch", "snntorch") or (lib == "norse" and kw.get("refractory", False))
    return compare(lib, ref_s, ref_u, s.numpy(), u.numpy(), exact_expected=exact)


def run_jax(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(jax_python()), str(JAX_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def parity_spyx(w: dict, rec: bool, x) -> dict:
    ref_s, ref_u = spikegrad_forward(w, rec, x)
    with tempfile.TemporaryDirectory() as d:
        fin, fout = Path(d) / "in.npz", Path(d) / "out.npz"
        np.savez(fin, x=x.numpy(), **w)
        r = run_jax(["parity", "--input", str(fin), "--output", str(fout)], timeout=300)
        if r.returncode:
            raise RuntimeError(f"peers_jax.py parity failed:\n{r.stderr[-3000:]}")
        out = np.load(fout)
        s, u = out["spikes"], out["readout"]
    return compare("spyx", ref_s, ref_u, s, u, exact_expected=False)


def parity(libs: list[str], variants: list[str], T: int = 100, batch: int = 32) -> list[dict]:
    x, _ = make_data(T, batch, seed=1)
    rows = []
    for variant in variants:
        rec = variant == "rec"
        w = make_weights(rec)
        for lib in libs:
            if lib.startswith("spikegrad"):
                continue
            try:
                if lib == "spyx":
                    res = parity_spyx(w, rec, x)
                else:
                    res = parity_torch_peer(lib, w, rec, x)
            except Exception as exc:  # report, keep going
                log(f"parity {lib} {variant}: ERROR {type(exc).__name__}: {exc}")
                continue
            res.update(library=lib, variant=variant)
            rows.append(res)
            if lib == "norse" and not rec:
                r2 = parity_torch_peer(lib, w, rec, x, refractory=True)
                r2.update(library="norse (LIFRefrac rho=1)", variant=variant)
                rows.append(r2)
    return rows


def print_parity(rows: list[dict]) -> None:
    log(
        "forward parity (same weights and input, B=32, T=100; peer spikes vs spikegrad S[t+shift]):"
    )
    for r in rows:
        verdict = "EQUAL" if r["spikes_equal"] else "differ"
        log(
            f"  {r['library']:<26} {r['variant']:<3} shift {r['shift']}: spikes {verdict} "
            f"({r['mismatches']}/{r['entries']} mismatches, "
            f"{r['mismatches_before_first_spike']} before a neuron's first spike, first at "
            f"step {r['first_mismatch_t']} (first spike {r['first_spike_t']}); "
            f"{r['peer_spikes']} vs {r['ref_spikes']} spikes), "
            f"readout max |diff| {r['readout_max_abs_diff']:.2e}"
        )


# ---------------------------------------------------------------- timing (worker)
def train_steps(model, x, y, warmup: int, steps: int, base: float, label: str, opt=None):
    """Adam training steps of ``model.loss(x, y)``: (wall s, CPU s of the timed steps,
    RSS peak of the warm-up steps over ``base``, last loss); the peak mark is reset
    after the warm-up (steady state: compile-time peaks of numba or XLA are behind).
    ``opt``: the optimiser to step (default: Adam at :data:`LR` on every trained
    parameter)."""
    if opt is None:
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    wall, cpu, warm_peak = [], [], 0.0
    for k in range(warmup + steps):
        if k == warmup:
            warm_peak = peak_since_baseline(base)
            memory_baseline()
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        opt.step()
        t1, c1 = time.perf_counter(), time.process_time()
        if k >= warmup:
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
        log(f"    {label} step {k + 1}/{warmup + steps}: {t1 - t0:.3f} s")
    return wall, cpu, warm_peak, loss


def thread_env(threads: int) -> dict[str, str]:
    """This process's environment with the BLAS/OpenMP thread counts set to ``threads``."""
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[v] = str(threads)
    return env


def worker(lib: str, variant: str, T: int, warmup: int, steps: int, threads: int) -> dict:
    """Time one library in this process; returns the JSON row."""
    thread_info = set_threads(threads)
    rec = variant == "rec"
    w = make_weights(rec)
    x, y = make_data(T, BATCH, seed=0)
    stored = None
    if lib == "spikegrad-events":  # before the memory baseline: the data set is data
        stored = StoredEvents(x, y)
        log(f"    {lib} {variant} T={T}: one-off SpikeDataset.dense of the batch "
            f"{stored.densify_s:.3f} s (not in the timed step)")  # fmt: skip
    base = memory_baseline()
    model = build(lib, w, rec, stored)
    with torch.no_grad():
        rate = float(model(x[: min(T, 100)])[0].mean())
    wall, cpu, warm_peak, loss = train_steps(model, x, y, warmup, steps, base,
                                             f"{lib} {variant} T={T}")  # fmt: skip
    steady = peak_since_baseline(base)
    return {
        "library": lib,
        "variant": variant,
        "T": T,
        "s_per_step": statistics.median(wall),
        "peak_mb": max(warm_peak, steady),
        # high-water mark of the timed steps only, over the same baseline (imports + data)
        "steady_peak_mb": steady,
        "cpu_s": statistics.median(cpu),
        "steps": steps,
        "warmup": warmup,
        "hidden_rate": rate,
        "triton_hidden": sys.modules.get("triton", 0) is None,
        "loss": float(loss.detach()),
        "threads": thread_info,
        **({"densify_s": stored.densify_s} if stored is not None else {}),
    }


def spawn(lib: str, variant: str, T: int, warmup: int, steps: int, threads: int) -> dict:
    if lib == "spyx":
        with tempfile.TemporaryDirectory() as d:
            fw = Path(d) / "w.npz"
            np.savez(fw, **make_weights(variant == "rec"))
            args = ["time", "--weights", str(fw), "--variant", variant, "--T", str(T),
                    "--batch", str(BATCH), "--warmup", str(warmup), "--steps", str(steps),
                    "--threads", str(threads)]  # fmt: skip
            return run_jax_worker(args, threads, f"{lib} {variant} T={T}")
    args = [lib, variant, str(T), str(warmup), str(steps), str(threads)]
    return run_worker(__file__, args, threads, f"{lib} {variant} T={T}")


def run_jax_worker(args: list[str], threads: int, what: str) -> dict:
    """``peers_jax.py *args`` in the JAX environment with ``threads`` threads: its JSON row."""
    p = subprocess.run(
        [str(jax_python()), str(JAX_SCRIPT), *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=thread_env(threads),
    )
    if p.returncode:
        raise RuntimeError(f"{what} worker failed (exit {p.returncode})")
    return json.loads(p.stdout.strip().splitlines()[-1])


#: set by ``--allow-triton`` (see :data:`HIDE_TRITON_ENV`)
ALLOW_TRITON = [False]


def run_worker(script: str, args: list[str], threads: int, what: str) -> dict:
    """``python script --_worker *args`` with ``threads`` BLAS threads: its JSON row."""
    p = subprocess.run(
        [sys.executable, script, "--_worker", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(thread_env(threads), **{HIDE_TRITON_ENV: "0" if ALLOW_TRITON[0] else "1"}),
    )
    if p.returncode:
        raise RuntimeError(f"{what} worker failed (exit {p.returncode})")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- main
def print_table(rows: list[dict]) -> None:
    ref = {(r["variant"], r["T"]): r["s_per_step"] for r in rows if r["library"] == "spikegrad"}
    print(f"{'library':<20} {'variant':<7} {'T':>4} {'s/step':>9} {'cpu s':>8} "
          f"{'peak MB':>8} {'steady MB':>9} {'ratio':>7}")  # fmt: skip
    for r in rows:
        base = ref.get((r["variant"], r["T"]))
        ratio = f"{r['s_per_step'] / base:7.2f}" if base else "      -"
        steady = r.get("steady_peak_mb", float("nan"))
        print(
            f"{r['library']:<20} {r['variant']:<7} {r['T']:>4} {r['s_per_step']:>9.4f} "
            f"{r['cpu_s']:>8.3f} {r['peak_mb']:>8.0f} {steady:>9.0f} {ratio}"
        )
    print("ratio = peer s/step / spikegrad (backend='auto') s/step, same variant and T")
    print("peak MB: RSS high-water over imports + data, whole run incl. warm-up (JIT compiles);")
    print("steady MB: the same over the timed steps only")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_worker"]:
        lib, variant, T, warmup, steps, threads = argv[1:7]
        row = worker(lib, variant, int(T), int(warmup), int(steps), int(threads))
        print(json.dumps(row))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer timed steps (1 warm-up, 3)")
    p.add_argument("--json", metavar="FILE", help="write the rows as a JSON list")
    p.add_argument("--T", type=int, nargs="+", default=[100, 500])
    p.add_argument("--variants", nargs="+", choices=["ff", "rec"], default=["ff", "rec"])
    p.add_argument("--libraries", nargs="+", choices=ALL_LIBRARIES, default=list(DEFAULT_LIBRARIES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, help="timed steps (default 10, --quick 3)")
    p.add_argument("--warmup", type=int, help="untimed warm-up steps (default 2, --quick 1)")
    p.add_argument("--no-parity", action="store_true", help="skip the forward parity check")
    p.add_argument("--allow-triton", action="store_true",
                   help="let torch import an installed Triton in the workers (+~71 MB each; "
                   "hidden by default, see HIDE_TRITON_ENV)")  # fmt: skip
    args = p.parse_args(argv)
    ALLOW_TRITON[0] = args.allow_triton
    steps = args.steps if args.steps is not None else (3 if args.quick else 10)
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)

    libs = []
    for lib in args.libraries:
        ok, why = available(lib)
        if ok:
            libs.append(lib)
        else:
            log(f"skipping {lib}: {why}")
    parity_rows = []
    if not args.no_parity:
        parity_rows = parity(libs, args.variants)
        print_parity(parity_rows)
    log(f"timing: batch {BATCH}, {warmup} warm-up + {steps} timed steps, "
        f"{args.threads} threads, each library in its own process")  # fmt: skip
    rows = []
    for T in args.T:
        for variant in args.variants:
            for lib in libs:
                log(f"  {lib} {variant} T={T} ...")
                try:
                    row = spawn(lib, variant, T, warmup, steps, args.threads)
                except Exception as exc:
                    log(f"  {lib} {variant} T={T}: FAILED {exc}")
                    continue
                pr = [q for q in parity_rows if q["library"] == lib and q["variant"] == variant]
                if pr:
                    row["parity"] = {k: v for k, v in pr[0].items() if k not in ("library",)}
                rows.append(row)
                log(f"  {lib} {variant} T={T}: {row['s_per_step']:.4f} s/step, "
                    f"{row['peak_mb']:.0f} MB")  # fmt: skip
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
