"""Gradient fidelity of every registered learning rule: cosine and norm ratio to the exact
gradient of the same model, one batch, one run.

Three models, each with its own reference:

* **lif** (``bptt tbptt eprop node weight ottt ostl eprop-random eventprop``): a 3-class
  Randman task (20 units, 50 steps, seed 0), a SpikingNetwork 20 -> 32 -> 3
  (fluctuation-driven initialisation, seed 0, float64, reference backend), the first 30
  training samples, no activity regulariser; reference: surrogate-gradient BPTT of the task
  loss (cross-entropy of the max-over-time readout). For OTTT, OSTL and random e-prop also
  the cosine to BPTT's gradient of their own objective (the mean per-step loss,
  :func:`spikegrad.learning.rules.online.online_objective`).
* **coba** (``bptt conductance weight``): the ``rates`` task and its conductance-based
  network (``spikegrad compare --model coba``, seed 0, float64, 8 samples); reference:
  BPTT on that model.
* **srm** (``kernel resume``): the ``spike-target`` task (one SRM0 layer, 400 inputs,
  ``spikegrad compare --model srm``, seed 0, float64); spikegrad has no BPTT for the SRM0
  simulator, so the reference is the exact autograd gradient of the kernel error of the
  *linearised* output :math:`\\sum_i w_i s_i` (:func:`~spikegrad.learning.rules.kernel.
  linear_error`, Gaussian kernel 5 ms) -- what the kernel rule approximates with the real
  output train. Measured at the initial weights (the output is silent) and at the weights
  x1.1 (4 output spikes; the target has 5).

Stochastic rules (tbptt's windows aside: node, weight, conductance) run with their default
options (one trial) and seed; ``--draws D`` reports the mean of D independent estimates.
The norm ratio is |rule| / |reference| (a descent direction's scale, not its quality).

Usage::

    python bench/rule_fidelity.py [--draws 1] [--models lif coba srm] [--rules ...]
"""

from __future__ import annotations

import argparse
import copy

import torch

from spikegrad.data.randman import make_randman
from spikegrad.learning.config import fluctuation_rates
from spikegrad.learning.rules import RULES, make_rule
from spikegrad.learning.rules.online import online_objective
from spikegrad.nn import SpikingNetwork
from spikegrad.tasks import ClassificationTask

F64 = torch.float64
LIF_RULES = ("bptt", "tbptt", "eprop", "node", "weight", "ottt", "ostl", "eprop-random",
             "eventprop")  # fmt: skip
ONLINE = ("ottt", "ostl", "eprop-random")


def _grads(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().double().clone().flatten() for n, p in net.named_parameters()
            if p.grad is not None}  # fmt: skip


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def _row(rule: str, model: str, g: dict, ref: dict, extra: str = "") -> str:
    names = [n for n in ref if n in g]
    flat = torch.cat([g[n] for n in names])
    r = torch.cat([ref[n] for n in names])
    per = ", ".join(f"{n} {_cos(g[n], ref[n]):.3f}" for n in names)
    return (f"| {rule} | {model} | {_cos(flat, r):.3f} | {float(flat.norm() / r.norm()):.3f} "
            f"| {per} | {extra} |")  # fmt: skip


def _mean_grads(rule: str, net: torch.nn.Module, task, x, y, draws: int) -> dict:
    """The rule's gradient on copies of ``net``; per-draw gradients averaged (draws > 1)."""
    r = make_rule(rule)
    r.check_model(net)
    acc: dict[str, torch.Tensor] = {}
    for _ in range(draws):
        m = copy.deepcopy(net)
        r.gradients(m, task, x, y)
        for n, v in _grads(m).items():
            acc[n] = acc.get(n, 0) + v / draws
    return acc


def lif(draws: int, only: set[str]) -> None:
    tr, va, te = make_randman(n_classes=3, n_units=20, n_steps=50, samples_per_class=30, seed=0)
    task = ClassificationTask(tr, va, te)
    rates = fluctuation_rates(tr)
    x, y = next(tr.batches(30, shuffle=False, dtype=F64))
    net = SpikingNetwork(20, 3, hidden=(32,), seed=0, init="fluctuation", input_rate=rates[0],
                         hidden_rate=rates[1], backend="reference").to(F64)  # fmt: skip
    ref = _mean_grads("bptt", net, task, x, y, 1)
    m = copy.deepcopy(net)
    online_objective(m, task, m(x).readout, y).backward()
    ref_online = _grads(m)
    names = list(ref)
    for rule in [r for r in LIF_RULES if r in only]:
        g = _mean_grads(rule, net, task, x, y, draws)
        extra = ""
        if rule in ONLINE:
            flat = torch.cat([g[n] for n in names])
            extra = f"{_cos(flat, torch.cat([ref_online[n] for n in names])):.3f}"
        print(_row(rule, "lif", g, ref, extra), flush=True)


def coba(draws: int, only: set[str]) -> None:
    from spikegrad.experiments.compare import build_model, build_task

    task = build_task("rates", {})
    net = build_model("coba", task, 32, 0).to(F64)
    x, y = next(iter(task.batches("train", 8, shuffle=False, dtype=F64)))
    ref = _mean_grads("bptt", net, task, x, y, 1)
    for rule in [r for r in ("bptt", "conductance", "weight") if r in only]:
        print(_row(rule, "coba", _mean_grads(rule, net, task, x, y, draws), ref), flush=True)


def srm(only: set[str]) -> None:
    from spikegrad.experiments.compare import build_model, build_task
    from spikegrad.functional.spike_kernels import make_kernel
    from spikegrad.learning.rules.kernel import _desired_trains, _input_trains, linear_error

    task = build_task("spike-target", {})
    net = build_model("srm", task, 1, 0).to(F64)
    x, y = next(iter(task.batches("train", 1, shuffle=False, dtype=F64)))
    w0 = net.weight.detach().clone()
    for scale in (1.0, 1.1):  # initial weights (silent output), x1.1 (4 output spikes)
        with torch.no_grad():
            net.weight.copy_(w0 * scale)
        w = net.weight.detach().clone().requires_grad_(True)
        err = linear_error(_input_trains(x), w, _desired_trains(y), make_kernel("gaussian", 5e-3))
        (gw,) = torch.autograd.grad(err.sum(1).mean(0), w)
        ref = {"weight": gw.flatten()}
        note = f"weights x{scale:g}, output spikes {int(net(x).trains.mask.sum())}"
        for rule in [r for r in ("kernel", "resume") if r in only]:
            g = _mean_grads(rule, net, task, x, y, 1)
            print(_row(rule, "srm", g, ref, note), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1, help="draws of the stochastic rules")
    ap.add_argument("--models", nargs="+", default=["lif", "coba", "srm"],
                    choices=["lif", "coba", "srm"])  # fmt: skip
    ap.add_argument("--rules", nargs="+", default=sorted(RULES), choices=sorted(RULES))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(
        "| rule | model | cosine (all weights) | norm ratio | cosine per matrix | "
        "cosine to BPTT of the per-step objective / note |"
    )
    print("|---|---|---|---|---|---|")
    for model in args.models:
        only = set(args.rules)
        if model == "lif":
            lif(args.draws, only)
        elif model == "coba":
            coba(args.draws, only)
        else:
            srm(only)
    missing = set(RULES) - set(LIF_RULES) - {"conductance", "kernel", "resume"}
    assert not missing, f"rules without a fidelity figure: {missing}"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
