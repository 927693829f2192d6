r"""On-the-fly spike augmentation for training splits (time / channel shifts, dropout, noise).

The augmentations of SHD work (e.g. Cramer et al. 2022, IEEE TNNLS; Hammouamri et al.
2024, ICLR), applied to every training mini-batch ``x`` ``[T, B, C]`` anew, each sample
with its own draw:

* **time shift** :math:`s_t \sim \mathcal U\{-S_t..S_t\}`: :math:`x'[n, c] = x[n - s_t, c]`
  (zeros shifted in);
* **channel shift** :math:`s_c \sim \mathcal U\{-S_c..S_c\}`: :math:`x'[n, c] = x[n, c -
  s_c]` -- on the cochlea's place axis a shift is a change of every frequency by one
  factor, as another vocal-tract length gives;
* **dropout**: every event count is kept with probability :math:`1 - p_\text{drop}`
  (a bin's count ``k`` becomes ``Binomial(k, 1 - p)``);
* **noise**: an extra spike in every bin with probability :math:`p_\text{noise}`.

:class:`AugmentedDataset` is a :class:`~spikegrad.data.spikes.SpikeDataset` whose
``batches(..., shuffle=True)`` (the trainer's training pass) yields augmented batches;
``shuffle=False`` (evaluation) yields the stored spikes unchanged. The draws come from the
dataset's own generator (seeded), never from the global torch RNG.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .._checks import SpikegradInputError
from .spikes import SpikeDataset

__all__ = ["Augment", "augment_batch", "AugmentedDataset"]


@dataclass(frozen=True)
class Augment:
    """Augmentation settings: largest time shift and channel shift (steps / channels,
    ``>= 0``), dropout and noise probabilities (``[0, 1)``); all 0: no change."""

    time_shift: int = 0
    channel_shift: int = 0
    dropout: float = 0.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        for name in ("time_shift", "channel_shift"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SpikegradInputError(f"augment {name} must be an integer >= 0, got {v!r}")
        for name in ("dropout", "noise"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
                raise SpikegradInputError(f"augment {name} must lie in [0, 1), got {v!r}")

    @property
    def active(self) -> bool:
        """Whether any augmentation changes a batch."""
        return bool(self.time_shift or self.channel_shift or self.dropout or self.noise)

    def to_dict(self) -> dict:
        """The settings as a plain dict."""
        return asdict(self)


def _shift(x: Tensor, shifts: Tensor, dim: int) -> Tensor:
    """``x`` [T, B, C] with sample ``b`` shifted by ``shifts[b]`` along ``dim`` (0 or 2)."""
    size = x.shape[dim]
    pos = torch.arange(size)
    src = pos.unsqueeze(0) - shifts.unsqueeze(1)  # [B, size]
    valid = (src >= 0) & (src < size)
    src = src.clamp(0, size - 1)
    if dim == 0:
        idx = src.t().unsqueeze(-1).expand(size, x.shape[1], x.shape[2])
        return torch.gather(x, 0, idx) * valid.t().unsqueeze(-1).to(x.dtype)
    idx = src.unsqueeze(0).expand(x.shape[0], x.shape[1], size)
    return torch.gather(x, 2, idx) * valid.unsqueeze(0).to(x.dtype)


def augment_batch(x: Tensor, aug: Augment, generator: torch.Generator) -> Tensor:
    """One augmented copy of the time-major batch ``x`` ``[T, B, C]`` (see the module)."""
    if x.dim() != 3:
        raise SpikegradInputError(f"x must be [T, B, C], got shape {tuple(x.shape)}")
    B = x.shape[1]
    if aug.time_shift:
        s = torch.randint(-aug.time_shift, aug.time_shift + 1, (B,), generator=generator)
        x = _shift(x, s, 0)
    if aug.channel_shift:
        s = torch.randint(-aug.channel_shift, aug.channel_shift + 1, (B,), generator=generator)
        x = _shift(x, s, 2)
    if aug.dropout:
        keep = torch.full_like(x, 1.0 - aug.dropout)
        x = torch.binomial(x.float(), keep.float(), generator=generator).to(x.dtype)
    if aug.noise:
        x = x + (torch.rand(x.shape, generator=generator) < aug.noise).to(x.dtype)
    return x


class AugmentedDataset(SpikeDataset):
    """A training split whose shuffled batches are augmented (``augment_batch``) anew at
    every pass; unshuffled batches (evaluation) are the stored spikes."""

    def __init__(self, base: SpikeDataset, augment: Augment, seed: int = 0) -> None:
        if not isinstance(augment, Augment):
            raise SpikegradInputError(f"augment must be an Augment, got {augment!r}")
        super().__init__(
            base.times, base.units, base.offsets, base.labels, base.n_steps, base.n_units,
            base.n_classes, base.name,
        )  # fmt: skip
        self.augment = augment
        self.generator = torch.Generator().manual_seed(int(seed))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """:meth:`SpikeDataset.batches`, augmented when ``shuffle`` (training)."""
        it = super().batches(
            batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last, dtype=dtype
        )
        if not shuffle or not self.augment.active or dtype == torch.bool:
            return it
        return ((augment_batch(x, self.augment, self.generator), y) for x, y in it)
