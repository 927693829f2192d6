r"""OeSNN-UAD: unsupervised anomaly detection in streams with an online evolving SNN (river).

After Maciąg, Kryszkiewicz, Bembenik, Lobo & Del Ser, "Unsupervised anomaly
detection in stream data with online evolving spiking neural networks",
Neural Networks 139 (2021). Per sample :math:`x_t`:

1. **Window.** The last ``window`` values of each feature (the current one
   included) give the receptive-field range :math:`[\min W, \max W]`, their mean
   :math:`\bar W` and standard deviation :math:`s_W`.
2. **Encoding.** :math:`x_t` is coded by ``n_fields`` Gaussian receptive fields
   per feature (:func:`~spikegrad.data.encoding.grf_centres`,
   ``numbering="zero_based"`` by default as in the authors' code), firing at
   :math:`t_j = 1 - r_j`, and ranked (stable order; ties: canonical input order).
3. **Candidate neuron.** :math:`w_j = \mathrm{mod}^{\mathrm{order}(j)}`,
   :math:`\gamma = C\,\mathrm{PSP}_\max`, output value
   :math:`v \sim \mathcal N(\bar W, s_W)` (a pre-drawn standard normal from the
   seeded generator, so scoring never consumes randomness), merge count
   :math:`M = 1`, age :math:`t`.
4. **Repository.** If the nearest neuron (Euclidean distance of weights) is
   within ``sim`` :math:`\cdot D_\max`,
   :math:`D_\max = \lVert(\mathrm{mod}^{K-1-i})_i - (\mathrm{mod}^i)_i\rVert`,
   the two merge: :math:`w, \gamma, v` and the age become
   :math:`(\text{new} + M\,\text{old})/(M+1)`, :math:`M \leftarrow M + 1`;
   otherwise the candidate is added, or replaces the oldest neuron once
   ``max_neurons`` are stored.
5. **Detection.** :math:`y_t` is the value of the first neuron to fire
   (rank-order recall, as in :class:`~spikegrad.online.esnn.OeSNNClassifier`;
   ties at the same spike: the largest relative margin). The error
   :math:`e_t = |x_t - y_t|` is compared with the errors :math:`E` of the
   non-anomalous samples among the last ``window``: :math:`x_t` is anomalous if
   :math:`e_t - \bar E > \varepsilon\, s_E`. The anomaly score returned by
   :meth:`score_one` is the standardised error :math:`(e_t - \bar E)/s_E`, so
   ``score > epsilon`` is the paper's decision (:meth:`is_anomaly`). If no
   neuron fires the sample is anomalous, with score
   :math:`10^3 + |x_t - \bar W|/s_W`.
6. **Value correction.** If :math:`x_t` is not anomalous the firing neuron's
   value moves towards it: :math:`v \leftarrow v + \xi (x_t - v)`.

Steps 3-4 precede the recall (``learn_first=True``, the order of the authors'
code); ``learn_first=False`` recalls on the repository before the sample is
added. The paper's algorithm is univariate; with several features each has its
own window and fields, all fields are ranked together, an output neuron holds
one value per feature and the error is the root mean square of the
per-feature errors in window standard deviations,
:math:`\sqrt{\mathrm{mean}_f ((x_f - y_f)/s_{W,f})^2}` (for one feature it is
exactly :math:`|x_t - y_t|`). Missing or non-finite values emit no spikes and
are left out of the window and the error, as in the classifier.

Bounded memory: ``max_neurons`` neurons, a ``window x features`` buffer and
``window`` errors; nothing grows with the stream. The paper's defaults (NAB):
``n_fields=10``, ``beta=1.6``, ``mod=0.6``, ``c=0.6``, ``sim=0.15``,
``max_neurons=50``, ``xi=0.9``; ``window`` (100-600) and ``epsilon`` (2-7) were
tuned per series by the authors.

**Self-tuning defaults.** ``OeSNNUAD()`` with none of ``window``, ``learn_first``,
``epsilon`` given chooses them on the stream, **without labels**: a population of
:data:`TUNE_CANDIDATES` (windows 25/50/100, both learning orders, epsilon 3/5/7:
18 fixed detectors) learns the stream, each member's forecast :math:`y_t` (the
value of its firing neuron, made before it learns :math:`x_t`) is scored by
:func:`forecast_loss` (log of the capped residual in running standard
deviations), and the member of least faded loss scores
(:class:`~spikegrad.online.tuner.PrequentialLossSelector`, halving at 100, 200,
..., 1600 samples down to one member). Why this criterion: OeSNN-UAD flags
:math:`x_t` when its forecast error stands out from the recent errors, so the
member that forecasts the normal samples best separates anomalies most sharply;
the log (a geometric mean) and the cap keep the rare anomalies, which every
member forecasts badly, from steering the choice. Labels are not used because
river's anomaly detectors learn without them (``learn_one(x)``). Any of the
three given makes the model fixed (:data:`FIXED_DEFAULTS` for the rest);
``tune=False``: fixed with all defaults; ``tune=True``: tune those not given.
Memory: at most 18 bounded members, then one; no look-ahead (the choice at
sample :math:`t` depends on samples before :math:`t`).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from river.base import AnomalyDetector

from .._checks import SpikegradInputError, check_choice, check_positive
from . import _esnn_kernels as _kern
from .encoding import NUMBERINGS, _check_fields, feature_number
from .esnn import _feature_sort_key, canonical_columns, dmax
from .tuner import PrequentialLossSelector

__all__ = ["OeSNNUAD", "forecast_loss", "FIXED_DEFAULTS", "TUNE_CANDIDATES"]

#: ``window``, ``learn_first`` and ``epsilon`` of a fixed model (any of them given, or
#: ``tune=False``): the authors' order, a mid-range window and threshold of the paper.
FIXED_DEFAULTS: dict = {"window": 100, "learn_first": True, "epsilon": 3.0}
#: The population a default ``OeSNNUAD()`` chooses from: the paper's window range
#: scaled down to short streams, both learning orders and thresholds over its range.
TUNE_CANDIDATES: tuple[dict, ...] = tuple(
    {"window": w, "learn_first": lf, "epsilon": e}
    for w in (100, 50, 25)
    for lf in (True, False)
    for e in (3.0, 5.0, 7.0)
)
#: Fading window and first halving of the tuner.
TUNE_WINDOW = 500
TUNE_GRACE = 100
#: Forecast residuals are capped at this many standard deviations (and a sample at
#: which a member's neurons do not fire costs the cap), so injected anomalies and
#: silent members weigh a bounded amount.
LOSS_CAP = 10.0
#: Added to the capped residual before the log (in standard deviations).
LOSS_FLOOR = 1e-3


def _welford_sd(st: list | None) -> float:
    """Standard deviation of the running statistics ``[n, mean, M2]`` (1 if undefined)."""
    if st is None or st[0] < 2 or st[2] <= 0:
        return 1.0
    return math.sqrt(st[2] / st[0])


def forecast_loss(x: dict, y: np.ndarray | None, features: dict, scale: dict) -> float:
    r"""Log of the capped forecast residual of one member on one sample (label-free).

    .. math::

        \ell = \log\big(\min(r, \text{cap}) + \delta\big), \qquad
        r = \sqrt{\mathrm{mean}_f \big((x_f - y_f)/s_f\big)^2},

    with :math:`y` the value of the neuron that fired (the member's forecast of
    :math:`x` from the samples before it), :math:`s_f` the running standard deviation
    of feature :math:`f` over the samples *before* :math:`x` (shared by all members,
    so losses compare across windows), ``cap`` = :data:`LOSS_CAP`, :math:`\delta` =
    :data:`LOSS_FLOOR`. ``y is None`` (no neuron fired, or no spike) costs the cap.
    The log makes the criterion a geometric mean of residuals, dominated by the
    normal samples rather than by the rare large ones.
    """
    if y is None:
        return math.log(LOSS_CAP + LOSS_FLOOR)
    tot = 0.0
    n = 0
    for k, v in x.items():
        i = features.get(k)
        if i is None:
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        yi = float(y[i])
        if f == f and yi == yi and math.isfinite(f):
            z = (f - yi) / scale.get(k, 1.0)
            tot += z * z
            n += 1
    r = math.sqrt(tot / n) if n else LOSS_CAP
    return math.log(min(r, LOSS_CAP) + LOSS_FLOOR)


#: Score of a sample at which no output neuron fires (plus its deviation from the window).
NO_FIRE_SCORE = 1e3


class OeSNNUAD(AnomalyDetector):
    r"""OeSNN-UAD anomaly detector (Maciąg et al. 2021); see the module docstring.

    Parameters
    ----------
    window:
        Length of the window of recent values (and of recent errors).
    n_fields:
        Gaussian receptive fields per feature (NI).
    beta:
        Receptive-field width factor.
    mod:
        Modulation factor in (0, 1).
    c:
        Threshold fraction in (0, 1].
    sim:
        Merge radius as a fraction of :math:`D_\max`.
    max_neurons:
        Repository size (the oldest neuron is replaced when full).
    xi:
        Value-correction rate in [0, 1].
    epsilon:
        Anomaly threshold in standard deviations of the recent errors.
    numbering:
        Receptive-field centre numbering, ``"zero_based"`` (authors' code) or
        ``"one_based"``.
    learn_first:
        Add the candidate neuron before the recall (authors' order) or after.
    seed:
        Seed of the candidate values' normal draws.
    tune:
        ``None`` (default): choose ``window``, ``learn_first`` and ``epsilon`` on the
        stream if none is given, else fixed; ``True``: tune those not given;
        ``False``: fixed. A tuned model exposes its population as :attr:`tuner`
        and its current choice as :attr:`chosen`.

    Examples
    --------
    >>> from spikegrad.online.uad import OeSNNUAD
    >>> det = OeSNNUAD(window=20)
    >>> for t in range(200):
    ...     det.learn_one({"x": math.sin(t / 5)})
    >>> det.score_one({"x": 8.0}) > det.score_one({"x": math.sin(200 / 5)})
    True
    """

    def __init__(
        self,
        window: int | None = None,
        n_fields: int = 10,
        beta: float = 1.6,
        mod: float = 0.6,
        c: float = 0.6,
        sim: float = 0.15,
        max_neurons: int = 50,
        xi: float = 0.9,
        epsilon: float | None = None,
        numbering: str = "zero_based",
        learn_first: bool | None = None,
        seed: int = 0,
        tune: bool | None = None,
    ) -> None:
        given = {"window": window, "learn_first": learn_first, "epsilon": epsilon}
        if tune is not None and not isinstance(tune, bool):
            raise SpikegradInputError(f"tune must be None, True or False, got {tune!r}")
        explicit = {k: v for k, v in given.items() if v is not None}
        auto = (not explicit) if tune is None else tune
        fixed = {**FIXED_DEFAULTS, **explicit}
        window, learn_first, epsilon = fixed["window"], fixed["learn_first"], fixed["epsilon"]
        if not isinstance(window, int) or window < 2:
            raise SpikegradInputError(f"window must be an int >= 2, got {window!r}")
        _check_fields(n_fields)
        check_positive("beta", beta)
        if not (isinstance(mod, (int, float)) and 0 < mod < 1):
            raise SpikegradInputError(f"mod must lie in (0, 1), got {mod!r}")
        if not (isinstance(c, (int, float)) and 0 < c <= 1):
            raise SpikegradInputError(f"c must lie in (0, 1], got {c!r}")
        if not (isinstance(sim, (int, float)) and math.isfinite(sim) and sim >= 0):
            raise SpikegradInputError(f"sim must be a finite number >= 0, got {sim!r}")
        if not isinstance(max_neurons, int) or max_neurons < 1:
            raise SpikegradInputError(f"max_neurons must be an int >= 1, got {max_neurons!r}")
        if not (isinstance(xi, (int, float)) and 0 <= xi <= 1):
            raise SpikegradInputError(f"xi must lie in [0, 1], got {xi!r}")
        if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon)):
            raise SpikegradInputError(f"epsilon must be a finite number, got {epsilon!r}")
        check_choice("numbering", numbering, NUMBERINGS)
        if not isinstance(seed, int) or seed < 0:
            raise SpikegradInputError(f"seed must be an int >= 0, got {seed!r}")
        if not isinstance(learn_first, bool):
            raise SpikegradInputError(f"learn_first must be True or False, got {learn_first!r}")
        self.tune = tune
        self.window = window
        self.n_fields = n_fields
        self.beta = beta
        self.mod = mod
        self.c = c
        self.sim = sim
        self.max_neurons = max_neurons
        self.xi = xi
        self.epsilon = epsilon
        self.numbering = numbering
        self.learn_first = learn_first
        self.seed = seed

        self._rng = np.random.default_rng(seed)
        self._z = float(self._rng.standard_normal())  # the next candidate's normal draw
        self._features: dict = {}
        self._inv_canon = np.zeros(0, dtype=np.int64)
        self._buf = np.full((window, 0), np.nan)  # ring buffer of recent values
        self._pos = 0
        self._WT = np.zeros((0, max_neurons))  # [inputs, neurons]
        self._Wr = np.zeros((max_neurons, 0))  # the same, row-major
        self._theta = np.zeros(max_neurons)
        self._value = np.zeros((max_neurons, 0))
        self._merges = np.zeros(max_neurons)
        self._age = np.zeros(max_neurons)
        self._label = np.full(max_neurons, -1, dtype=np.int64)  # 0: used, -1: free
        self._errors: deque = deque(maxlen=window)  # (error, anomalous)
        self._t = 0
        self._dmax_cache: dict = {}
        self.n_no_fire = 0  #: learned samples at which no neuron fired
        self._last_y: np.ndarray | None = None  # forecast of the last learned sample
        #: the population choosing window, learn_first and epsilon (``None``: fixed)
        self.tuner: PrequentialLossSelector | None = None
        self._scale: dict = {}  # feature -> [count, mean, M2] (Welford), tuned only
        if auto:
            for k, v in given.items():  # not given: stays None, so a clone tunes again
                setattr(self, k, v)
            rest: dict[str, Any] = {
                "n_fields": n_fields,
                "beta": beta,
                "mod": mod,
                "c": c,
                "sim": sim,
                "max_neurons": max_neurons,
                "xi": xi,
                "numbering": numbering,
                "seed": seed,
            }
            configs: list[dict] = []
            for cand in TUNE_CANDIDATES:
                cfg = {**cand, **explicit}
                if cfg not in configs:
                    configs.append(cfg)
            self.tuner = PrequentialLossSelector(
                [OeSNNUAD(**cfg, **rest, tune=False) for cfg in configs],
                window=TUNE_WINDOW,
                grace=TUNE_GRACE,
                survivors=1,
            )

    # ------------------------------------------------------------------ river API
    @classmethod
    def _unit_test_params(cls):
        yield {"window": 20}
        yield {"window": 30, "n_fields": 5, "max_neurons": 10, "learn_first": False}
        yield {}  # self-tuning

    def learn_one(self, x: dict) -> None:
        """Learn one sample (window, repository, error statistics, value correction).

        Tuned: every member learns it, and each member's forecast of ``x`` (made
        before it learned ``x``) is scored by :func:`forecast_loss`.
        """
        if self.tuner is None:
            self._step(x, commit=True)
            return
        tuner = self.tuner
        members = tuner.members
        if len(members) == 1:
            members[0]._step(x, commit=True)
            return
        for m in members:  # the first member validates x before anything changes
            m._step(x, commit=True)
        scale = {k: _welford_sd(self._scale.get(k)) for k in x}
        tuner.update([forecast_loss(x, m._last_y, m._features, scale) for m in members])
        for k, v in x.items():  # the scale learns x after x was scored (no look-ahead)
            f = self._number(k, v)
            if f == f:
                st = self._scale.setdefault(k, [0, 0.0, 0.0])
                st[0] += 1
                d = f - st[1]
                st[1] += d / st[0]
                st[2] += d * (f - st[1])

    def score_one(self, x: dict) -> float:
        r"""Standardised error :math:`(e - \bar E)/s_E` of ``x`` (pure: nothing changes)."""
        if self.tuner is not None:
            return self.tuner.best._step(x, commit=False)
        return self._step(x, commit=False)

    def is_anomaly(self, x: dict) -> bool:
        r"""The paper's decision, :math:`e - \bar E > \varepsilon s_E` (pure)."""
        if self.tuner is not None:
            return self.tuner.best.is_anomaly(x)
        return self.score_one(x) > self.epsilon

    @property
    def chosen(self) -> dict:
        """``window``, ``learn_first`` and ``epsilon`` of the model that scores now."""
        m = self.tuner.best if self.tuner is not None else self
        return {"window": m.window, "learn_first": m.learn_first, "epsilon": m.epsilon}

    @property
    def n_neurons(self) -> int:
        """Output neurons stored (tuned: by the member that scores now)."""
        if self.tuner is not None:
            return self.tuner.best.n_neurons
        return int((self._label >= 0).sum())

    def state_bytes(self) -> int:
        """Bytes of the arrays and the error window (for memory-bound checks); tuned: all
        members, their losses and the per-feature scale statistics."""
        if self.tuner is not None:
            return (
                sum(m.state_bytes() for m in self.tuner.members)
                + 8 * len(self.tuner.losses)
                + 24 * len(self._scale)
            )
        arrays = (
            self._buf,
            self._WT,
            self._Wr,
            self._theta,
            self._value,
            self._merges,
            self._age,
            self._label,
        )
        return int(sum(a.nbytes for a in arrays)) + 16 * len(self._errors)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _number(key, v) -> float:
        return feature_number(key, v, "OeSNNUAD", max_abs=1e150)

    def _add_features(self, keys: list) -> None:
        for key in sorted(keys, key=_feature_sort_key):
            self._features[key] = len(self._features)
        m = self.n_fields
        k = len(keys)
        self._buf = np.pad(self._buf, ((0, 0), (0, k)), constant_values=np.nan)
        self._WT = np.pad(self._WT, ((0, m * k), (0, 0)))
        self._Wr = np.pad(self._Wr, ((0, 0), (0, m * k)))
        self._value = np.pad(self._value, ((0, 0), (0, k)), constant_values=np.nan)
        self._inv_canon = np.argsort(canonical_columns(self._features, m))

    def _dmax(self, k: int) -> float:
        d = self._dmax_cache.get(k)
        if d is None:
            d = dmax(self.mod, k)
            if len(self._dmax_cache) < 64:
                self._dmax_cache[k] = d
        return d

    def _step(self, x: dict, commit: bool) -> float:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature values, got {type(x).__name__}")
        values = {key: self._number(key, v) for key, v in x.items()}
        if commit:
            self._last_y = None
        if commit:
            new = [k for k, f in values.items() if f == f and k not in self._features]
            if new:
                self._add_features(new)
        nf = len(self._features)
        vals = np.full(nf, np.nan)
        for key, f in values.items():
            i = self._features.get(key)
            if i is not None:
                vals[i] = f
        # the window with x_t in place of the oldest value
        buf = self._buf if commit else self._buf.copy()
        if nf:
            buf[self._pos] = vals
        lo = np.fmin.reduce(buf, axis=0) if nf else np.zeros(0)
        hi = np.fmax.reduce(buf, axis=0) if nf else np.zeros(0)
        ok = ~np.isnan(buf)
        cnt = ok.sum(axis=0)
        filled = np.where(ok, buf, 0.0)
        mean = filled.sum(axis=0) / np.maximum(cnt, 1)
        var = (np.where(ok, buf - mean, 0.0) ** 2).sum(axis=0) / np.maximum(cnt, 1)
        std = np.sqrt(var)
        if commit:
            self._pos = (self._pos + 1) % self.window
            self._t += 1
        if nf == 0:
            return 0.0
        lo = np.where(np.isnan(lo), 0.0, lo)
        hi = np.where(np.isnan(hi), 0.0, hi)
        order, missing = _kern.grf_order(
            vals,
            lo,
            hi,
            self.n_fields,
            float(self.beta),
            self.numbering == "one_based",
            True,
            2.0,
            self._inv_canon,
        )
        k = len(order)
        if k == 0:
            return 0.0
        present = ~np.isnan(vals) & (hi > lo)
        s_w = np.where(std > 0, std, 1.0)
        # repository (copies when only scoring)
        wt, wr, theta, value = self._WT, self._Wr, self._theta, self._value
        merges, age, label = self._merges, self._age, self._label
        if not commit:
            wt, wr, theta, value = wt.copy(), wr.copy(), theta.copy(), value.copy()
            merges, age, label = merges.copy(), age.copy(), label.copy()
        powers = self.mod ** np.arange(k, dtype=np.float64)
        w = np.zeros(wt.shape[0])
        w[order] = powers
        th = self.c * float(np.dot(powers, powers))
        v_new = np.where(present, mean + std * self._z, np.nan)

        def learn() -> None:
            used = np.flatnonzero(label >= 0)
            if len(used):
                d = _kern.distances(wr, used, w)
                j = int(np.argmin(d))
                if d[j] <= self.sim * self._dmax(k):
                    r = int(used[j])
                    n = merges[r]
                    wr[r] = (w + n * wr[r]) / (n + 1)
                    wt[:, r] = wr[r]
                    theta[r] = (th + n * theta[r]) / (n + 1)
                    old = value[r]
                    avg = np.where(np.isnan(v_new), old, (v_new + n * old) / (n + 1))
                    value[r] = np.where(np.isnan(old), v_new, avg)
                    age[r] = (self._t + n * age[r]) / (n + 1)
                    merges[r] = n + 1
                    return
            free = np.flatnonzero(label < 0)
            r = int(free[0]) if len(free) else int(used[np.argmin(age[used])])
            wr[r] = w
            wt[:, r] = w
            theta[r] = th
            value[r] = v_new
            age[r] = self._t
            merges[r] = 1.0
            label[r] = 0

        if self.learn_first:
            learn()
        theta_used = theta
        if missing:
            w2 = wt * wt
            tot = w2.sum(axis=0)
            pres = np.repeat(present, self.n_fields)
            theta_used = theta * np.divide(
                w2[pres].sum(axis=0), tot, out=np.ones_like(tot), where=tot > 0
            )
        win = -1
        if (label >= 0).any():
            psp = np.empty(wt.shape[1])
            _, win = _kern.first_fire(wt, theta_used, label, order, powers, psp, False)
        errs = np.fromiter((e for e, a in self._errors if not a), dtype=np.float64)
        if win < 0:
            dev = np.abs(vals - mean) / s_w
            dev = dev[present]
            score = NO_FIRE_SCORE + (float(np.sqrt(np.mean(dev * dev))) if len(dev) else 0.0)
            anomalous = True
            err = math.inf
            if commit:
                self._last_y = None
        else:
            y = value[win]
            if commit:
                self._last_y = y.copy()
            both = present & ~np.isnan(y)
            if not both.any():
                err = 0.0
            elif nf == 1:
                err = float(abs(vals[0] - y[0]))
            else:
                z = (vals[both] - y[both]) / s_w[both]
                err = float(np.sqrt(np.mean(z * z)))
            if len(errs) >= 2:
                e_mean = float(errs.mean())
                e_std = float(np.sqrt(((errs - e_mean) ** 2).mean()))
                score = (err - e_mean) / max(e_std, 1e-12 * (1.0 + abs(e_mean)))
            else:
                score = 0.0
            anomalous = score > self.epsilon
        if commit:
            if not self.learn_first:
                learn()
            if win < 0:
                self.n_no_fire += 1
            else:
                self._errors.append((err, anomalous))
                if not anomalous:
                    upd = present & ~np.isnan(value[win])
                    v = value[win]
                    value[win] = np.where(upd, v + self.xi * (vals - v), v)
            self._z = float(self._rng.standard_normal())
        return float(score)
