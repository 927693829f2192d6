"""PyTorch modules (parameters only; state lives inside each forward call)."""

from .lif import LIFLayer, Readout
from .network import SNNOutput, SpikingNetwork

__all__ = ["LIFLayer", "Readout", "SNNOutput", "SpikingNetwork"]
