"""Report statistics against independent values (mutation survivors stats-t-table,
stats-z-interval, stats-single-value)."""

import math

import pytest

from spikegrad.experiments.stats import mean_interval, t975, z_interval

#: t_{0.975, df}, df = 1..30, as printed in standard Student-t tables (3 decimals)
TABLE = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
         2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
         2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def test_t_quantiles_match_the_printed_table():
    for df, t in enumerate(TABLE, 1):
        assert t975(df) == pytest.approx(t, abs=5e-4), df
    # and the distribution's own quantile where scipy is there
    stats = pytest.importorskip("scipy.stats")
    for df in range(1, 31):
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=5e-4), df
    for df in (31, 40, 60, 120, 1000):  # Cornish-Fisher region: error < 1e-4
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-4), df


def test_z_interval_is_1_96_standard_errors():
    iv = z_interval(0.5, 0.1)
    assert iv.mean == 0.5 and iv.n == 1
    assert iv.lo == pytest.approx(0.5 - 0.1959964, abs=1e-7)
    assert iv.hi == pytest.approx(0.5 + 0.1959964, abs=1e-7)


def test_one_value_has_an_unknown_width():
    iv = mean_interval([3.0, math.nan])  # the NaN is dropped: one finite value
    assert iv.mean == 3.0 and iv.n == 1
    assert iv.lo == -math.inf and iv.hi == math.inf and math.isnan(iv.sd)
    assert iv.text() == "3.000 [-inf, inf]"
