"""Plotting: one matplotlib set-up (headless Agg backend) and the training-run figures.

The bottom layer of spikegrad next to :mod:`spikegrad._checks`: it imports nothing else
from the package, so every other layer may use it. matplotlib is imported only when a
plot is drawn.
"""

from .plots import plot_learning_curves, plot_sample, pyplot

__all__ = ["plot_learning_curves", "plot_sample", "pyplot"]
