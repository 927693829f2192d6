"""``spikegrad train``: train a spiking classifier with any learning rule that fits it."""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from .._checks import SpikegradInputError

#: TrainConfig fields set by a flag of the same dest (their default: the task recipe's
#: value, else TrainConfig's)
_CONFIG_FLAGS = (
    "rule", "optimizer", "model", "hidden", "recurrent", "surrogate", "beta", "reset",
    "learn_tau", "tau_mem", "tau_syn", "tau_out", "dt", "readout", "init",
    "lower_strength", "lower_threshold", "upper_strength", "upper_threshold", "upper_norm",
    "lr", "batch_size", "epochs", "patience", "seed", "checkpoint_every",
)

#: Randman flags -> the data set option each sets (defaults: the paper's setting)
_RANDMAN_FLAGS = {
    "classes": ("n_classes", 10),
    "units": ("n_units", 20),
    "samples_per_class": ("samples_per_class", 1000),
    "manifold_dim": ("dim", 1),
    "alpha": ("alpha", 1.0),
    "spectrum": ("spectrum", "paper"),
}


def _default(value: object) -> str:
    text = " ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    return f"default: {text}, or the task recipe's (spikegrad tasks)"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    from ..functional.alif import ALIF_RESET_MODES
    from ..functional.readout import READOUT_MODES
    from ..functional.surrogate import SURROGATES
    from ..learning.config import MODELS, OPTIMIZERS, TrainConfig
    from ..nn.network import INIT_MODES
    from ..tasks import task_names
    from ._flags import HelpFormatter, add_alias

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a spiking network with any model and learning rule",
        description="Train a spiking network on a task with a learning rule and write a run "
        "folder (config.json, metrics.json, history.csv, checkpoint.pt, last.pt, plots). "
        "Default: a current-based LIF network (Zenke & Vogels 2021, eq. 4.1) trained by "
        "surrogate-gradient BPTT on Randman. Every task carries a recipe (spikegrad tasks): "
        "the model and settings measured to work on it, used for every option not given; "
        "an explicit option always wins. Any rule trains any model it supports "
        "(spikegrad rules).",
        formatter_class=HelpFormatter,
    )
    g = p.add_argument_group("learning rule")
    g.add_argument(
        "--rule",
        default=None,
        metavar="RULE",
        help="learning rule (spikegrad rules lists them and the models each trains): "
        f"{', '.join(_rule_names())} ({_default(d.rule)})",
    )
    g.add_argument(
        "--rule-option",
        action="append",
        default=[],
        metavar="[RULE.]KEY=VALUE",
        help="a setting of the rule, e.g. --rule-option trials=8 or node.trials=8 "
        "(repeatable)",
    )
    g.add_argument(
        "--optimizer", default=None, choices=OPTIMIZERS,
        help=f"torch optimizer ({_default(d.optimizer)})",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        default=None,
        choices=MODELS,
        help="model: lif (current-based LIF network), alif (adaptive threshold, LSNN), "
        "izhikevich (Izhikevich layers), conv (conv / pooling stages, a LIF layer), coba "
        "(conductance-based network), srm (SRM0 output neurons); spikegrad models lists "
        "them (default: the task recipe's model, else lif)",
    )
    g.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the model, checked against its schema (docs/cli.md lists every "
        "model's options), e.g. --model-option preset=chattering (repeatable)",
    )
    g.add_argument("--firing-threshold", type=float, default=None,
                   help="firing threshold of the hidden neurons (lif, alif, conv; default 1)")
    g.add_argument("--learn-threshold", action="store_true", default=None,
                   help="learn the threshold per neuron (lif, alif, conv)")
    g.add_argument("--refractory", type=float, default=None,
                   help="absolute refractory period in seconds (lif, alif, conv; default 0)")
    g.add_argument("--tau-adapt", type=float, default=None,
                   help="adaptation time constant in seconds (alif; default 0.1)")
    g.add_argument("--adapt", type=float, default=None,
                   help="threshold increase per unit of adaptation (alif; default 0.2)")
    g.add_argument("--learn-adapt", action="store_true", default=None,
                   help="learn the adaptation strength per neuron (alif)")
    g = p.add_argument_group("data")
    g.add_argument(
        "--task",
        dest="task",
        default=d.dataset,
        choices=task_names(),
        help="task: randman (generated), digits (scikit-learn's 8x8 digits, latency "
        "coded), mnist / fashion-mnist (IDX files in --data-dir, latency coded), shd / ssc "
        "(HDF5 files in --data-dir), spoken-digits (espeak-ng digits encoded like SHD: the "
        "shipped subset, or --data-dir DIR from spikegrad data spoken-digits), "
        "lag-order (which input group fired first), moving-shapes (event-camera frames; "
        "model conv), spike-target (SRM0 neuron learns a target spike train; model srm) "
        f"(default: {d.dataset})",
    )
    add_alias(g, "--dataset", "task", choices=task_names())
    g.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting of the task's data, e.g. --task-option samples=400 or, for "
        "randman, n_classes=4 (repeatable)",
    )
    g.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with the task's files (mnist, fashion-mnist, shd, ssc; spoken-digits: "
        "a set made by spikegrad data spoken-digits)",
    )
    g.add_argument(
        "--data-limit",
        type=int,
        default=None,
        help="use at most this many samples per file (digits/mnist/shd; quick runs; "
        "default: all)",
    )
    g.add_argument("--shd-steps", type=int, default=100,
                   help="SHD/SSC: number of time bins (default: 100)")
    g.add_argument("--shd-duration", type=float, default=1.4,
                   help="SHD/SSC: seconds binned, events after are dropped (default: 1.4)")
    g.add_argument("--classes", type=int, default=None,
                   help="Randman: number of classes, >= 2 (default: 10)")
    g.add_argument("--units", type=int, default=None, help="Randman: input units (default: 20)")
    g.add_argument("--samples-per-class", type=int, default=None,
                   help="Randman: samples per class (default: 1000)")
    g.add_argument("--manifold-dim", type=int, default=None,
                   help="Randman: manifold dimension D (default: 1)")
    g.add_argument("--alpha", type=float, default=None,
                   help="Randman: smoothness alpha (default: 1)")
    g.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="seed of the data (Randman generation; shuffle/split of the others; default: 0)",
    )
    g.add_argument(
        "--spectrum",
        default=None,
        choices=["paper", "torch"],
        help="Randman amplitude spectrum: k^-alpha (paper) or 1/((k+1)^alpha+1) "
        "(the randman reference code's torch backend; default: paper)",
    )
    g = p.add_argument_group("network")
    g.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        help=f"hidden layer sizes, several values: several layers ({_default(d.hidden)})",
    )
    g.add_argument(
        "--layers",
        type=int,
        default=None,
        help="number of hidden layers (repeats the first --hidden size; default: as many as "
        "--hidden values)",
    )
    g.add_argument("--recurrent", action="store_true", default=None,
                   help="recurrent hidden layers (lif, alif)")
    g.add_argument(
        "--no-recurrent-grad",
        action="store_true",
        help="detach the recurrent term from the graph (the paper's Ctl condition)",
    )
    g.add_argument(
        "--surrogate",
        default=None,
        choices=sorted(SURROGATES),
        help=f"surrogate derivative shape ({_default(d.surrogate)})",
    )
    g.add_argument("--beta", type=float, default=None,
                   help=f"surrogate scale ({_default(d.beta)})")
    g.add_argument("--reset", default=None, choices=ALIF_RESET_MODES,
                   help="reset: detach (to zero, no gradient through it), differentiable, "
                   f"subtract (subtract the threshold; lif, alif, conv) ({_default(d.reset)})")
    g.add_argument("--learn-tau", action="store_true", default=None,
                   help="learn per-neuron time constants")
    g.add_argument("--tau-mem", type=float, default=None,
                   help=f"membrane time constant in seconds ({_default(d.tau_mem)})")
    g.add_argument("--tau-syn", type=float, default=None,
                   help=f"synaptic time constant in seconds ({_default(d.tau_syn)})")
    g.add_argument("--tau-out", type=float, default=None,
                   help=f"readout membrane time constant in seconds ({_default(d.tau_out)})")
    g.add_argument("--dt", type=float, default=None,
                   help=f"time step in seconds ({_default(d.dt)})")
    g.add_argument(
        "--readout",
        default=None,
        choices=READOUT_MODES,
        help=f"reduce the readout over time by ({_default(d.readout)})",
    )
    g.add_argument("--init", default=None, choices=INIT_MODES,
                   help=f"weight initialisation ({_default(d.init)})")
    g = p.add_argument_group("regularisation (activity bounds, Zenke & Vogels 2021)")
    g.add_argument("--lower-strength", type=float, default=None,
                   help=f"strength of the lower activity bound ({_default(d.lower_strength)})")
    g.add_argument("--lower-threshold", type=float, default=None,
                   help="spikes per neuron below which the lower bound acts "
                   f"({_default(d.lower_threshold)})")
    g.add_argument("--upper-strength", type=float, default=None,
                   help="strength of the upper activity bound, 0: off "
                   f"({_default(d.upper_strength)})")
    g.add_argument("--upper-threshold", type=float, default=None,
                   help="spikes per neuron above which the upper bound acts "
                   f"({_default(d.upper_threshold)})")
    g.add_argument("--upper-norm", type=int, default=None, choices=[1, 2],
                   help=f"norm of the upper bound over neurons ({_default(d.upper_norm)})")
    g = p.add_argument_group("optimisation")
    g.add_argument("--lr", type=float, default=None,
                   help=f"learning rate ({_default(d.lr)})")
    g.add_argument("--batch-size", type=int, default=None,
                   help=f"samples per minibatch ({_default(d.batch_size)})")
    g.add_argument("--epochs", type=int, default=None,
                   help=f"passes over the training split ({_default(d.epochs)})")
    g.add_argument(
        "--patience",
        type=int,
        default=None,
        help="early stop after this many epochs without validation gain, 0: off "
        f"({_default(d.patience)})",
    )
    g.add_argument("--seed", type=int, default=None,
                   help="seed of the weights and the batch order (default: 0)")
    g.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's)")
    g.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="write RUN_DIR/last.pt every this many steps and at each epoch end "
        f"(default: {d.checkpoint_every})",
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
        "--out", type=Path, default=None,
        help="run folder (default: runs/<task>-<timestamp>)",
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


