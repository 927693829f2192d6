"""Online learning on data streams: GRF encoding, eSNN/OeSNN (river classifiers), e-prop.

Lobo, Del Ser, Bifet & Kasabov, Neural Networks 121 (2020); Lobo et al., Neural
Networks 108 (2018); Bellec et al., Nature Communications 11 (2020).
"""

from .encoding import RangeTracker, grf_centres, grf_responses, grf_sigma, rank_order
from .eprop import EpropConfig, EpropParams, OnlineEprop, compare_with_bptt, eprop_gradients
from .eprop_river import EpropClassifier
from .esnn import OeSNNClassifier, candidate_neuron, recall, recall_reference

__all__ = [
    "EpropClassifier",
    "EpropConfig",
    "EpropParams",
    "OnlineEprop",
    "compare_with_bptt",
    "eprop_gradients",
    "OeSNNClassifier",
    "RangeTracker",
    "candidate_neuron",
    "grf_centres",
    "grf_responses",
    "grf_sigma",
    "rank_order",
    "recall",
    "recall_reference",
]
