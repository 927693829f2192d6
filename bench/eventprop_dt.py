"""EventProp against surrogate-gradient BPTT as the time step shrinks.

One fixed float64 network (6 inputs -> 8 LIF neurons, feed-forward, or recurrent with
``--recurrent`` -> 3 leaky readouts; tau_mem 10 ms, tau_syn 5 ms, readout tau 20 ms, seed 3,
hidden weights x8, readout weights x3), one fixed input (3 samples, 40 ms, each input spiking
with probability 0.2 in every 1 ms bin, the spike at the bin's start so that every grid holds
it exactly) and the cross-entropy of the time-averaged readout (``readout_mode="mean"``).
For each ``dt`` the same weights and the same continuous time constants give:

* EventProp's gradient of the event-driven continuous-time model (readout sampled on the
  ``dt`` grid), and its loss;
* BPTT's surrogate gradient (SuperSpike, scale ``--beta``) of the discrete-time eq. 4.1
  model on that grid (``backend="reference"``), and its loss.

Printed per ``dt``: both losses and spike counts, and for every weight matrix and all of them
together the cosine and the norm ratio |BPTT| / |EventProp|.

Usage::

    python bench/eventprop_dt.py [--dt-ms 1 0.5 0.25 0.1] [--beta 10] [--recurrent]
"""

from __future__ import annotations

import argparse

import torch

from spikegrad.learning.rules import make_rule
from spikegrad.nn import SpikingNetwork
from spikegrad.tasks import ClassificationTask

F64 = torch.float64
DURATION_MS = 40


def gradients(dt_ms: float, beta: float, recurrent: bool, state: dict | None):
    """Both rules' gradients and losses on the ``dt_ms`` grid (weights from ``state``)."""
    dt = dt_ms * 1e-3
    g = torch.Generator().manual_seed(1)
    bins = (torch.rand(DURATION_MS, 3, 6, generator=g, dtype=F64) < 0.2).to(F64)
    per_ms = round(1.0 / dt_ms)
    x = torch.zeros(DURATION_MS * per_ms, 3, 6, dtype=F64)
    x[::per_ms] = bins  # the spike of 1 ms bin m at t = m ms on every grid
    y = torch.tensor([0, 1, 2])
    net = SpikingNetwork(6, 3, (8,), seed=3, readout_mode="mean", recurrent=recurrent, dt=dt,
                         tau_out=20e-3, beta=beta, backend="reference").to(F64)  # fmt: skip
    if state is None:
        with torch.no_grad():
            net.layers[0].weight.mul_(8.0)
            net.readout.weight.mul_(3.0)
            if net.layers[0].rec_weight is not None:
                net.layers[0].rec_weight.mul_(2.0)
        state = {k: v.clone() for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    task = ClassificationTask.__new__(ClassificationTask)  # the loss needs no data sets
    task.regularizer = None
    out = {}
    for rule in ("eventprop", "bptt"):
        r = make_rule(rule)
        r.check_model(net)
        step = r.gradients(net, task, x, y)
        grads = {n: p.grad.detach().clone() for n, p in net.named_parameters()}
        spikes = float(sum(float(s.detach().sum()) for s in step.out.spikes))
        out[rule] = (float(step.loss), spikes, grads)
    return out, state


def _cmp(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    a, b = a.flatten(), b.flatten()
    return float(a @ b / (a.norm() * b.norm())), float(b.norm() / a.norm())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt-ms", type=float, nargs="+", default=[1.0, 0.5, 0.25, 0.1])
    ap.add_argument("--beta", type=float, default=10.0, help="SuperSpike surrogate scale")
    ap.add_argument("--recurrent", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    state = None
    print(f"surrogate scale {args.beta}, {'recurrent' if args.recurrent else 'feed-forward'}")
    print(
        "| dt (ms) | loss EP | loss BPTT | spikes EP | spikes BPTT | matrix | cosine | "
        "norm BPTT/EP |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dt_ms in args.dt_ms:
        res, state = gradients(dt_ms, args.beta, args.recurrent, state)
        (le, se, ge), (lb, sb, gb) = res["eventprop"], res["bptt"]
        names = [*ge, "all"]
        ge["all"] = torch.cat([ge[n].flatten() for n in names[:-1]])
        gb["all"] = torch.cat([gb[n].flatten() for n in names[:-1]])
        for k, n in enumerate(names):
            cos, ratio = _cmp(ge[n], gb[n])
            head = (f"| {dt_ms:g} | {le:.4f} | {lb:.4f} | {se:.0f} | {sb:.0f} " if k == 0
                    else "| | | | | ")  # fmt: skip
            print(f"{head}| {n} | {cos:.4f} | {ratio:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
