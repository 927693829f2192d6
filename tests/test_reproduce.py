"""`spikegrad reproduce zenke-vogels`: the smoke pipeline and the verdict rules."""

import csv
import json

import pytest

from spikegrad.cli import main
from spikegrad.experiments.reports import scale_findings, shape_findings, sparse_findings
from spikegrad.experiments.study import PROFILES, estimate_cost, zenke_vogels_runs

VERDICTS = {"reproduced", "partly", "not reproduced", "not resolved", "no data"}


def test_smoke_pipeline_writes_every_file(tmp_path, capsys):
    pytest.importorskip("sklearn")  # the data-set part includes the sklearn digits
    out = tmp_path / "zv"
    rc = main(
        [
            "reproduce",
            "zenke-vogels",
            "--profile",
            "smoke",
            "--out",
            str(out),
            "--workers",
            "1",
            "--quiet",
        ]
    )
    assert rc == 0
    n_runs = len(zenke_vogels_runs("smoke"))
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n_runs
    assert {
        "experiment",
        "condition",
        "surrogate",
        "beta",
        "lr",
        "test_accuracy",
        "spikes_per_neuron",
    } <= set(rows[0])
    assert {r["experiment"] for r in rows} == {"shape", "scale", "sparse", "datasets"}
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert len(verdicts) >= 8
    # the smoke profile decides nothing: every verdict says so (issue 34, item 5), and
    # the rule's own verdict is kept beside it
    for v in verdicts:
        assert set(v) >= {"finding", "verdict", "evidence", "computed_verdict"}
        assert v["verdict"] == "pipeline check, not evidence"
        assert v["computed_verdict"] in VERDICTS
    printed = capsys.readouterr().out
    assert printed.count("[pipeline check, not evidence]") == len(verdicts)
    assert "[not reproduced]" not in printed and "[reproduced]" not in printed
    # the zero-gradient control of the smoke run stays silent and at chance
    zero = next(v for v in verdicts if v["id"] == "zero-gradient")
    assert zero["computed_verdict"] == "reproduced"
    report = (out / "report.md").read_text()
    for part in ("## 1. Shape", "## 2. Scale", "## 3. Sparse", "## 4. Data sets", "machine"):
        assert part in report
    assert (out / "shape.png").stat().st_size > 0 and (out / "scale.png").exists()
    # starting again resumes: nothing is rerun, the report is rewritten
    capsys.readouterr()
    assert (
        main(
            [
                "reproduce",
                "zenke-vogels",
                "--profile",
                "smoke",
                "--out",
                str(out),
                "--workers",
                "1",
                "--quiet",
                "--report-only",
            ]
        )
        == 0
    )
    assert f"{n_runs} of {n_runs} cells" in capsys.readouterr().out
    # --report-only without --profile reports the folder's own profile (study.json) and
    # never empties results.csv; another profile, explicit, is refused and touches nothing
    before = (out / "results.csv").read_text()
    base = ["reproduce", "zenke-vogels", "--out", str(out), "--quiet"]
    assert main([*base, "--report-only"]) == 0
    assert f"{n_runs} of {n_runs} cells" in capsys.readouterr().out
    assert (out / "results.csv").read_text() == before
    for extra in (["--profile", "quick", "--report-only"], ["--profile", "quick"]):
        assert main([*base, *extra]) == 2
        assert "at --profile smoke" in capsys.readouterr().err
    assert (out / "results.csv").read_text() == before


def test_profiles_and_estimate(capsys):
    quick = zenke_vogels_runs("quick")
    assert 50 <= len(quick) <= 100
    shapes = {r.config["surrogate"] for r in quick if r.tags["experiment"] == "shape"}
    assert shapes == {"superspike", "sigmoid", "esser", "constant", "zero"}
    betas = {r.config["beta"] for r in quick if r.tags.get("condition") == "esser"}
    assert min(betas) <= 0.1 and max(betas) >= 1000
    # quick must fit 20 min on two idle workers by our own cost model
    assert estimate_cost(quick) / 2 < 20 * 60
    assert len(zenke_vogels_runs("full")) > 1000
    assert PROFILES["full"].epochs == 100
    runs = zenke_vogels_runs("smoke", {"mnist": "/data/m", "shd": "/data/s"})
    conds = {r.tags["condition"] for r in runs if r.tags["experiment"] == "datasets"}
    assert conds == {"randman", "randman-hard", "digits", "mnist", "shd"}
    assert main(["reproduce", "zenke-vogels", "--profile", "quick", "--estimate"]) == 0
    assert "runs" in capsys.readouterr().out


def test_data_dir_holds_one_subfolder_per_data_set_and_old_flags_still_work(tmp_path, capsys):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "shd").mkdir()
    base = ["reproduce", "zenke-vogels", "--profile", "smoke", "--estimate"]

    def estimate(*flags):
        assert main([*base, *flags]) == 0
        return capsys.readouterr().out

    plain, both = estimate(), estimate("--data-dir", str(tmp_path))
    assert both != plain  # two data sets joined the study
    old = estimate("--mnist-dir", str(tmp_path / "mnist"), "--shd-dir", str(tmp_path / "shd"))
    assert old == both
    for flags, words in ((["--data-dir", str(tmp_path / "no")], "--data-dir"),
                         (["--data-dir", str(tmp_path / "shd")], "subfolders")):  # fmt: skip
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def _sel(experiment, condition, acc, val=None, **kw):
    return {
        "experiment": experiment,
        "condition": condition,
        "test_accuracy_mean": acc,
        "val_accuracy_mean": acc if val is None else val,
        "spikes_per_neuron_mean": 1.0,
        "lr": 0.05,
        "beta": kw.pop("beta", 10.0),
        "data.n_classes": 10,
        **kw,
    }


