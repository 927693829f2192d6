"""One schema for every KEY=VALUE flag, resource caps, no empty --out, atomic plots.

Each CLI case runs the real ``spikegrad`` entry point (:func:`spikegrad.cli.main`) and
asserts exit code 2 with exactly one stderr line that names the flag and the key; the
sweep cases run once with ``--dry-run`` and once without and must give the same line (the
dry run checks exactly what the real run checks).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hostile_support import run_cli
from spikegrad._checks import (
    PER_CORE,
    SpikegradInputError,
    check_parallel,
    machine_cores,
    network_bytes,
)
from spikegrad.learning.rules import RULE_OPTIONS, make_rule, rule_class, rule_options_schema

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _one_line(rc: int, err: str, *words: str) -> str:
    assert "Traceback" not in err
    assert rc == 2, err[-800:]
    lines = [ln for ln in err.strip().splitlines() if "warning:" not in ln]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


# -- --rule-option: declared per rule, typed, ranged, capped ------------------------------

RULE_CASES = [
    # (argv after the command, words of the one error line)
    ("--rule node --rule-option trials=1.5", ["--rule-option", "trials", "integer", "1.5"]),
    ("--rule node --rule-option trials=abc", ["--rule-option", "trials", "integer"]),
    ("--rule node --rule-option trials=0", ["--rule-option", "trials", ">= 1"]),
    ("--rule node --rule-option trials=100000000", ["--rule-option", "trials", "<= 100000"]),
    (
        "--rule node --rule-option trials=50000 --batch-size 256",
        ["batch 256 x 50000 trials", "TiB", "this machine has"],
    ),
    ("--rule node --rule-option trials=true", ["--rule-option", "trials", "integer"]),
    ("--rule node --rule-option sigma=-1", ["--rule-option", "sigma", "> 0"]),
    ("--rule node --rule-option sigma=NaN", ["--rule-option", "sigma", "NaN"]),
    ("--rule node --rule-option nope=1", ["--rule-option", "nope", "its options", "trials"]),
    ("--rule bptt --rule-option trials=8", ["--rule-option", "'trials'", "none"]),
    ("--rule tbptt --rule-option k=2.5", ["--rule-option", "'k'", "integer"]),
    ("--rule conductance --model coba --rule-option noise=pink", ["noise", "white"]),
    ("--rule kernel --model srm --task spike-target --rule-option width=0", ["width", "> 0"]),
    (
        "--rule resume --model srm --task spike-target --rule-option amplitude=Infinity",
        ["amplitude", "Infinity"],
    ),
]


@pytest.mark.parametrize("line, words", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_train_rule_option_refused_with_one_line(line, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli(["train", *line.split(), "--out", str(tmp_path / "o")], capsys)
    _one_line(rc, err, *words)
    assert not (tmp_path / "o").exists()  # refused before any folder was made


@pytest.mark.parametrize("line, words", [
    ("--rules node --rule-option node.trials=2.5", ["--rule-option (node)", "trials", "2.5"]),
    ("--rules node --rule-option trials=500000", ["--rule-option (node)", "<= 100000"]),
    ("--rules node weight --rule-option weight.nope=1", ["--rule-option (weight)", "nope"]),
    ("--rules node --rule-option node.sigma=abc", ["sigma", "number"]),
])  # fmt: skip
def test_compare_rule_option_through_the_same_schema(line, words, tmp_path, capsys):
    rc, _, err = run_cli(["compare", *line.split(), "--out", str(tmp_path / "c")], capsys)
    _one_line(rc, err, *words)
    assert not (tmp_path / "c").exists()


def test_a_valid_rule_option_reaches_the_rule(tmp_path, capsys):
    """The schema passes a valid value through unchanged: the dry run of a sweep cell and
    the rule it builds carry it."""
    rule = make_rule("node", trials=3, sigma=0.25, baseline="running")
    assert (rule.trials, rule.sigma, rule.baseline) == (3, 0.25, "running")
    assert make_rule("weight", sigma=None).sigma is None  # None: chosen per model later
    rc, out, err = run_cli(["sweep", "--set", "rule=node", "--set", "rule_options={trials=3}",
                            "--dry-run", "--out", str(tmp_path / "s")], capsys)  # fmt: skip
    assert rc == 0 and out.strip().endswith("1 runs"), err


@pytest.mark.parametrize("name", sorted(RULE_OPTIONS))
def test_every_declared_rule_declares_exactly_its_settings(name):
    """A setting added to a rule class without a declaration (or a declaration of a
    setting the class lacks) fails here, not at a user's command line."""
    cls = rule_class(name)
    fields = {f.name for f in dataclasses.fields(cls) if f.init} if dataclasses.is_dataclass(
        cls) else set()  # fmt: skip
    assert set(RULE_OPTIONS[name]) == fields


