"""Hostile-input sweep over every ``spikegrad`` command: each numeric flag, each file argument.

For every command the parser lists, every option whose type is ``int`` or ``float`` gets
each hostile value of :data:`NUMERIC` (negative, zero, NaN, inf, huge, a float for an
integer, a string) and every file or folder argument each of :data:`FILES` (missing,
empty, garbage), on top of a base command line that makes a valid run short. Each case
runs in a forked child (``spikegrad.cli.main`` in-process, output to files, a time limit)
and is classified:

* ``one-line``: exit code 2, exactly one ``error:`` line on stderr, no traceback;
* ``accepted``: exit code 0 (the value is valid there, e.g. ``--seed 0``);
* ``traceback``, ``multi-line``, ``exit N`` (another code), ``timeout``: defects, listed.

Run (about 10 minutes on 2 cores)::

    PYTHONPATH=src python scripts/hostile_sweep.py [--only train,stream] [--json out.jsonl]
    PYTHONPATH=src python scripts/hostile_sweep.py --table out.jsonl [more.jsonl ...]

It prints the kinds x commands table of ``docs/reliability.md`` and every case that is
not ``one-line`` or ``accepted``; accepted hostile values are listed for review.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: hostile values of a numeric flag: kind -> text
NUMERIC = {
    "negative": "-1",
    "zero": "0",
    "nan": "nan",
    "inf": "inf",
    "huge": "1000000000000",
    "float-for-int": "2.5",
    "string": "abc",
}

#: hostile file arguments: kind -> how to make it in a fresh folder
FILES = ("missing", "empty", "garbage")

AUDIO = Path(__file__).resolve().parents[1] / "tests" / "data" / "audio" / "en_one.wav"

#: command -> base argv (after the command) that makes a valid run short; {tmp} is a fresh
#: folder per case, {run} a finished small train run, {wav} a recording
BASE = {
    "train": "--epochs 1 --classes 2 --units 5 --samples-per-class 20 --hidden 4 "
    "--batch-size 4 --quiet --no-plots --out {tmp}/o",
    "compare": "--epochs 1 --n-seeds 1 --rules bptt --task randman --task-option "
    "samples_per_class=10 --hidden 8 --probe-trials 2 --probe-sizes 4 --draws 2 --quiet "
    "--out {tmp}/o",
    "perturb": "--iterations 1 --no-plots --out {tmp}/o",
    "spiketrain": "--epochs 1 --inputs 50 --no-plots --out {tmp}/o",
    "stream": "--task sea --samples 20 --print-every 0 --no-plots --out {tmp}/o",
    "symmetry": "--demo --scenes 1 --no-plots --out {tmp}/o",
    "sweep": "--set epochs=1 --dry-run --out {tmp}/o",
    "reproduce": "zenke-vogels --estimate",
    "encode-audio": "{wav} --out {tmp}/o.h5 --quiet",
    "export-nir": "{run} {tmp}/o.nir",
    "import-nir": "{tmp}/missing.nir",
    "predict": "{run} {tmp}/x.npy",
    "data spoken-digits": "--speakers 2 --test-speakers 1 --repeats 1 --labels 0 1 --out {tmp}/o "
    "--quiet",
    "models": "",
    "rules": "",
    "tasks": "",
    "surrogates": "",
}

#: flags that take a file or folder to read (positional arguments: by dest)
FILE_DESTS = {"data_dir", "resume", "grid", "run", "inputs", "input", "path", "file", "image",
              "wav", "files", "run_dir", "nir_file", "images"}  # fmt: skip

#: command -> argv (after the command) with a file argument {F} (a file with that suffix):
#: each gets a missing, an empty and a garbage file
FILE_CASES = {
    "train": [("--resume", "--resume {F}/", "")],
    "sweep": [("GRID", "{F} --out {tmp}/o", ".toml")],
    "stream": [("--task", "--task {F} --samples 20 --out {tmp}/o", ".csv")],
    "symmetry": [
        ("IMAGE", "{F} --no-plots --out {tmp}/o", ".png"),
        ("IMAGE", "{F} --no-plots --out {tmp}/o", ".npy"),
    ],
    "encode-audio": [("WAV", "{F} --out {tmp}/o.h5 --quiet", ".wav")],
    "export-nir": [("RUN", "{F}/ {tmp}/o.nir", ""), ("RUN/checkpoint.pt", "{G} {tmp}/o.nir", "")],
    "import-nir": [("NIR", "{F}", ".nir")],
    "predict": [
        ("RUN", "{F}/ {tmp}/x.npy", ""),
        ("INPUT", "{run} {F}", ".npy"),
        ("INPUT", "{run} {F}", ".h5"),
    ],
    "reproduce": [("--out", "zenke-vogels --report-only --out {F}/", "")],
    "train --task shd": [("--data-dir", "--task shd --data-dir {F}/ --epochs 1 --out {tmp}/o", "")],
}

LIMIT_S = 20


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out = {}
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, p in a.choices.items():
                nested = _subcommands(p)
                if nested:
                    out.update({f"{name} {k}": v for k, v in nested.items()})
                else:
                    out[name] = p
    return out


def _cases(name: str, p: argparse.ArgumentParser) -> list[tuple[str, str, list[str]]]:
    """(flag, kind, extra argv) for every hostile value of every flag of command ``name``."""
    cases = []
    for a in p._actions:
        if a.help == argparse.SUPPRESS or isinstance(a, argparse._HelpAction):
            continue
        flag = a.option_strings[0] if a.option_strings else None
        if a.type in (int, float) and flag:
            for kind, text in NUMERIC.items():
                if kind == "float-for-int" and a.type is float:
                    continue
                n = 1 if a.nargs in (None, "?") else 1
                cases.append((flag, kind, [flag, *([text] * n)]))
        elif (a.type is Path or a.dest in FILE_DESTS) and flag and flag != "--out":
            for kind in FILES:
                cases.append((flag, f"file-{kind}", [flag, "{f_" + kind + "}"]))
    return cases


def _make_files(tmp: Path) -> dict[str, str]:
    (tmp / "empty").write_bytes(b"")
    (tmp / "garbage").write_bytes(os.urandom(512))
    return {"f_missing": str(tmp / "missing"), "f_empty": str(tmp / "empty"),
            "f_garbage": str(tmp / "garbage")}  # fmt: skip


def _run(argv: list[str], tmp: Path) -> tuple[str, str]:
    """Run ``spikegrad argv`` in a forked child; (outcome, last stderr line)."""
    err_path = tmp / "stderr.txt"
    pid = os.fork()
    if pid == 0:  # child
        os.setsid()
        fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.chdir(tmp)
        code = 99
        try:
            from spikegrad.cli import main

            code = int(main(argv) or 0)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 98
        finally:
            sys.stderr.flush()
            os._exit(code)
    t0 = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > LIMIT_S:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", ""
        time.sleep(0.05)
    rc = os.waitstatus_to_exitcode(status)
    err = err_path.read_text(errors="replace") if err_path.exists() else ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if "Traceback" in err or rc in (98, 99) or rc < 0:
        return "traceback", last
    errors = [ln for ln in lines if "error:" in ln]
    others = [ln for ln in lines if "error:" not in ln and "warning:" not in ln
              and not ln.startswith(("usage:", " "))]  # fmt: skip
    if rc == 2:
        return ("one-line" if len(errors) == 1 and not others else "multi-line"), last
    if rc == 0:
        return "accepted", last
    return f"exit {rc}", last


def _save(path: Path | None, row: dict) -> None:
    if path is not None:
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def report(rows: list[dict]) -> None:
    """Print the kinds x commands table, the defects and the accepted hostile values."""
    kinds = [*NUMERIC, *(f"file-{k}" for k in FILES)]
    cmds = sorted({r["command"] for r in rows})
    print("\n| command | " + " | ".join(kinds) + " | defects |")
    print("|---" * (len(kinds) + 2) + "|")
    for c in cmds:
        cells = []
        for k in kinds:
            rs = [r for r in rows if r["command"] == c and r["kind"] == k]
            ok = sum(r["outcome"] in ("one-line", "accepted") for r in rs)
            cells.append(f"{ok}/{len(rs)}" if rs else "-")
        bad = sum(r["outcome"] not in ("one-line", "accepted") for r in rows if r["command"] == c)
        print(f"| {c} | " + " | ".join(cells) + f" | {bad} |")
    total = len(rows)
    clean = sum(r["outcome"] == "one-line" for r in rows)
    acc = sum(r["outcome"] == "accepted" for r in rows)
    print(f"\n{total} cases: {clean} one-line refusals, {acc} accepted, "
          f"{total - clean - acc} defects")  # fmt: skip
    for r in rows:
        if r["outcome"] not in ("one-line", "accepted"):
            print(f"DEFECT {r['outcome']}: {' '.join(r['argv'])[:160]} -> {r['stderr'][:160]}")
    for r in rows:
        if r["outcome"] == "accepted" and r["kind"] in (
            "negative",
            "nan",
            "inf",
            "huge",
            "float-for-int",
            "string",
        ):
            print(f"REVIEW accepted {r['kind']}: {r['command']} {r['flag']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated commands (default: all)")
    ap.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write every case here, one JSON line per case as it ends",
    )
    ap.add_argument(
        "--table",
        type=Path,
        nargs="+",
        default=None,
        help="print the table of cases saved by --json (several files: merged, "
        "the last case of each command line wins) and exit",
    )
    opts = ap.parse_args()
    if opts.table:
        merged: dict[str, dict] = {}
        for f in opts.table:
            for ln in f.read_text().splitlines():
                r = json.loads(ln)
                merged[" ".join([r["command"], r["flag"], r["kind"], r["case"]])] = r
        report(list(merged.values()))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from spikegrad.cli import build_parser

    commands = _subcommands(build_parser())
    only = [c for c in opts.only.split(",") if c]
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    run = root / "run"  # one finished run for the commands that read one
    # the finished run comes from a child process: a parent that ran torch / numba thread
    # pools and then forks can deadlock its children (a lock held by a pool thread)
    ref = ["train", "--epochs", "1", "--classes", "2", "--units", "5", "--samples-per-class",
           "20", "--hidden", "4", "--quiet", "--no-plots", "--out", str(run)]  # fmt: skip
    subprocess.run([sys.executable, "-m", "spikegrad", *ref], check=True)
    rows = []
    for name, cases in sorted(FILE_CASES.items()):
        command = name.split()[0]
        if only and command not in only:
            continue
        for label, template, suffix in cases:
            for kind in FILES:
                tmp = Path(tempfile.mkdtemp(dir=root))
                f = tmp / f"f{suffix}"
                g = tmp / "run"  # a run folder whose checkpoint.pt is the hostile file
                g.mkdir()
                if kind == "empty":
                    f.write_bytes(b"") if suffix else f.mkdir()
                elif kind == "garbage":
                    if suffix:
                        f.write_bytes(os.urandom(512))
                    else:
                        f.mkdir()
                        for n in ("config.json", "checkpoint.pt", "metrics.json"):
                            (f / n).write_bytes(os.urandom(256))
                if kind != "missing":
                    (g / "config.json").write_text((run / "config.json").read_text())
                    (g / "checkpoint.pt").write_bytes(b"" if kind == "empty" else os.urandom(512))
                fmt = {"tmp": str(tmp), "run": str(run), "F": str(f), "G": str(g)}
                argv = [command, *template.format(**fmt).split()]
                outcome, last = _run(argv, tmp)
                rows.append({"command": command, "flag": label, "kind": f"file-{kind}",
                             "outcome": outcome, "argv": argv, "stderr": last,
                             "case": f"{label}{suffix}"})  # fmt: skip
                print(f"{outcome:11s} {' '.join(argv[-3:])[:150]}", flush=True)
                _save(opts.json, rows[-1])
    for name, parser in sorted(commands.items()):
        if only and name not in only:
            continue
        base = BASE.get(name, "")
        for flag, kind, extra in _cases(name, parser):
            tmp = Path(tempfile.mkdtemp(dir=root))
            fmt = {"tmp": str(tmp), "run": str(run), "wav": str(AUDIO), **_make_files(tmp)}
            argv = [*name.split(), *base.format(**fmt).split(),
                    *(e.format(**fmt) for e in extra)]  # fmt: skip
            outcome, last = _run(argv, tmp)
            rows.append({"command": name, "flag": flag, "kind": kind, "outcome": outcome,
                         "argv": argv, "stderr": last, "case": extra[-1]})  # fmt: skip
            print(f"{outcome:11s} {' '.join(argv[-3:])[:150]}", flush=True)
            _save(opts.json, rows[-1])
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
