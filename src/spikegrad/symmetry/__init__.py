"""Mirror-symmetry perception with delay lines and coincidence detectors.

Follows George, Soci, Miscuglio & Sorger, "Symmetry perception with spiking neural
networks", Scientific Reports 11 (2021). See ``docs/symmetry.md`` for which parts are
the paper's and which are spikegrad's reading.

>>> from spikegrad.symmetry import symmetry_events, patch_symmetry
"""

from .chance import (
    NULLS,
    PatchSymmetry,
    chance_map,
    find_axes,
    match_probability,
    patch_symmetry,
)
from .density import SymmetryEvents, box_sum, events_from_spikes, symmetry_events
from .encoding import ENCODINGS, edge_map, encode, load_image, spike_times
from .geometry import ORIENTATIONS, PARITIES, delays, pair_distances
from .network import (
    DetectorParams,
    DetectorResult,
    DetectorState,
    SymmetryNetwork,
    connectivity,
    detector_input,
    detector_step,
    run_detectors,
    run_detectors_exact,
    synchronised_output,
)
from .noise import add_intensity_noise, add_spike_noise, add_time_noise
from .oracle import pair_counts, pair_counts_direct, self_convolution
from .oriented import (
    ChannelCode,
    blind_pair_counts,
    channel_spikes,
    edge_channels,
    mirror_channel,
    mirror_pair_counts,
    run_mirror_detectors,
)

__all__ = [
    "symmetry_events",
    "events_from_spikes",
    "SymmetryEvents",
    "box_sum",
    "ENCODINGS",
    "encode",
    "edge_map",
    "spike_times",
    "load_image",
    "ORIENTATIONS",
    "PARITIES",
    "delays",
    "pair_distances",
    "SymmetryNetwork",
    "DetectorParams",
    "DetectorState",
    "DetectorResult",
    "detector_step",
    "detector_input",
    "run_detectors",
    "run_detectors_exact",
    "synchronised_output",
    "connectivity",
    "add_intensity_noise",
    "add_spike_noise",
    "add_time_noise",
    "pair_counts",
    "pair_counts_direct",
    "self_convolution",
    "ChannelCode",
    "edge_channels",
    "channel_spikes",
    "mirror_channel",
    "run_mirror_detectors",
    "mirror_pair_counts",
    "blind_pair_counts",
    "NULLS",
    "PatchSymmetry",
    "patch_symmetry",
    "match_probability",
    "chance_map",
    "find_axes",
]