def test_undeclared_rules_get_a_schema_from_their_fields():
    schema = rule_options_schema("eprop-random")  # declared by its dataclass field
    assert set(schema) == {"seed"}
    with pytest.raises(SpikegradInputError, match="'seed' must be an integer"):
        make_rule("eprop-random", seed=1.5)
    with pytest.raises(SpikegradInputError, match="has no option 'nope'"):
        make_rule("ottt", nope=1)


# -- stream --param --------------------------------------------------------------------


@pytest.mark.parametrize("line, words", [
    ("--param nope=1", ["--param", "'oesnn'", "nope", "its options"]),
    ("--param n_fields=2.5", ["--param", "n_fields", "integer", "2.5"]),
    ("--param n_fields=0", ["--param", "n_fields", ">= 1"]),
    ("--param n_fields=100000", ["--param", "n_fields", "<= 1000"]),
    ("--param max_neurons_per_class=100000000", ["max_neurons_per_class", "<= 100000"]),
    ("--param beta=NaN", ["--param", "beta", "finite"]),
    ("--param replace=newest", ["--param", "replace", "oldest"]),
    ("--model eprop --param n_hidden=1000000", ["--param", "'eprop'", "n_hidden", "<= 4096"]),
    ("--model eprop --param n_steps=2", ["n_steps", ">= 4"]),
    ("--model knn --param n_neighbors=-3", ["n_neighbors", ">= 1"]),
    ("--model oesnn-bagging --param n_models=2.5", ["n_models", "integer"]),
    ("--param =3", ["--param", "KEY=VALUE"]),
])  # fmt: skip
def test_stream_param_typed_ranged_and_capped(line, words, tmp_path, capsys):
    pytest.importorskip("river")
    argv = ["stream", "--task", "sea", "--samples", "10", *line.split(), "--out",
            str(tmp_path / "s")]  # fmt: skip
    rc, _, err = run_cli(argv, capsys)
    _one_line(rc, err, *words)
    assert not (tmp_path / "s").exists()


# -- sweep --set: the dry run checks what the real run checks ---------------------------

SWEEP_CASES = [
    (["rule=node", "rule_options={trials=1.5}"], ["trials", "integer"]),
    (["rule=node", "rule_options={nope=1}"], ["nope", "its options"]),
    (["model_options={threshold=-1}"], ["threshold", "> 0"]),
    (["hidden=[100000000]"], ["run ", "TiB", "hidden 100000000"]),
    (["batch_size=10000000000"], ["run ", "TiB", "batch 10000000000"]),
    (["dataset_options={samples_per_class=1000000000}"], ["run ", "generated samples"]),
    (["epochs=2.5"], ["epochs", "integer"]),
]


@pytest.mark.parametrize("sets, words", SWEEP_CASES, ids=[" ".join(c[0]) for c in SWEEP_CASES])
def test_sweep_set_dry_run_checks_what_the_run_checks(sets, words, tmp_path, capsys):
    argv = ["sweep", *(a for s in sets for a in ("--set", s)), "--out", str(tmp_path / "w")]
    rc, _, err = run_cli([*argv, "--dry-run"], capsys)
    dry = _one_line(rc, err, *words)
    rc, _, err = run_cli(argv, capsys)
    assert _one_line(rc, err, *words) == dry
    assert not (tmp_path / "w").exists()


# -- resource flags and sizes capped to the machine, with the estimate in the message ----


def test_network_bytes_by_hand():
    # weights 4*5 + 5*6 = 50 (x16 bytes: value, gradient, two Adam moments) = 800;
    # states 2 samples x 3 steps x (4 + 5 + 6) neurons x 32 bytes = 2880
    assert network_bytes(2, 3, 4, [5], 6) == 800 + 2880
    assert network_bytes(2, 3, 4, [5], 6, recurrent=True) == 800 + 25 * 16 + 2880
    # two layers: 4*5 + 5*7 + 7*6 = 97 weights; 2*3*(4+5+7+6) = 132 states
    assert network_bytes(2, 3, 4, [5, 7], 6) == 97 * 16 + 132 * 32


def test_parallel_cap_is_per_core():
    cap = PER_CORE * machine_cores()
    assert check_parallel("--threads", cap) == cap
    with pytest.raises(SpikegradInputError, match=f"--threads must be <= {cap} on this"):
        check_parallel("--threads", cap + 1)


THREAD_WRITERS = [
    "train --threads {n} --out {tmp}/o",
    "perturb --threads {n} --out {tmp}/o",
    "spiketrain --threads {n} --out {tmp}/o",
    "stream --task sea --samples 10 --threads {n} --out {tmp}/o",
    "symmetry --demo --threads {n} --out {tmp}/o",
    "compare --workers {n} --out {tmp}/o",
    "sweep --workers {n} --out {tmp}/o",
    "reproduce zenke-vogels --workers {n} --estimate",
    "data spoken-digits --workers {n} --out {tmp}/o",
]


