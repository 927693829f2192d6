"""Learning without backprop: dynamic perturbation of conductances (Fiete & Seung 2006).

Conductance-based LIF networks in physical units (:mod:`.coba`), the perturbation rule
(:mod:`.rule`), gradient estimators and baselines (:mod:`.estimators`).
"""

from .coba import CobaNetwork, CobaParams, CobaRun, CobaState, coba_run, coba_step, smoothed_rate
from .estimators import (
    ESTIMATORS,
    bptt_gradient,
    cosine,
    estimate_gradient,
    finite_difference_gradient,
)
from .rule import (
    BASELINES,
    EmpiricSynapses,
    RunningBaseline,
    apply_update,
    baseline_values,
    eligibility,
    perturbation_update,
    white_noise,
)

__all__ = [
    "BASELINES",
    "ESTIMATORS",
    "CobaNetwork",
    "CobaParams",
    "CobaRun",
    "CobaState",
    "EmpiricSynapses",
    "RunningBaseline",
    "apply_update",
    "baseline_values",
    "bptt_gradient",
    "coba_run",
    "coba_step",
    "cosine",
    "eligibility",
    "estimate_gradient",
    "finite_difference_gradient",
    "perturbation_update",
    "smoothed_rate",
    "white_noise",
]
