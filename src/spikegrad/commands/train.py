"""``spikegrad train``: train a spiking classifier with any learning rule that fits it."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from ..functional.lif import RESET_MODES
    from ..functional.readout import READOUT_MODES
    from ..functional.surrogate import SURROGATES
    from ..learning.config import MODELS, OPTIMIZERS, TrainConfig
    from ..nn.network import INIT_MODES
    from ..tasks import task_names

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a spiking network with surrogate gradients",
        description="Train a spiking network on a task with a learning rule and write a run "
        "folder (config.json, metrics.json, history.csv, checkpoint.pt, last.pt, plots). "
        "Default: a current-based LIF network (Zenke & Vogels 2021, eq. 4.1) trained by "
        "surrogate-gradient BPTT on Randman. Any rule trains any model it supports "
        "(spikegrad rules).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("learning rule")
    g.add_argument(
        "--rule",
        default=d.rule,
        metavar="RULE",
        help="learning rule (spikegrad rules lists them and the models each trains): "
        "bptt, eprop, node, weight, ...",
    )
    g.add_argument(
        "--rule-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the rule, e.g. --rule-option trials=8 (repeatable)",
    )
    g.add_argument(
        "--optimizer", default=d.optimizer, choices=OPTIMIZERS, help="torch optimizer"
    )
    g.add_argument(
        "--model",
        default=d.model,
        choices=MODELS,
        help="model kind: lif (SpikingNetwork, the network options below), srm (SRM0 "
        "output neurons), coba (conductance-based network)",
    )
    g.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor setting of the model (srm/coba), e.g. --model-option "
        "learn_delays=true (repeatable)",
    )
    g = p.add_argument_group("data")
    g.add_argument(
        "--task",
        "--dataset",
        dest="dataset",
        default=d.dataset,
        choices=task_names(),
        help="task: randman (generated), digits (scikit-learn's 8x8 digits, latency "
        "coded), mnist / fashion-mnist (IDX files in --data-dir, latency coded), shd / ssc "
        "(HDF5 files in --data-dir), spoken-digits (espeak-ng digits encoded like SHD: the "
        "shipped subset, or --task-option path=DIR from spikegrad data spoken-digits), "
        "lag-order (which input group fired first), "
        "spike-target (SRM0 neuron learns a target spike train; --model srm)",
    )
    g.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of a generated task other than randman (lag-order, spike-target, "
        "spoken-digits: path, n_steps, duration, val_fraction), "
        "e.g. --task-option samples=400 (repeatable)",
    )
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the dataset files (mnist, fashion-mnist, shd, ssc)",
    )
    g.add_argument(
        "--data-limit",
        type=int,
        default=None,
        help="use at most this many samples per file (digits/mnist/shd; quick runs)",
    )
    g.add_argument("--shd-steps", type=int, default=100, help="SHD/SSC: number of time bins")
    g.add_argument(
        "--shd-duration",
        type=float,
        default=1.4,
        help="SHD/SSC: seconds binned (events after are dropped)",
    )
    g.add_argument("--classes", type=int, default=10, help="Randman: number of classes (>= 2)")
    g.add_argument("--units", type=int, default=20, help="Randman: input units")
    g.add_argument("--samples-per-class", type=int, default=1000, help="Randman: samples")
    g.add_argument("--manifold-dim", type=int, default=1, help="Randman: manifold dimension D")
    g.add_argument("--alpha", type=float, default=1.0, help="Randman: smoothness alpha")
    g.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="seed of the data (Randman generation; shuffle/split of the others)",
    )
    g.add_argument(
        "--spectrum",
        default="paper",
        choices=["paper", "torch"],
        help="Randman amplitude spectrum: k^-alpha (paper) or 1/((k+1)^alpha+1) "
        "(the randman reference code's torch backend)",
    )
    g = p.add_argument_group("network")
    g.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=list(d.hidden),
        help="hidden layer sizes (several values: several layers)",
    )
    g.add_argument(
        "--layers",
        type=int,
        default=None,
        help="number of hidden layers (repeats the first --hidden size)",
    )
    g.add_argument("--recurrent", action="store_true", help="recurrent hidden layers")
    g.add_argument(
        "--no-recurrent-grad",
        action="store_true",
        help="detach the recurrent term from the graph (the paper's Ctl condition)",
    )
    g.add_argument(
        "--surrogate",
        default=d.surrogate,
        choices=sorted(SURROGATES),
        help="surrogate derivative shape",
    )
    g.add_argument("--beta", type=float, default=d.beta, help="surrogate scale")
    g.add_argument("--reset", default=d.reset, choices=RESET_MODES, help="reset gradient mode")
    g.add_argument("--learn-tau", action="store_true", help="learn per-neuron time constants")
    g.add_argument("--tau-mem", type=float, default=d.tau_mem, help="membrane tau (s)")
    g.add_argument("--tau-syn", type=float, default=d.tau_syn, help="synaptic tau (s)")
    g.add_argument("--tau-out", type=float, default=d.tau_out, help="readout membrane tau (s)")
    g.add_argument("--dt", type=float, default=d.dt, help="time step (s)")
    g.add_argument(
        "--readout",
        default=d.readout,
        choices=READOUT_MODES,
        help="reduce the readout over time by",
    )
    g.add_argument("--init", default=d.init, choices=INIT_MODES, help="weight initialisation")
    g = p.add_argument_group("regularisation")
    g.add_argument("--lower-strength", type=float, default=d.lower_strength)
    g.add_argument("--lower-threshold", type=float, default=d.lower_threshold)
    g.add_argument("--upper-strength", type=float, default=d.upper_strength)
    g.add_argument("--upper-threshold", type=float, default=d.upper_threshold)
    g.add_argument("--upper-norm", type=int, default=d.upper_norm, choices=[1, 2])
    g = p.add_argument_group("optimisation")
    g.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="early stop after this many epochs without validation gain (0: off)",
    )
    g.add_argument("--seed", type=int, default=d.seed, help="seed of weights and batch order")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=d.checkpoint_every,
        help="write RUN_DIR/last.pt every this many steps (and at each epoch end)",
    )
    g = p.add_argument_group("output")
    g.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="continue a stopped run from RUN_DIR/last.pt with its own config.json; "
        "only --epochs (to train a finished run longer), --threads, --quiet and --no-plots "
        "may be given with it",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (without it, a folder holding a run is refused)",
    )
    g.add_argument(
        "--out", type=Path, default=None, help="run folder (default: runs/<dataset>-<timestamp>)"
    )
    g.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--energy-cost",
        action="append",
        default=[],
        metavar="KEY=PJ",
        help="per-operation cost of the energy estimate in pJ: add_pj, mult_pj, memory_pj "
        "(32-bit word), or source=TEXT (repeatable; default Horowitz 2014, 45 nm: 0.9, 3.7, 5)",
    )
    p.set_defaults(func=_cmd_train)


def _energy_costs(args: argparse.Namespace):
    from ..experiments.config import parse_assignments
    from ..nn.energy import make_costs

    if not args.energy_cost:
        return None
    return make_costs(parse_assignments(args.energy_cost, False, "--energy-cost"))


def _train_in(out: Path, config, args: argparse.Namespace, energy_costs, *, resume: bool):
    """Run ``train`` into ``out`` (data-parallel when launched by torchrun; an interrupt
    prints how to resume)."""
    from ..learning.config import train

    with _distributed(), _resume_hint(out):
        return train(
            config,
            out_dir=out,
            progress=not args.quiet,
            plots=not args.no_plots,
            resume=resume,
            energy_costs=energy_costs,
        )


def _cmd_train(args: argparse.Namespace) -> int:

    from ..experiments.config import parse_assignments
    from ..learning.config import TrainConfig
    from ..tasks import TASKS

    if args.threads is not None:
        if args.threads < 1:
            raise SpikegradInputError(f"--threads must be an integer >= 1, got {args.threads}")
        from ..kernels import set_num_threads

        set_num_threads(args.threads)
    if args.resume is not None:
        return _resume(args)
    if args.dataset == "randman" and args.classes < 2:
        raise SpikegradInputError(f"--classes must be an integer >= 2, got {args.classes}")
    hidden = list(args.hidden)
    if args.layers is not None:
        if args.layers < 1:
            raise SpikegradInputError(f"--layers must be >= 1, got {args.layers}")
        hidden = [hidden[0]] * args.layers
    ds_opts = {}
    if args.dataset == "randman":
        ds_opts = {
            "n_classes": args.classes,
            "n_units": args.units,
            "samples_per_class": args.samples_per_class,
            "dim": args.manifold_dim,
            "alpha": args.alpha,
            "seed": args.data_seed,
            "spectrum": args.spectrum,
        }
    elif args.dataset == "digits":
        ds_opts = {"seed": args.data_seed}
    elif args.dataset in TASKS:
        ds_opts = {"seed": args.data_seed}
    elif args.dataset == "spoken-digits":
        ds_opts = {"seed": args.data_seed}
        if args.data_dir is not None:
            ds_opts["path"] = str(args.data_dir)
    else:
        if args.data_dir is None:
            raise SpikegradInputError(f"--dataset {args.dataset} needs --data-dir FOLDER")
        ds_opts = {"data_dir": str(args.data_dir), "seed": args.data_seed}
        if args.dataset in ("shd", "ssc"):
            ds_opts.update(n_steps=args.shd_steps, duration=args.shd_duration)
    if args.data_limit is not None and args.dataset not in ("randman", *TASKS):
        ds_opts["limit"] = args.data_limit
    if args.task_option:
        if args.dataset not in (*TASKS, "spoken-digits"):
            raise SpikegradInputError(
                f"--task-option is for the tasks {', '.join(sorted(TASKS))}; --task "
                f"{args.dataset} has its own flags"
            )
        ds_opts.update(parse_assignments(args.task_option, False, "--task-option"))
    model_options = parse_assignments(args.model_option, False, "--model-option")
    rule_options = parse_assignments(args.rule_option, False, "--rule-option")
    config = TrainConfig(
        rule=args.rule,
        rule_options=rule_options,
        optimizer=args.optimizer,
        model=args.model,
        model_options=model_options,
        dataset=args.dataset,
        dataset_options=ds_opts,
        hidden=tuple(hidden),
        recurrent=args.recurrent,
        surrogate=args.surrogate,
        beta=args.beta,
        reset=args.reset,
        recurrent_grad=not args.no_recurrent_grad,
        learn_tau=args.learn_tau,
        tau_mem=args.tau_mem,
        tau_syn=args.tau_syn,
        tau_out=args.tau_out,
        dt=args.dt,
        readout=args.readout,
        init=args.init,
        lr=args.lr,
        batch_size=args.batch_size,
        epochs=args.epochs,
        seed=args.seed,
        lower_strength=args.lower_strength,
        lower_threshold=args.lower_threshold,
        upper_strength=args.upper_strength,
        upper_threshold=args.upper_threshold,
        upper_norm=args.upper_norm,
        patience=args.patience,
        checkpoint_every=args.checkpoint_every,
    )
    if args.out is not None:
        out = args.out
    else:
        out = Path("runs") / f"{args.dataset}-{datetime.now():%Y%m%d-%H%M%S}"
    energy_costs = _energy_costs(args)  # checked before the folder is claimed or made
    _claim_folder(out, args.overwrite)
    if int(os.environ.get("RANK", "0")) == 0:
        from ..io.run import RunFolder

        RunFolder(out)  # an unwritable --out fails now, before the data are loaded
    res = _train_in(out, config, args, energy_costs, resume=False)
    return _report(res, out, args)


#: files whose presence means a folder already holds a run
_RUN_FILES = ("metrics.json", "last.pt", "checkpoint.pt", "config.json", "history.csv")


def _claim_folder(out: Path, overwrite: bool) -> None:
    """Refuse a folder holding a run unless ``--overwrite``; then clear its run files."""
    held = [n for n in _RUN_FILES if (out / n).is_file()] if out.is_dir() else []
    if not held:
        return
    if not overwrite:
        state = "a finished run" if "metrics.json" in held else "an unfinished run"
        raise SpikegradInputError(
            f"--out {str(out)!r} already holds {state} ({', '.join(held)}); continue it with "
            f"--resume {out}, choose another --out, or pass --overwrite to replace it"
        )
    for n in (*_RUN_FILES, "data.json"):
        if (out / n).is_file():
            (out / n).unlink()


class _resume_hint:
    """On Ctrl-C (KeyboardInterrupt), say how to resume instead of printing a traceback."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            import os
            import sys

            if int(os.environ.get("RANK", "0")) == 0:
                last = Path(self.out) / "last.pt"
                where = "its last checkpoint" if last.is_file() else "the start"
                print(
                    f"\nspikegrad train: interrupted; the run folder {str(self.out)!r} keeps "
                    f"everything up to {where}. Resume with: spikegrad train --resume "
                    f"{self.out}",
                    file=sys.stderr,
                )
            raise SystemExit(130)
        return False