@pytest.mark.parametrize("line", THREAD_WRITERS, ids=[c.split(" --out")[0] for c in THREAD_WRITERS])
@pytest.mark.parametrize("n", ["huge", "1000000000000"])
def test_threads_and_workers_capped_with_one_line(line, n, tmp_path, capsys, monkeypatch):
    """``--threads 10**12`` was an OverflowError traceback inside torch; a count beyond the
    cap is refused naming the flag and the machine (cores or memory)."""
    monkeypatch.chdir(tmp_path)
    value = str(PER_CORE * machine_cores() + 1) if n == "huge" else n
    rc, _, err = run_cli(line.format(n=value, tmp=tmp_path).split(), capsys)
    flag = "--threads" if "--threads" in line else "--workers"
    _one_line(rc, err, flag, "on this machine", value)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("line, words", [
    ("train --hidden 100000000", ["--hidden", "TiB", "hidden 100000000", "this machine has"]),
    ("train --batch-size 100000000", ["--batch-size", "TiB", "batch 100000000"]),
    ("train --samples-per-class 1000000000", ["TiB", "generated samples"]),
    ("compare --hidden 100000000", ["--hidden", "TiB"]),
    ("compare --batch-size 100000000", ["--batch-size", "TiB"]),
    ("symmetry --demo --scenes 1000000000", ["--scenes", "TiB", "256x256"]),
    ("symmetry --demo --ticks-per-pixel 1e12", ["--ticks-per-pixel", "at most 1000"]),
    ("symmetry --demo --delay-per-pixel 1e6", ["--delay-per-pixel", "at most 1000"]),
    ("perturb --iterations 1000000000000", ["--iterations", "at most 10000000"]),
])  # fmt: skip
def test_sizes_capped_with_the_estimate(line, words, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli([*line.split(), "--out", str(tmp_path / "o")], capsys)
    _one_line(rc, err, *words)
    assert not (tmp_path / "o").exists()


# -- no empty --out left behind -----------------------------------------------------------


def test_a_locked_folder_this_process_made_is_removed_when_left_empty(tmp_path):
    from spikegrad.io.run import lock_run_folder, release_run_folders

    lock_run_folder(tmp_path / "a" / "b" / "c", "train")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    release_run_folders()
    assert not (tmp_path / "a").exists()  # every folder it made, none it found
    (tmp_path / "kept").mkdir()
    lock_run_folder(tmp_path / "kept", "train")
    lock_run_folder(tmp_path / "full", "train")
    (tmp_path / "full" / "config.json").write_text("{}")
    release_run_folders()
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())
    assert (tmp_path / "full" / "config.json").read_text() == "{}"


def test_refused_after_the_lock_leaves_no_out_folder(tmp_path, capsys):
    """mnist's files are read after the run folder is locked: a folder without them is
    refused with one line and the new --out does not stay behind empty."""
    (tmp_path / "nodata").mkdir()
    out = tmp_path / "new" / "run"
    rc, _, err = run_cli(["train", "--task", "mnist", "--data-dir", str(tmp_path / "nodata"),
                          "--epochs", "1", "--out", str(out)], capsys)  # fmt: skip
    _one_line(rc, err)
    assert not (tmp_path / "new").exists()


# -- plots are written atomically --------------------------------------------------------


def test_a_failed_plot_leaves_the_previous_file_and_no_temp(tmp_path):
    from spikegrad.viz.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "p.png", dpi=50)
    good = path.read_bytes()
    assert good.startswith(b"\x89PNG") and good.endswith(b"IEND\xaeB`\x82")

    class Broken(__import__("matplotlib").artist.Artist):
        def draw(self, renderer):
            raise RuntimeError("drawing failed half way")

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.add_artist(Broken())
    with pytest.raises(RuntimeError, match="half way"):
        save_figure(fig, tmp_path / "p.png", dpi=50)
    assert (tmp_path / "p.png").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


