"""Learning: rules (:mod:`.rules`), the one trainer (:func:`fit`), config-driven runs."""

from .config import (
    OPTIMIZERS,
    TrainConfig,
    TrainResult,
    build_model,
    build_optimizer,
    build_task,
    fluctuation_rates,
    train,
)
from .rules import BPTT, RULES, Rule, RuleStep, make_rule
from .trainer import EpochStats, FitResult, evaluate, fit

__all__ = [
    "OPTIMIZERS",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "build_optimizer",
    "build_task",
    "fluctuation_rates",
    "train",
    "RULES",
    "BPTT",
    "Rule",
    "RuleStep",
    "make_rule",
    "EpochStats",
    "FitResult",
    "evaluate",
    "fit",
]
