r"""A river classifier that learns a stream one sample at a time with e-prop.

Each sample :math:`x` (a dict of numbers) is coded by Gaussian receptive
fields (ranges learned online, :mod:`spikegrad.online.encoding`): field
:math:`j` spikes once, at step :math:`\lfloor t_j (T_\text{in} - 1) \rceil`
with :math:`t_j = 1 - r_j`, if :math:`t_j \le` ``late_cut``; :math:`T_\text{in}`
is the first half of the ``n_steps`` of a sample. The spike raster
``[n_steps, 1, n_features * n_fields]`` drives a :class:`~spikegrad.nn.SpikingNetwork`
(one recurrent LIF layer, membrane tau 20 ms, no self-connections, readout starting at
0) trained by :class:`~spikegrad.online.eprop.OnlineEprop` on the per-step
cross-entropy, one Adam step per sample (no backpropagation through time, no replay).
The prediction is the arg-max of the readout averaged over steps; ``predict_proba_one``
its softmax.

Bad samples follow :class:`~spikegrad.online.esnn.OeSNNClassifier`: missing
or non-finite features emit no spikes, a new feature enlarges the input layer
(new random input weights, zero optimiser state), a new label adds a readout unit, non-numbers raise
``TypeError``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from river import base

from .._checks import SpikegradInputError, check_positive
from ..nn.network import SpikingNetwork
from .encoding import RangeTracker, _check_fields, feature_number, grf_responses
from .eprop import OnlineEprop

__all__ = ["EpropClassifier"]


class EpropClassifier(base.Classifier):
    """Recurrent LIF network trained online by e-prop on GRF-coded samples; a river classifier.

    Parameters
    ----------
    n_hidden:
        Hidden LIF neurons.
    n_steps:
        Simulation steps per sample (inputs in the first half).
    n_fields, beta:
        Gaussian receptive fields per feature and their width factor.
    late_cut:
        Fields with spike time above this stay silent.
    lr:
        Adam learning rate.
    recurrent:
        Recurrent hidden layer.
    update:
        ``"sample"`` (one update per sample) or ``"step"`` (every time step).
    seed:
        Seed of the weight initialisation (explicit generator).
    input_scale:
        Input weights start :math:`\\mathcal U(\\pm s/\\sqrt{N_\text{in}})`; 20 makes
        the hidden layer fire about 0.4 spikes per neuron per sample on Phishing
        (3 leaves it silent, and a silent layer gets no e-prop gradient).
    """

    def __init__(
        self,
        n_hidden: int = 64,
        n_steps: int = 20,
        n_fields: int = 8,
        beta: float = 1.5,
        late_cut: float = 0.9,
        lr: float = 2e-3,
        recurrent: bool = True,
        update: str = "sample",
        seed: int = 0,
        input_scale: float = 20.0,
    ) -> None:
        _check_fields(n_fields)
        check_positive("beta", beta)
        check_positive("lr", lr)
        if not isinstance(n_steps, int) or n_steps < 4:
            raise SpikegradInputError(f"n_steps must be an int >= 4, got {n_steps!r}")
        if not isinstance(n_hidden, int) or n_hidden < 1:
            raise SpikegradInputError(f"n_hidden must be an int >= 1, got {n_hidden!r}")
        if not 0 < late_cut <= 1:
            raise SpikegradInputError(f"late_cut must lie in (0, 1], got {late_cut!r}")
        self.n_hidden = n_hidden
        self.n_steps = n_steps
        self.n_fields = n_fields
        self.beta = beta
        self.late_cut = late_cut
        self.lr = lr
        self.recurrent = recurrent
        self.update = update
        self.seed = seed
        self.input_scale = input_scale
        self._ranges = RangeTracker("running")
        self._features: dict = {}
        self._classes: list = []
        self._class_index: dict = {}
        self._net: OnlineEprop | None = None
        # numpy generator: it pickles deterministically (a torch.Generator does not)
        self._rng = np.random.default_rng(seed)

    @property
    def _multiclass(self) -> bool:
        return True

    @staticmethod
    def _value(key, v) -> float:
        return feature_number(key, v, "EpropClassifier")

    def _grow_inputs(self, n_new: int) -> None:
        learner = self._net
        m = self.n_fields * n_new
        n, n_in = learner.network.layers[0].weight.shape
        bound = self.input_scale / math.sqrt(max(1, n_in + m))
        learner.add_inputs(torch.from_numpy(self._rng.uniform(-bound, bound, (n, m))))

    def _new_learner(self) -> OnlineEprop:
        r"""Recurrent layer with weights :math:`\mathcal U(\pm s/\sqrt{\text{fan-in}})`
        (input :math:`s` = ``input_scale``, recurrent 0.5, no self-connections) and a zero
        readout; drawn recurrent first, then input, from a generator seeded by the
        classifier's numpy generator."""
        n, n_in = self.n_hidden, len(self._features) * self.n_fields
        gen = torch.Generator().manual_seed(int(self._rng.integers(2**62)))

        def uniform(rows: int, fan: int, scale: float) -> torch.Tensor:
            bound = scale / math.sqrt(fan)
            return (torch.rand(rows, fan, generator=gen) * 2 - 1) * bound

        net = SpikingNetwork(
            n_in, 1, (n,), recurrent=self.recurrent, tau_mem=20e-3, tau_syn=5e-3,
            tau_out=20e-3, seed=0,
        )  # fmt: skip
        net.readout.u0 = 0.0
        with torch.no_grad():
            if self.recurrent:
                net.layers[0].rec_weight.copy_(uniform(n, n, 0.5))
            net.layers[0].weight.copy_(uniform(n, n_in, self.input_scale))
            net.readout.weight.zero_()
        return OnlineEprop(
            net,
            loss_start=self.n_steps // 2,
            lr=self.lr,
            update=self.update,
            self_connections=False,
        )

    def _raster(self, x: dict) -> torch.Tensor:
        nf = len(self._features)
        vals = np.full(nf, np.nan)
        lo = np.zeros(nf)
        hi = np.zeros(nf)
        for key, i in self._features.items():
            if key in x:
                rng = self._ranges.range(key)
                if rng is not None and rng[1] > rng[0]:
                    vals[i] = self._value(key, x[key])
                    lo[i], hi[i] = rng
        t = (1.0 - grf_responses(vals, lo, hi, self.n_fields, self.beta)).ravel()
        ok = np.isfinite(t) & (t <= self.late_cut)
        t_in = self.n_steps // 2
        steps = np.rint(t[ok] / self.late_cut * (t_in - 1)).astype(np.int64)
        r = torch.zeros(self.n_steps, 1, nf * self.n_fields)
        r[torch.from_numpy(steps), 0, torch.from_numpy(np.flatnonzero(ok))] = 1.0
        return r

    def learn_one(self, x: dict, y: Any) -> None:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature values, got {type(x).__name__}")
        if y is None:
            raise SpikegradInputError("y must be a class label, got None")
        new = []
        for key, v in x.items():
            f = self._value(key, v)
            if f == f:
                if key not in self._features:
                    new.append(key)
                self._ranges.update(key, f)
        if self._net is None:
            for key in sorted(new, key=lambda k: (type(k).__name__, str(k))):
                self._features[key] = len(self._features)
            if not self._features:
                return
            self._net = self._new_learner()
        elif new:
            for key in sorted(new, key=lambda k: (type(k).__name__, str(k))):
                self._features[key] = len(self._features)
            self._grow_inputs(len(new))
        if y not in self._class_index:
            self._class_index[y] = len(self._classes)
            self._classes.append(y)
            if len(self._classes) > self._net.network.n_classes:
                self._net.add_outputs(1)
        target = torch.tensor([self._class_index[y]])
        self._net.learn(self._raster(x), target)

    def predict_proba_one(self, x: dict) -> dict:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature values, got {type(x).__name__}")
        if self._net is None or not self._classes:
            return {}
        z = self._net.logits(self._raster(x))[0, : len(self._classes)]
        p = torch.softmax(z.double(), dim=0)
        return {c: float(p[i]) for i, c in enumerate(self._classes)}
