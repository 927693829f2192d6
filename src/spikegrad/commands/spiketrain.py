"""``spikegrad spiketrain``: the paper experiments of precise spike-time learning.

A shortcut built from the library's parts: a spike-target task
(:class:`~spikegrad.tasks.SpikeTargetTask`), an SRM0 model (:class:`~spikegrad.nn.SRMLayer`,
:class:`~spikegrad.nn.SRMNetwork`) or a LIF network for BPTT, a rule
(``kernel`` = :class:`~spikegrad.learning.rules.kernel.KernelRule`, ``resume``,
``bptt``), a torch optimizer (SGD for the kernel rules, whose ``p.grad`` is
:math:`\\partial E/\\partial w`; Adam for BPTT) and the one trainer,
:func:`spikegrad.learning.trainer.fit`. Tasks: ``single`` (one neuron, N Poisson inputs, a
target train), ``multi`` (input -> hidden -> output SRM0, multilayer kernel rule),
``classify`` (jittered spike patterns, one target train per class, nearest-target
decision). ``--delays`` learns synaptic delays too.

The run folder (:class:`~spikegrad.io.run.RunFolder`): config.json, metrics.json
(``correlation``, ``distance``, ``epochs``, ``epochs_to_0.95``, ``test_accuracy`` for
``classify``), history.csv (epoch 0 = before learning), checkpoint.pt (best-validation
weights), last.pt, and the plots input_raster.png, outputs_by_epoch.png,
learning_curves.png.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError, check_size

TASKS = ("single", "multi", "classify")
RULES = ("kernel", "resume", "bptt")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``spiketrain`` sub-command."""
    from ._flags import HelpFormatter

    p = sub.add_parser(
        "spiketrain",
        help="precise spike-time learning with spike-train kernel rules (weights and delays)",
        description="Train SRM0 neurons to emit target spike trains with the kernel rules of "
        "Lin et al. (spikegrad's reading), optionally with learnable synaptic delays; "
        "ReSuMe and surrogate-gradient BPTT for comparison. Writes a run folder: "
        "config.json, metrics.json (correlation, epochs, epochs_to_0.95, test_accuracy), "
        "history.csv, checkpoint.pt and plots.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--task", choices=TASKS, default="single", help="learning task")
    p.add_argument("--rule", choices=RULES, default="kernel", help="learning rule")
    p.add_argument("--delays", action="store_true", help="also learn synaptic delays")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs (default per task: single 100, multi 150, classify 30)",
    )
    p.add_argument(
        "--batch-size", type=int, default=1, help="patterns per update (1: online, the papers')"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="S", help="seed of data and initial weights"
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--inputs", type=int, default=None, help="input trains (default 400; classify 100)"
    )
    g.add_argument("--rate", type=float, default=10.0, help="input Poisson rate (Hz)")
    g.add_argument(
        "--duration", type=float, default=None, help="trial length (s) (default 1.0; classify 0.5)"
    )
    g.add_argument(
        "--target-spikes", type=int, default=None, help="spikes per target (default 5; classify 3)"
    )
    g.add_argument("--classes", type=int, default=3, help="classify: number of classes")
    g.add_argument("--train-per-class", type=int, default=10, help="classify: train samples")
    g.add_argument("--test-per-class", type=int, default=20, help="classify: test samples")
    g.add_argument("--jitter", type=float, default=3e-3, help="classify: spike jitter sd (s)")
    g = p.add_argument_group("neuron and rule")
    g.add_argument("--tau", type=float, default=7e-3, help="SRM0 PSP time constant (s)")
    g.add_argument("--tau-r", type=float, default=10e-3, help="refractory time constant (s)")
    g.add_argument("--dt", type=float, default=1e-3, help="simulation grid step (s)")
    g.add_argument(
        "--kernel",
        choices=["gaussian", "laplacian"],
        default="gaussian",
        help="filter kernel of the spike trains",
    )
    g.add_argument("--width", type=float, default=5e-3, help="kernel sigma / tau (s)")
    g.add_argument(
        "--lr", type=float, default=None, help="weight learning rate (default 3e-3; bptt 5e-3)"
    )
    g.add_argument(
        "--lr-delay",
        type=float,
        default=None,
        help="delay learning rate (s per unit gradient; default 1e-3, classify 1e-4, bptt 0.5 dt)",
    )
    g.add_argument("--max-delay", type=float, default=20e-3, help="largest delay (s)")
    g.add_argument(
        "--init-scale",
        type=float,
        default=None,
        help="initial weights U(0, scale) (default 0.02; classify 0.08; bptt 0.06)",
    )
    g.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[100],
        metavar="N",
        help="multi: hidden SRM0 neurons (one layer)",
    )
    g.add_argument(
        "--lr-hidden",
        type=float,
        default=None,
        help="multi: hidden-layer learning rate (default 1e-3)",
    )
    g.add_argument("--corr-sigma", type=float, default=2e-3, help="filter width of C (s)")
    g = p.add_argument_group("output")
    g.add_argument("--out", type=Path, default=None, help="run folder")
    g.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    g.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (these tasks are small)"
    )
    g.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=_cmd_spiketrain)


