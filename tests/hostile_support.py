"""Shared settings of the property-based hostile-input tests (tests/test_hostile_*.py)."""

import pytest
import torch
from hypothesis import HealthCheck, settings

#: fixed example sequence, no example database, no deadline: repeatable and CI-friendly
FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def one_thread():
    """Run a test with one torch thread (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def run_cli(argv, capsys):
    """Run ``spikegrad argv`` in this process; return (exit code, stdout, stderr).

    An argparse error (SystemExit) gives its code; any other exception propagates, so a
    traceback fails the calling test.
    """
    from spikegrad.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err
