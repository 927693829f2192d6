"""Pure functional core: step functions, surrogates, losses, regularisers."""

from .lif import LIFParams, LIFState, decay, li_sequence, lif_sequence, lif_step
from .readout import readout_logits, readout_loss
from .regularization import ActivityRegularizer, mean_spikes_per_neuron, spike_counts
from .surrogate import SURROGATES, Surrogate, heaviside, make_surrogate

__all__ = [
    "LIFParams",
    "LIFState",
    "decay",
    "li_sequence",
    "lif_sequence",
    "lif_step",
    "readout_logits",
    "readout_loss",
    "ActivityRegularizer",
    "mean_spikes_per_neuron",
    "spike_counts",
    "SURROGATES",
    "Surrogate",
    "heaviside",
    "make_surrogate",
]
