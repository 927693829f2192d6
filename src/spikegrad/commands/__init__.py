"""Sub-commands of the ``spikegrad`` CLI, one module each, discovered by :mod:`spikegrad.cli`.

A module here defines ``register(subparsers)`` that adds its parser and sets
``func`` (``args -> exit code``) with ``parser.set_defaults(func=...)``.
"""

#: the ``--options`` given on the command line of the running command (set by
#: :func:`spikegrad.cli.main`; a command may refuse some combinations, e.g. with --resume)
GIVEN_OPTIONS: set[str] = set()


#: the command that continues the running command after a failure it cannot fix itself
#: (e.g. a full disk); ``None``: running the same command again continues it
RECOVERY: str | None = None


def set_recovery(command: str | None) -> None:
    """Say which command continues the running one after a full disk (see RECOVERY)."""
    global RECOVERY
    RECOVERY = command


def given_options() -> set[str]:
    """The ``--options`` given on the command line of the running command."""
    return GIVEN_OPTIONS
