"""scikit-learn's bundled 8x8 handwritten digits, latency coded (works offline).

1797 grey-scale images of 8 x 8 pixels with intensities 0..16, 10 classes. Intensities
are scaled to [0, 1] by dividing by 16 and latency coded
(:func:`~spikegrad.data.encoding.latency_encode`, theta 0.2, tau_eff 20 steps, 100 steps):
64 input units. The split is stratified per class after a seeded shuffle.
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError
from .encoding import latency_encode
from .spikes import SpikeDataset, split

__all__ = ["load_digits_images", "make_digits"]


def load_digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 digits as ``([1797, 64] float64 in [0, 1], [1797] int64 labels)``.

    Requires scikit-learn (``pip install 'spikegrad[study]'``); no download happens.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SpikegradInputError(
            "the 'digits' dataset needs scikit-learn (its bundled 8x8 digits): "
            "pip install 'spikegrad[study]' or pip install scikit-learn"
        ) from exc
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return x, y


def make_digits(
    *,
    theta: float = 0.2,
    tau_eff: float = 20.0,
    n_steps: int = 100,
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    limit: int | None = None,
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """Latency-coded digits split into (train, validation, test).

    Parameters
    ----------
    theta, tau_eff, n_steps:
        Latency code (see :func:`~spikegrad.data.encoding.latency_steps`).
    splits:
        Fractions of (train, validation, test), stratified per class.
    seed:
        Seed of the shuffle before splitting.
    limit:
        Keep only the first ``limit`` shuffled samples (quick tests).
    """
    x, y = load_digits_images()
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(len(y), generator=gen)
    if limit is not None:
        if int(limit) < 10:
            raise SpikegradInputError(f"limit must be >= 10 samples, got {limit!r}")
        perm = perm[: int(limit)]
    ds = latency_encode(
        x[perm], y[perm], 10, theta=theta, tau_eff=tau_eff, n_steps=n_steps, name="digits"
    )
    train, val, test = split(ds, splits, stratified=True)
    return train, val, test
