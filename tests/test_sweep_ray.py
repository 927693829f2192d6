"""The Ray executor against a local Ray instance started by the test."""

import json
import os

import pytest

from spikegrad.experiments.config import SweepSpec
from spikegrad.experiments.sweep import load_results, run_sweep

ray = pytest.importorskip("ray")

TINY = {
    "epochs": 1,
    "hidden": [8],
    "batch_size": 60,
    "dataset_options": {"n_classes": 3, "samples_per_class": 20, "n_units": 10},
}


@pytest.fixture(scope="module")
def local_ray():
    # one CPU: one Ray worker process to start (importing torch there is the slow part)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


# ~12 s at load 5 on 2 cores (Ray start-up and one worker importing torch); 70-95 s at load 11
def test_ray_executor_writes_the_same_files_and_resumes(tmp_path, local_ray):
    runs = SweepSpec.from_dict({"name": "ray", "base": TINY, "grid": {"seed": [0, 1]}}).expand()
    bad = SweepSpec.from_dict(
        {"name": "bad", "base": {**TINY, "dataset": "mnist", "dataset_options": {}}}
    ).expand()
    # one run first, in this process; then the sweep on Ray: finished runs are skipped
    local = run_sweep(runs[:1], tmp_path, progress=False)
    assert local.finished == 1
    res = run_sweep(runs + bad, tmp_path, executor="ray", progress=False)
    assert (res.skipped, res.finished, res.failed) == (1, 1, 1)
    assert "data_dir" in (tmp_path / "errors" / f"{bad[0].run_id}.txt").read_text()
    recs = load_results(tmp_path, [r.run_id for r in runs])
    assert [r["config"]["seed"] for r in recs] == [0, 1]
    assert all(r["status"] == "ok" for r in recs)
    assert recs[1]["pid"] != os.getpid()  # ran in a Ray worker process
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 3
    # the Ray run gives the same numbers as the same run in-process (deterministic on CPU)
    again = run_sweep(runs[1:2], tmp_path / "local", progress=False)
    assert again.rows[0]["test_accuracy"] == res.rows[1]["test_accuracy"]
    assert json.loads((tmp_path / "runs" / f"{runs[1].run_id}.json").read_text())["metrics"]
