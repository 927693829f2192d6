"""``spikegrad tasks``: the registered tasks, their recipes and what the recipes reach."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``tasks`` sub-command."""
    p = sub.add_parser(
        "tasks",
        help="list the tasks, the recipe of each and what it reaches",
        description="List every registered task with its recipes: the model and the "
        "training settings measured to work on it (spikegrad train --task T uses them for "
        "every option not given), what they reach, how long one run takes and the command "
        "that measured it. A task with no recipe for a model trains that model at "
        "spikegrad train's own defaults.",
    )
    p.add_argument("--task", default=None, metavar="TASK",
                   help="show only this task (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_tasks)


def _cmd_tasks(args: argparse.Namespace) -> int:
    from .._checks import SpikegradInputError
    from ..tasks import task_names
    from ..tasks.recipes import DEFAULT_MODEL, RECIPES

    names = task_names()
    if args.task is not None:
        if args.task not in names:
            raise SpikegradInputError(
                f"--task: unknown task {args.task!r}; valid tasks: {', '.join(names)}"
            )
        names = [args.task]
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        recipes = RECIPES.get(name, {})
        rows[name] = {
            "default_model": DEFAULT_MODEL.get(name, "lif"),
            "recipes": {
                model: {
                    "settings": dict(r.settings),
                    "expected": r.expected,
                    "seconds": r.seconds,
                    "command": r.command,
                }
                for model, r in recipes.items()
            },
        }
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for name, row in rows.items():
        print(f"{name}  (default model: {row['default_model']})")
        if not row["recipes"]:
            print("  no recipe: spikegrad train's defaults")
        for model, r in row["recipes"].items():
            settings = " ".join(f"{k}={_text(v)}" for k, v in r["settings"].items()) or "-"
            took = f", {r['seconds']:.0f} s per run" if r["seconds"] else ""
            print(f"  {model}: {r['expected']}{took}")
            print(f"    settings: {settings}")
            print(f"    measured by: {r['command']}")
    return 0


def _text(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)
