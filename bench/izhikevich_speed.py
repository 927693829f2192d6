"""Training step of an Izhikevich network: the torch loop against the compiled kernel.

The network: ``[T, B, 700]`` input spikes (2 % per channel and step, SHD-like) -> a
linear projection (the weights of :class:`spikegrad.nn.izhikevich.IzhikevichLayer`,
regular-spiking preset, h = 1 ms, ``weight_scale`` 100 so that every neuron spikes, about
1.7 % per step) -> 128 Izhikevich neurons -> :class:`spikegrad.nn.Readout`
(20 classes) -> max-over-time cross-entropy. One step is forward, backward and an Adam
step. The neuron sequence runs through
:func:`spikegrad.kernels.izhikevich_fused.izhikevich_sequence_fused` with
``kernel="torch"`` (the fused torch loop with its hand-written adjoint) or
``kernel="numba"`` (:mod:`spikegrad.kernels.izhikevich_numba`), and for context through
the reference (:func:`spikegrad.functional.izhikevich.izhikevich_sequence`, autograd).
``numba-events`` is the compiled kernel after the event-driven input projection of
:mod:`spikegrad.kernels.event_linear` (what the adaptive LIF layers use) instead of the
layer's dense ``x @ W.T``: what the layer would gain from taking that projection too.
Everything else is the same code. A second table times the neuron sequence alone
(forward and backward of the spikes' sum, from the currents of the same projection), the
part the kernel replaces. The variants are timed alternately in one process
(``bench/_timing.py``), medians of ``--repeats`` steps, after one warm-up step each (the
numba kernels load from the on-disk cache or compile there)::

    python bench/izhikevich_speed.py --T 100 --batch 64 --repeats 9 --threads 1

``--threads`` sets torch's and numba's thread counts (1 by default, so the loaded shared
machine gives comparable numbers; the kernel runs samples in parallel with more).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _timing import time_alternating  # noqa: E402

N_IN, N_HID, N_OUT, P_IN, WEIGHT_SCALE = 700, 128, 20, 0.02, 100.0


def _positive_int(name: str):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name} must be a positive integer") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"--{name} must be a positive integer")
        return v

    return parse


def make_step(variant: str):
    """A training step ``step(x, y)`` of the network with the neuron path ``variant``."""
    from spikegrad.functional.izhikevich import izhikevich_sequence
    from spikegrad.kernels.event_linear import event_linear
    from spikegrad.kernels.izhikevich_fused import izhikevich_sequence_fused
    from spikegrad.nn import Readout
    from spikegrad.nn.izhikevich import IzhikevichLayer

    g = torch.Generator().manual_seed(0)
    layer = IzhikevichLayer(N_IN, N_HID, weight_scale=WEIGHT_SCALE, generator=g)
    readout = Readout(N_HID, N_OUT, generator=g)
    params = [layer.weight, *readout.parameters()]
    opt = torch.optim.Adam(params, 1e-3)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        if variant == "numba-events":  # the projection event by event (kernels.event_linear)
            current = event_linear(x, layer.weight)
        else:
            current = x @ layer.weight.t()
        if variant == "reference":
            s = izhikevich_sequence(current, layer.params, layer.surrogate)[0]
        else:
            kernel = "numba" if variant == "numba-events" else variant
            s = izhikevich_sequence_fused(current, layer.params, layer.surrogate, kernel=kernel)[0]
        loss = F.cross_entropy(readout(s).max(0).values, y)
        loss.backward()
        opt.step()
        return float(loss.detach()), float(s.detach().mean())

    return step


def make_step_weight() -> torch.Tensor:
    """The projection weights of :func:`make_step` (same seed)."""
    from spikegrad.nn.izhikevich import IzhikevichLayer

    g = torch.Generator().manual_seed(0)
    return IzhikevichLayer(N_IN, N_HID, weight_scale=WEIGHT_SCALE, generator=g).weight.detach()


def make_sequence_step(variant: str):
    """Forward and backward of the neuron sequence alone: ``step(current, _)``."""
    from spikegrad.functional.izhikevich import izhikevich_sequence
    from spikegrad.kernels.izhikevich_fused import izhikevich_sequence_fused
    from spikegrad.nn.izhikevich import IzhikevichLayer

    layer = IzhikevichLayer(N_IN, N_HID, weight_scale=WEIGHT_SCALE)

    def step(current, _):
        current.grad = None
        if variant == "reference":
            s = izhikevich_sequence(current, layer.params, layer.surrogate)[0]
        else:
            s = izhikevich_sequence_fused(current, layer.params, layer.surrogate, kernel=variant)[0]
        s.sum().backward()

    return step


def _table(times, med, check=None) -> None:
    base = med.get("torch")
    extra = " first loss | hidden rate |" if check else ""
    print(f"| neuron path | ms/step (median) | min | max | torch loop / this |{extra}")
    print("| --- | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if check else ""))
    for v in med:
        ratio = "" if base is None else f"{base / med[v]:.2f}"
        cols = f" {check[v][0]:.6f} | {check[v][1]:.4f} |" if check else ""
        print(f"| {v} | {1e3 * med[v]:.1f} | {1e3 * min(times[v]):.1f} | "
              f"{1e3 * max(times[v]):.1f} | {ratio} |{cols}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=_positive_int("T"), default=100, help="time steps (100)")
    ap.add_argument("--batch", type=_positive_int("batch"), default=64, help="batch (64)")
    ap.add_argument("--repeats", type=_positive_int("repeats"), default=9, help="timed rounds")
    ap.add_argument("--threads", type=_positive_int("threads"), default=1, help="torch / numba")
    paths = ["torch", "numba", "numba-events", "reference"]
    ap.add_argument("--variants", nargs="+", default=paths, choices=paths, help="paths to time")
    ap.add_argument("--json", default=None, help="write the timings here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import numba

    numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(a.T, a.batch, N_IN, generator=g) < P_IN).float()
    y = torch.randint(0, N_OUT, (a.batch,), generator=g)
    steps = {v: make_step(v) for v in a.variants}
    # same weights, same input: the variants' losses and hidden rates agree before timing
    check = {v: fn(x, y) for v, fn in steps.items()}
    steps = {v: make_step(v) for v in a.variants}  # fresh optimisers for the timing
    times, med = time_alternating(steps, x, y, a.repeats)
    print(f"Izhikevich {N_IN} -> {N_HID} -> readout {N_OUT}, T = {a.T}, batch {a.batch}, "
          f"{a.threads} thread(s), median of {a.repeats} alternating steps")  # fmt: skip
    print()
    print("Training step (projection, neurons, readout, loss, backward, Adam):")
    print()
    _table(times, med, check)
    with torch.no_grad():
        current = (x @ make_step_weight().t()).requires_grad_()
    seq = {v: make_sequence_step(v) for v in a.variants if v != "numba-events"}
    s_times, s_med = time_alternating(seq, current, None, a.repeats)
    print()
    print("Neuron sequence alone (forward + backward of the spikes' sum):")
    print()
    _table(s_times, s_med)
    if a.json:
        Path(a.json).write_text(json.dumps({
            "T": a.T, "batch": a.batch, "threads": a.threads, "repeats": a.repeats,
            "seconds": times, "median_s": med, "first_loss_rate": check,
            "sequence_seconds": s_times, "sequence_median_s": s_med,
            "spread_s": {v: statistics.pstdev(t) for v, t in times.items()},
        }, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
