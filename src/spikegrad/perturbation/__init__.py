"""Learning without backprop: dynamic perturbation of conductances (Fiete & Seung 2006).

The papers' experiments, built from the shared parts: the conductance-based model
(:mod:`spikegrad.functional.coba`, :class:`spikegrad.nn.CobaSpikingNetwork`), the
perturbation rules (:mod:`spikegrad.learning.rules.perturbation`: noise, eligibility,
baselines, :class:`~spikegrad.learning.rules.perturbation.ConductancePerturbation`) and the
one trainer. Here: per-trial gradient estimators and the finite-difference reference
(:mod:`.estimators`), the experiments' tasks (:mod:`.tasks`), the settings of the
learning runs (:mod:`.learn`), the gradient check (:mod:`.check`) and plots.
"""

from ..functional.coba import (
    CobaParams,
    CobaRun,
    CobaState,
    CobaTopology,
    coba_run,
    coba_step,
    smoothed_rate,
)
from ..learning.rules.perturbation import (
    BASELINES,
    EmpiricSynapses,
    RunningBaseline,
    apply_update,
    baseline_values,
    check_baseline,
    eligibility,
    perturbation_update,
    white_noise,
)
from ..nn.coba import CobaSpikingNetwork
from .estimators import ESTIMATORS, cosine, estimate_gradient, finite_difference_gradient

__all__ = [
    "BASELINES",
    "ESTIMATORS",
    "CobaParams",
    "CobaRun",
    "CobaSpikingNetwork",
    "CobaState",
    "CobaTopology",
    "EmpiricSynapses",
    "RunningBaseline",
    "apply_update",
    "baseline_values",
    "check_baseline",
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
