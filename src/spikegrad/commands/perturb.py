"""``spikegrad perturb``: learning by dynamic perturbation of conductances (Fiete & Seung).

The shortcut for the paper's experiments on the shared parts (conductance-based
:class:`~spikegrad.nn.CobaSpikingNetwork`, the rules of
:mod:`spikegrad.learning.rules.perturbation`, the one trainer ``fit``). Tasks: ``rates``
(a recurrent conductance-based network learns target rate time courses), ``randman`` and
``digits`` (reward-only spiking classification). ``--rule`` picks the learning rule;
``--compare`` runs further rules on the same task and initial weights for side-by-side
learning curves (each in ``RUN_DIR/compare-<rule>/``). ``--check-gradient`` compares the
averaged perturbation estimate with a finite-difference gradient on a small network
instead of training. Writes the run folder through :class:`~spikegrad.io.run.RunFolder`:
config.json, metrics.json, history.csv, checkpoint.pt, last.pt and PNG plots.
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
    from ..learning.rules.perturbation import BASELINES
    from ..perturbation.learn import RULES
    from ._flags import HelpFormatter, add_alias

    p = sub.add_parser(
        "perturb",
        help="learning without backprop: dynamic perturbation of conductances",
        description="Train conductance-based spiking networks by dynamic perturbation of "
        "conductances (Fiete & Seung 2006, spikegrad's reading), with weight perturbation, "
        "node perturbation of currents and surrogate-gradient BPTT as baselines, on the "
        "one trainer. Rules: perturbation = conductance, empiric = conductance with "
        "empiric synapses, node = conductance with current noise, weight, bptt (see "
        "spikegrad rules). Writes the run folder (config.json, history.csv, checkpoint.pt, "
        "metrics.json with initial_error, final_error, error_reduction, test_accuracy, "
        "trials, wall_seconds) and plots.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--task", choices=TASKS, default="rates", help="learning task")
    p.add_argument("--rule", choices=list(RULES), default="perturbation", help="learning rule")
    p.add_argument("--compare", nargs="*", default=[], choices=list(RULES), metavar="RULE",
                   help="further rules to run on the same task (side-by-side curves)")
    p.add_argument("--check-gradient", action="store_true",
                   help="estimator vs finite-difference gradient on a small network")
    g = p.add_argument_group("learning")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--iterations", type=int, default=None,
                        help="updates (batches of trials); default per task (rates 300, "
                        "digits 600)")
    length.add_argument("--epochs", type=int, default=None,
                        help="epochs of --eval-every updates each (instead of --iterations)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="parallel trials per update (rates: noisy trials of the one trial, "
                   "classification: samples); default rates 16, classification 32")
    add_alias(g, "--batch", "batch_size", type=int)
    g.add_argument("--lr", type=float, default=None,
                   help="step size (eta sigma^2 for SGD); default 0.3")
    g.add_argument("--lr-end", type=float, default=None,
                   help="final step size (decay); default 0.03")
    g.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="optimizer of the parameters")
    g.add_argument("--sigma", type=float, default=None,
                   help="perturbation scale (nS s^1/2; node: pA s^1/2; weight: nS); default "
                   "0.3, node 20, weight 0.5, --check-gradient 1 (--compare'd rules keep "
                   "their own)")
    g.add_argument("--baseline", choices=list(BASELINES), default="paired",
                   help="reward baseline (never the current trial's reward)")
    g.add_argument("--tau-R", type=float, default=5.0, help="running baseline (trials)")
    g.add_argument("--eval-every", type=int, default=None,
                   help="updates per evaluation (= per epoch); default iterations / 30")
    g.add_argument("--gate-refractory", action="store_true",
                   help="drop eligibility terms of refractory steps")
    g.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of noise and batch order")
    g = p.add_argument_group("network and task")
    g.add_argument("--method", choices=["exp_euler", "euler"], default="exp_euler",
                   help="integration of the conductance dynamics")
    g.add_argument("--depression", type=float, default=0.0,
                   help="short-term depression utilisation U (0: off)")
    g.add_argument("--classes", type=int, default=None,
                   help="classification: classes (digits 10, randman 3)")
    g.add_argument("--hidden", type=int, nargs="+", default=[0], metavar="N",
                   help="classification: hidden E neurons (one layer; 0: none)")
    g.add_argument("--reward", choices=["loss", "binary"], default="loss",
                   help="classification reward: log-softmax of counts or correct (1/0)")
    g.add_argument("--samples-per-class", type=int, default=100,
                   help="classification: samples per class")
    g.add_argument("--data-seed", type=int, default=0,
                   help="seed of the data (generation, shuffle, split)")
    g.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the task (repeatable, any task): a field of "
                   "spikegrad.perturbation.tasks.RatesTask (rates) or ClassifyTask (randman, "
                   "digits), e.g. n_exc=32 or w_in=5; a field with its own flag is set by "
                   "the flag")
    g = p.add_argument_group("gradient check")
    g.add_argument("--trials", type=int, default=4000, help="trials of the estimate")
    g.add_argument("--fd-trials", type=int, default=4000, help="trials per FD evaluation")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=None,
                   help="run folder (default: runs/perturb-<task>-<timestamp>)")
    g.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    g.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    g.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_perturb)


def _at_least(flag: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise SpikegradInputError(f"{flag} must be an integer >= {minimum}, got {value}")


#: the most --iterations a run may ask for (10^7 steps of the smallest task already take
#: days on one core)
MAX_ITERATIONS = 10_000_000


def _cmd_perturb(args: argparse.Namespace) -> int:
    from ..io.run import RunFolder, lock_run_folder
    from ..kernels import set_num_threads
    from ._flags import one_layer, typed_flag

    args.hidden = one_layer(args.hidden, "perturb's classification network")
    args.task_options = _task_options(args)
    batch_flag = typed_flag("--batch-size", "--batch")
    for flag, nm, lo in (("--threads", "threads", 1), ("--iterations", "iterations", 1),
                         ("--epochs", "epochs", 1), (batch_flag, "batch_size", 1),
                         ("--eval-every", "eval_every", 1), ("--trials", "trials", 1),
                         ("--fd-trials", "fd_trials", 1), ("--seed", "seed", 0),
                         ("--classes", "classes", 2), ("--hidden", "hidden", 0),
                         ("--samples-per-class", "samples_per_class", 1)):
        _at_least(flag, getattr(args, nm), lo)
    import math

    from ._flags import given_flag

    if args.task == "rates":  # classification flags: never silently ignored
        other = given_flag("--classes", "--hidden", "--samples-per-class", "--reward")
        if other:
            raise SpikegradInputError(f"{other} is a setting of the classification tasks "
                                      "(randman, digits); --task is rates")  # fmt: skip
    if not args.check_gradient:
        other = given_flag("--trials", "--fd-trials")
        if other:
            raise SpikegradInputError(f"{other} sets the gradient check; add --check-gradient")
    if args.data_seed < 0:
        raise SpikegradInputError(f"--data-seed must be an integer >= 0, got {args.data_seed}")
    if args.lr_end is not None and not (math.isfinite(args.lr_end) and args.lr_end >= 0):
        raise SpikegradInputError(f"--lr-end must be a finite number >= 0, got {args.lr_end}")
    if args.iterations is not None and args.iterations > MAX_ITERATIONS:
        raise SpikegradInputError(
            f"--iterations must be at most {MAX_ITERATIONS}, got {args.iterations} (a run "
            "that long would not end; use --epochs for passes over a data set)"
        )
    set_num_threads(args.threads)
    out = args.out
    if out is None:
        out = Path("runs") / f"perturb-{args.task}-{datetime.now():%Y%m%d-%H%M%S}"
    lock_run_folder(out, "perturb")
    run = RunFolder(out)
    if args.check_gradient:
        return _check(args, run)
    return _train(args, run)


def _check(args: argparse.Namespace, run) -> int:
    from ..perturbation.check import gradient_check

    sigma = 1.0 if args.sigma is None else args.sigma
    run.write_config({"command": "perturb --check-gradient", "trials": args.trials,
                      "fd_trials": args.fd_trials, "sigma": sigma, "seed": args.seed})
    chk = gradient_check(args.trials, fd_trials=args.fd_trials, sigma=sigma, seed=args.seed)
    metrics = {
        "gradient_cosine": chk.gradient_cosine,
        "trials": chk.trials,
        "fd_trials": chk.fd_trials,
        "sigma": sigma,
        "cosine_by_trials": {str(k): v for k, v in chk.cosines.items()},
        "wall_seconds": chk.wall_seconds,
    }
    run.write_metrics(metrics)
    if not args.no_plots:
        from ..perturbation.plots import plot_gradient_scatter

        plot_gradient_scatter(chk, run.file("gradient_scatter.png"))
    if not args.quiet:
        print(json.dumps(metrics, indent=2))
    return 0


#: task fields with a flag of their own (the flag sets them; --task-option refuses them)
_TASK_FLAGS = {"dataset": "--task", "n_classes": "--classes", "n_hidden": "--hidden",
               "reward": "--reward", "samples_per_class": "--samples-per-class",
               "data_seed": "--data-seed", "method": "--method", "std_U": "--depression"}


def _task_options(args: argparse.Namespace) -> dict:
    """``--task-option KEY=VALUE`` -> constructor settings of the task (one line if a key is
    no field of the task, or a field that has its own flag)."""
    import dataclasses

    from ..perturbation.tasks import ClassifyTask, RatesTask
    from ._flags import key_values

    cls = RatesTask if args.task == "rates" else ClassifyTask
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    out = {}
    for key, val in key_values(args.task_option, "--task-option"):
        if key in _TASK_FLAGS:
            raise SpikegradInputError(
                f"--task-option {key}: set it with {_TASK_FLAGS[key]}"
            )
        if key not in fields:
            raise SpikegradInputError(
                f"--task-option {key}: not a setting of task {args.task!r}; settings: "
                + ", ".join(sorted(fields - set(_TASK_FLAGS)))
            )
        try:
            out[key] = json.loads(val)
        except ValueError:
            out[key] = val
    return out


def _make_task(args: argparse.Namespace):
    from ..perturbation.tasks import ClassifyTask, RatesTask

    extra = getattr(args, "task_options", {})
    try:
        if args.task == "rates":
            return RatesTask(method=args.method, std_U=args.depression, **extra)
        classes = args.classes if args.classes is not None else (
            10 if args.task == "digits" else 3)
        return ClassifyTask(**{
            "dataset": args.task, "n_classes": classes, "n_hidden": args.hidden,
            "reward": args.reward, "w_in": _DEFAULTS[args.task]["w_in"],
            "samples_per_class": args.samples_per_class, "data_seed": args.data_seed,
            "method": args.method, "std_U": args.depression, **extra,
        })
    except (TypeError, ValueError) as exc:
        if not extra:
            raise
        raise SpikegradInputError(f"--task-option: {str(exc).splitlines()[0]}") from exc


def _schedule(args: argparse.Namespace, d: dict) -> tuple[int, int]:
    """``(iterations, eval_every)`` from --iterations / --epochs / --eval-every."""
    if args.epochs is not None:
        every = args.eval_every if args.eval_every is not None else max(1, d["iterations"] // 30)
        return args.epochs * every, every
    iterations = args.iterations if args.iterations is not None else d["iterations"]
    every = args.eval_every if args.eval_every is not None else max(1, iterations // 30)
    return iterations, every


def _train(args: argparse.Namespace, run) -> int:
    from ..io.run import RunFolder
    from ..learning.trainer import evaluate
    from ..perturbation.learn import LearnConfig, learn

    task = _make_task(args)
    d = _DEFAULTS[args.task]
    iterations, eval_every = _schedule(args, d)
    W0 = task.init_weights()
    rules = [args.rule] + [r for r in args.compare if r != args.rule]
    results, summary = {}, {}
    for rule in rules:
        # --sigma applies to --rule; compared rules use their own defaults (units differ)
        if args.sigma is not None and rule == args.rule:
            sigma = args.sigma
        else:
            sigma = _SIGMA.get(rule, d["sigma"])
        cfg = LearnConfig(
            rule=rule,
            iterations=iterations,
            batch=args.batch_size if args.batch_size is not None else d["batch"],
            lr=args.lr if args.lr is not None else d["lr"],
            lr_end=args.lr_end if args.lr_end is not None else d["lr_end"],
            optimizer=args.optimizer,
            sigma=sigma,
            baseline=args.baseline,
            tau_R=args.tau_R,
            eval_every=eval_every,
            gate_refractory=args.gate_refractory,
            seed=args.seed,
        )

        def show(row, rule=rule):
            if not args.quiet:
                acc = f" acc {row['accuracy']:.3f}" if "accuracy" in row else ""
                print(f"[{rule}] it {row['iteration']:4d} trials {row['trials']:6d} "
                      f"{row['wall_seconds']:7.1f}s error {row['error']:.4f}{acc}", flush=True)

        folder = run if rule == args.rule else RunFolder(run.file(f"compare-{rule}"))
        res = learn(task, cfg, W0, callback=show, out_dir=folder.path)
        results[rule] = res
        h = res.history
        init, final = h[0]["error"], h[-1]["error"]
        fm = res.fit.metrics
        s = {
            "initial_error": init,
            "final_error": final,
            "best_error": min(r["error"] for r in h),
            "error_reduction": 1.0 - final / init if init > 0 else math.nan,
            "trials": h[-1]["trials"],
            "wall_seconds": h[-1]["wall_seconds"],
            "iterations": h[-1]["iteration"],
            "eval_every": res.fit.metrics["config"]["eval_every"],
            "registry_rule": res.rule.name,
            "config": res.config,
            "test_accuracy": None,
        }
        if args.task != "rates":
            s["test_accuracy"] = fm["test_accuracy"]
            s["test_error"] = fm["test_loss"]
            s["initial_test_accuracy"] = evaluate(task.model(W0), task, "test")["accuracy"]
        summary[rule] = s
    fit_metrics = {k: v for k, v in results[args.rule].fit.metrics.items() if k != "rule"}
    metrics = {**fit_metrics, "task": args.task, "rule": args.rule, **summary[args.rule]}
    if len(rules) > 1:
        metrics["compare"] = {r: summary[r] for r in rules}
    metrics["history"] = {r: results[r].history for r in rules}
    run.write_metrics(metrics)
    if not args.no_plots:
        from ..perturbation.plots import plot_learning_curves, plot_rates

        plot_learning_curves({r: results[r].history for r in rules},
                             run.file("learning_curve.png"))
        if args.task == "rates":
            plot_rates(task, results[args.rule].W, run.file("rates.png"), W0=W0)
    if not args.quiet:
        keys = ("initial_error", "final_error", "error_reduction", "test_accuracy", "trials",
                "wall_seconds")
        print(json.dumps({k: metrics[k] for k in keys}, indent=2))
    return 0