def _rule_options(items: list[str], rule: str) -> dict:
    """``--rule-option [RULE.]KEY=VALUE``: a ``RULE.`` prefix must name the run's rule."""
    from ..experiments.config import parse_assignments

    out = {}
    for key, value in parse_assignments(items, False, "--rule-option").items():
        prefix, dot, name = key.partition(".")
        if dot:
            if prefix != rule:
                raise SpikegradInputError(
                    f"--rule-option {key}=...: the prefix names rule {prefix!r}, but the run's "
                    f"rule is {rule!r}"
                )
            key = name
        out[key] = value
    from ..learning.rules import check_rule_options

    # typed, ranged and capped by the rule's declared options before any folder is made
    return check_rule_options(rule, out, f"--rule-option (rule {rule!r})")


def _model_options(args: argparse.Namespace) -> dict:
    """``--model-option`` settings and the named neuron flags (one option, one place)."""
    from ..experiments.config import parse_assignments
    from ..learning.models import NEURON_FLAGS

    opts = parse_assignments(args.model_option, False, "--model-option")
    for flag, key in NEURON_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is None:
            continue
        if key in opts:
            raise SpikegradInputError(
                f"{flag} and --model-option {key}=... set the same option; give one"
            )
        opts[key] = value
    return opts


def _data_options(args: argparse.Namespace, task: str) -> dict:
    """The task's data options from the data flags (only those given, plus the seed)."""
    from ..experiments.config import parse_assignments
    from ..tasks import TASKS
    from ._flags import given_flag

    if task not in ("shd", "ssc"):  # binning flags of the SHD/SSC files: never ignored
        binning = given_flag("--shd-steps") or given_flag("--shd-duration")
        if binning:
            raise SpikegradInputError(f"{binning} bins SHD/SSC files; --task is {task}")
    if task == "randman" and args.data_dir is not None:
        raise SpikegradInputError("--data-dir: task 'randman' is generated and reads no files")
    if task == "randman":
        classes = args.classes
        if classes is not None and classes < 2:
            raise SpikegradInputError(f"--classes must be an integer >= 2, got {classes}")
        ds = {"seed": args.data_seed}
        for flag, (key, _) in _RANDMAN_FLAGS.items():
            if getattr(args, flag) is not None:
                ds[key] = getattr(args, flag)
    elif task in TASKS or task in ("digits", "spoken-digits"):
        ds = {"seed": args.data_seed}
        if args.data_dir is not None:
            if task != "spoken-digits":
                raise SpikegradInputError(f"--data-dir: task {task!r} reads no files")
            ds["path"] = str(args.data_dir)
    else:
        if args.data_dir is None:
            raise SpikegradInputError(f"--task {task} needs --data-dir FOLDER")
        ds = {"data_dir": str(args.data_dir), "seed": args.data_seed}
        if task in ("shd", "ssc"):
            ds.update(n_steps=args.shd_steps, duration=args.shd_duration)
    if task != "randman":
        given = sorted(f"--{f.replace('_', '-')}" for f in _RANDMAN_FLAGS
                       if getattr(args, f) is not None)
        if given:
            raise SpikegradInputError(f"{given[0]} is a Randman option; --task is {task}")
    if args.data_limit is not None:
        if task == "randman" or task in TASKS:
            raise SpikegradInputError(f"--data-limit: task {task!r} is generated, not read")
        ds["limit"] = args.data_limit
    if args.task_option:
        opts = parse_assignments(args.task_option, False, "--task-option")
        if task == "randman":
            from ..data.randman import unknown_randman_fields

            unknown, valid = unknown_randman_fields(opts)
            if unknown:
                raise SpikegradInputError(
                    f"--task-option {unknown[0]}=...: randman has no option {unknown[0]!r}; "
                    f"its options: {', '.join(valid)}"
                )
        if task == "spoken-digits" and "path" in opts and "path" in ds:
            raise SpikegradInputError("--data-dir and --task-option path=... both given")
        ds.update(opts)
    from ..data.registry import check_dataset_options
    from ..tasks import check_task_options

    # typed, ranged and capped before any folder is made (a dry run checks the same)
    return check_task_options(task, check_dataset_options(task, ds))


