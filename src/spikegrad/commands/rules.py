"""``spikegrad rules``: the rule x model matrix (the learning rules and the models each trains)."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``rules`` sub-command."""
    p = sub.add_parser(
        "rules",
        help="list the learning rules and the models each trains",
        description="Print the rule x model matrix: per registered learning rule, the "
        "'spikegrad train --model' choices it trains (lif, alif, izhikevich, conv, coba, "
        "srm), whether its update is an exact gradient or an estimate, and a one-line "
        "description. --json adds the model kinds (lif: SpikingNetwork, alif: "
        "ALIFNetwork, sequential: SpikingSequential, coba, srm).",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_rules)


_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)\s*(?:<[^>]*>)?`")


def plain(text: str) -> str:
    r"""reST of a docstring line as plain text.

    Roles lose their markup (``:class:`~a.B``` -> ``B``, ``:math:`\beta``` -> ``beta``,
    ``:func:`f <a.f>``` -> ``f``), inline literals their backticks.
    """

    def role(m: re.Match[str]) -> str:
        whole, body = m.group(0), m.group(1)
        if whole.startswith(":math:"):
            return re.sub(r"\\([A-Za-z]+)", r"\1", body).replace("{", "").replace("}", "")
        short = re.match(r":[a-z]+:`~", whole) is not None
        return body.rsplit(".", 1)[-1] if short else body

    text = _ROLE.sub(role, text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`]*)`_?", r"\1", text)
    return text.replace("\\ ", "").strip()


def _rows() -> dict[str, dict[str, Any]]:
    from ..learning.rules import RULES, rule_class, rule_matrix

    matrix = rule_matrix()
    rows: dict[str, dict[str, Any]] = {}
    for name in RULES:
        try:
            cls = rule_class(name)
        except (ImportError, AttributeError) as exc:
            rows[name] = {"choices": [], "models": [], "exact": None,
                          "about": f"unavailable: {exc}"}
            continue
        doc = (cls.__doc__ or "").strip()
        about = plain(doc.splitlines()[0]) if doc else ""
        rows[name] = {"choices": matrix.get(name, []), "models": list(cls.models),
                      "exact": cls.exact, "about": about}
    return rows


def _cmd_rules(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [(name, ", ".join(r["choices"]) or "-",
              "-" if r["exact"] is None else ("exact" if r["exact"] else "estimate"),
              r["about"]) for name, r in rows.items()]
    head = ("rule", "--model", "update", "description")
    widths = [max(len(row[k]) for row in [head, *table]) for k in range(3)]
    for row in [head, *table]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)) + "  "
              + row[3])
    return 0
