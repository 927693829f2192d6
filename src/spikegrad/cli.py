"""Command-line interface: ``spikegrad <command> [options]``.

Sub-commands are discovered from :mod:`spikegrad.commands` (one module each, with a
``register(subparsers)`` function); ``surrogates`` is defined here.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from collections.abc import Sequence

from ._checks import SpikegradInputError

__all__ = ["main", "build_parser"]


def _cmd_surrogates(args: argparse.Namespace) -> int:
    from .functional.surrogate import SURROGATES

    rows = {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in SURROGATES.items()}
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for name, doc in rows.items():
            print(f"{name:24s} {doc}")
    return 0


def _command_modules() -> list:
    """Every module in :mod:`spikegrad.commands` with a ``register(subparsers)`` function.

    Sub-commands live one per file there, so each family of learning adds its own
    command without editing this file.
    """
    from . import commands

    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(mod, "register"):
            mods.append(mod)
    return mods


def build_parser() -> argparse.ArgumentParser:
    """The ``spikegrad`` argument parser with all sub-commands."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="spikegrad",
        description="Learning in spiking neural networks: surrogate gradients and more.",
    )
    parser.add_argument("--version", action="version", version=f"spikegrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        mod.register(sub)
    p = sub.add_parser("surrogates", help="list the registered surrogate derivatives")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_surrogates)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``spikegrad`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (SpikegradInputError, FloatingPointError) as exc:
        print(f"spikegrad {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
