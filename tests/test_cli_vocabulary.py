"""One flag vocabulary (issue 27): every command's parser against the shared meanings.

Walks the real ``spikegrad`` parser (:func:`spikegrad.cli.build_parser`) and checks, for
every sub-command: each option name has one type, nargs and destination wherever it
appears (:data:`spikegrad.commands._flags.SHARED` for the names several commands take);
every hidden spelling is a registered alias (or a retired name refused with a pointer);
every visible option and positional has help; no help prints ``%%``; and the table in
docs/cli.md lists exactly the visible options, the commands that take them and their
hidden aliases.

``python tests/test_cli_vocabulary.py`` prints the table (docs/cli.md's, regenerated).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from spikegrad.cli import build_parser
from spikegrad.commands._flags import SHARED, Moved

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

#: the checks ``train`` fails until its rewrite (the lead's, issue 27) lands: (option,
#: check). Remove an entry when train.py is fixed; the test then holds train to it.
#: "type" / "nargs" / "dest": differs from SHARED; "help": no help text; "alias": a
#: hidden or extra spelling that is not a separate hidden alias.
TRAIN_PENDING: set[tuple[str, str]] = set()



def _commands() -> list[tuple[str, argparse.ArgumentParser]]:
    """(command path, parser) of every sub-command (``data spoken-digits`` included)."""
    out = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sp in a.choices.items():
                    out.append((" ".join([*path, name]), sp))
                    walk(sp, [*path, name])

    walk(build_parser(), [])
    return out


COMMANDS = _commands()


def _pending(command: str, option: str, check: str) -> bool:
    return command == "train" and (option, check) in TRAIN_PENDING


def _options(parser: argparse.ArgumentParser):
    """(action, option string, visible) for every option of ``parser`` but -h/--help."""
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        for o in a.option_strings:
            yield a, o, a.help is not argparse.SUPPRESS


def _nargs(a: argparse.Action):
    return 0 if a.nargs == 0 else a.nargs


def _type_name(a: argparse.Action) -> str:
    if a.nargs == 0:
        return "switch"
    t = {None: "text", int: "int", float: "float", Path: "path"}.get(a.type)
    t = t or getattr(a.type, "__name__", str(a.type))
    if a.choices is not None:
        t = "{" + ",".join(map(str, a.choices)) + "}"
    return t + {"+": " ...", "*": " [...]", "?": " [optional]"}.get(a.nargs, "")


def _alias_of(parser: argparse.ArgumentParser, action: argparse.Action, option: str) -> str:
    """The visible option a hidden spelling stands for."""
    for name, m in SHARED.items():
        if option in m.aliases and any(name in a.option_strings for a in parser._actions):
            return name
    for a in parser._actions:
        if a.dest == action.dest and a.help is not argparse.SUPPRESS and a.option_strings:
            return a.option_strings[0]
    raise AssertionError(f"{option}: a hidden option that stands for no visible one")


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_every_visible_option_and_positional_has_help(command, parser):
    missing = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if a.help is argparse.SUPPRESS:
            continue
        name = a.option_strings[0] if a.option_strings else a.dest
        if not (a.help or "").strip() and not _pending(command, name, "help"):
            missing.append(name)
    assert not missing, f"{command}: options without help: {missing}"


@pytest.mark.parametrize(("command", "parser"), COMMANDS, ids=[c for c, _ in COMMANDS])
def test_help_prints_no_doubled_percent_and_each_default_once(command, parser):
    text = parser.format_help()
    assert "%%" not in text, command
    if _pending(command, "formatter", "defaults"):
        return
    assert parser.formatter_class is not argparse.ArgumentDefaultsHelpFormatter, command
    formatter = parser._get_formatter()
    for a in parser._actions:
        if a.help in (None, argparse.SUPPRESS):
            continue
        shown = formatter._expand_help(a)
        assert "%%" not in shown, (command, a.option_strings)
        if "default" in a.help.lower():  # the help speaks of its default: nothing added
            assert shown.lower().count("default") == a.help.lower().count("default"), (
                command, a.option_strings, shown)
        else:
            assert shown.lower().count("default") <= 1, (command, a.option_strings, shown)


def test_each_option_name_has_one_type_nargs_and_destination_everywhere():
    seen: dict[str, tuple] = {}
    problems = []
    for command, parser in COMMANDS:
        for a, o, visible in _options(parser):
            if not visible:
                continue
            sig = (a.type, _nargs(a), a.dest)
            m = SHARED.get(o)
            if m is not None:
                for check, want, got in (("type", m.type, a.type), ("nargs", m.nargs, _nargs(a)),
                                         ("dest", m.dest, a.dest),
                                         ("metavar", m.metavar, a.metavar)):  # fmt: skip
                    if check == "metavar" and want is None:
                        continue
                    if want != got and not _pending(command, o, check):
                        problems.append(f"{command} {o}: {check} {got!r}, SHARED says {want!r}")
                continue
            if o in seen and seen[o][0] != sig:
                problems.append(f"{o}: {seen[o][1]} has {seen[o][0]}, {command} has {sig}")
            seen.setdefault(o, (sig, command))
    assert not problems, "\n".join(problems)


def test_names_several_commands_take_have_a_shared_meaning():
    users: dict[str, set[str]] = {}
    for command, parser in COMMANDS:
        for _, o, visible in _options(parser):
            if visible:
                users.setdefault(o, set()).add(command)
    unshared = sorted(o for o, cs in users.items() if len(cs) > 1 and o not in SHARED)
    assert not unshared, f"names taken by several commands without a SHARED meaning: {unshared}"


def test_hidden_spellings_are_registered_aliases_or_refused_with_a_pointer():
    problems = []
    for command, parser in COMMANDS:
        visible = {o for _, o, v in _options(parser) if v}
        for a, o, vis in _options(parser):
            if vis:
                continue
            if isinstance(a, Moved):
                if a.new not in visible:
                    problems.append(f"{command} {o}: points to {a.new}, which it lacks")
                if o not in SHARED and not any(o in m.aliases for m in SHARED.values()):
                    problems.append(f"{command} {o}: a retired name nothing else takes")
                continue
            name = _alias_of(parser, a, o)
            if o not in SHARED.get(name, SHARED["--seed"]).aliases:
                problems.append(f"{command} {o}: hidden, but not an alias of {name} in SHARED")
            vis_action = next(x for x in parser._actions if name in x.option_strings)
            if (a.type, _nargs(a)) != (vis_action.type, _nargs(vis_action)):
                problems.append(f"{command} {o}: another type than {name}")
        for a in parser._actions:  # an old spelling inside the visible action
            if isinstance(a, argparse._HelpAction):
                continue
            shown = [o for o in a.option_strings if a.help is not argparse.SUPPRESS]
            for o in shown[1:]:
                if o.startswith("--") and not _pending(command, o, "alias"):
                    problems.append(f"{command} {o}: a second long name of {shown[0]}; make "
                                    "it a hidden alias (add_alias) so errors name it")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- the table
def table_rows() -> list[tuple[str, str, str, str, str]]:
    """(option, meaning, type, commands, hidden aliases) of every visible option."""
    info: dict[str, dict] = {}
    for command, parser in COMMANDS:
        for a, o, visible in _options(parser):
            if visible and o == a.option_strings[0]:
                d = info.setdefault(o, {"commands": [], "aliases": set(), "action": a})
                d["commands"].append(command)
            elif visible:  # a second name in the visible action (train's --dataset)
                info.setdefault(a.option_strings[0], {"commands": [], "aliases": set(),
                                                      "action": a})["aliases"].add(o)
        for a, o, visible in _options(parser):
            if not visible and not isinstance(a, Moved):
                info[_alias_of(parser, a, o)]["aliases"].add(o)
    rows = []
    for o in sorted(info, key=lambda s: s.lstrip("-").lower()):
        d = info[o]
        a = d["action"]
        meaning = SHARED[o].meaning if o in SHARED else " ".join((a.help or "").split())
        meaning = meaning.replace("|", "/")
        rows.append((o, meaning, _type_name(a), ", ".join(d["commands"]),
                     ", ".join(sorted(d["aliases"]))))
    return rows


def render_table() -> str:
    lines = ["| option | meaning | type | commands | hidden aliases |",
             "|---|---|---|---|---|"]
    for o, meaning, t, commands, aliases in table_rows():
        al = ", ".join(f"`{x}`" for x in aliases.split(", ")) if aliases else ""
        lines.append(f"| `{o}` | {meaning} | {t} | {commands} | {al} |")
    return "\n".join(lines) + "\n"


def _doc_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(--[\w-]+)` \|(.*)\|(.*)\|(.*)\|(.*)\|$", line)
        if m:
            aliases = ", ".join(re.findall(r"`(--[\w-]+)`", m.group(5)))
            rows[m.group(1)] = (m.group(4).strip(), aliases)
    return rows


def test_docs_table_lists_exactly_the_visible_options_commands_and_aliases():
    want = {o: (commands, aliases) for o, _, _, commands, aliases in table_rows()}
    have = _doc_rows()
    assert sorted(have) == sorted(want), (
        f"docs/cli.md: missing {sorted(set(want) - set(have))}, "
        f"not an option {sorted(set(have) - set(want))}; regenerate the table with "
        "python tests/test_cli_vocabulary.py"
    )
    wrong = {o: (have[o], want[o]) for o in want if have[o] != want[o]}
    assert not wrong, f"docs/cli.md rows (have, want): {wrong}"


def test_the_train_pending_list_names_only_real_violations():
    """An entry left in TRAIN_PENDING after train.py is fixed is reported, so the list
    empties as the rewrite lands (only for the checks this file can see)."""
    train = dict(COMMANDS)["train"]
    by = {o: a for a, o, _ in _options(train)}
    stale = []
    for option, check in TRAIN_PENDING:
        a = by.get(option)
        if check == "alias" and (a is None or a.help is argparse.SUPPRESS):
            stale.append((option, check))
        if check in ("type", "nargs", "dest", "metavar") and a is not None and option in SHARED:
            m = SHARED[option]
            got = {"type": a.type, "nargs": _nargs(a), "dest": a.dest, "metavar": a.metavar}
            if got[check] == getattr(m, check):
                stale.append((option, check))
        if check == "help" and a is not None and (a.help or "").strip():
            stale.append((option, check))
        if check == "defaults" and train.formatter_class is not (
            argparse.ArgumentDefaultsHelpFormatter
        ):
            stale.append((option, check))
    assert not stale, f"fixed in train.py, remove from TRAIN_PENDING: {stale}"


if __name__ == "__main__":  # pragma: no cover
    print(render_table(), end="")


# ----------------------------------------------------------------------------- behaviour
def test_plain_text_strips_rest_roles_and_latex():
    from spikegrad.commands._text import plain_text

    assert plain_text("``beta`` is :class:`~spikegrad.nn.SpikingNetwork`") == (
        "beta is SpikingNetwork")
    assert plain_text(r":math:`h(x) = 1/(\beta|x| + 1)^2`; peak 1.") == (
        "h(x) = 1/(beta|x| + 1)^2; peak 1.")
    assert plain_text(r":math:`1/(1 + (\pi\beta x)^2)`") == "1/(1 + (pi beta x)^2)"
    assert plain_text(":func:`the trainer <spikegrad.learning.fit>`\n  and *this*") == (
        "the trainer and this")


def test_surrogates_prints_plain_text(capsys):
    from spikegrad.cli import main

    for argv in (["surrogates"], ["surrogates", "--json"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "superspike" in out and "beta" in out
        assert ":math:" not in out and "``" not in out and "\\beta" not in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["stream", "--dataset", "sine", "--samples", "0"], "--samples"),
        (["stream", "--dataset", "nope"], "--dataset 'nope'"),  # the old spelling, as typed
        (["stream", "--task", "nope"], "--task 'nope'"),
        (["perturb", "--batch", "0"], "--batch must"),  # named as typed ...
        (["perturb", "--batch-size", "0"], "--batch-size must"),  # ... either spelling
        (["spiketrain", "--task", "multi", "--hidden", "4", "4"], "--hidden"),
        (["data", "spoken-digits", "--out", "d", "--classes", "3"], "--labels"),
        (["compare", "--out", "o", "--target", "0.5"], "--score"),
    ],
)
def test_old_spellings_and_list_flags_give_one_line_naming_the_flag(
    argv, words, tmp_path, capsys, monkeypatch
):
    from spikegrad.cli import main

    monkeypatch.chdir(tmp_path)
    assert main([*argv, *(["--out", "x"] if "--out" not in argv else [])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "x").exists()


def test_symmetry_photo_demo_defaults_are_the_documented_setting():
    from spikegrad.commands.symmetry import _check_args

    parse = build_parser().parse_args
    photos = parse(["symmetry", "--demo", "photos"])
    _check_args(photos)
    assert (photos.threshold, photos.null) == (0.2, "positions")  # docs: AUC 0.615
    scenes = parse(["symmetry", "--demo"])
    _check_args(scenes)
    assert (scenes.threshold, scenes.null) == (0.15, "labels")
    explicit = parse(["symmetry", "--demo", "photos", "--threshold", "0.15", "--null", "labels"])
    _check_args(explicit)  # an explicit value is never replaced by a default
    assert (explicit.threshold, explicit.null) == (0.15, "labels")


def test_the_model_options_table_lists_every_schema_entry():
    from spikegrad.learning.models import MODEL_OPTIONS

    text = DOCS.read_text().split("## Model options", 1)[1]
    rows = {tuple(c.strip().strip("`") for c in ln.split("|")[1:3])
            for ln in text.splitlines() if ln.startswith("| `")}
    want = {(m, k) for m, opts in MODEL_OPTIONS.items() for k in opts}
    assert rows == want


def test_train_named_neuron_flags_set_their_model_options():
    from spikegrad.learning.models import NEURON_FLAGS

    train = dict(COMMANDS)["train"]
    flags = {o for a in train._actions for o in a.option_strings}
    assert set(NEURON_FLAGS) <= flags
