"""``_checks.check_finite``: a finite sum proves every entry finite; overflow falls back."""

from __future__ import annotations

import pytest
import torch

from spikegrad._checks import SpikegradInputError, check_finite


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_any_non_finite_entry_is_refused(dtype, bad):
    x = (torch.rand(20, 4, 7, generator=torch.Generator().manual_seed(0)) < 0.3).to(dtype)
    check_finite("x", x)  # a plain spike batch passes
    x[13, 2, 5] = bad
    with pytest.raises(SpikegradInputError, match="x contains non-finite"):
        check_finite("x", x)


def test_inf_and_minus_inf_together_are_refused():
    # their sum is NaN, not inf: still caught
    x = torch.tensor([1.0, float("inf"), float("-inf")])
    with pytest.raises(SpikegradInputError):
        check_finite("x", x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_entries_whose_sum_overflows_pass(dtype):
    big = torch.finfo(dtype).max
    x = torch.tensor([big, big, -big / 2], dtype=dtype)
    assert not torch.isfinite(x.sum())  # the fast test alone would refuse this
    check_finite("x", x)


def test_integer_tensors_are_not_checked():
    check_finite("x", torch.tensor([1, 2, 3]))