#: the most hidden layers ``--layers`` may stack
MAX_LAYERS = 1000

#: the most --epochs a run may ask for (a larger count would not end)
MAX_EPOCHS = 1_000_000


def build_train_config(args: argparse.Namespace):
    """The :class:`~spikegrad.learning.config.TrainConfig` of a ``train`` command line.

    Precedence, per setting: an explicit flag, else the task's recipe for the model
    (:mod:`spikegrad.tasks.recipes`), else TrainConfig's default. The config records the
    recipe and the settings it supplied (``recipe``).
    """
    from ..learning.config import TrainConfig
    from ..tasks.recipes import DEFAULT_MODEL, recipe

    task = args.task
    explicit = {k: getattr(args, k) for k in _CONFIG_FLAGS if getattr(args, k) is not None}
    if args.no_recurrent_grad:
        explicit["recurrent_grad"] = False
    model = explicit.get("model") or DEFAULT_MODEL.get(task, "lif")
    rec = recipe(task, model)
    settings = dict(rec.settings) if rec is not None else {}
    if args.layers is not None:
        if args.layers < 1:
            raise SpikegradInputError(f"--layers must be an integer >= 1, got {args.layers}")
        if args.layers > MAX_LAYERS:
            raise SpikegradInputError(
                f"--layers must be at most {MAX_LAYERS}, got {args.layers} (each layer is "
                "one more step of every time step's chain of layers)"
            )
        sizes: Any = explicit.get("hidden", settings.get("hidden", TrainConfig().hidden))
        first = tuple(sizes)[0]
        explicit["hidden"] = (first,) * args.layers
    applied = {k: v for k, v in settings.items() if k not in explicit}
    fields: dict = {**applied, **explicit, "model": model, "dataset": task}
    # option dicts merge key by key: a given key wins, the recipe's others stay
    base: dict = {}
    if task == "randman":
        base = {key: default for key, default in _RANDMAN_FLAGS.values()}
    elif task == "spoken-digits":  # the binning, recorded so predict bins new files alike
        base = {"n_steps": 100, "duration": 1.0}
    given_ds, given_mo = _data_options(args, task), _model_options(args)
    rule = fields.get("rule", "bptt")
    given_ro = _rule_options(args.rule_option, rule)
    # the recipe's rule options belong to the recipe's rule: another rule starts bare
    if settings.get("rule", "bptt") != rule:
        applied.pop("rule_options", None)
    for name, given in (("dataset_options", given_ds), ("model_options", given_mo),
                        ("rule_options", given_ro)):
        if name in applied:  # record only the recipe's keys that no flag replaced
            applied[name] = {k: v for k, v in applied[name].items() if k not in given}
            if not applied[name]:
                del applied[name]
    ds = {**base, **dict(applied.get("dataset_options", {})), **given_ds}
    mo = {**dict(applied.get("model_options", {})), **given_mo}
    ro = {**dict(applied.get("rule_options", {})), **given_ro}
    fields.update(dataset_options=ds, model_options=mo, rule_options=ro)
    if "hidden" in fields:
        fields["hidden"] = tuple(fields["hidden"])
    if rec is not None:
        fields["recipe"] = {"name": f"{task}/{model}", "applied": applied}
    try:
        return TrainConfig(**fields)
    except TypeError as exc:
        raise SpikegradInputError(str(exc)) from exc


