"""One flag vocabulary for every command: shared option types, hidden aliases, help format.

An option name means one thing in every command that takes it (``--seed`` is one seed,
``--n-seeds`` a count of seeds, ``--hidden`` a list of layer sizes, ...). The meanings of
the names several commands share are :data:`SHARED`; ``tests/test_cli_vocabulary.py``
checks every command's parser against it and ``docs/cli.md`` lists every option.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "HelpFormatter",
    "MOVED_DEST",
    "SHARED",
    "Meaning",
    "Moved",
    "add_alias",
    "add_moved",
    "check_resource_flags",
    "given_flag",
    "key_values",
    "one_layer",
    "typed_flag",
]


class HelpFormatter(argparse.HelpFormatter):
    """Help with each option's default shown once.

    ``(default: X)`` is added to an option's help unless the help already speaks of its
    default or the default is nothing (``None``, ``False``, an empty list).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or not (action.option_strings or action.nargs in ("?", "*"))
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def add_alias(
    parser: argparse.ArgumentParser | Any, old: str, dest: str, **kwargs: Any
) -> argparse.Action:
    """A hidden old spelling ``old`` of the option stored in ``dest``.

    A separate action (help suppressed), so argparse's own errors name the spelling the
    user typed; ``kwargs`` repeat the visible option's type, nargs and action.
    """
    return parser.add_argument(old, dest=dest, default=argparse.SUPPRESS,
                               help=argparse.SUPPRESS, **kwargs)  # fmt: skip


def given_flag(*spellings: str) -> str | None:
    """Which of ``spellings`` (an option and its hidden aliases) the command line gave."""
    from . import given_options

    given = given_options()
    for s in spellings:
        if s in given:
            return s
    return None


def typed_flag(*spellings: str) -> str:
    """The spelling of an option to name in an error: the one typed, else the first."""
    return given_flag(*spellings) or spellings[0]


