"""Command-line interface: ``spikegrad <command> [options]``.

Sub-commands are discovered from :mod:`spikegrad.commands` (one module each, with a
``register(subparsers)`` function); ``surrogates`` is defined here.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import pkgutil
import sys
import warnings
from collections.abc import Sequence

from ._checks import SpikegradInputError

__all__ = ["main", "build_parser"]


def _cmd_surrogates(args: argparse.Namespace) -> int:
    from .commands._text import plain_text
    from .functional.surrogate import SURROGATES

    # the first paragraph of each docstring, reST and LaTeX made plain text
    rows = {
        name: plain_text((cls.__doc__ or "").strip().split("\n\n")[0])
        for name, cls in SURROGATES.items()
    }
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from . import commands
    from .commands._flags import MOVED_DEST

    if getattr(args, MOVED_DEST, None):  # a retired option name: one line, exit 2
        print(f"spikegrad {args.command}: error: {getattr(args, MOVED_DEST)}", file=sys.stderr)
        return 2
    commands.GIVEN_OPTIONS = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    commands.set_recovery(None)
    _ignore_file_size_signal()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            from .commands._flags import check_resource_flags

            check_resource_flags(args)  # --threads / --workers this machine can run
            return int(args.func(args) or 0)
    except (SpikegradInputError, FloatingPointError) as exc:
        print(f"spikegrad {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"spikegrad {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`spikegrad models | head`): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno not in _DISK_FULL:
            raise
        where = f" writing {exc.filename!r}" if exc.filename else ""
        then = (f"run: {commands.RECOVERY}" if commands.RECOVERY
                else "run the same command again")  # fmt: skip
        print(
            f"spikegrad {args.command}: error: the disk is full{where} ({exc.strerror}); "
            f"every file written before is intact: free space and {then}",
            file=sys.stderr,
        )
        return 1
    finally:
        from .io.run import release_run_folders

        release_run_folders()


def _one_line(exc: BaseException) -> str:
    """The error's first non-empty line: a user-caused error is exactly one stderr line."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


#: errno values of a full disk, a quota or a file-size limit
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _ignore_file_size_signal() -> None:
    """Turn a file-size limit (RLIMIT_FSIZE) into an ``EFBIG`` error instead of a kill."""
    import signal
    import threading

    if hasattr(signal, "SIGXFSZ") and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _one_line_warning(command: str):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"spikegrad {command}: warning: {message}", file=file or sys.stderr)

    return show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
