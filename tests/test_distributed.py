"""Data-parallel training: 2 gloo processes give the weights of 1 process on the same batches.

The batch size 19 leaves a last global batch of one sample (96 training samples = 5 x 19
+ 1), smaller than the number of processes: rank 1 gets an empty shard and must add a
zero gradient instead of failing.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from spikegrad.data.registry import load_dataset
from spikegrad.io.checkpoint import load_payload
from spikegrad.learning.config import TrainConfig, build_model

ARGS = [
    "train",
    "--classes",
    "3",
    "--samples-per-class",
    "40",
    "--hidden",
    "16",
    "--epochs",
    "2",
    "--batch-size",
    "19",
    "--lr",
    "0.02",
    "--seed",
    "1",
    "--quiet",
    "--no-plots",
    "--threads",
    "1",
    "--init",
    "fluctuation",  # the hidden layer spikes from the start, so every weight learns
]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_processes_match_one(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(
        [sys.executable, "-m", "spikegrad", *ARGS, "--out", str(one)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_addr=127.0.0.1",
            "--master_port=29517",
            "-m",
            "spikegrad",
            *ARGS,
            "--out",
            str(two),
        ],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    a = load_payload(one / "last.pt", "spikegrad-resume-1")
    b = load_payload(two / "last.pt", "spikegrad-resume-1")
    assert a["loop"]["epoch"] == b["loop"]["epoch"] == 3
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-5, atol=1e-6, msg=k)
    # training moved every weight away from its initial value (same seed, same init)
    config = TrainConfig.from_dict(json.loads((one / "config.json").read_text()))
    train_set = load_dataset(config.dataset, **config.dataset_options)[0]
    init = build_model(config, 20, 3, train_set).state_dict()
    weights = [k for k in a["model"] if k.endswith("weight")]
    assert weights
    for k in weights:
        assert float((a["model"][k] - init[k]).abs().max()) > 1e-3, k
        assert float((b["model"][k] - init[k]).abs().max()) > 1e-3, k
    assert (two / "metrics.json").is_file()
