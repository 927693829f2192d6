"""Pure functional core: step functions, surrogates, losses, regularisers."""

from .alif import ALIFParams, ALIFState, alif_sequence, alif_step
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
from .izhikevich import IzhikevichParams, IzhikevichState, izhikevich_sequence, izhikevich_step
from .lif import LIFParams, LIFState, decay, li_sequence, lif_sequence, lif_step
from .losses import (
    ce_count_loss,
    ce_rate_loss,
    first_spike_time_loss,
    first_spike_times,
    mse_count_loss,
    mse_membrane_loss,
    van_rossum_loss,
)
from .readout import readout_logits, readout_loss
from .regularization import ActivityRegularizer, mean_spikes_per_neuron, spike_counts
from .spike_kernels import GaussianKernel, LaplacianKernel, inner_product, kernel_distance
from .spiketrains import SpikeTrains, from_binned, from_slots, pad_trains, to_binned, to_slots
from .srm import SRMParams, srm_simulate
from .surrogate import SURROGATES, Surrogate, heaviside, make_surrogate

__all__ = [
    "ALIFParams", "ALIFState", "alif_sequence", "alif_step",
    "IzhikevichParams", "IzhikevichState", "izhikevich_sequence", "izhikevich_step",
    "ce_count_loss", "ce_rate_loss", "first_spike_time_loss", "first_spike_times",
    "mse_count_loss", "mse_membrane_loss", "van_rossum_loss",
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
