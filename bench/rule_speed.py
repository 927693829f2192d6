"""Seconds per training step of e-prop and the perturbation rules against BPTT.

One training step is what the trainer does per batch: ``rule.gradients`` (forward,
gradient estimate into ``.grad``) and the optimiser's step. Every rule runs on the
network ``spikegrad train --task randman --rule R`` builds (the paper's Randman setting:
20 inputs, 100 steps, 100 LIF hidden neurons, 10 readouts, batch 250; ``--recurrent``
adds ``V``; default rule options, e.g. one noisy trial per sample) on one batch of the
training split. The ``alif`` rows use ``--model alif`` (adaptive threshold), the
``coba`` rows the conductance-based network (``--model coba``), on the same batch. The
rules of one model alternate round by round after one warm-up call each; the table gives
the median, min and max over ``--repeats`` rounds, one torch and numba thread.

``--reference`` adds a second row per rule with the compiled rule paths switched off
(``SPIKEGRAD_RULE_REFERENCE=1`` during that rule's calls: e-prop's forward per-synapse
traces; the torch LIF and readout loops of node and weight perturbation on ``lif``;
node perturbation's autograd eligibility on ``alif``), timed in the same rounds: the
before / after of issue 31. The coba rules and weight perturbation on ``alif`` have no
compiled rule path (only the models' own forwards are compiled, on both rows).

    python bench/rule_speed.py --repeats 11 --reference
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spikegrad.kernels import set_num_threads  # noqa: E402
from spikegrad.learning.config import TrainConfig, build_model, build_optimizer, build_task  # noqa: E402
from spikegrad.learning.rules import make_rule  # noqa: E402

#: model -> rules timed on it, and the rules whose compiled path ``--reference`` can switch off
MODELS = {
    "lif": (("bptt", "eprop", "node", "weight"), ("eprop", "node", "weight")),
    "alif": (("bptt", "eprop", "node", "weight"), ("eprop", "node")),
    "coba": (("bptt", "weight", "conductance"), ()),
}


class _Reference:
    """Context: the rules' compiled paths off (the environment switch they read)."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __enter__(self) -> None:
        self.old = os.environ.get("SPIKEGRAD_RULE_REFERENCE")
        if self.on:
            os.environ["SPIKEGRAD_RULE_REFERENCE"] = "1"

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            os.environ.pop("SPIKEGRAD_RULE_REFERENCE", None)
        else:
            os.environ["SPIKEGRAD_RULE_REFERENCE"] = self.old


def make_step(config: TrainConfig, task, batch, reference: bool) -> Callable[[], None]:
    """One trainer step of ``config``'s rule on ``batch`` (its own model and optimiser)."""
    train_set = task.split("train")
    model = build_model(config, task.n_inputs, task.n_outputs, train_set)
    rule = make_rule(config.rule, **config.rule_options)
    rule.check_model(model)
    opt = build_optimizer(config, model)
    x, y = batch

    def step() -> None:
        with _Reference(reference):
            rule.gradients(model, task, x, y)
        opt.step()

    return step


def _profile(model: str, steps: dict[tuple[str, str], Callable[[], None]], k: int) -> None:
    """Print each row's ``k`` costliest functions (own time, 3 steps after a warm-up)."""
    import cProfile
    import pstats

    for (rule, path), fn in steps.items():
        fn()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            fn()
        prof.disable()
        st = pstats.Stats(prof)
        rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:k]  # type: ignore[attr-defined]
        total = sum(v[2] for v in st.stats.values()) / 3  # type: ignore[attr-defined]
        print(f"\n{model} / {rule} / {path}: {total * 1e3:.1f} ms per step (profiled)")
        for (file, line, name), v in rows:
            where = f"{Path(file).name}:{line}({name})" if line else name
            print(f"  {v[2] / 3 * 1e3:7.1f} ms  {where}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--recurrent", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--reference",
        action="store_true",
        help="also time each rule with its compiled path switched off",
    )
    ap.add_argument(
        "--rules", nargs="+", default=None, help="subset of lif/coba rules (default: all)"
    )
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="K",
        help="instead of timing: cProfile 3 steps of each row, print the K costliest calls",
    )
    ap.add_argument(
        "--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models to time"
    )
    args = ap.parse_args(argv)
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    base = TrainConfig(batch_size=args.batch, recurrent=args.recurrent)
    task = build_task(base)
    batch = next(iter(task.batches("train", args.batch, shuffle=False)))
    print(
        f"T = {batch[0].shape[0]}, batch = {batch[0].shape[1]}, inputs = {batch[0].shape[2]}, "
        f"recurrent = {args.recurrent}, threads = {args.threads}; load: "
        f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    if not args.profile:
        print("| model | rule | path | s per step (median) | min | max |")
        print("| --- | --- | --- | ---: | ---: | ---: |", flush=True)
    for model in args.models:
        rules, switchable = MODELS[model]
        steps: dict[tuple[str, str], Callable[[], None]] = {}
        for rule in rules:
            if args.rules and rule not in args.rules:
                continue
            cfg = TrainConfig(
                batch_size=args.batch, recurrent=args.recurrent, rule=rule, model=model
            )
            steps[rule, "default"] = make_step(cfg, task, batch, False)
            if args.reference and rule in switchable:
                steps[rule, "reference"] = make_step(cfg, task, batch, True)
        if args.profile:
            _profile(model, steps, args.profile)
            continue
        times: dict[tuple[str, str], list[float]] = {k: [] for k in steps}
        for fn in steps.values():  # warm-up: compilation, first-use allocations
            fn()
        for r in range(args.repeats):
            for k, fn in steps.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
            print(f"{model}: repeat {r + 1}/{args.repeats}", file=sys.stderr)
        for (rule, path), v in times.items():
            print(
                f"| {model} | {rule} | {path} | {statistics.median(v):.3f} | {min(v):.3f} | "
                f"{max(v):.3f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
