"""Spike datasets: sparse event storage, encoders, generators and file readers.

Everything public is importable from here (``from spikegrad.data import SpikeDataset``).
Optional dependencies stay lazy: h5py (SHD/SSC files) and scikit-learn (digits) are
imported only when such a dataset is built.
"""

from .digits import load_digits_images, make_digits
from .encoding import (
    LATENCY_CODES,
    LATENCY_OUTPUTS,
    LATENCY_OVERFLOW,
    NUMBERINGS,
    delta_code,
    grf_centres,
    grf_responses,
    grf_sigma,
    grf_spike_times,
    latency,
    latency_encode,
    latency_steps,
    rank_order,
    rate_code,
)
from .events import (
    EventCollate,
    EventSamples,
    dataset_to_events,
    event_dtype,
    events_to_dataset,
    events_to_sample,
)
from .idx import IDX_FILES, find_idx_file, load_idx_images, make_mnist, read_idx
from .moving_shapes import DIRECTIONS, moving_shapes
from .randman import (
    SPECTRA,
    RandmanConfig,
    RandmanManifold,
    make_randman,
    make_randman_dataset,
    randman_manifold,
    randman_n_terms,
    randman_spike_times,
)
from .registry import DATASET_OPTIONS, DATASETS, MAX_STEPS, check_dataset_options, load_dataset
from .shd import (
    N_CHANNELS,
    SHD_RELEASES,
    find_hdf5_file,
    hdf5_file_info,
    make_shd,
    make_ssc,
    read_hdf5_spikes,
    shd_release,
)
from .spikes import (
    LAYOUTS,
    SpikeDataset,
    collate,
    collate_time_major,
    layout_of,
    mark_layout,
    split,
)

__all__ = [
    # storage
    "SpikeDataset",
    "split",
    "collate_time_major",
    "collate",
    "LAYOUTS",
    "layout_of",
    "mark_layout",
    # structured event arrays (Tonic's layout) and sparse DataLoader batches
    "EventCollate",
    "EventSamples",
    "dataset_to_events",
    "event_dtype",
    "events_to_dataset",
    "events_to_sample",
    # encoding
    "LATENCY_CODES",
    "LATENCY_OUTPUTS",
    "LATENCY_OVERFLOW",
    "latency",
    "latency_encode",
    "latency_steps",
    "NUMBERINGS",
    "grf_centres",
    "grf_responses",
    "grf_sigma",
    "grf_spike_times",
    "rank_order",
    "rate_code",
    "delta_code",
    # event-camera-shaped data
    "DIRECTIONS",
    "moving_shapes",
    # registry
    "DATASETS",
    "DATASET_OPTIONS",
    "MAX_STEPS",
    "check_dataset_options",
    "load_dataset",
    # Randman
    "SPECTRA",
    "RandmanConfig",
    "RandmanManifold",
    "make_randman",
    "make_randman_dataset",
    "randman_manifold",
    "randman_n_terms",
    "randman_spike_times",
    # images
    "load_digits_images",
    "make_digits",
    "IDX_FILES",
    "find_idx_file",
    "load_idx_images",
    "make_mnist",
    "read_idx",
    # audio (HDF5)
    "N_CHANNELS",
    "SHD_RELEASES",
    "find_hdf5_file",
    "hdf5_file_info",
    "make_shd",
    "make_ssc",
    "read_hdf5_spikes",
    "shd_release",
]
