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
        "can train it (a rule trains the kinds it lists, see 'spikegrad rules'), the "
        "'spikegrad train --model' choices that build a network with it, and the names of "
        "the same part in snnTorch, Norse and SpikingJelly.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_models)


#: catalogue entry -> the ``spikegrad train --model`` choices whose network has that part
#: (:data:`~spikegrad.nn.catalog.MODEL_CHOICES`); entries not named here (the readout):
#: every choice whose model kind the entry lists
_CHOICES: dict[str, list[str]] = {
    "lif": ["lif"], "alif": ["alif"], "izhikevich": ["izhikevich"], "coba": ["coba"],
    "srm": ["srm"],
    **{name: ["conv"] for name in ("conv2d", "avgpool2d", "maxpool2d", "sumpool2d", "flatten",
                                   "dropout")},
}


def model_choices(name: str, kinds: tuple[str, ...] | list[str]) -> list[str]:
    """The ``--model`` choices that build a network containing catalogue entry ``name``."""
    from ..nn.catalog import MODEL_CHOICES

    if name in _CHOICES:
        return [c for c in _CHOICES[name] if c in MODEL_CHOICES]
    return [c for c, kind in MODEL_CHOICES.items() if kind in kinds]


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
            "model_choices": model_choices(e.name, e.kinds),
            "about": e.about,
            "peers": e.peers,
        }
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    trained = {name: ", ".join(r["rules"]) or "-" for name, r in rows.items()}
    flags = {name: "--model " + "|".join(r["model_choices"]) if r["model_choices"] else "-"
             for name, r in rows.items()}
    w_name = max(len(n) for n in rows)
    w_rules = max(len(t) for t in trained.values())
    w_flag = max(len(t) for t in flags.values())
    for name, r in rows.items():
        print(f"{name:{w_name}s}  {trained[name]:{w_rules}s}  {flags[name]:{w_flag}s}  "
              f"{r['about']}")
    return 0
