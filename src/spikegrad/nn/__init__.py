"""PyTorch modules (parameters only; state lives inside each forward call)."""

from .alif import ALIFLayer, ALIFNetwork
from .coba import CobaOutput, CobaSpikingNetwork
from .conv import (
    Flatten,
    SpikingAvgPool2d,
    SpikingConv2d,
    SpikingMaxPool2d,
    SpikingSumPool2d,
    TimeDropout,
)
from .delay import Delay, DelayedLinear, clamp_after_step
from .energy import OpCosts, OpCounter, count_ops
from .izhikevich import IzhikevichLayer
from .lif import LIFLayer, Readout, TimeConstants
from .network import SNNOutput, SpikingNetwork
from .sequential import SpikingSequential, conv_network
from .srm import SRMLayer, SRMNetwork, SRMOutput
from .stepping import Stepper

__all__ = [
    "ALIFLayer",
    "ALIFNetwork",
    "Flatten",
    "IzhikevichLayer",
    "SpikingAvgPool2d",
    "SpikingConv2d",
    "SpikingMaxPool2d",
    "SpikingSequential",
    "SpikingSumPool2d",
    "Stepper",
    "TimeDropout",
    "conv_network",
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