PLOT_ON_FULL_DISK = textwrap.dedent(
    """
    import resource, sys
    from spikegrad.viz.plots import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(12, 12))
    ax.imshow(__import__("numpy").random.default_rng(0).random((400, 400)))
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    try:
        save_figure(fig, sys.argv[1], dpi=100)
    except OSError as exc:
        print("errno", exc.errno)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="rlimits")
def test_a_plot_cut_by_a_full_disk_leaves_no_partial_file(tmp_path):
    """A plot larger than the disk's room: the write fails part way (EFBIG, as a full
    disk's ENOSPC) and neither a truncated PNG nor a temporary file remains."""
    import errno
    import signal

    target = tmp_path / "big.png"
    target.write_bytes(b"previous")
    env = {**os.environ, "PYTHONPATH": SRC}
    r = subprocess.run(
        [sys.executable, "-c", PLOT_ON_FULL_DISK, str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN),
    )
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.strip() == f"errno {errno.EFBIG}"
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_the_rule_options_table_of_docs_cli_lists_every_schema_entry():
    from spikegrad.learning.rules import RULES

    docs = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
    text = docs.read_text().split("## Rule options", 1)[1].split("\n## ", 1)[0]
    rows = {tuple(c.strip().strip("`") for c in ln.split("|")[1:4])
            for ln in text.splitlines() if ln.startswith("| `")}  # fmt: skip
    want = {(r, k, o.type) for r in RULES for k, o in rule_options_schema(r).items()}
    assert rows == want


@pytest.mark.parametrize(
    "line, words",
    [
        ("train --manifold-dim 1000000000000", ["TiB", "-D manifold"]),
        ("train --layers 1000000000000", ["--layers", "at most 1000"]),
        ("train --epochs 1000000000000", ["--epochs", "at most 1000000"]),
        ("train --shd-steps 50", ["--shd-steps", "randman"]),
        ("train --task digits --shd-duration 2", ["--shd-duration", "digits"]),
        ("train --data-dir {tmp}", ["--data-dir", "randman", "reads no files"]),
        ("compare --n-seeds 1000000000000", ["--n-seeds", "at most 10000"]),
        ("spiketrain --inputs 1000000000000", ["--inputs", "TiB", "1000000000000 inputs"]),
        ("spiketrain --rate 1000000000000", ["--rate", "TiB", "1e+12 Hz"]),
        ("spiketrain --duration 1000000000000", ["--duration", "TiB", "1e+15 steps"]),
        ("spiketrain --tau 1000000000000", ["--tau", "TiB", "tau 1e+12 s"]),
        ("spiketrain --epochs 1000000000000", ["--epochs", "at most 1000000"]),
        ("spiketrain --lr nan", ["--lr", "finite"]),
        ("spiketrain --lr-hidden -1", ["--lr-hidden", ">= 0"]),
        ("spiketrain --lr-delay inf", ["--lr-delay", "finite"]),
        ("spiketrain --jitter 0.01", ["--jitter", "--task classify"]),
        ("spiketrain --classes 5", ["--classes", "--task classify"]),
        ("spiketrain --task classify --jitter nan", ["--jitter", "finite"]),
        ("spiketrain --task classify --test-per-class -1", ["--test-per-class", ">= 1"]),
        ("perturb --lr-end inf", ["--lr-end", "finite"]),
        ("perturb --data-seed -1", ["--data-seed", ">= 0"]),
        ("perturb --hidden 1000000000000", ["--hidden", "--task is rates"]),
        ("perturb --samples-per-class 5", ["--samples-per-class", "--task is rates"]),
        ("perturb --trials 1000000000000", ["--trials", "--check-gradient"]),
        ("compare --epochs 1000000000000", ["--epochs", "at most 1000000"]),
        ("compare --lr inf", ["--lr", "finite"]),
        ("data spoken-digits --speakers 1000000000000", ["--speakers", "TiB", "utterances"]),
        ("data spoken-digits --repeats 1000000000000", ["--repeats", "TiB", "utterances"]),
    ],
)
def test_flags_found_by_the_hostile_sweep(line, words, tmp_path, capsys, monkeypatch):
    """Tracebacks (an allocation of petabytes, a MemoryError building 10^12 layer sizes)
    and flags silently ignored by the task (SHD binning, a data folder for generated data)."""
    monkeypatch.chdir(tmp_path)
    argv = [*line.format(tmp=tmp_path).split(), "--out", str(tmp_path / "o")]
    rc, _, err = run_cli(argv, capsys)
    _one_line(rc, err, *words)
    assert not (tmp_path / "o").exists()


def test_stream_param_tables_declare_every_constructor_setting():
    """A setting added to the OeSNN or e-prop learner without a --param declaration would
    be refused at the command line: every constructor parameter must be declared."""
    import inspect

    from spikegrad.commands.stream import _stream_params
    from spikegrad.online.eprop_river import EpropClassifier
    from spikegrad.online.esnn import OeSNNClassifier

    tables = _stream_params()
    from spikegrad.online.esnn import REDUCTIONS

    assert tables["oesnn"]["reduction"].choices == REDUCTIONS
    for model, cls in (("oesnn", OeSNNClassifier), ("eprop", EpropClassifier)):
        params = set(inspect.signature(cls.__init__).parameters) - {"self", "drift_detector"}
        assert params <= set(tables[model]), (model, params - set(tables[model]))
