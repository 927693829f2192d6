"""``spikegrad rules``: the learning rules and the model kinds each can train."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``rules`` sub-command."""
    p = sub.add_parser(
        "rules",
        help="list the learning rules and the models each trains",
        description="List the registered learning rules: name, the model kinds it can "
        "train (lif: SpikingNetwork, coba: conductance-based network, srm: SRM0 layer), "
        "whether its update is an exact gradient, and its one-line description.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_rules)


def _cmd_rules(args: argparse.Namespace) -> int:
    from ..learning.rules import RULES, rule_class

    rows: dict[str, dict[str, Any]] = {}
    for name in RULES:
        try:
            cls = rule_class(name)
        except (ImportError, AttributeError) as exc:
            rows[name] = {"models": [], "exact": None, "about": f"unavailable: {exc}"}
            continue
        about = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows[name] = {"models": list(cls.models), "exact": cls.exact, "about": about}
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for name, r in rows.items():
        models = ", ".join(r["models"]) or "-"
        print(f"{name:12s} {models:16s} {r['about']}")
    return 0
