"""docs/reproductions/zenke-vogels.md says what the published runs' verdicts.json say."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "reproductions" / "zenke-vogels"
VERDICTS = {"reproduced", "partly", "not reproduced", "not resolved", "no data"}


def _page_module():
    spec = importlib.util.spec_from_file_location("zv_page", ROOT / "bench" / "zv_page.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_page_tables_are_the_published_verdicts():
    page = (ROOT / "docs" / "reproductions" / "zenke-vogels.md").read_text(encoding="utf-8")
    for name in ("standard", "spoken-digits"):
        assert f"<!-- verdicts:{name}:begin -->" in page
        verdicts = json.loads((RUNS / name / "verdicts.json").read_text(encoding="utf-8"))
        assert len(verdicts) == 8 and {v["verdict"] for v in verdicts} <= VERDICTS
        for v in verdicts:  # each finding's row, with its verdict
            assert f"| {v['finding']} | {v['verdict']} |" in page
        for f in ("report.md", "results.csv", "selection.csv", "shape.png", "scale.png"):
            assert (RUNS / name / f).stat().st_size > 0
    assert _page_module().render(page) == page  # bench/zv_page.py would change nothing


def test_published_standard_run_is_the_standard_profile():
    import csv

    from spikegrad.experiments.study import zenke_vogels_runs

    rows = list(csv.DictReader(open(RUNS / "standard" / "results.csv", encoding="utf-8")))
    ids = {r.run_id for r in zenke_vogels_runs("standard")}
    assert {r["run_id"] for r in rows} == ids  # every run of the profile, nothing else
    sel = list(csv.DictReader(open(RUNS / "standard" / "selection.csv", encoding="utf-8")))
    # one learning-rate choice per cell and seed, never more than the grid's two rates
    keys = [(r["experiment"], r.get("part"), r["condition"], r.get("beta"), r.get("hidden"),
             r.get("upper_strength"), r.get("upper_threshold"), r.get("dataset"),
             r.get("data.n_classes"), r["seed"]) for r in sel]  # fmt: skip
    assert len(keys) == len(set(keys)) and {r["lr"] for r in sel} <= {"0.01", "0.05"}
