"""Sub-commands of the ``spikegrad`` CLI, one module each, discovered by :mod:`spikegrad.cli`.

A module here defines ``register(subparsers)`` that adds its parser and sets
``func`` (``args -> exit code``) with ``parser.set_defaults(func=...)``.
"""