#: options that may accompany --resume (the rest of the run comes from its config.json)
_WITH_RESUME = {"--resume", "--epochs", "--threads", "--quiet", "--no-plots"}


def _resume(args: argparse.Namespace) -> int:
    import json
    import os

    from ..learning.config import TrainConfig
    from . import given_options

    given = given_options()
    extra = sorted(o for o in given if o not in _WITH_RESUME and not o.startswith("--resume="))
    if extra:
        raise SpikegradInputError(
            f"--resume continues the run with its own config.json, so {', '.join(extra)} "
            "cannot be changed; with --resume only --epochs, --threads, --quiet and "
            "--no-plots are allowed (start a new run with --out to change settings)"
        )
    run = args.resume
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise SpikegradInputError(f"cannot resume: {str(cfg_path)!r} does not exist")
    try:
        cfg = json.loads(cfg_path.read_text())
        if "--epochs" in given:
            cfg = {**cfg, "epochs": args.epochs}
        config = TrainConfig.from_dict(cfg)
    except (json.JSONDecodeError, TypeError) as exc:
        raise SpikegradInputError(f"cannot resume: {str(cfg_path)!r} is malformed: {exc}") from exc
    res = _train_in(run, config, args, _energy_costs(args), resume=True)
    if res.already_finished and int(os.environ.get("RANK", "0")) == 0:
        done = res.metrics.get("epochs")
        how = (
            f"stopped early (patience {config.patience})"
            if isinstance(done, int) and done < config.epochs
            else "pass --epochs N to train it longer"
        )
        print(
            f"the run in {str(run)!r} has already finished ({done} epochs); nothing to do "
            f"({how})"
        )
    return _report(res, run, args)