def key_values(items: Iterable[str], flag: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` items as pairs; a malformed one is a one-line error naming ``flag``."""
    from .._checks import SpikegradInputError

    out = []
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise SpikegradInputError(f"{flag} must be KEY=VALUE, got {item!r}")
        out.append((key.strip(), val))
    return out


class Meaning(NamedTuple):
    """What an option name means wherever it appears."""

    meaning: str
    #: the argparse ``type`` every command uses (None: text, or a flag without value)
    type: Any
    #: the argparse ``nargs`` (None: one value; 0: a switch)
    nargs: Any
    #: the ``argparse`` destination (the attribute of the parsed namespace)
    dest: str
    #: hidden old spellings (argparse.SUPPRESS help) that mean the same
    aliases: tuple[str, ...] = ()
    #: the metavar, where it carries the syntax (None: not checked)
    metavar: str | None = None


#: option name -> its one meaning, for every name two or more commands take (and a few
#: with a convention worth fixing before a second command takes them)
SHARED: dict[str, Meaning] = {
    "--seed": Meaning("one seed: an integer >= 0 (the first seed where a command runs "
                      "several; a negative one is refused with one line)", int, None, "seed"),
    "--n-seeds": Meaning("how many seeds: seeds --seed .. --seed + N - 1", int, None,
                         "n_seeds", ("--seeds",)),
    "--hidden": Meaning("hidden layer sizes, one value per layer", int, "+", "hidden"),
    "--rule-option": Meaning("a setting of the learning rule, [RULE.]KEY=VALUE "
                             "(repeatable; RULE. picks one rule of several)", None, None,
                             "rule_option", metavar="[RULE.]KEY=VALUE"),
    "--task-option": Meaning("a setting of the task, KEY=VALUE (repeatable; any task)",
                             None, None, "task_option", metavar="KEY=VALUE"),
    "--data-dir": Meaning("folder with the data set files (reproduce: one subfolder per "
                          "data set)", Path, None, "data_dir",
                          ("--mnist-dir", "--fashion-mnist-dir", "--shd-dir",
                           "--spoken-digits-dir")),
    "--task": Meaning("what to learn: a task, data set or stream (choices per command)",
                      None, None, "task", ("--dataset",)),
    "--rule": Meaning("the learning rule (choices per command)", None, None, "rule"),
    "--model": Meaning("the model that learns: a network kind, or an online learner in "
                       "stream (choices per command)", None, None, "model"),
    "--out": Meaning("where the output goes: a run folder, or a file where the command "
                     "writes one", Path, None, "out"),
    "--epochs": Meaning("passes over the training data", int, None, "epochs"),
    "--batch-size": Meaning("samples (or trials) per update", int, None, "batch_size",
                            ("--batch",)),
    "--lr": Meaning("learning rate (step size of the optimizer)", float, None, "lr"),
    "--optimizer": Meaning("optimizer of the parameters", None, None, "optimizer"),
    "--classes": Meaning("number of classes of a generated task", int, None, "classes"),
    "--samples-per-class": Meaning("samples per class of a generated task", int, None,
                                   "samples_per_class"),
    "--data-seed": Meaning("seed of the data (generation, shuffle, split)", int, None,
                           "data_seed"),
    "--dt": Meaning("time step (s)", float, None, "dt"),
    "--tau": Meaning("a neuron's time constant (s)", float, None, "tau"),
    "--window": Meaning("size of a sliding window (stream: samples; symmetry: pixels)", int,
                        None, "window"),
    "--threads": Meaning("torch CPU threads", int, None, "threads"),
    "--workers": Meaning("parallel worker processes", int, None, "workers"),
    "--executor": Meaning("where runs go: local processes or a Ray cluster", None, None,
                          "executor"),
    "--address": Meaning("Ray cluster address", None, None, "address"),
    "--no-plots": Meaning("skip the PNG plots", None, 0, "no_plots"),
    "--quiet": Meaning("no progress bar or per-epoch lines", None, 0, "quiet"),
    "--json": Meaning("print JSON", None, 0, "json"),
    "--target": Meaning("stream: label column of a CSV stream (river's name)", None, None,
                        "target"),
    "--score": Meaning("compare: score whose first crossing is the time to target", float,
                       None, "score"),
    "--labels": Meaning("class labels to make (data spoken-digits; its old --classes is "
                        "refused with a pointer: --classes is a count elsewhere)", int, "+",
                        "labels"),
    "--recurrent": Meaning("recurrent hidden layers", None, 0, "recurrent"),
}


class Moved(argparse.Action):
    """A retired spelling whose name now means something else elsewhere: refused with one
    line naming the new spelling (it cannot stay an alias without two meanings)."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kwargs: Any):
        self.new = new
        kwargs.setdefault("nargs", "?")
        super().__init__(option_strings, dest, default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS, **kwargs)  # fmt: skip

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        # reported by spikegrad.cli.main as one line with exit status 2, like every input
        # error of a command (parser.error would print the usage too)
        setattr(namespace, MOVED_DEST, (
            f"{option_string} is now {self.new} (one meaning per option name); write "
            f"{self.new} {values if values is not None else ''}".rstrip()))


def add_moved(parser: argparse.ArgumentParser | Any, old: str, new: str) -> argparse.Action:
    """Refuse the retired spelling ``old`` with a one-line pointer to ``new``."""
    return parser.add_argument(old, action=Moved, new=new, dest=MOVED_DEST)


#: the namespace attribute a retired spelling sets (its one-line error)
MOVED_DEST = "_moved_error"


def one_layer(sizes: list[int] | int, what: str, flag: str = "--hidden") -> int:
    """The one size of ``--hidden N`` for a model with one hidden layer (else one line)."""
    from .._checks import SpikegradInputError

    if isinstance(sizes, int):
        return sizes
    if len(sizes) != 1:
        raise SpikegradInputError(
            f"{flag}: {what} has one hidden layer; give one size, got "
            + " ".join(map(str, sizes))
        )
    return sizes[0]


def check_resource_flags(args: Any) -> None:
    """``--threads`` and ``--workers`` of any command capped to what this machine can run
    (:func:`spikegrad._checks.check_parallel`): one line naming the flag, before the
    command does anything (``--threads 10**12`` once overflowed deep inside torch)."""
    from .._checks import check_parallel

    for dest, flag, processes in (("threads", "--threads", False), ("workers", "--workers", True)):
        value = getattr(args, dest, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            check_parallel(flag, value, processes=processes)
