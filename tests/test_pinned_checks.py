"""Option and input checks at their exact boundaries (gaps the mutation check found:
scripts/mutations.py ids check-finite-inf-passes, check-sequence-finite-off,
check-int-max-off-by-one, check-nonnegative-accepts-inf, schema-*)."""

import math

import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad._checks import (
    check_finite,
    check_int,
    check_nonnegative,
    check_sequence_tensor,
)
from spikegrad.learning.models import check_model_options


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_non_finite_values_raise(bad, dtype):
    x = torch.zeros(4, 2, 3, dtype=dtype)
    check_finite("x", x)
    assert check_sequence_tensor("x", x, features=3) is x
    x[2, 1, 0] = bad
    with pytest.raises(SpikegradInputError, match="x"):
        check_finite("x", x)
    with pytest.raises(SpikegradInputError, match="x"):
        check_sequence_tensor("x", x, features=3)
    assert check_sequence_tensor("x", x, features=3, finite=False) is x  # asked not to


def test_check_int_bounds_are_inclusive_and_exact():
    assert check_int("n", 1, 1, 5) == 1 and check_int("n", 5, 1, 5) == 5
    with pytest.raises(SpikegradInputError, match="at most 5, got 6"):
        check_int("n", 6, 1, 5)
    with pytest.raises(SpikegradInputError, match=">= 1, got 0"):
        check_int("n", 0, 1, 5)


def test_check_nonnegative_takes_zero_and_refuses_non_finite():
    assert check_nonnegative("r", 0) == 0.0 and check_nonnegative("r", 2.5) == 2.5
    for bad in (-1e-300, math.inf, math.nan):
        with pytest.raises(SpikegradInputError, match="finite number >= 0"):
            check_nonnegative("r", bad)


def test_model_option_schema_boundaries():
    # conv: threshold exclusive minimum 0, dropout in [0, 0.99], learn_threshold a bool
    assert check_model_options("conv", {"threshold": 1e-9, "dropout": 0.99}) == {
        "threshold": 1e-9, "dropout": 0.99}  # fmt: skip
    assert check_model_options("conv", {"dropout": 0.0, "learn_threshold": False}) == {
        "dropout": 0.0, "learn_threshold": False}  # fmt: skip
    cases = [
        ({"threshold": 0.0}, "'threshold' must be > 0"),
        ({"threshold": 0}, "'threshold' must be > 0"),
        ({"dropout": 0.991}, "'dropout' must be <= 0.99"),
        ({"dropout": -0.01}, "'dropout' must be >= 0"),
        ({"threshold": math.inf}, "'threshold' must be finite"),
        ({"threshold": math.nan}, "'threshold' must be finite"),
        ({"learn_threshold": 1}, "'learn_threshold' must be true or false"),
        ({"learn_threshold": "yes"}, "'learn_threshold' must be true or false"),
    ]
    for opts, msg in cases:
        with pytest.raises(SpikegradInputError, match=msg):
            check_model_options("conv", opts)
