"""Shared test fixtures."""

import os

import pytest
import torch

# Triton (optional) runs its kernels on CPU tensors only in its interpreter, which must be
# chosen before triton is first imported: tests/test_kernels_triton.py checks the GPU
# kernels that way. Nothing else in the suite uses Triton. An explicit value is kept
# (bench/gpu.py runs those tests compiled on a GPU with TRITON_INTERPRET=0).
os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture
def one_thread():
    """Run a test on one torch thread (small tensors; restored afterwards).

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
