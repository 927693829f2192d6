"""Seconds per perturbation training step on the COBA network: torch loop vs compiled forward.

One training step is what the trainer does per batch: ``rule.gradients`` (the noisy
trials' forward simulation, the gradient estimate into ``.grad``) and the Adam step, on
the network ``spikegrad train --task randman --model coba --rule R`` builds (20 inputs,
T = 100, the coba classifier: 10 output E neurons and 4 inhibitory ones, batch 250,
default rule options) and one batch of the training split. ``torch`` runs every
``coba_run`` through the torch loop of ``coba_step`` (``SPIKEGRAD_COBA_KERNEL=torch``,
the code before issue 31's COBA kernel); ``numba`` through the compiled forward of
``spikegrad.kernels.coba_numba`` (what ``kernel="auto"`` picks for these forward-only
rules). Both paths of a rule alternate round by round after one warm-up call each (the
numba kernel loads from its disk cache or compiles there); the table gives the median,
min and max over ``--repeats`` rounds, one torch and numba thread, and the load average::

    python bench/coba_speed.py --repeats 11

``--trials K`` times ``K`` noisy trials per sample (``rule_options`` trials); ``--hidden H``
adds ``H`` hidden E neurons to the classifier (``model_options`` n_hidden).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from spikegrad.kernels import set_num_threads
from spikegrad.learning.config import TrainConfig, build_model, build_optimizer, build_task
from spikegrad.learning.rules import make_rule

#: rule name -> rule options of the rows (besides ``trials``)
ROWS = {
    "conductance": {},
    "conductance-current": {"noise": "current"},
    "conductance-empiric": {"noise": "empiric"},
    "weight": {},
}


class _Kernel:
    """Context: ``SPIKEGRAD_COBA_KERNEL`` set to ``kernel`` during the call."""

    def __init__(self, kernel: str) -> None:
        self.kernel = kernel

    def __enter__(self) -> None:
        self.old = os.environ.get("SPIKEGRAD_COBA_KERNEL")
        os.environ["SPIKEGRAD_COBA_KERNEL"] = self.kernel

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop("SPIKEGRAD_COBA_KERNEL", None)
        else:
            os.environ["SPIKEGRAD_COBA_KERNEL"] = self.old


def make_step(cfg: TrainConfig, task, batch, kernel: str) -> Callable[[], float]:
    """One trainer step of ``cfg``'s rule on ``batch`` (own model, rule and optimiser)."""
    model = build_model(cfg, task.n_inputs, task.n_outputs, task.split("train"))
    rule = make_rule(cfg.rule, **cfg.rule_options)
    rule.check_model(model)
    opt = build_optimizer(cfg, model)
    x, y = batch

    def step() -> float:
        with _Kernel(kernel):
            out = rule.gradients(model, task, x, y)
        opt.step()
        return float(out.loss)

    return step


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=_positive, default=7)
    ap.add_argument("--batch", type=_positive, default=250)
    ap.add_argument("--trials", type=_positive, default=1)
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--threads", type=_positive, default=1)
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args(argv)
    set_num_threads(args.threads)
    base = TrainConfig(batch_size=args.batch, model="coba")
    task = build_task(base)
    batch = next(iter(task.batches("train", args.batch, shuffle=False)))
    la = os.getloadavg()
    print(
        f"T = {batch[0].shape[0]}, batch = {batch[0].shape[1]}, inputs = {batch[0].shape[2]}, "
        f"trials = {args.trials}, hidden = {args.hidden}, threads = {args.threads}; "
        f"load {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}"
    )
    steps: dict[tuple[str, str], Callable[[], float]] = {}
    for row in args.rows:
        rule = row.split("-")[0]
        cfg = TrainConfig(
            batch_size=args.batch,
            model="coba",
            rule=rule,
            rule_options={"trials": args.trials, **ROWS[row]},
            model_options={"n_hidden": args.hidden} if args.hidden else {},
        )
        for kernel in ("torch", "numba"):
            steps[row, kernel] = make_step(cfg, task, batch, kernel)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in steps}
    losses: dict[tuple[str, str], float] = {}
    for k, fn in steps.items():  # warm-up: compilation or cache load, first-use allocations
        losses[k] = fn()
    for r in range(args.repeats):
        for k, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
        print(f"repeat {r + 1}/{args.repeats}", file=sys.stderr)
    print("| rule (options) | torch loop s/step | compiled s/step | torch / compiled |")
    print("| --- | ---: | ---: | ---: |")
    for row in args.rows:
        t, n = times[row, "torch"], times[row, "numba"]
        mt, mn = statistics.median(t), statistics.median(n)
        same = losses[row, "torch"] == losses[row, "numba"]
        print(
            f"| {row} | {mt:.4f} ({min(t):.4f}-{max(t):.4f}) | {mn:.4f} ({min(n):.4f}-"
            f"{max(n):.4f}) | {mt / mn:.1f}{'' if same else ' (first losses differ!)'} |"
        )
    la = os.getloadavg()
    print(f"load after: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
