"""Online learning on data streams: GRF encoding, eSNN/OeSNN (river classifiers), e-prop.

Lobo, Del Ser, Bifet & Kasabov, Neural Networks 121 (2020); Lobo et al., Neural
Networks 108 (2018); Bellec et al., Nature Communications 11 (2020).

Names are imported lazily, so ``import spikegrad.online`` (and the e-prop and
encoding parts) work without river; the river classifiers
(:class:`OeSNNClassifier`, :class:`EpropClassifier`) need ``pip install
spikegrad[online]``.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "EpropClassifier": "eprop_river",
    "OnlineEprop": "eprop",
    "compare_with_bptt": "eprop",
    "eprop_gradients": "eprop",
    "OeSNNClassifier": "esnn",
    "OeSNNUAD": "uad",
    "candidate_neuron": "esnn",
    "recall": "esnn",
    "recall_reference": "esnn",
    "RangeTracker": "encoding",
    "grf_centres": "encoding",
    "grf_responses": "encoding",
    "grf_sigma": "encoding",
    "rank_order": "encoding",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    mod = _NAMES.get(name)
    if mod is None:
        raise AttributeError(f"module 'spikegrad.online' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{mod}")
    except ModuleNotFoundError as exc:
        if exc.name == "river" or (exc.name or "").startswith("river."):
            raise ImportError(
                f"spikegrad.online.{name} needs river: pip install 'spikegrad[online]'"
            ) from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
