"""The kernel warm-up of scripts/setup.sh: after it, the default training compiles nothing.

numba counts, per compiled function, the signatures loaded from its disk cache
(``stats.cache_hits``) and those it had to compile (``stats.cache_misses``). A fresh
process runs :mod:`spikegrad.learning.warmup` on an empty cache; a second fresh process
that then trains the default configuration must see only hits: the first epoch of the
README's first command then pays no compilation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

_TRAIN = r"""
import json, warnings
import numba
from spikegrad.data.randman import make_randman_dataset
from spikegrad.kernels import _coo_events, alif_numba, event_linear, lif_numba
from spikegrad.learning.config import TrainConfig, train

data = make_randman_dataset(samples_per_class=40, seed=3)
n = len(data)
split = (data.subset(range(n - 40)), data.subset(range(n - 40, n - 20)),
         data.subset(range(n - 20, n)))
warnings.simplefilter("ignore")
for rec in (False, True):
    train(TrainConfig(epochs=1, recurrent=rec, seed=1), data=split, progress=False, plots=False)
train(TrainConfig(epochs=1, model="alif", seed=1), data=split, progress=False, plots=False)
out = {}
for mod in (lif_numba, _coo_events, alif_numba, event_linear):
    for name, obj in vars(mod).items():
        if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.signatures:
            out[f"{mod.__name__}.{name}"] = [sum(obj.stats.cache_hits.values()),
                                             sum(obj.stats.cache_misses.values())]
print(json.dumps(out))
"""


def _run(code: list[str], cache: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_CACHE_DIR": cache}
    res = subprocess.run(
        [sys.executable, *code], capture_output=True, text=True, env=env, timeout=900
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_default_training_after_warm_up_compiles_nothing(tmp_path) -> None:
    # an empty cache of its own, so that the warm-up alone must fill it (the package's
    # shared cache may be warm from earlier runs, which would hide a missing kernel)
    cache = str(tmp_path / "numba-cache")
    _run(["-m", "spikegrad.learning.warmup", "--quiet"], cache)
    stats = json.loads(_run(["-c", _TRAIN], cache).strip().splitlines()[-1])
    # the kernels the default run reaches: forward, adjoint, readout and event building
    for name in (
        "_lif_forward",
        "_lif_backward",
        "_li_forward",
        "_li_backward",
        "_coo_rows",
        "_alif_forward",
        "_alif_backward",
        "_gather_rows",
        "_scatter_rows",
    ):
        assert any(k.endswith("." + name) for k in stats), f"{name} not reached"
    missed = {k: v for k, v in stats.items() if v[1] > 0}
    assert not missed, f"compiled after the warm-up (hits, misses): {missed}"
    assert all(v[0] > 0 for v in stats.values())
