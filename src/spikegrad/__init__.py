"""spikegrad: learning in spiking neural networks.

Time-major tensors ``[T, B, ...]`` everywhere; dimensionless LIF neurons with
threshold 1 and rest 0 (Zenke & Vogels 2021, eq. 4.1); surrogates are values.
"""

from ._checks import SpikegradInputError
from .functional.surrogate import SURROGATES, make_surrogate
from .nn import LIFLayer, Readout, SNNOutput, SpikingNetwork

__version__ = "0.1.0"

__all__ = [
    "SpikegradInputError",
    "SURROGATES",
    "make_surrogate",
    "LIFLayer",
    "Readout",
    "SNNOutput",
    "SpikingNetwork",
    "__version__",
]