def _defaults(args: argparse.Namespace) -> dict:
    """Task-specific defaults (measured; see docs/spiketrain.md)."""
    cls = args.task == "classify"
    d = {
        "inputs": 100 if cls else 400,
        "duration": 0.5 if cls else 1.0,
        "target_spikes": 3 if cls else 5,
        "epochs": {"single": 100, "multi": 150, "classify": 30}[args.task],
        "lr": 3e-3,
        "lr_delay": 1e-4 if cls else 1e-3,  # many patterns, online updates: smaller steps
        "lr_hidden": 1e-3,
        "init_scale": 0.08 if cls else 0.02,
    }
    if args.rule == "bptt":  # Adam; the delay step 0.5 steps of dt
        d.update(lr=5e-3, lr_delay=0.5 * args.dt, init_scale=0.06)
    for k in d:
        if getattr(args, k) is not None:
            d[k] = getattr(args, k)
    return d


def _check(args: argparse.Namespace, d: dict) -> None:
    if args.rule == "bptt" and args.task != "single":
        raise SpikegradInputError("--rule bptt is available for --task single only")
    if args.rule == "resume" and (args.delays or args.task == "multi"):
        raise SpikegradInputError(
            "--rule resume trains one SRM0 layer and has no delay rule: use it with --task "
            "single or classify, without --delays (--rule kernel learns delays)"
        )
    import math

    from ._flags import given_flag

    if args.task != "classify":  # the classify task's flags: never silently ignored
        other = given_flag("--classes", "--train-per-class", "--test-per-class", "--jitter")
        if other:
            raise SpikegradInputError(f"{other} is a setting of --task classify; --task is "
                                      f"{args.task}")  # fmt: skip
    for flag, key in (("--lr", "lr"), ("--lr-delay", "lr_delay"), ("--lr-hidden", "lr_hidden")):
        v = d[key]
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise SpikegradInputError(f"{flag} must be a finite number >= 0, got {v}")
    if not (math.isfinite(args.jitter) and args.jitter >= 0):
        raise SpikegradInputError(f"--jitter must be a finite number of seconds >= 0, got "
                                  f"{args.jitter}")  # fmt: skip
    for flag, v, low in (
        ("--classes", args.classes, 2),
        ("--train-per-class", args.train_per_class, 1),
        ("--test-per-class", args.test_per_class, 1),
    ):
        if v < low:
            raise SpikegradInputError(f"{flag} must be an integer >= {low}, got {v}")
    check_size("--epochs", d["epochs"], 1)
    check_size("--inputs", d["inputs"], 1)
    check_size("--batch-size", args.batch_size, 1)
    check_size("--seed", args.seed, 0)
    check_size("--threads", args.threads, 1)
    from ._flags import one_layer

    args.hidden = one_layer(args.hidden, "the multi task's network")
    check_size("--hidden", args.hidden, 1)
    from .._checks import check_memory
    from .train import MAX_EPOCHS

    if d["epochs"] > MAX_EPOCHS:
        raise SpikegradInputError(f"--epochs must be at most {MAX_EPOCHS}, got {d['epochs']}")
    dt, duration, rate, tau = args.dt, d["duration"], args.rate, args.tau
    finite = all(isinstance(v, (int, float)) and 0 < v < float("inf")
                 for v in (dt, duration, tau)) and 0 <= rate < float("inf")  # fmt: skip
    if finite:  # the ranges themselves are checked with their own messages below
        steps = duration / dt
        # float64 grids [T, batch, units] of the network's states (about 4 per unit), the
        # input spike times (rate x duration per input) and the PSP kernel (~16 tau / dt)
        units = d["inputs"] + int(args.hidden) + 1
        need = (32.0 * steps * args.batch_size * units
                + 16.0 * args.batch_size * d["inputs"] * max(1.0, rate * duration)
                + 128.0 * tau / dt)  # fmt: skip
        check_memory("--inputs / --rate / --duration / --tau / --dt", need,
                     f"{steps:.3g} steps of {dt:g} s, {d['inputs']} inputs at {rate:g} Hz, "
                     f"tau {tau:g} s")  # fmt: skip


