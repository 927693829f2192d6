"""``spikegrad perturb``: learning by dynamic perturbation of conductances (Fiete & Seung).

Tasks: ``rates`` (a recurrent conductance-based network learns target rate time courses),
``randman`` and ``digits`` (reward-only spiking classification). ``--rule`` picks the
learning rule; ``--compare`` runs further rules on the same task and initial weights for
side-by-side learning curves. ``--check-gradient`` compares the averaged perturbation
estimate with a finite-difference gradient on a small network instead of training.
Writes ``metrics.json`` and PNG plots into the run folder.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError

TASKS = ("rates", "randman", "digits")

#: Per-task defaults (measured; see docs/perturbation.md).
_DEFAULTS = {
    "rates": {"iterations": 300, "batch": 16, "lr": 0.3, "lr_end": 0.03, "sigma": 0.3},
    "randman": {"iterations": 300, "batch": 32, "lr": 0.3, "lr_end": 0.03, "sigma": 0.3,
                "w_in": 10.0},
    "digits": {"iterations": 600, "batch": 32, "lr": 0.3, "lr_end": 0.03, "sigma": 0.3,
               "w_in": 6.0},
}
#: sigma of the other rules relative to the perturbation rule's default (their units differ)
_SIGMA = {"node": 20.0, "weight": 0.5}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``perturb`` sub-command."""
    from ..perturbation.learn import RULES
    from ..perturbation.rule import BASELINES

    p = sub.add_parser(
        "perturb",
        help="learning without backprop: dynamic perturbation of conductances",
        description="Train conductance-based spiking networks by dynamic perturbation of "
        "conductances (Fiete & Seung 2006, spikegrad's reading), with weight perturbation, "
        "node perturbation of currents and surrogate-gradient BPTT as baselines. Writes "
        "metrics.json (initial_error, final_error, error_reduction, test_accuracy, trials, "
        "wall_seconds) and plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", choices=TASKS, default="rates", help="learning task")
    p.add_argument("--rule", choices=list(RULES), default="perturbation", help="learning rule")
    p.add_argument("--compare", nargs="*", default=[], choices=list(RULES), metavar="RULE",
                   help="further rules to run on the same task (side-by-side curves)")
    p.add_argument("--check-gradient", action="store_true",
                   help="estimator vs finite-difference gradient on a small network")
    g = p.add_argument_group("learning")
    g.add_argument("--iterations", type=int, default=None, help="updates (batches of trials)")
    g.add_argument("--batch", type=int, default=None, help="parallel trials per update")
    g.add_argument("--lr", type=float, default=None, help="step size (eta sigma^2 for SGD)")
    g.add_argument("--lr-end", type=float, default=None, help="final step size (decay)")
    g.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    g.add_argument("--sigma", type=float, default=None,
                   help="perturbation scale (nS s^1/2; node: pA s^1/2; weight: nS)")
    g.add_argument("--baseline", choices=list(BASELINES), default="paired",
                   help="reward baseline (never the current trial's reward)")
    g.add_argument("--tau-R", type=float, default=5.0, help="running baseline (trials)")
    g.add_argument("--eval-every", type=int, default=None, help="evaluation period")
    g.add_argument("--gate-refractory", action="store_true",
                   help="drop eligibility terms of refractory steps")
    g.add_argument("--seed", type=int, default=0, help="seed of noise and batch order")
    g = p.add_argument_group("network and task")
    g.add_argument("--method", choices=["exp_euler", "euler"], default="exp_euler")
    g.add_argument("--depression", type=float, default=0.0,
                   help="short-term depression utilisation U (0: off)")
    g.add_argument("--classes", type=int, default=None,
                   help="classification: classes (digits 10, randman 3)")
    g.add_argument("--hidden", type=int, default=0, help="classification: hidden E neurons")
    g.add_argument("--reward", choices=["loss", "binary"], default="loss",
                   help="classification reward: log-softmax of counts or correct (1/0)")
    g.add_argument("--samples-per-class", type=int, default=100)
    g.add_argument("--data-seed", type=int, default=0)
    g = p.add_argument_group("gradient check")
    g.add_argument("--trials", type=int, default=4000, help="trials of the estimate")
    g.add_argument("--fd-trials", type=int, default=4000, help="trials per FD evaluation")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=None, help="run folder")
    g.add_argument("--no-plots", action="store_true")
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    g.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_perturb)


def _write(out: Path, metrics: dict) -> None:
    from ..io.checkpoint import atomic_write_text

    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))