class _distributed:
    """Initialise ``torch.distributed`` when launched by torchrun (WORLD_SIZE > 1).

    gloo on CPU, NCCL when CUDA is available; the process group is destroyed on exit.
    """

    def __enter__(self):
        import os

        import torch.distributed as dist

        self.active = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized()
        if self.active:
            import torch

            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return self

    def __exit__(self, *exc):
        if self.active:
            import torch.distributed as dist

            dist.destroy_process_group()
        return False


def _report(res, out: Path, args: argparse.Namespace) -> int:
    import os

    if int(os.environ.get("RANK", "0")) != 0:  # data-parallel: rank 0 reports
        return 0
    from ..nn.energy import summary_line

    m = res.metrics
    score = m.get("score", "accuracy")
    plots = [p.name for p in sorted(Path(out).glob("*.png"))]
    print(
        f"test {score} {m['test_accuracy']:.4f}  (validation {m['val_accuracy']:.4f}, "
        f"train {m['train_accuracy']:.4f}; best epoch {m['best_epoch']} of {m['epochs']}; "
        f"rule {m.get('rule', 'bptt')})\n"
        f"activity {m['spikes_per_neuron']:.3f} spikes/neuron/sample; "
        f"{m['wall_seconds']:.1f} s\n"
        + (summary_line(m["synops"]) + "\n" if "synops" in m else "")
        + f"run folder: {out}  (config.json, metrics.json, history.csv, checkpoint.pt, last.pt"
        + "".join(f", {p}" for p in plots)
        + ")"
    )
    return 0
