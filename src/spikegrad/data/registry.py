"""Name -> loader registry for the data sets ``spikegrad train --dataset`` accepts."""

from __future__ import annotations

from collections.abc import Callable

from .._checks import SpikegradInputError
from .spikes import SpikeDataset

__all__ = ["DATASETS", "load_dataset"]

Splits = tuple[SpikeDataset, SpikeDataset, SpikeDataset]


def _randman(**options) -> Splits:
    from .randman import make_randman

    return make_randman(**options)


#: dataset name -> loader returning (train, validation, test)
DATASETS: dict[str, Callable[..., Splits]] = {"randman": _randman}


def load_dataset(name: str, **options) -> Splits:
    """Load (train, validation, test) splits of a registered data set."""
    if name not in DATASETS:
        raise SpikegradInputError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[name](**options)
