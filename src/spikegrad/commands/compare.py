"""``spikegrad compare``: several learning rules on one model, side by side."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    from ..experiments.compare import COMPARE_MODELS, COMPARE_RULES
    from ._flags import HelpFormatter, add_alias, add_moved

    rules = sorted({s.rule for s in COMPARE_RULES.values()}, key=list(
        s.rule for s in COMPARE_RULES.values()).index)
    old = ["eprop-rec", "bptt-rec", "weight-coba", "bptt-coba"]
    p = sub.add_parser(
        "compare",
        help="compare learning rules on one model: accuracy, cost, gradient fidelity",
        description="Train the same network (same initial weights and batches per seed) with "
        "several learning rules and write results.csv (rule x seed x epoch), summary.csv, "
        "report.md (table with 95% intervals, expectations with verdicts) and plots. "
        "Resumable: starting again in the same --out skips finished cells. Rules: "
        + ", ".join(rules) + " (spikegrad rules); each trains --model, or, without --model, "
        "lif or the one model it trains (conductance: coba; kernel, resume: srm). The old "
        "names " + ", ".join(old) + " are accepted as RULE on its model (eprop-rec: "
        "--rules eprop --recurrent; bptt-coba: --model coba --rules bptt).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--task", default="randman",
                   help="randman, digits, rates, spike-target, or another spikegrad train "
                   "--task (its settings: --task-option)")  # fmt: skip
    add_alias(p, "--dataset", "task")
    p.add_argument("--task-option", dest="task_option", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="a setting of the task (repeatable, any task), e.g. n_classes=4")
    p.add_argument("--rules", nargs="+", default=["bptt", "eprop", "node"], metavar="RULE",
                   help="the rules compared")
    p.add_argument("--model", default=None, choices=list(COMPARE_MODELS),
                   help="the model every rule trains (default: lif, or the one model a rule "
                   "trains); a rule that cannot train it is refused")
    p.add_argument("--recurrent", action="store_true",
                   help="recurrent hidden layer (lif, alif)")
    p.add_argument("--rule-option", dest="rule_option", action="append", default=[],
                   metavar="[RULE.]KEY=VALUE",
                   help="a setting of a rule (repeatable): RULE.KEY=VALUE sets it for that "
                   "rule, KEY=VALUE for every compared rule that has the setting (refused if "
                   "none has), e.g. tbptt.k=5 or trials=8")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed")
    p.add_argument("--n-seeds", type=int, default=3, metavar="N",
                   help="number of seeds: --seed .. --seed + N - 1")
    add_alias(p, "--seeds", "n_seeds", type=int)
    p.add_argument("--epochs", type=int, default=10, help="training epochs per cell")
    p.add_argument("--batch-size", type=int, default=32, help="samples per update")
    p.add_argument("--hidden", type=int, nargs="+", default=[32], metavar="N",
                   help="hidden layer sizes, one per layer (coba: one layer)")
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default per model: lif and alif 0.01, coba 0.3, "
                   "srm 0.003)")
    p.add_argument("--draws", type=int, default=8, help="noise draws per fidelity measurement")
    p.add_argument("--score", type=float, default=None,
                   help="score whose first crossing is the time to target (default halfway "
                   "from chance to 1)")
    add_moved(p, "--target", "--score")
    p.add_argument("--probe-trials", type=int, nargs="*", default=[1, 4, 16, 64],
                   help="trials per estimate of the perturbation probes (none: no probe)")
    p.add_argument("--probe-sizes", type=int, nargs="*", default=[8, 16, 32, 64],
                   help="hidden sizes of the variance probe (none: no probe)")
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if it exists)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local worker processes or a Ray cluster")
    p.add_argument("--address", default=None,
                   help="Ray cluster address (default: start a local one)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_compare)


def _value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _resolve_rules(names: list[str], model: str | None, recurrent: bool) -> list[str]:
    """The :data:`COMPARE_RULES` names of ``--rules`` on ``--model`` / ``--recurrent``.

    A registry rule is trained on ``--model`` (default: lif, or the one model it trains);
    an old compare name (``eprop-rec``, ``bptt-coba``, ...) is its rule on its own model
    and is refused with an explicit ``--model`` / ``--recurrent`` that says otherwise. A rule
    that cannot train the model (:func:`spikegrad.learning.rules.rule_matrix`) is refused.
    """
    from ..experiments.compare import COMPARE_RULES, compared_name, model_variant
    from ..learning.rules import rule_matrix

    matrix = rule_matrix()
    variant = model_variant(model or "lif", recurrent)
    out = []
    for name in names:
        if name in COMPARE_RULES and name not in matrix:  # an old name: rule + model
            spec = COMPARE_RULES[name]
            if (model is not None or recurrent) and spec.model != variant:
                raise SpikegradInputError(
                    f"--rules {name} is {spec.rule} on the {spec.model} model; it conflicts "
                    f"with --model {model or 'lif'}{' --recurrent' if recurrent else ''} "
                    f"(write --rules {spec.rule})"
                )
            out.append(name)
            continue
        if name not in matrix:
            raise SpikegradInputError(
                f"--rules: unknown rule {name!r}; valid choices: "
                + ", ".join([*matrix, *(k for k in COMPARE_RULES if k not in matrix)])
            )
        trains = matrix[name]
        if model is None and "lif" not in trains and len(trains) == 1:
            own = model_variant(trains[0], recurrent)  # conductance: coba, kernel: srm
        else:
            own = variant
            m = model or "lif"
            if m not in trains:
                raise SpikegradInputError(
                    f"--rules {name}: {name} cannot train --model {m} "
                    f"(it trains: {', '.join(trains) or 'none of these'})"
                )
        found = compared_name(name, own)
        if found is None:
            raise SpikegradInputError(
                f"--rules {name}: compare has no {name} on the {own} model "
                f"(pairs: {', '.join(f'{s.rule} on {s.model}' for s in COMPARE_RULES.values())})"
            )
        out.append(found)
    return out


def _rule_options(items: list[str], compared: list[str], flag: str) -> dict:
    """``--rule-option [RULE.]KEY=VALUE`` items -> {compared rule name: {key: value}}.

    ``RULE.KEY`` sets the option of that compared rule (by its --rules name or its compare
    name); a bare ``KEY`` sets it for every compared rule that has the setting and is
    refused if none has.
    """
    from ..experiments.compare import COMPARE_RULES, _fields
    from ._flags import key_values

    out: dict = {}
    for key, val in key_values(items, flag):
        rule, dot, opt = key.rpartition(".")
        if dot:
            if not rule or not opt:
                raise SpikegradInputError(f"{flag} must be [RULE.]KEY=VALUE, got {key}={val}")
            targets = [c for c in compared if c == rule or COMPARE_RULES[c].rule == rule]
            if not targets:
                raise SpikegradInputError(
                    f"{flag} {key}={val}: {rule!r} is not compared (rules: "
                    f"{', '.join(compared)})"
                )
        else:
            opt = key
            targets = [c for c in compared if opt in _fields(COMPARE_RULES[c].rule)]
            if not targets:
                raise SpikegradInputError(
                    f"{flag} {key}={val}: no compared rule ({', '.join(compared)}) has a "
                    f"setting {opt!r}; write RULE.KEY=VALUE for one rule"
                )
        for t in targets:
            out.setdefault(t, {})[opt] = _value(val)
    return out


#: the most seeds a comparison may run per rule
MAX_SEEDS = 10_000


def _check_compare_memory(task: Any, args: argparse.Namespace) -> None:
    """Refuse --hidden / --batch-size whose estimated memory this machine lacks (one line
    with the estimate), before any cell runs."""
    from .._checks import check_memory, network_bytes

    inputs = int(getattr(task, "n_inputs", 100) or 100)
    outputs = int(getattr(task, "n_outputs", 10) or 10)
    steps = int(getattr(task, "n_steps", 100) or 100)
    need = network_bytes(args.batch_size, steps, inputs, args.hidden, outputs, args.recurrent)
    check_memory("--hidden / --batch-size", need,
                 f"batch {args.batch_size} x {steps} steps, {inputs} inputs, hidden "
                 f"{' '.join(map(str, args.hidden))}")  # fmt: skip


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..experiments.compare import CompareConfig, compare
    from ..learning.rules import make_rule
    from ._flags import key_values, typed_flag

    for flag, v in (((typed_flag("--n-seeds", "--seeds")), args.n_seeds),
                    ("--epochs", args.epochs), ("--batch-size", args.batch_size),
                    ("--workers", args.workers)):  # fmt: skip
        if v < 1:
            raise SpikegradInputError(f"{flag} must be >= 1, got {v}")
    if args.seed < 0:
        raise SpikegradInputError(f"--seed must be an integer >= 0, got {args.seed}")
    for flag, values in (("--hidden", args.hidden), ("--probe-trials", args.probe_trials),
                         ("--probe-sizes", args.probe_sizes)):  # fmt: skip
        for v in values:
            if v < 1:
                raise SpikegradInputError(f"{flag} values must be >= 1, got {v}")
    if args.draws < 2:
        raise SpikegradInputError(f"--draws must be >= 2, got {args.draws}")
    if args.lr is not None and not (args.lr > 0 and args.lr < float("inf")):
        raise SpikegradInputError(f"--lr must be a finite number > 0, got {args.lr}")
    from .train import MAX_EPOCHS

    if args.epochs > MAX_EPOCHS:
        raise SpikegradInputError(f"--epochs must be at most {MAX_EPOCHS}, got {args.epochs}")
    if args.n_seeds > MAX_SEEDS:
        raise SpikegradInputError(
            f"{typed_flag('--n-seeds', '--seeds')} must be at most {MAX_SEEDS}, got "
            f"{args.n_seeds} (one cell per rule and seed)"
        )
    if args.score is not None and not 0 < args.score <= 1:
        raise SpikegradInputError(f"--score must be in (0, 1], got {args.score}")
    rules = _resolve_rules(args.rules, args.model, args.recurrent)  # model None: per rule
    if len(set(rules)) != len(rules):
        raise SpikegradInputError(f"--rules: each rule once, got {' '.join(args.rules)}")
    from ..experiments.compare import COMPARE_RULES

    coba = [r for r in rules if COMPARE_RULES[r].model == "coba"]
    if coba and len(args.hidden) > 1:
        raise SpikegradInputError(
            f"--hidden: {coba[0]} trains the coba model, which has one hidden layer; give one "
            f"size, got {' '.join(map(str, args.hidden))}"
        )
    config = CompareConfig(
        task=args.task,
        task_options={k: _value(v) for k, v in key_values(args.task_option, "--task-option")},
        rules=tuple(rules),
        seeds=args.n_seeds,
        first_seed=args.seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        hidden=tuple(args.hidden),
        lr=args.lr,
        rule_options=_rule_options(args.rule_option, rules, "--rule-option"),
        draws=args.draws,
        target=args.score,
        probe_trials=tuple(args.probe_trials),
        probe_sizes=tuple(args.probe_sizes),
    )
    from ..learning.rules import check_rule_options

    for name in config.rules:  # options are typed, then built, before anything runs
        rule, opts, _ = config.rule_spec(name)
        check_rule_options(rule, opts, f"--rule-option ({name})")
        try:
            make_rule(rule, **opts)
        except SpikegradInputError as exc:
            raise SpikegradInputError(f"--rule-option ({name}): {exc}") from exc
    from ..experiments.compare import build_task

    try:
        task = build_task(config.task, config.task_options)
    except SpikegradInputError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpikegradInputError(f"--task-option: {str(exc).splitlines()[0]}") from exc
    _check_compare_memory(task, args)
    command = "spikegrad compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if (
        len(sys.argv) > 1 and "compare" in sys.argv) else ""
    from ..io.run import lock_run_folder

    lock_run_folder(args.out, "compare")  # a second compare on the folder is refused at once
    try:
        res = compare(config, args.out, executor=args.executor, workers=args.workers,
                      address=args.address, progress=not args.quiet, command=command)
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume ({args.out})", file=sys.stderr)
        return 130
    print(f"{res.total} cells: {res.skipped} already finished, {res.finished} run now, "
          f"{res.failed} failed")  # fmt: skip
    for s in res.summary:
        print(f"  {s['rule']:12s} test {s['test_accuracy']:.3f} [{s['test_accuracy_lo']:.3f}, "
              f"{s['test_accuracy_hi']:.3f}]  {s['wall_s_per_epoch']:.2f} s/epoch  cosine "
              f"{s['cosine_end']:.3f}")  # fmt: skip
    for e in res.expectations:
        print(f"  [{e['verdict']}] {e['expectation']}")
    print(f"report: {args.out / 'report.md'}")
    return 0 if res.failed == 0 else 1
