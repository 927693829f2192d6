"""Sub-commands of the ``spikegrad`` CLI, one module each, discovered by :mod:`spikegrad.cli`.

A module here defines ``register(subparsers)`` that adds its parser and sets
``func`` (``args -> exit code``) with ``parser.set_defaults(func=...)``.
"""

#: the ``--options`` given on the command line of the running command (set by
#: :func:`spikegrad.cli.main`; a command may refuse some combinations, e.g. with --resume)
GIVEN_OPTIONS: set[str] = set()


def given_options() -> set[str]:
    """The ``--options`` given on the command line of the running command."""
    return GIVEN_OPTIONS
