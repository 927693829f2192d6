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


def _digits(**options) -> Splits:
    from .digits import make_digits

    return make_digits(**options)


def _idx_images(name: str) -> Callable[..., Splits]:
    def load(data_dir: str | None = None, **options) -> Splits:
        from .idx import make_mnist

        if data_dir is None:
            raise SpikegradInputError(
                f"dataset {name!r} needs data_dir (--data-dir): a folder with the IDX files "
                "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
            )
        return make_mnist(data_dir, name=name, **options)

    return load


def _hdf5(name: str) -> Callable[..., Splits]:
    def load(data_dir: str | None = None, **options) -> Splits:
        from . import shd

        if data_dir is None:
            raise SpikegradInputError(
                f"dataset {name!r} needs data_dir (--data-dir): a folder with the published "
                f"{name}_*.h5[.gz] files"
            )
        return (shd.make_shd if name == "shd" else shd.make_ssc)(data_dir, **options)

    return load


def _spoken_digits(path: str | None = None, data_dir: str | None = None, **options) -> Splits:
    from .spoken_digits import make_spoken_digits

    return make_spoken_digits(path if path is not None else data_dir, **options)


DATASETS.update(
    {
        "digits": _digits,
        "mnist": _idx_images("mnist"),
        "fashion-mnist": _idx_images("fashion-mnist"),
        "shd": _hdf5("shd"),
        "ssc": _hdf5("ssc"),
        "spoken-digits": _spoken_digits,
    }
)
