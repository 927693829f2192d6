"""PyTorch modules (parameters only; state lives inside each forward call)."""

from .coba import CobaOutput, CobaSpikingNetwork
from .delay import Delay, DelayedLinear, clamp_after_step
from .energy import OpCosts, OpCounter, count_ops
from .lif import LIFLayer, Readout, TimeConstants
from .network import SNNOutput, SpikingNetwork
from .srm import SRMLayer, SRMNetwork, SRMOutput

__all__ = [
    "CobaOutput",
    "CobaSpikingNetwork",
    "Delay",
    "DelayedLinear",
    "LIFLayer",
    "OpCosts",
    "OpCounter",
    "Readout",
    "SNNOutput",
    "SpikingNetwork",
    "SRMLayer",
    "SRMNetwork",
    "SRMOutput",
    "clamp_after_step",
    "TimeConstants",
    "count_ops",
]