#: input units and time steps of a data set when its options do not say (the loaders')
_INPUTS = {"randman": ("n_units", 20), "digits": (None, 64), "mnist": (None, 784),
           "fashion-mnist": (None, 784), "shd": (None, 700), "ssc": (None, 700),
           "spoken-digits": (None, 700)}  # fmt: skip
_STEPS = {"digits": 64, "mnist": 100, "fashion-mnist": 100}


def train_bytes(config: Any) -> tuple[float, str]:
    """Estimated memory of a training run (:func:`spikegrad._checks.network_bytes` of its
    network, plus a generated data set held in memory) and the sizes it came from."""
    from .._checks import network_bytes

    ds = dict(config.dataset_options or {})
    key, units = _INPUTS.get(config.dataset, (None, 100))
    units = int(ds.get(key, units)) if key else units
    steps = int(ds.get("n_steps", _STEPS.get(config.dataset, 100)))
    outputs = int(ds.get("n_classes", 10)) if isinstance(ds.get("n_classes", 10), int) else 10
    hidden = [int(h) for h in config.hidden]
    # a perturbation rule runs every sample of the batch ``trials`` times at once
    trials = (config.rule_options or {}).get("trials", 1)
    trials = trials if isinstance(trials, int) and trials > 0 else 1
    need = float(network_bytes(config.batch_size * trials, steps, units, hidden, outputs,
                               bool(config.recurrent)))  # fmt: skip
    detail = (f"batch {config.batch_size}{f' x {trials} trials' if trials > 1 else ''} x "
              f"{steps} steps, {units} inputs, hidden {' '.join(map(str, hidden))}")  # fmt: skip
    if config.dataset == "randman":  # generated and held densely: classes x samples x T x U
        n = int(ds.get("n_classes", 10)) * int(ds.get("samples_per_class", 1000))
        dim = int(ds.get("dim", 1))
        # the manifold: up to 1000 Fourier terms x 3 per unit and dimension, and the
        # per-dimension factors [samples, units, D], float64
        need += 4.0 * n * steps * units + 8.0 * units * dim * (3 * 1000 + n)
        detail += f", {n} generated samples" + (f" on a {dim}-D manifold" if dim > 1 else "")
    return need, detail


