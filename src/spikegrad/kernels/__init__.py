"""Fast implementations behind the same functional signatures (see docs/architecture.md)."""


def set_num_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in the compiled (numba) kernels."""
    import torch

    torch.set_num_threads(int(n))
    try:
        import numba

        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        pass


def release_buffers() -> int:
    """Give the compiled kernels' idle recycled buffers back to the system; bytes dropped.

    The kernels keep the last training step's large arrays (membrane traces, spikes,
    gradients) for reuse, so the resident memory after a step stays at the step's peak;
    call this after training to drop it (the next step then first-touches fresh pages).
    """
    from ._buffers import release

    return release()
