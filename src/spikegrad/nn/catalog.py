"""The catalogue of neuron models and layers: what ``spikegrad models`` lists.

Each entry names the class, the model kinds (``model_kind``) a network built with it
has, so a rule's ``models`` decides whether the rule can train it, the backends it
runs on, and the names the same part has in snnTorch, Norse and SpikingJelly.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CATALOG", "CatalogEntry", "MODEL_CHOICES"]

#: the names ``spikegrad train --model`` accepts -> the model kind
#: (:func:`spikegrad.learning.rules.model_kind`) of the network built for it. A rule
#: trains a model choice when that kind is in the rule's ``models``; this mapping and the
#: rules' ``models`` make the rule x model matrix (:func:`spikegrad.learning.rules.rule_matrix`).
MODEL_CHOICES: dict[str, str] = {
    "lif": "lif",
    "alif": "alif",
    "izhikevich": "sequential",
    "conv": "sequential",
    "coba": "coba",
    "srm": "srm",
}


class CatalogEntry(NamedTuple):
    """One neuron model or layer."""

    name: str
    cls: str
    kinds: tuple[str, ...]
    backends: tuple[str, ...]
    about: str
    peers: str


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "lif", "spikegrad.nn.LIFLayer", ("lif", "sequential"),
        ("reference", "fused", "numba"),
        "current-based LIF (Zenke & Vogels eq. 4.1), feed-forward or recurrent; options: "
        "reset detach/differentiable/subtract, refractory, learnable threshold and taus",
        "snnTorch Synaptic / RSynaptic (Leaky, RLeaky without synapse); Norse LIF, "
        "LIFRecurrent; SpikingJelly LIFNode",
    ),
    CatalogEntry(
        "alif", "spikegrad.nn.alif.ALIFLayer", ("alif", "sequential"), ("reference", "fused"),
        "adaptive-threshold LIF (LSNN, Bellec et al. 2018)",
        "Norse LSNN / LSNNRecurrent, LIFAdEx (adaptive); SpikingJelly adaptive nodes",
    ),
    CatalogEntry(
        "izhikevich", "spikegrad.nn.izhikevich.IzhikevichLayer", ("sequential",),
        ("reference", "fused"), "Izhikevich 2003 (a, b, c, d; firing-class presets)",
        "Norse Izhikevich; SpikingJelly IzhikevichNode",
    ),
    CatalogEntry(
        "conv2d", "spikegrad.nn.conv.SpikingConv2d", ("sequential",), ("reference", "fused"),
        "2-D convolution with bias, then LIF per channel and pixel",
        "snnTorch nn.Conv2d + Leaky; SpikingJelly layer.Conv2d + LIFNode",
    ),
    CatalogEntry(
        "avgpool2d", "spikegrad.nn.conv.SpikingAvgPool2d", ("sequential",), ("any",),
        "average pooling per frame", "nn.AvgPool2d; SpikingJelly layer.AvgPool2d",
    ),
    CatalogEntry(
        "maxpool2d", "spikegrad.nn.conv.SpikingMaxPool2d", ("sequential",), ("any",),
        "max pooling per frame", "nn.MaxPool2d; SpikingJelly layer.MaxPool2d",
    ),
    CatalogEntry(
        "sumpool2d", "spikegrad.nn.conv.SpikingSumPool2d", ("sequential",), ("any",),
        "sum pooling per frame (NIR SumPooling)", "NIR SumPooling",
    ),
    CatalogEntry(
        "flatten", "spikegrad.nn.conv.Flatten", ("sequential",), ("any",),
        "[T, B, C, H, W] -> [T, B, C*H*W]", "nn.Flatten; SpikingJelly layer.Flatten",
    ),
    CatalogEntry(
        "dropout", "spikegrad.nn.conv.TimeDropout", ("sequential",), ("any",),
        "dropout with one mask for all time steps",
        "SpikingJelly layer.Dropout (mask fixed over time)",
    ),
    CatalogEntry(
        "readout", "spikegrad.nn.Readout", ("lif", "alif", "sequential"),
        ("reference", "fused", "numba"), "leaky-integrator readout (non-spiking)",
        "Norse LICell; snnTorch Leaky with reset_mechanism='none'",
    ),
    CatalogEntry(
        "coba", "spikegrad.nn.CobaSpikingNetwork", ("coba",), ("reference",),
        "conductance-based LIF network (Fiete & Seung 2006)", "-",
    ),
    CatalogEntry(
        "srm", "spikegrad.nn.SRMLayer", ("srm",), ("reference",),
        "SRM0 neurons on spike times (Lin et al.)", "-",
    ),
)