def _cmd_spiketrain(args: argparse.Namespace) -> int:
    import torch

    from ..io.run import RunFolder, lock_run_folder
    from ..learning.rules import make_rule
    from ..learning.trainer import EpochStats, evaluate, fit
    from ..nn.delay import clamp_after_step

    d = _defaults(args)
    _check(args, d)
    torch.set_num_threads(args.threads)
    out_dir = args.out
    if out_dir is None:
        out_dir = Path("runs") / f"spiketrain-{args.task}-{datetime.now():%Y%m%d-%H%M%S}"
    lock_run_folder(out_dir, "spiketrain")
    run = RunFolder(out_dir)
    t_start = time.time()
    gen = torch.Generator().manual_seed(args.seed)
    task, plot_inputs = _make_task(args, d, gen)
    model, groups = _make_model(args, d, gen)
    if args.rule == "bptt":
        rule = make_rule("bptt")
        opt = torch.optim.Adam(groups)
    else:
        opts = {"kernel": args.kernel, "width": args.width} if args.rule == "kernel" else {}
        rule = make_rule(args.rule, **opts)
        opt = torch.optim.SGD(groups)
    clamp_after_step(opt, model)
    config = {
        "command": "spiketrain",
        **{
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"
        },  # fmt: skip
        **d,
        "rule_options": rule.to_dict(),
        "task_options": task.to_dict(),
    }

    first = next(task.batches("val", 1, dtype=next(model.parameters()).dtype))[0]

    def first_output() -> list[float]:
        with torch.no_grad():
            return task.actual(model(first)).lists()[0][0]

    def row(stats: EpochStats) -> tuple[int, float, float, float]:
        return (stats.epoch, stats.val_accuracy, stats.val_loss, stats.spikes_per_neuron)

    model.eval()
    start = evaluate(model, task, "val")
    stats0 = EpochStats(0, math.nan, math.nan, start["loss"], start["correlation"],
                        start["spikes_per_neuron"], 0.0)  # fmt: skip
    outputs = [first_output()]  # the first validation pattern's response, per epoch

    def say(stats: EpochStats) -> None:
        if not args.quiet:
            e, c, dist, spk = row(stats)
            print(f"epoch {e:4d}  C {c:.4f}  van Rossum {dist:.4f}  spikes {spk:.2f}")

    def after_epoch(stats: EpochStats) -> None:
        outputs.append(first_output())
        say(stats)

    say(stats0)
    res = fit(model, rule, task, opt, epochs=d["epochs"], batch_size=args.batch_size,
              seed=args.seed, out_dir=run, config=config, progress=False, plots=False,
              callback=after_epoch)  # fmt: skip
    history = [stats0, *res.history]
    run.write_history(
        history, rename={"train_accuracy": "train_correlation", "val_accuracy": "val_correlation"}
    )
    reached = [h.epoch for h in history if h.val_accuracy >= 0.95]
    metrics = dict(res.metrics)
    metrics.update(
        task=args.task,
        rule=args.rule,
        delays=bool(args.delays),
        seed=args.seed,
        inputs=d["inputs"],
        rate_hz=args.rate,
        duration_s=d["duration"],
        corr_sigma_s=args.corr_sigma,
        kernel=args.kernel,
        kernel_width_s=args.width,
        lr=d["lr"],
        lr_delay=d["lr_delay"] if args.delays else None,
        max_delay_s=args.max_delay if args.delays else None,
        correlation=res.metrics["val_correlation"],
        distance=res.metrics["val_loss"],
        initial_correlation=start["correlation"],
        **{"epochs_to_0.95": reached[0] if reached else None},
        test_accuracy=None,
        train_accuracy=None,
        val_accuracy=None,
    )
    if args.task == "classify":
        metrics["train_accuracy"] = task.accuracy(model, "train")
        metrics["test_accuracy"] = task.accuracy(model, "test")
        metrics.update(classes=args.classes, train_per_class=args.train_per_class,
                       test_per_class=args.test_per_class, jitter_s=args.jitter)  # fmt: skip
    if args.task == "multi":
        metrics["hidden"] = args.hidden
    delays = [p for n, p in model.named_parameters() if n.endswith("delays")]
    if delays:
        metrics["mean_delay_s"] = float(torch.cat([p.detach().reshape(-1) for p in delays]).mean())
    metrics["wall_seconds"] = round(time.time() - t_start, 2)
    run.write_metrics(metrics)
    if not args.no_plots:
        from ..spiketrain.plots import plot_input_raster, plot_learning, plot_outputs_by_epoch

        target = task.patterns("val").desired.lists()[0][0]
        plot_input_raster(plot_inputs, run.file("input_raster.png"), duration=d["duration"])
        plot_outputs_by_epoch(outputs, target, run.file("outputs_by_epoch.png"), d["duration"])
        plot_learning([row(h) for h in history], run.file("learning_curves.png"))
    acc = metrics["test_accuracy"]
    print(
        f"C {metrics['correlation']:.4f} (best of {metrics['epochs']} epochs, epoch "
        f"{metrics['best_epoch']}); epochs to C >= 0.95: {metrics['epochs_to_0.95']}"
        + (f"; test accuracy {acc:.4f}" if acc is not None else "")
        + f"; {metrics['wall_seconds']:.1f} s\nrun folder: {run.path}"
    )
    return 0