def _verdict(findings, fid):
    return next(f["verdict"] for f in findings if f["id"] == fid)


def test_shape_verdicts_follow_the_numbers():
    rows = [
        _sel("shape", s, a, beta=b)
        for s, a in (("superspike", 0.9), ("sigmoid", 0.88), ("esser", 0.87))
        for b in (0.1, 10.0)
    ]
    rows = [
        dict(r, test_accuracy_mean=0.3, val_accuracy_mean=0.3) if r["beta"] == 0.1 else r
        for r in rows
    ]
    rows += [_sel("shape", "constant", 0.5), _sel("shape", "zero", 0.1)]
    f = shape_findings(rows)
    assert _verdict(f, "shape-robust") == "reproduced"
    assert _verdict(f, "zero-gradient") == "reproduced"
    assert _verdict(f, "constant-worse") == "reproduced"
    assert _verdict(f, "beta-matters") == "reproduced"
    # esser far behind: not robust; zero learning: not at chance
    rows2 = [
        dict(r, test_accuracy_mean=0.5, val_accuracy_mean=0.95)
        if r["condition"] == "esser" and r["beta"] == 10.0
        else r
        for r in rows
    ]
    rows2 = [dict(r, test_accuracy_mean=0.6) if r["condition"] == "zero" else r for r in rows2]
    f2 = shape_findings(rows2)
    assert _verdict(f2, "shape-robust") == "not reproduced"
    assert _verdict(f2, "zero-gradient") == "not reproduced"


def test_selection_uses_validation_inside_verdicts():
    # esser's best *test* cell has poor validation: the verdict must use the val-chosen cell
    rows = [
        _sel("shape", "superspike", 0.9),
        _sel("shape", "sigmoid", 0.9),
        _sel("shape", "esser", 0.9, val=0.5, beta=1.0),
        _sel("shape", "esser", 0.6, val=0.8, beta=100.0),
    ]
    f = shape_findings(rows)
    assert _verdict(f, "shape-robust") == "not reproduced"


def _scale(part, cond, acc, layers=1):
    return _sel("scale", cond, acc, part=part, n_layers=layers)


@pytest.mark.parametrize(
    "accs, expected",
    [
        ((0.9, 0.89, 0.5), "reproduced"),
        ((0.9, 0.6, 0.5), "partly"),
        ((0.9, 0.9, 0.88), "partly"),
        ((0.9, 0.5, 0.9), "not reproduced"),
        ((0.15, 0.15, 0.1), "not reproduced"),
    ],
)
def test_scale_reset_verdict(accs, expected):
    rows = [_scale("ff", c, a) for c, a in zip(("sCtl", "aCtl", "aDR"), accs, strict=True)]
    assert _verdict(scale_findings(rows), "scale-reset") == expected


def test_scale_recurrence_and_depth_verdicts():
    rows = [
        _scale("recurrent", "sCtl", 0.85),
        _scale("recurrent", "aCtl", 0.84),
        _scale("recurrent", "aProp", 0.4),
    ]
    rows += [
        _scale("depth", "aCtl", 0.9, 1),
        _scale("depth", "aDR", 0.8, 1),
        _scale("depth", "aCtl", 0.85, 2),
        _scale("depth", "aDR", 0.4, 2),
    ]
    f = scale_findings(rows)
    assert _verdict(f, "scale-recurrence") == "reproduced"
    assert _verdict(f, "scale-depth") == "reproduced"
    flat = [
        r
        if r["condition"] != "aDR" or r["n_layers"] != 2
        else dict(r, test_accuracy_mean=0.78, val_accuracy_mean=0.78)
        for r in rows
    ]
    assert _verdict(scale_findings(flat), "scale-depth") == "partly"


def _sparse(thr, spk, acc):
    cond = "none" if thr is None else "upper"
    return {**_sel("sparse", cond, acc), "upper_threshold": thr, "spikes_per_neuron_mean": spk}


def test_sparse_verdict_needs_a_plateau_and_a_collapse():
    rows = [
        _sparse(None, 3.0, 0.9),
        _sparse(1.0, 1.0, 0.9),
        _sparse(0.2, 0.2, 0.88),
        _sparse(0.05, 0.05, 0.5),
        _sparse(0.01, 0.01, 0.2),
    ]
    (f,) = sparse_findings(rows)
    assert f["verdict"] == "reproduced" and f["critical_spikes_per_neuron"] == pytest.approx(0.2)
    no_collapse = [r for r in rows if r["spikes_per_neuron_mean"] >= 0.2]
    assert sparse_findings(no_collapse)[0]["verdict"] == "partly"
    never_holds = [_sparse(None, 3.0, 0.9), _sparse(1.0, 1.0, 0.6), _sparse(0.2, 0.2, 0.3)]
    assert sparse_findings(never_holds)[0]["verdict"] in ("partly", "not reproduced")
    assert sparse_findings(never_holds)[0]["critical_spikes_per_neuron"] == pytest.approx(3.0)