def _cmd_perturb(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or Path("runs") / f"perturb-{args.task}-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    if args.check_gradient:
        return _check(args, out)
    return _train(args, out)


def _check(args: argparse.Namespace, out: Path) -> int:
    from ..perturbation.check import gradient_check

    for nm in ("trials", "fd_trials"):
        if getattr(args, nm) < 1:
            raise SpikegradInputError(f"--{nm.replace('_', '-')} must be >= 1")
    sigma = 1.0 if args.sigma is None else args.sigma
    chk = gradient_check(args.trials, fd_trials=args.fd_trials, sigma=sigma, seed=args.seed)
    metrics = {
        "gradient_cosine": chk.gradient_cosine,
        "trials": chk.trials,
        "fd_trials": chk.fd_trials,
        "sigma": sigma,
        "cosine_by_trials": {str(k): v for k, v in chk.cosines.items()},
        "wall_seconds": chk.wall_seconds,
    }
    _write(out, metrics)
    if not args.no_plots:
        from ..perturbation.plots import plot_gradient_scatter

        plot_gradient_scatter(chk, out / "gradient_scatter.png")
    if not args.quiet:
        print(json.dumps(metrics, indent=2))
    return 0


def _make_task(args: argparse.Namespace):
    from ..perturbation.tasks import ClassifyTask, RatesTask

    if args.task == "rates":
        return RatesTask(method=args.method, std_U=args.depression)
    classes = args.classes or (10 if args.task == "digits" else 3)
    return ClassifyTask(
        dataset=args.task, n_classes=classes, n_hidden=args.hidden, reward=args.reward,
        w_in=_DEFAULTS[args.task]["w_in"],
        samples_per_class=args.samples_per_class, data_seed=args.data_seed,
        method=args.method, std_U=args.depression,
    )


def _train(args: argparse.Namespace, out: Path) -> int:
    from ..perturbation.learn import LearnConfig, learn

    task = _make_task(args)
    d = _DEFAULTS[args.task]
    W0 = task.init_weights()
    rules = [args.rule] + [r for r in args.compare if r != args.rule]
    results, summary = {}, {}
    for rule in rules:
        # --sigma applies to --rule; compared rules use their own defaults (units differ)
        if args.sigma is not None and rule == args.rule:
            sigma = args.sigma
        else:
            sigma = _SIGMA.get(rule, d["sigma"])
        iterations = args.iterations or d["iterations"]
        cfg = LearnConfig(
            rule=rule,
            iterations=iterations,
            batch=args.batch or d["batch"],
            lr=args.lr if args.lr is not None else d["lr"],
            lr_end=args.lr_end if args.lr_end is not None else d["lr_end"],
            optimizer=args.optimizer,
            sigma=sigma,
            baseline=args.baseline,
            tau_R=args.tau_R,
            eval_every=args.eval_every or max(1, iterations // 30),
            gate_refractory=args.gate_refractory,
            seed=args.seed,
        )

        def show(row, rule=rule):
            if not args.quiet:
                acc = f" acc {row['accuracy']:.3f}" if "accuracy" in row else ""
                print(f"[{rule}] it {row['iteration']:4d} trials {row['trials']:6d} "
                      f"{row['wall_seconds']:7.1f}s error {row['error']:.4f}{acc}", flush=True)

        res = learn(task, cfg, W0, callback=show)
        results[rule] = res
        h = res.history
        init, final = h[0]["error"], h[-1]["error"]
        s = {
            "initial_error": init,
            "final_error": final,
            "error_reduction": 1.0 - final / init if init > 0 else math.nan,
            "trials": h[-1]["trials"],
            "wall_seconds": h[-1]["wall_seconds"],
            "iterations": cfg.iterations,
            "config": res.config,
            "test_accuracy": None,
        }
        if args.task != "rates":
            ev = task.evaluate(res.W, "test")
            s["test_accuracy"] = ev["accuracy"]
            s["test_error"] = ev["error"]
            s["initial_test_accuracy"] = task.evaluate(W0, "test")["accuracy"]
        summary[rule] = s
    metrics = {"task": args.task, "rule": args.rule, **summary[args.rule]}
    if len(rules) > 1:
        metrics["compare"] = {r: summary[r] for r in rules}
    metrics["history"] = {r: results[r].history for r in rules}
    _write(out, metrics)
    if not args.no_plots:
        from ..perturbation.plots import plot_learning_curves, plot_rates

        plot_learning_curves({r: results[r].history for r in rules}, out / "learning_curve.png")
        if args.task == "rates":
            plot_rates(task, results[args.rule].W, out / "rates.png", W0=W0)
    if not args.quiet:
        keys = ("initial_error", "final_error", "error_reduction", "test_accuracy", "trials",
                "wall_seconds")
        print(json.dumps({k: metrics[k] for k in keys}, indent=2))
    return 0