def _make_task(args: argparse.Namespace, d: dict, gen):
    """The task of ``--task`` (generated from ``gen``) and the input trains to plot."""
    import torch

    from ..functional.spiketrains import SpikeTrains
    from ..tasks.spike_targets import (
        SpikePatterns,
        SpikeTargetTask,
        pattern_classes_task,
        single_target_task,
    )

    kw = dict(
        duration=d["duration"],
        dt=args.dt,
        corr_sigma=args.corr_sigma,
        view="binned" if args.rule == "bptt" else "trains",
        name=args.task,
    )
    f64 = torch.float64
    if args.task in ("single", "multi"):
        inputs, target = single_target_task(
            d["inputs"], args.rate, d["duration"], d["target_spikes"], generator=gen, dtype=f64
        )
        return SpikeTargetTask(SpikePatterns(inputs, target), **kw), inputs
    pt = pattern_classes_task(
        args.classes,
        d["inputs"],
        args.rate,
        d["duration"],
        train_per_class=args.train_per_class,
        test_per_class=args.test_per_class,
        jitter=args.jitter,
        target_spikes=d["target_spikes"],
        generator=gen,
        dtype=f64,
    )

    def split(pats: SpikeTrains, labels: torch.Tensor) -> SpikePatterns:
        des = pt.targets.select(labels)  # [P, K]: each pattern's class target
        des = SpikeTrains(des.times.unsqueeze(1), des.mask.unsqueeze(1))  # [P, 1, K]
        return SpikePatterns(pats, des, labels)

    task = SpikeTargetTask(
        split(pt.train, pt.train_labels),
        None,  # validation = the training patterns (the papers' protocol has no val split)
        split(pt.test, pt.test_labels),
        shuffle=False,  # online, patterns in their order (as the papers present them)
        classes=pt.targets,
        **kw,
    )
    return task, SpikeTrains(pt.templates.times[0], pt.templates.mask[0])


def _make_model(args: argparse.Namespace, d: dict, gen):
    """The model of ``--task``/``--rule`` and its optimizer parameter groups."""
    import torch

    from ..nn import DelayedLinear, LIFLayer, SpikingNetwork, SRMLayer, SRMNetwork

    n_in = d["inputs"]
    srm = dict(tau=args.tau, tau_r=args.tau_r, dt=args.dt, duration=d["duration"])
    f64 = torch.float64
    if args.rule == "bptt":
        w0 = torch.rand(1, n_in, generator=gen) * d["init_scale"]
        net = SpikingNetwork(n_in, 1, (1,), dt=args.dt, seed=args.seed)
        if args.delays:
            proj = DelayedLinear(n_in, 1, args.max_delay, dt=args.dt, init="zero")
            net.layers[0] = LIFLayer(n_in, 1, dt=args.dt, projection=proj)
        with torch.no_grad():
            net.layers[0].weight.copy_(w0)
        groups = [{"params": [net.layers[0].weight], "lr": d["lr"]}]
        if args.delays:
            groups.append({"params": [net.layers[0].projection.delays], "lr": d["lr_delay"]})
        return net, groups
    if args.task == "multi":
        # hidden weights N(mu, (3 mu)^2) with mu = 0.9 / (N rate tau e) (the PSP has area
        # tau e): mean free membrane 0.9, and heterogeneous enough that the hidden
        # neurons do not all fire together (U(0, 2 mu) makes them fire in synchrony and
        # the output layer cannot learn; measured, see docs/spiketrain.md)
        H = args.hidden
        mu = 0.9 / (n_in * args.rate * args.tau * math.e)
        wh = mu + 3.0 * mu * torch.randn(H, n_in, generator=gen, dtype=f64)
        wo = torch.rand(1, H, generator=gen, dtype=f64) * 0.02
        hid = SRMLayer(n_in, H, weight=wh, learn_delays=args.delays, max_delay=args.max_delay,
                       **srm)  # fmt: skip
        top = SRMLayer(H, 1, weight=wo, **srm)
        groups = [
            {"params": [top.weight], "lr": d["lr"]},
            {"params": [hid.weight], "lr": d["lr_hidden"]},
        ]
        if args.delays:
            groups.append({"params": [hid.delays], "lr": d["lr_delay"]})
        return SRMNetwork([hid, top]), groups
    layer = SRMLayer(n_in, 1, init_scale=d["init_scale"], generator=gen,
                     learn_delays=args.delays, max_delay=args.max_delay, **srm)  # fmt: skip
    groups = [{"params": [layer.weight], "lr": d["lr"]}]
    if args.delays:
        groups.append({"params": [layer.delays], "lr": d["lr_delay"]})
    return layer, groups
