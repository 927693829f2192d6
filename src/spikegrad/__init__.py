"""spikegrad: learning in spiking neural networks.

Models x learning rules x tasks as interchangeable parts: build a model
(:class:`SpikingNetwork`, ...), pick a rule (:func:`make_rule`: ``"bptt"``, ``"eprop"``,
``"node"``, ...) and a task (:func:`make_task`), and train with :func:`fit` and any
``torch.optim`` optimizer; :func:`load_run`, :func:`predict`, :func:`evaluate` use the
result; :func:`compare` puts several rules through one model side by side. Time-major
tensors ``[T, B, ...]`` everywhere; dimensionless LIF neurons with threshold 1 and rest 0
(Zenke & Vogels 2021, eq. 4.1); surrogates are values.
"""

from ._checks import SpikegradInputError
from .api import evaluate, load_run, predict
from .experiments.compare import CompareConfig, compare
from .functional.surrogate import SURROGATES, make_surrogate
from .learning.config import TrainConfig, train
from .learning.rules import RULES, Rule, make_rule
from .learning.trainer import fit
from .nn import LIFLayer, Readout, SNNOutput, SpikingNetwork
from .tasks import ClassificationTask, Task, make_task


def _version() -> str:
    """The installed distribution's version (pyproject.toml is its one source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("spikegrad")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


__version__ = _version()

__all__ = [
    "SpikegradInputError",
    "SURROGATES",
    "make_surrogate",
    "LIFLayer",
    "Readout",
    "SNNOutput",
    "SpikingNetwork",
    "RULES",
    "Rule",
    "make_rule",
    "Task",
    "ClassificationTask",
    "make_task",
    "TrainConfig",
    "train",
    "fit",
    "evaluate",
    "predict",
    "load_run",
    "compare",
    "CompareConfig",
    "__version__",
]
