"""``spikegrad models``: the neuron models and layers, and the rules that can train each."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command."""
    p = sub.add_parser(
        "models",
        help="list the neuron models and layers and the rules that train each",
        description="List the neuron models and layers: name, class, the model kinds a "
        "network built with it has (lif: SpikingNetwork, alif: ALIFNetwork, sequential: "
        "SpikingSequential, coba, srm), the backends it runs on, the learning rules that "
        "can train it (a rule trains the kinds it lists, see 'spikegrad rules'), and the "
        "names of the same part in snnTorch, Norse and SpikingJelly.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)


def _cmd_models(args: argparse.Namespace) -> int:
    from ..learning.rules import available_rules
    from ..nn.catalog import CATALOG

    rules = available_rules()
    rows = {}
    for e in CATALOG:
        trains = [name for name, cls in rules.items() if set(cls.models) & set(e.kinds)]
        rows[e.name] = {
            "class": e.cls,
            "kinds": list(e.kinds),
            "backends": list(e.backends),
            "rules": trains,
            "about": e.about,
            "peers": e.peers,
        }
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    trained = {name: ", ".join(r["rules"]) or "-" for name, r in rows.items()}
    w_name = max(len(n) for n in rows)
    w_rules = max(len(t) for t in trained.values())
    for name, r in rows.items():
        print(f"{name:{w_name}s}  {trained[name]:{w_rules}s}  {r['about']}")
    return 0
