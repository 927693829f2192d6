"""PyTorch modules (parameters only; state lives inside each forward call)."""

from .delay import Delay, DelayedLIFLayer, DelayedLinear
from .lif import LIFLayer, Readout, TimeConstants
from .network import SNNOutput, SpikingNetwork

__all__ = [
    "Delay",
    "DelayedLIFLayer",
    "DelayedLinear",
    "LIFLayer",
    "Readout",
    "SNNOutput",
    "SpikingNetwork",
    "TimeConstants",
]
