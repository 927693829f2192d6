"""EventProp against surrogate BPTT as dt shrinks (bench/eventprop_dt.py, three grids).

The discrete-time forward converges to the event-driven one (loss and spike count), and
so does BPTT's readout-weight gradient, which needs no surrogate; BPTT's hidden-weight
gradient keeps its direction but its norm grows like 1/dt (the surrogate derivative is
summed over every step the membrane spends near threshold). Measured values (float64,
deterministic) are quoted next to each assertion.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from eventprop_dt import _cmp, gradients  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_bptt_approaches_eventprop_except_the_surrogate_norm():
    state, rows = None, []
    for dt_ms in (1.0, 0.25, 0.1):
        res, state = gradients(dt_ms, 10.0, False, state)
        (le, se, ge), (lb, sb, gb) = res["eventprop"], res["bptt"]
        rows.append((abs(le - lb), se, sb, *_cmp(ge["readout.weight"], gb["readout.weight"]),
                     *_cmp(ge["layers.0.weight"], gb["layers.0.weight"])))  # fmt: skip
    gap, se, sb, ro_cos, ro_ratio, w_cos, w_ratio = zip(*rows, strict=True)
    assert se == (99.0, 99.0, 99.0)  # the event model does not depend on the grid
    assert sb[0] < sb[1] < sb[2] < 99  # measured 50, 78, 89
    assert gap[0] > gap[1] > gap[2]  # measured 0.106, 0.055, 0.026
    assert ro_cos[0] < ro_cos[1] < ro_cos[2] and ro_cos[2] > 0.999  # 0.9599, 0.9993, 0.9996
    assert ro_ratio[0] < ro_ratio[1] < ro_ratio[2] < 1.0  # 0.433, 0.758, 0.878
    assert min(w_cos) > 0.98  # 0.9957, 0.9967, 0.9923
    assert w_ratio[2] / w_ratio[0] > 6.0  # 0.156 -> 1.905 (x12.2 for dt / 10)