def check_train_memory(config: Any, where: str = "the run") -> None:
    """Refuse a run whose estimated memory (:func:`train_bytes`) this machine lacks."""
    from .._checks import check_memory

    need, detail = train_bytes(config)
    check_memory(where, need, detail)


def _cmd_train(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise SpikegradInputError(f"--threads must be an integer >= 1, got {args.threads}")
        from .._checks import check_parallel

        check_parallel("--threads", args.threads)
        from ..kernels import set_num_threads

        set_num_threads(args.threads)
    if args.resume is not None:
        return _resume(args)
    if args.epochs is not None and args.epochs > MAX_EPOCHS:
        raise SpikegradInputError(f"--epochs must be at most {MAX_EPOCHS}, got {args.epochs}")
    config = build_train_config(args)
    check_train_memory(config, "the run (--hidden, --batch-size, data sizes)")
    if config.recipe and int(os.environ.get("RANK", "0")) == 0:
        applied = ", ".join(f"{k}={v}" for k, v in config.recipe["applied"].items())
        print(f"recipe {config.recipe['name']} (spikegrad tasks): {applied or 'defaults'}")
    if args.out is not None:
        out = args.out
    else:
        out = Path("runs") / f"{args.task}-{datetime.now():%Y%m%d-%H%M%S}"
    energy_costs = _energy_costs(args)  # checked before the folder is claimed or made
    if int(os.environ.get("RANK", "0")) == 0:
        from ..io.run import lock_run_folder

        lock_run_folder(out, "train")  # a second writer is refused before anything changes
    _claim_folder(out, args.overwrite)
    _say_how_to_recover(out)
    if int(os.environ.get("RANK", "0")) == 0:
        from ..io.run import RunFolder

        RunFolder(out)  # an unwritable --out fails now, before the data are loaded
    res = _train_in(out, config, args, energy_costs, resume=False)
    return _report(res, out, args)


def _say_how_to_recover(out: Path) -> None:
    """Make a full disk's error advise ``spikegrad train --resume OUT`` (the same command
    would be refused: the folder then holds an unfinished run)."""
    import shlex

    from . import set_recovery

    set_recovery(f"spikegrad train --resume {shlex.quote(str(out))}")


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
    if int(os.environ.get("RANK", "0")) == 0:
        from ..io.run import lock_run_folder

        lock_run_folder(run, "train")
    try:
        cfg = json.loads(cfg_path.read_text())
        if "--epochs" in given:
            cfg = {**cfg, "epochs": args.epochs}
        config = TrainConfig.from_dict(cfg)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise SpikegradInputError(f"cannot resume: {str(cfg_path)!r} is malformed: {exc}") from exc
    _say_how_to_recover(run)
    # a run stopped before its first last.pt (a full disk, a kill during the first steps)
    # holds only its settings: resuming it means starting it over with the same config.json
    fresh = not (run / "last.pt").is_file() and not (run / "metrics.json").is_file()
    if fresh and int(os.environ.get("RANK", "0")) == 0:
        for n in ("history.csv", "checkpoint.pt", "data.json"):
            if (run / n).is_file():
                (run / n).unlink()
    res = _train_in(run, config, args, _energy_costs(args), resume=not fresh)
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


def _rule_names() -> list[str]:
    """The registered rules' names (the registry, so a new rule shows up here)."""
    from ..learning.rules import RULES

    return list(RULES)
