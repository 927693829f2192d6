"""Name -> loader registry for the data sets ``spikegrad train --dataset`` accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._checks import Option, SpikegradInputError, check_options
from .spikes import SpikeDataset

__all__ = ["DATASETS", "DATASET_OPTIONS", "MAX_STEPS", "check_dataset_options", "load_dataset"]

#: the most time steps a data set may be binned into (a dense float32 sample of U inputs
#: costs ``n_steps * U * 4`` bytes: 10^9 steps of SHD's 700 channels would be 2.6 TiB)
MAX_STEPS = 100_000


def _steps(units: int) -> Option:
    return Option("int", "", 1, MAX_STEPS, bytes_per=4 * units)


_SEED = Option("int", "", 0)
_LIMIT = Option("int", "", 1, nullable=True)
_FRACTION = Option("float", "", 0.0, 1.0, exclusive_min=True, exclusive_max=True)
_POSITIVE = Option("float", "", 0.0, exclusive_min=True)
_PATH = Option("str", nullable=True)
_LATENCY = {"theta": _POSITIVE, "tau_eff": _POSITIVE}

#: data set -> the options its loader takes (type, range, size cap); ``randman`` is checked
#: by :class:`~spikegrad.data.randman.RandmanConfig` itself
DATASET_OPTIONS: dict[str, dict[str, Option]] = {
    "digits": {**_LATENCY, "n_steps": _steps(64), "splits": Option("list"), "seed": _SEED,
               "limit": _LIMIT},
    "mnist": {**_LATENCY, "n_steps": _steps(784), "val_fraction": _FRACTION, "seed": _SEED,
              "limit": _LIMIT, "data_dir": _PATH},
    "shd": {"n_steps": _steps(700), "duration": _POSITIVE, "val_fraction": _FRACTION,
            "seed": _SEED, "limit": _LIMIT, "n_classes": Option("int", "", 2), "data_dir": _PATH},
    "ssc": {"n_steps": _steps(700), "duration": _POSITIVE, "seed": _SEED, "limit": _LIMIT,
            "n_classes": Option("int", "", 2), "data_dir": _PATH},
    "spoken-digits": {"n_steps": _steps(700), "duration": _POSITIVE, "val_fraction": _FRACTION,
                      "seed": _SEED, "limit": _LIMIT, "prefix": Option("str"), "path": _PATH,
                      "data_dir": _PATH,
                      # issue 29: channel pooling, extra speakers, training augmentation
                      "channels": Option("int", "", 1, 700), "extra_train": Option("bool"),
                      "time_shift": Option("int", "", 0, 1000),
                      "channel_shift": Option("int", "", 0, 700),
                      "dropout": Option("float", "", 0.0, 1.0, exclusive_max=True),
                      "noise": Option("float", "", 0.0, 1.0, exclusive_max=True)},
}
DATASET_OPTIONS["fashion-mnist"] = DATASET_OPTIONS["mnist"]


def check_dataset_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of data set ``name`` checked against :data:`DATASET_OPTIONS` (unknown
    key, wrong type, out of range or over a size cap: one-line
    :class:`SpikegradInputError`); options of a data set without a schema pass unchanged."""
    schema = DATASET_OPTIONS.get(name)
    if schema is None:
        return dict(options)
    return check_options(f"task {name!r}", schema, options)

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
    return DATASETS[name](**check_dataset_options(name, options))


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
