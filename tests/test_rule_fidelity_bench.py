"""bench/rule_fidelity.py measures every registered rule: a rule added to the registry
without a fidelity figure fails here (the bench's rule lists against :data:`RULES`)."""

from __future__ import annotations

import sys
from pathlib import Path

from spikegrad.learning.rules import RULES, rule_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import rule_fidelity  # noqa: E402


def test_every_rule_has_a_fidelity_row_on_a_model_it_trains():
    rows = {r: "lif" for r in rule_fidelity.LIF_RULES}
    rows.update(conductance="coba", kernel="srm", resume="srm")
    assert set(rows) == set(RULES)
    matrix = rule_matrix()
    for rule, model in rows.items():
        assert model in matrix[rule], (rule, model)
