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
