"""Pure functional core: step functions, surrogates, losses, regularisers."""

from .coba import CobaParams, CobaRun, CobaState, CobaTopology, coba_run, coba_step, smoothed_rate
from .delay import DELAY_MODES, delay_channels, delay_taps, delayed_linear, shift
from .detector import (
    DetectorParams,
    DetectorState,
    detector_decay,
    detector_sequence,
    detector_step,
)
from .eprop import EligibilityTraces, eligibility, eligibility_step
from .lif import LIFParams, LIFState, decay, li_sequence, lif_sequence, lif_step
from .readout import readout_logits, readout_loss
from .regularization import ActivityRegularizer, mean_spikes_per_neuron, spike_counts
from .spike_kernels import GaussianKernel, LaplacianKernel, inner_product, kernel_distance
from .spiketrains import SpikeTrains, from_binned, from_slots, pad_trains, to_binned, to_slots
from .srm import SRMParams, srm_simulate
from .surrogate import SURROGATES, Surrogate, heaviside, make_surrogate

__all__ = [
    "CobaParams", "CobaRun", "CobaState", "CobaTopology", "coba_run", "coba_step", "smoothed_rate",
    "DELAY_MODES",
    "delay_channels",
    "delay_taps",
    "delayed_linear",
    "shift",
    "EligibilityTraces",
    "eligibility",
    "eligibility_step",
    "DetectorParams", "DetectorState", "detector_decay", "detector_sequence", "detector_step",
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
    "GaussianKernel", "LaplacianKernel", "inner_product", "kernel_distance",
    "SpikeTrains", "from_binned", "from_slots", "pad_trains", "to_binned", "to_slots",
    "SRMParams", "srm_simulate",
    "SURROGATES",
    "Surrogate",
    "heaviside",
    "make_surrogate",
]
