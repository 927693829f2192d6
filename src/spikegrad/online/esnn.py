r"""Evolving spiking neural networks for data streams: eSNN / OeSNN as a river classifier.

Following Kasabov's eSNN (Schliebs & Kasabov 2013) and the online eSNN (OeSNN)
of Lobo et al. (Neural Networks 108, 2018; review Neural Networks 121, 2020).

**Encoding.** Each feature is rank-order coded by :math:`M` Gaussian receptive
fields (:mod:`spikegrad.data.encoding`: :func:`grf_responses`, firing times
:func:`grf_spike_times`) whose ranges are learned from the stream
(:class:`spikegrad.online.encoding.RangeTracker`). A sample becomes the firing
order of its :math:`K` spiking inputs.

**Learning (one pass, one sample).** The sample makes a candidate output
neuron with weights and threshold

.. math::

    w_j = \mathrm{mod}^{\,\mathrm{order}(j)}, \qquad
    \theta = C \cdot \mathrm{PSP}_\max, \qquad
    \mathrm{PSP}_\max = \sum_{k=0}^{K-1} \mathrm{mod}^{2k}
    = \frac{1 - \mathrm{mod}^{2K}}{1 - \mathrm{mod}^2}

(:math:`w_j = 0` for inputs that do not spike). If the nearest neuron of the
same class (Euclidean distance of weight vectors) is closer than ``sim``, the
two merge as a running average weighted by the merge count :math:`N`:
:math:`w \leftarrow (w_\text{new} + N w)/(N+1)`, :math:`\theta` likewise,
:math:`N \leftarrow N+1`; otherwise the candidate is added. Each class keeps at
most ``max_neurons_per_class`` neurons; when full the candidate replaces the
oldest neuron (``replace="oldest"``; a neuron's age is averaged on merges like
its weights, as in OeSNN-UAD) or the least used one (``replace="least_used"``:
fewest merges, then oldest).

**Recall.** The spikes arrive in rank order; the :math:`k`-th spike (input
:math:`j`) adds :math:`w_{ij}\,\mathrm{mod}^k` to every neuron's PSP:

.. math::

    \mathrm{PSP}_i(k) = \sum_{k' \le k} w_{i,\pi(k')}\,\mathrm{mod}^{k'}

and the first neuron with :math:`\mathrm{PSP}_i > \theta_i` gives the class.
Ties at the same spike go to the largest :math:`(\mathrm{PSP}_i - \theta_i)/\theta_i`,
then to the class seen first.
If no neuron fires, the declared fallback ``no_fire`` decides: ``"psp"``
(default, as specified) takes the neuron with the largest final PSP,
``"ratio"`` the largest :math:`\mathrm{PSP}_i/\theta_i`, and ``"none"``
predicts ``None``. Note that ``river.evaluate.progressive_val_score`` *skips*
``None`` predictions (they count neither way), while
:func:`spikegrad.online.prequential.prequential` counts them as errors.

**Probabilities.** Every neuron gets a score that orders neurons exactly like
the decision rule: :math:`1 + (K - k_i)/K + \text{tie term} < 2` if it fires at
spike :math:`k_i`, and a value in :math:`[0, 1)` from the fallback quantity if
not. A class scores its best neuron; ``predict_proba_one`` is the softmax of
``proba_scale`` times the class scores, so its arg-max is ``predict_one``.

**Drift.** ``drift_detector`` (any river drift detector, e.g.
``river.drift.ADWIN()``) is fed the 0/1 error of the model's own prediction of
every learned sample (test-then-train); when it fires, each class keeps only
its ``drift_keep`` youngest neurons (active data reduction, Lobo et al. 2018).
``passive_prune`` enables a passive reduction inside learning: every neuron
tracks a reliability :math:`r \leftarrow r + \alpha(\mathbb{1}[\text{correct}] - r)`
(:math:`r_0 = 1`, :math:`\alpha` = ``prune_rate``) over the samples it wins, and
is removed when :math:`r` falls below ``passive_prune``. With neither, the
model is the naive OeSNN: bounded repository with replacement only.

**Bad samples** (what river users expect):

* a missing feature (absent key, ``None``, NaN or :math:`\pm\infty`) emits no
  spikes and does not move that feature's range; the other features are used.
  In recall, every neuron's threshold is then scaled by the share of its
  weight energy on the present features,
  :math:`\theta_i \sum_{j\,\text{present}} w_{ij}^2 / \sum_j w_{ij}^2`, so that a
  neuron can still fire on the features it can see. A sample with no usable
  feature is not learned, and is predicted from the class prior (the most
  frequent class so far);
* a feature seen for the first time (late feature) gets its own fields from
  then on; existing neurons get zero weights for it (they never saw it spike);
  at prediction time features never learned are ignored;
* an unseen class label in ``learn_one`` opens a new class repository; before
  any learning ``predict_one`` returns ``None`` and ``predict_proba_one`` ``{}``;
* a non-numeric value raises ``TypeError`` naming the feature (put a
  ``preprocessing.OneHotEncoder`` in front), a finite value beyond
  :math:`\pm 10^{150}` raises :class:`~spikegrad.SpikegradInputError` (the field
  widths would overflow); ``x`` that is not a dict and a ``y`` that is ``None``,
  NaN or unhashable raise too. ``learn_one`` checks the whole sample first, so a
  sample that raises leaves the model unchanged.

**Self-tuning defaults.** ``OeSNNClassifier()`` with none of ``n_fields``,
``beta``, ``mod``, ``c``, ``sim``, ``max_neurons_per_class``, ``rank`` given
learns the stream with the population :data:`CANDIDATES` (six settings) and
predicts with the member of best faded prequential accuracy, halving the
population at 100, 200 and 400 samples down to one member
(:class:`~spikegrad.online.tuner.PrequentialSelector`; no look-ahead, memory of at
most six bounded models). Any of them given explicitly makes the model fixed, the
others taking :data:`FIXED_DEFAULTS`; ``tune=False`` is the fixed model with all
defaults, ``tune=True`` tunes with the given values held in every member.

Fixed defaults (:data:`FIXED_DEFAULTS`, set a priori from the eSNN literature, not
tuned on the benchmark streams): ``n_fields=10``, ``beta=1.5``, ``mod=0.9``
(typical 0.8-0.99), ``c=0.7`` (0.5-0.9), ``sim=0.15`` (0.05-0.5 in
``distance="raw"`` units), ``max_neurons_per_class=200`` (50-400),
``rank="global"``. Per-stream values selected on a prefix are listed in
BENCHMARKS.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from river import base

from .._checks import SpikegradInputError, check_choice, check_positive
from . import _esnn_kernels as _kern
from .encoding import (
    NUMBERINGS,
    RANGE_MODES,
    RangeTracker,
    _check_fields,
)
from .tuner import PrequentialSelector

__all__ = [
    "REPLACE_POLICIES",
    "NO_FIRE_RULES",
    "DISTANCES",
    "candidate_neuron",
    "recall",
    "recall_reference",
    "OeSNNClassifier",
]

#: What a full class repository evicts.
REPLACE_POLICIES = ("oldest", "least_used")
#: How spikes are modulated: by their rank in the sample, or in their feature.
RANKS = ("global", "feature")
#: Decision when no output neuron fires.
NO_FIRE_RULES = ("psp", "ratio", "none")
#: Largest feature magnitude accepted: beyond it the squared receptive-field width
#: (range^2) overflows float64 and the responses become NaN.
_MAX_ABS = 1e150
#: Distance used for merging: plain Euclidean, or divided by the largest
#: distance between two orderings of the same K spikes (OeSNN-UAD's D_max).
DISTANCES = ("raw", "dmax")
#: Data reduction of the repository (Lobo et al. 2018): condensed nearest neighbour
#: (prototype selection) or Chang's merging (prototype generation).
REDUCTIONS = ("cnn", "chang")

#: The fixed hyper-parameters (``tune=False``, or any of them given explicitly), set
#: a priori from the eSNN literature before any benchmark run.
FIXED_DEFAULTS: dict = {
    "n_fields": 10,
    "beta": 1.5,
    "mod": 0.9,
    "c": 0.7,
    "sim": 0.15,
    "max_neurons_per_class": 200,
    "rank": "global",
}
#: The population a default ``OeSNNClassifier()`` tunes over: the fixed defaults,
#: then five settings spanning the grid of ``bench/online_bench.py`` (coarse/fine
#: fields, wide/narrow merge radius, small/large repositories, per-feature rank).
#: They are the settings that prefix tuning had picked on the benchmark streams
#: (BENCHMARKS.md), so the streams of that table are not held out for the choice of
#: this population; the small real data sets of ``bench/online_defaults.py`` are.
CANDIDATES: tuple[dict, ...] = (
    FIXED_DEFAULTS,
    {
        "n_fields": 20,
        "beta": 1.0,
        "mod": 0.95,
        "c": 0.7,
        "sim": 0.3,
        "max_neurons_per_class": 200,
        "rank": "global",
    },
    {
        "n_fields": 8,
        "beta": 1.5,
        "mod": 0.9,
        "c": 0.8,
        "sim": 0.1,
        "max_neurons_per_class": 400,
        "rank": "feature",
    },
    {
        "n_fields": 20,
        "beta": 1.5,
        "mod": 0.8,
        "c": 0.7,
        "sim": 0.1,
        "max_neurons_per_class": 50,
        "rank": "global",
    },
    {
        "n_fields": 5,
        "beta": 1.0,
        "mod": 0.9,
        "c": 0.6,
        "sim": 0.5,
        "max_neurons_per_class": 400,
        "rank": "global",
    },
    {
        "n_fields": 8,
        "beta": 2.0,
        "mod": 0.95,
        "c": 0.9,
        "sim": 0.3,
        "max_neurons_per_class": 200,
        "rank": "global",
    },
)
#: Fading window, first halving and members kept of the tuner (:mod:`.tuner`).
TUNE_WINDOW = 200
TUNE_GRACE = 100
TUNE_SURVIVORS = 1


def _feature_sort_key(key) -> tuple[str, str]:
    return (type(key).__name__, str(key))


def canonical_columns(features: dict, m: int) -> np.ndarray:
    """Column ``feature_index * m + field`` -> position in the canonical input order.

    Features are ranked by (type name, str(name)), so the order of keys in a
    sample never matters; ties in spike time are broken by this order.
    """
    ranked = sorted(features, key=_feature_sort_key)
    canon = np.empty(len(features) * m, dtype=np.int64)
    for r, key in enumerate(ranked):
        col = features[key] * m
        canon[col : col + m] = r * m + np.arange(m)
    return canon


def dmax(mod: float, k: int) -> float:
    r"""Largest distance between two orderings of ``k`` spikes,
    :math:`\lVert(\mathrm{mod}^{k-1-i})_i - (\mathrm{mod}^i)_i\rVert` (1 if it is 0)."""
    i = np.arange(k, dtype=np.float64)
    d = float(np.linalg.norm(mod ** (k - 1 - i) - mod**i))
    return d if d > 0 else 1.0


def candidate_neuron(
    order: np.ndarray, n_inputs: int, mod: float, c: float
) -> tuple[np.ndarray, float]:
    r"""Candidate neuron: :math:`w_j = \mathrm{mod}^{\mathrm{order}(j)}`, :math:`\theta = C P_\max`.

    Parameters
    ----------
    order:
        Indices of the spiking inputs in firing order (from
        :func:`~spikegrad.data.encoding.rank_order`).
    n_inputs:
        Total number of inputs (non-spiking ones get weight 0).
    mod, c:
        Modulation factor and threshold fraction.
    """
    k = len(order)
    w = np.zeros(n_inputs, dtype=np.float64)
    powers = mod ** np.arange(k, dtype=np.float64)
    w[order] = powers
    return w, c * float(np.dot(powers, powers))


def recall(
    weights: np.ndarray, theta: np.ndarray, order: np.ndarray, mod: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Vectorised rank-order recall of all output neurons at once.

    Spike by spike, add :math:`w_{i,\pi(k)}\,\mathrm{mod}^k` to every neuron's
    PSP at once (compiled loop over the input-major weights,
    :mod:`spikegrad.online._esnn_kernels`; the same additions in the same
    order as the cumulative sum of ``W[:, order] * mod**arange(K)``) and record
    each neuron's first crossing of :math:`\theta_i`.

    Parameters
    ----------
    weights:
        ``[N_out, N_in]``.
    theta:
        ``[N_out]`` thresholds.
    order:
        Firing order of the spiking inputs, ``[K]``.
    mod:
        Modulation factor.

    Returns
    -------
    fired, fire_step, psp_at_fire, psp_final
        ``[N_out]`` each: whether the neuron fires, the spike index at which it
        first exceeds its threshold (``K`` if never), its PSP then (final PSP
        if never), and the PSP after all spikes.
    """
    k = len(order)
    wt = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).T)
    modk = mod ** np.arange(k, dtype=np.float64)
    return _kern.recall_all(
        wt, np.asarray(theta, dtype=np.float64), np.asarray(order, dtype=np.int64), modk
    )


def recall_reference(
    weights: np.ndarray, theta: np.ndarray, order: np.ndarray, mod: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Spike-by-spike reference of :func:`recall` (slow, obviously correct)."""
    n = weights.shape[0]
    k = len(order)
    psp = np.zeros(n)
    fired = np.zeros(n, dtype=bool)
    step = np.full(n, k)
    psp_at = np.zeros(n)
    for s, j in enumerate(order):
        for i in range(n):
            psp[i] += weights[i, j] * mod**s
            if not fired[i] and psp[i] > theta[i]:
                fired[i] = True
                step[i] = s
                psp_at[i] = psp[i]
    psp_at = np.where(fired, psp_at, psp)
    return fired, step, psp_at, psp.copy()


def _check_unit(name: str, v: float, *, open_low: bool = True) -> float:
    f = check_positive(name, v)
    if f >= 1.0 or (not open_low and f <= 0):
        raise SpikegradInputError(f"{name} must lie in (0, 1), got {v!r}")
    return f


class OeSNNClassifier(base.Classifier):
    r"""Online evolving SNN classifier (eSNN/OeSNN) with a bounded repository; a river classifier.

    Parameters
    ----------
    n_fields:
        Gaussian receptive fields per feature, :math:`M \ge 3`.
    beta:
        GRF width factor :math:`\beta` (:math:`\sigma = (I_\max-I_\min)/(\beta(M-2))`).
    mod:
        Modulation factor in (0, 1): weight of the :math:`k`-th spike.
    c:
        Threshold fraction in (0, 1]: :math:`\theta = C\,\mathrm{PSP}_\max`.
    sim:
        Merge a candidate into the nearest same-class neuron closer than this.
    max_neurons_per_class:
        Repository size per class (the model holds at most this many neurons
        per class, whatever the stream length).
    replace:
        Eviction when a repository is full: ``"oldest"`` or ``"least_used"``.
    numbering:
        GRF centre numbering, ``"one_based"`` (default) or ``"zero_based"``.
    range_mode:
        ``"running"`` min/max or sliding ``"window"`` of ``range_window`` values.
    range_window:
        Window length for ``range_mode="window"``.
    late_cut:
        Spikes later than this (in [0, 1)) count as absent; ``None`` keeps all.
    distance:
        ``"raw"`` Euclidean distance or ``"dmax"`` (divided by the largest
        distance between two orderings of the candidate's spikes).
    no_fire:
        Decision when no neuron fires: ``"psp"``, ``"ratio"`` or ``"none"``.
    proba_scale:
        Sharpness of ``predict_proba_one`` (softmax of class scores times this).
    drift_detector:
        A river drift detector fed the 0/1 prediction errors; ``None``: none.
    drift_keep:
        Neurons kept per class (the youngest) when the detector fires.
    passive_prune:
        Reliability below which a neuron is removed (``None``: off).
    prune_rate:
        Update rate :math:`\alpha` of the reliability.
    rank:
        ``"global"`` (default): the :math:`k`-th spike of the sample is modulated
        by :math:`\mathrm{mod}^k`, all fields of all features ranked together (eSNN).
        ``"feature"``: by :math:`\mathrm{mod}^{r}`, :math:`r` the spike's rank among
        the fields of its own feature, so that every feature contributes its
        first spikes at full weight however many features there are (a
        many-feature encoding; candidate weights :math:`w_j = \mathrm{mod}^{r(j)}`,
        :math:`\theta = C\sum_k \mathrm{mod}^{2 r_k}`; spikes still arrive in time order).
    tune:
        ``None`` (default): tune the seven hyper-parameters above on the stream if
        none of them is given, else fixed; ``True``: tune those not given;
        ``False``: fixed (:data:`FIXED_DEFAULTS` for those not given). A tuned model
        exposes its population as :attr:`tuner`.
    reduction:
        Data reduction of the repository (Lobo et al. 2018, Neural Networks 108):
        ``None`` (default), ``"cnn"``: condensed nearest neighbour (prototype
        selection, :meth:`_select_cnn`), or ``"chang"``: Chang's merging (prototype
        generation, :meth:`_generate_chang`), applied every ``reduce_every`` learned
        samples (passive) and, with a ``drift_detector``, at each detection in
        place of keeping the ``drift_keep`` youngest (active).
    reduce_every:
        Learned samples between two passive reductions.
    skip_constant:
        A feature whose learned range is still a single value
        (:math:`I_\min = I_\max`, e.g. its first sample) emits no spikes
        instead of :math:`M` simultaneous ones (``False``: the notes' rule
        :math:`\sigma = 1`, all centres equal).

    Examples
    --------
    >>> from river import datasets, evaluate, metrics, preprocessing
    >>> from spikegrad.online import OeSNNClassifier
    >>> model = preprocessing.StandardScaler() | OeSNNClassifier()
    >>> evaluate.progressive_val_score(datasets.Phishing(), model, metrics.Accuracy())
    Accuracy: ...
    """

    def __init__(
        self,
        n_fields: int | None = None,
        beta: float | None = None,
        mod: float | None = None,
        c: float | None = None,
        sim: float | None = None,
        max_neurons_per_class: int | None = None,
        replace: str = "oldest",
        numbering: str = "one_based",
        range_mode: str = "running",
        range_window: int = 500,
        late_cut: float | None = None,
        distance: str = "raw",
        no_fire: str = "psp",
        proba_scale: float = 10.0,
        drift_detector: base.DriftDetector | None = None,
        drift_keep: int = 5,
        passive_prune: float | None = None,
        prune_rate: float = 0.2,
        skip_constant: bool = True,
        rank: str | None = None,
        tune: bool | None = None,
        reduction: str | None = None,
        reduce_every: int = 500,
    ) -> None:
        given = {
            "n_fields": n_fields,
            "beta": beta,
            "mod": mod,
            "c": c,
            "sim": sim,
            "max_neurons_per_class": max_neurons_per_class,
            "rank": rank,
        }
        if tune is not None and not isinstance(tune, bool):
            raise SpikegradInputError(f"tune must be None, True or False, got {tune!r}")
        explicit = {k: v for k, v in given.items() if v is not None}
        auto = (not explicit) if tune is None else tune
        # validate what was given, with the fixed defaults standing in for the rest
        fixed = {**FIXED_DEFAULTS, **explicit}
        n_fields, beta, mod, c, sim = (
            fixed["n_fields"],
            fixed["beta"],
            fixed["mod"],
            fixed["c"],
            fixed["sim"],
        )
        max_neurons_per_class, rank = fixed["max_neurons_per_class"], fixed["rank"]
        _check_fields(n_fields)
        check_positive("beta", beta)
        _check_unit("mod", mod)
        if not (isinstance(c, (int, float)) and 0 < c <= 1):
            raise SpikegradInputError(f"c must lie in (0, 1], got {c!r}")
        if not (isinstance(sim, (int, float)) and math.isfinite(sim) and sim >= 0):
            raise SpikegradInputError(f"sim must be a finite number >= 0, got {sim!r}")
        if not isinstance(max_neurons_per_class, int) or max_neurons_per_class < 1:
            raise SpikegradInputError(
                f"max_neurons_per_class must be an int >= 1, got {max_neurons_per_class!r}"
            )
        check_choice("replace policy", replace, REPLACE_POLICIES)
        check_choice("numbering", numbering, NUMBERINGS)
        check_choice("range_mode", range_mode, RANGE_MODES)
        if late_cut is not None and not (0 < late_cut < 1):
            raise SpikegradInputError(f"late_cut must be None or in (0, 1), got {late_cut!r}")
        check_choice("distance", distance, DISTANCES)
        check_choice("no_fire rule", no_fire, NO_FIRE_RULES)
        check_positive("proba_scale", proba_scale)
        if drift_detector is not None and not isinstance(drift_detector, base.DriftDetector):
            raise TypeError(
                "drift_detector must be a river drift detector (e.g. river.drift.ADWIN()), "
                f"got {type(drift_detector).__name__}"
            )
        if not isinstance(drift_keep, int) or drift_keep < 0:
            raise SpikegradInputError(f"drift_keep must be an int >= 0, got {drift_keep!r}")
        if passive_prune is not None and not (0 < passive_prune < 1):
            raise SpikegradInputError(
                f"passive_prune must be None or in (0, 1), got {passive_prune!r}"
            )
        _check_unit("prune_rate", prune_rate)
        check_choice("rank", rank, RANKS)
        if reduction is not None:
            check_choice("reduction", reduction, REDUCTIONS)
        if not isinstance(reduce_every, int) or reduce_every < 1:
            raise SpikegradInputError(f"reduce_every must be an int >= 1, got {reduce_every!r}")

        self.tune = tune
        self.n_fields = n_fields
        self.beta = beta
        self.mod = mod
        self.c = c
        self.sim = sim
        self.max_neurons_per_class = max_neurons_per_class
        self.replace = replace
        self.numbering = numbering
        self.range_mode = range_mode
        self.range_window = range_window
        self.late_cut = late_cut
        self.distance = distance
        self.no_fire = no_fire
        self.proba_scale = proba_scale
        self.drift_detector = drift_detector
        self.drift_keep = drift_keep
        self.passive_prune = passive_prune
        self.prune_rate = prune_rate
        self.skip_constant = skip_constant
        self.rank = rank
        self.reduction = reduction
        self.reduce_every = reduce_every
        self._n_condensed = 0  #: neurons removed by the data reduction

        self._ranges = RangeTracker(range_mode, range_window)
        self._features: dict = {}  # feature name -> index (order of first appearance)
        self._classes: list = []  # class labels in order of first appearance
        self._class_index: dict = {}
        self._class_rows: list[list[int]] = []  # pool rows of each class
        self._rows_cache: dict[int, np.ndarray] = {}  # class -> its rows as an array
        self._class_counts: list[int] = []
        # the neuron pool (rows of W), grown by doubling; free rows have label -1.
        # Stored input-major (W^T, [inputs, pool]) for the compiled recall.
        self._WT = np.zeros((0, 0))
        self._Wr = np.zeros((0, 0))  # the same weights row-major, for the merge distances
        self._lo = np.zeros(0)  # per feature index: current range, for the encoder
        self._hi = np.zeros(0)
        self._modk = np.ones(0)  # mod ** arange(K), grown on demand
        self._theta = np.zeros(0)
        self._label = np.zeros(0, dtype=np.int64)
        self._merges = np.zeros(0)
        self._age = np.zeros(0)
        self._reliab = np.zeros(0)
        self._free: list[int] = []
        self._canon = np.zeros(0, dtype=np.int64)  # column -> canonical input position
        self._inv_canon = np.zeros(0, dtype=np.int64)  # canonical position -> column
        self._t = 0  # samples learned
        self._drift_points: list[int] = []
        self._n_merges = 0
        self._n_replaced = 0
        self._n_pruned = 0
        self._n_skipped = 0  #: learned samples that emitted no spike (nothing to learn)
        #: the population choosing the hyper-parameters (``None``: fixed hyper-parameters)
        self.tuner: PrequentialSelector | None = None
        if auto:
            # the hyper-parameters not given stay None (so a clone tunes again)
            for k, v in given.items():
                setattr(self, k, v)
            rest = {
                "replace": replace,
                "numbering": numbering,
                "range_mode": range_mode,
                "range_window": range_window,
                "late_cut": late_cut,
                "distance": distance,
                "no_fire": no_fire,
                "proba_scale": proba_scale,
                "drift_keep": drift_keep,
                "passive_prune": passive_prune,
                "prune_rate": prune_rate,
                "skip_constant": skip_constant,
                "reduction": reduction,
                "reduce_every": reduce_every,
            }
            configs: list[dict] = []
            for cand in CANDIDATES:
                cfg = {**cand, **explicit}
                if cfg not in configs:
                    configs.append(cfg)
            members = [
                OeSNNClassifier(
                    **cfg,
                    **rest,
                    tune=False,
                    drift_detector=None if drift_detector is None else drift_detector.clone(),
                )
                for cfg in configs
            ]
            self.tuner = PrequentialSelector(
                members, window=TUNE_WINDOW, grace=TUNE_GRACE, survivors=TUNE_SURVIVORS
            )

    # ------------------------------------------------------------------ river API
    @property
    def _multiclass(self) -> bool:
        return True

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"n_fields": 5, "max_neurons_per_class": 20, "no_fire": "ratio"}

    def learn_one(self, x: dict, y: Any) -> None:
        """Learn one labelled sample (test-then-train: predict it first if drift handling is on)."""
        if self.tuner is not None:
            self._check_x(x)
            self._check_y(y)
            self.tuner.learn_one(x, y)
            return
        self._check_x(x)
        self._check_y(y)
        self._learn_fixed(x, y, None)
        self._maybe_condense()

    def _predict_then_learn(self, x: dict, y: Any) -> Any:
        """``predict_one(x)`` then ``learn_one(x, y)``, the same results, one encoding of
        ``x`` when learning ``x`` moves no feature range (the usual case)."""
        if (
            self.tuner is not None
            or self.drift_detector is not None
            or (self.passive_prune is not None)
        ):
            pred = self.predict_one(x)
            self.learn_one(x, y)
            return pred
        self._check_x(x)
        self._check_y(y)
        enc = self._encode(x)  # raises on a bad value before anything changes
        pred = self._predict_enc(enc) if self._classes else None
        self._learn_fixed(x, y, enc[0])
        self._maybe_condense()
        return pred

    def _maybe_condense(self) -> None:
        if self.reduction is not None and self._t > 0 and self._t % self.reduce_every == 0:
            self._condense()

    def _condense(self) -> None:
        """The configured reduction (:meth:`_select_cnn` or :meth:`_generate_chang`)."""
        if self.reduction == "chang":
            self._generate_chang()
        else:
            self._select_cnn()

    def _generate_chang(self) -> None:
        r"""Chang's prototype generation (IEEE Trans. Computers 23, 1974) on the repository.

        The closest pair of same-class neurons :math:`p, q` (Euclidean distance of the
        weight vectors) is replaced by their merge-count-weighted mean,
        :math:`w = (n_p w_p + n_q w_q)/(n_p + n_q)` (threshold and age likewise,
        :math:`n = n_p + n_q`), if 1-NN over the new set still labels every neuron of
        the repository *before the reduction* correctly; otherwise the pair is
        blocked and the next closest tried. It stops when no pair is left or after
        ``4 x`` (neurons) tries."""
        used = np.flatnonzero(self._label >= 0)
        n = len(used)
        if n < 2:
            return
        orig = self._Wr[used].copy()
        olab = self._label[used].copy()
        alive = np.ones(n, dtype=bool)  # prototype slot k lives in row used[k]
        w = orig.copy()
        sq = (w * w).sum(axis=1)
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * (w @ w.T), 0.0))
        od = dist.copy()  # original i to prototype k
        np.fill_diagonal(od, 0.0)
        pd = dist  # same-class prototype pairs (others: inf)
        pd[olab[:, None] != olab[None, :]] = np.inf
        np.fill_diagonal(pd, np.inf)
        near = np.argmin(od, axis=1)  # each original's nearest prototype
        near_d = od[np.arange(n), near]
        correct = olab[near] == olab  # a merge may not undo any of these
        rmin = pd.min(axis=1)  # per row: the closest same-class partner
        rarg = np.argmin(pd, axis=1)
        tries = 0
        while tries < 4 * n:
            p = int(np.argmin(rmin))
            if not np.isfinite(rmin[p]):
                break
            q = int(rarg[p])
            tries += 1
            rp, rq = int(used[p]), int(used[q])
            np_, nq = self._merges[rp], self._merges[rq]
            m = (np_ * w[p] + nq * w[q]) / (np_ + nq)
            dm = np.linalg.norm(orig - m, axis=1)  # originals to the merged prototype
            # new nearest: unaffected originals keep theirs unless m is closer (ties: the
            # lower index, as argmin); those whose nearest was p or q look again
            new_near = np.where((dm < near_d) | ((dm == near_d) & (p < near)), p, near)
            new_d = np.where(new_near == p, dm, near_d)
            hit = (near == p) | (near == q)
            if hit.any():
                rows = od[hit]
                rows[:, p] = dm[hit]
                rows[:, q] = np.inf
                rows[:, ~alive] = np.inf
                k = np.argmin(rows, axis=1)
                new_near[hit] = k
                new_d[hit] = rows[np.arange(len(k)), k]
            if (correct & (olab[new_near] != olab)).any():
                pd[p, q] = pd[q, p] = np.inf  # blocked
                for r in (p, q):
                    rmin[r], rarg[r] = pd[r].min(), int(np.argmin(pd[r]))
                continue
            # merge q into p (row rp keeps the prototype, rq is freed)
            self._Wr[rp] = m
            self._WT[:, rp] = m
            self._theta[rp] = (np_ * self._theta[rp] + nq * self._theta[rq]) / (np_ + nq)
            self._age[rp] = (np_ * self._age[rp] + nq * self._age[rq]) / (np_ + nq)
            self._merges[rp] = np_ + nq
            self._remove(rq)
            self._n_condensed += 1
            w[p] = m
            alive[q] = False
            od[:, p] = dm
            od[:, q] = np.inf
            near, near_d = new_near, new_d
            # same-class distances to the new prototype (pairs blocked for p, other
            # classes and dead slots stay inf); q leaves every row
            dp = np.linalg.norm(w - m, axis=1)
            row = np.where(np.isinf(pd[p]), np.inf, dp)
            row[q] = np.inf
            pd[p, :] = row
            pd[:, p] = row
            pd[q, :] = np.inf
            pd[:, q] = np.inf
            stale = (rarg == p) | (rarg == q)
            stale[p] = True
            for r in np.flatnonzero(stale):
                rmin[r], rarg[r] = pd[r].min(), int(np.argmin(pd[r]))
            better = (row < rmin) | ((row == rmin) & (p < rarg))
            better[p] = False
            rmin[better] = row[better]
            rarg[better] = p
            rmin[q] = np.inf

    def _select_cnn(self) -> None:
        r"""Condensed nearest neighbour over the repository (Hart 1968, IEEE Trans. Inf.
        Theory 14), the prototype-selection reduction of Lobo et al. (2018).

        :math:`S` starts with the youngest neuron of each class; the neurons are
        visited youngest first, and one whose nearest neuron in :math:`S`
        (Euclidean distance of the weight vectors; ties: the earlier in :math:`S`)
        has another class joins :math:`S`; passes repeat until one adds nothing.
        Every neuron outside :math:`S` is then removed, so 1-NN over :math:`S`
        labels every neuron of the old repository correctly."""
        used = np.flatnonzero(self._label >= 0)
        if len(used) < 2:
            return
        # youngest first (stable: ties in age by row)
        rows = used[np.argsort(-self._age[used], kind="stable")]
        lab = self._label[rows]
        w = self._Wr[rows]
        sq = (w * w).sum(axis=1)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (w @ w.T)
        keep: list[int] = []
        inside = np.zeros(len(rows), dtype=bool)
        for i in range(len(rows)):  # the youngest of each class
            if not inside[lab == lab[i]].any():
                inside[i] = True
                keep.append(i)
        changed = True
        while changed:
            changed = False
            for i in range(len(rows)):
                if inside[i]:
                    continue
                near = keep[int(np.argmin(d2[i, keep]))]
                if lab[near] != lab[i]:
                    keep.append(i)
                    inside[i] = True
                    changed = True
        for i in range(len(rows)):
            if not inside[i]:
                self._remove(int(rows[i]))
                self._n_condensed += 1

    def _learn_fixed(self, x: dict, y: Any, prev: np.ndarray | None) -> None:
        """Learn ``(x, y)`` (fixed model); ``prev``: firing order of ``x`` encoded with the
        ranges before this sample, reused if no range moves and no feature is new."""
        # validate every value before the model changes, so a bad sample leaves no trace
        values = {
            key: v if v.__class__ is float and -_MAX_ABS <= v <= _MAX_ABS else self._value(key, v)
            for key, v in x.items()
        }
        cls = self._class_index.get(y)
        if cls is None:
            cls = self._add_class(y)

        if self.drift_detector is not None or self.passive_prune is not None:
            winner = self._winner(self._encode(x))
            if winner is not None:
                correct = self._label[winner] == cls
                if self.passive_prune is not None:
                    r = self._reliab[winner] + self.prune_rate * (
                        float(correct) - self._reliab[winner]
                    )
                    self._reliab[winner] = r
                    if r < self.passive_prune:
                        self._remove(winner)
                        self._n_pruned += 1
            else:
                correct = self._prior_class() == cls
            if self.drift_detector is not None:
                self.drift_detector.update(0.0 if correct else 1.0)
                if self.drift_detector.drift_detected:
                    self._drift_points.append(self._t)
                    if self.reduction is not None:  # active mode: reduce on a detection
                        self._condense()
                    else:
                        self._reduce(self.drift_keep)

        self._t += 1
        self._class_counts[cls] += 1
        new = []
        feats = self._features
        if self._ranges.mode == "running":
            # running min/max, tracker and encoder arrays updated in one pass; a
            # feature's arrays are written only when its range moves
            tlo, thi = self._ranges._lo, self._ranges._hi
            lo, hi = self._lo, self._hi
            moved = False
            for key, f in values.items():
                if f == f:  # not NaN
                    i = feats.get(key)
                    if i is None:
                        new.append(key)
                        self._ranges.update(key, f)
                        continue
                    if f < tlo[key]:
                        tlo[key] = f
                        lo[i] = f
                        moved = True
                    if f > thi[key]:
                        thi[key] = f
                        hi[i] = f
                        moved = True
            if new:
                self._add_features(new)
                self._sync_ranges({k: values[k] for k in new})
        else:
            lo0, hi0 = self._lo.copy(), self._hi.copy()
            for key, f in values.items():
                if f == f:  # not NaN
                    if key not in feats:
                        new.append(key)
                    self._ranges.update(key, f)
            if new:
                self._add_features(new)
            self._sync_ranges(values)
            moved = not (np.array_equal(lo0, self._lo) and np.array_equal(hi0, self._hi))
        if prev is not None and not new and not moved:
            order = prev
        else:
            order, _ = self._encode(x)
        if len(order) == 0:
            self._n_skipped += 1
            return
        if self.rank == "global":
            w, th = candidate_neuron(order, self._WT.shape[0], self.mod, self.c)
        else:
            powers = self._spike_mod(order)
            w = np.zeros(self._WT.shape[0])
            w[order] = powers
            th = self.c * float(np.dot(powers, powers))
        rows = self._class_rows[cls]
        if rows:
            rr = self._rows_cache.get(cls)
            if rr is None:  # rebuilt only after the class's rows changed
                rr = self._rows_cache[cls] = np.asarray(rows, dtype=np.int64)
            d = _kern.distances(self._Wr, rr, w)
            if self.distance == "dmax":
                d = d / self._dmax(len(order))
            j = int(np.argmin(d))
            if d[j] < self.sim:
                r = rows[j]
                n = self._merges[r]
                self._Wr[r] = (w + n * self._Wr[r]) / (n + 1)
                self._WT[:, r] = self._Wr[r]
                self._theta[r] = (th + n * self._theta[r]) / (n + 1)
                self._age[r] = (self._t + n * self._age[r]) / (n + 1)
                self._merges[r] = n + 1
                self._n_merges += 1
                return
        if len(rows) >= self.max_neurons_per_class:  # rows is not empty: rr is its array
            if self.replace == "oldest":
                victim = int(rr[np.argmin(self._age[rr])])
            else:
                key = np.lexsort((self._age[rr], self._merges[rr]))
                victim = int(rr[key[0]])
            self._set_row(victim, w, th)
            self._n_replaced += 1
            return
        r = self._alloc()
        self._set_row(r, w, th)
        self._label[r] = cls
        rows.append(r)
        self._rows_cache.pop(cls, None)

    def predict_proba_one(self, x: dict) -> dict:
        """Class probabilities from the neurons' firing scores (see the module docstring)."""
        if self.tuner is not None:
            self._check_x(x)
            return self.tuner.best.predict_proba_one(x)
        self._check_x(x)
        if not self._classes:
            return {}
        cs = self._class_scores(self._encode(x))
        z = self.proba_scale * (cs - cs.max())
        p = np.exp(z)
        p /= p.sum()
        return {c: float(p[i]) for i, c in enumerate(self._classes)}

    def predict_one(self, x: dict, **kwargs) -> Any:
        """The class of the first output neuron to fire (fallback: ``no_fire``)."""
        if self.tuner is not None:
            self._check_x(x)
            return self.tuner.best.predict_one(x)
        self._check_x(x)
        if not self._classes:
            return None
        return self._predict_enc(self._encode(x))

    def _predict_enc(self, enc: tuple[np.ndarray, np.ndarray | None]) -> Any:
        """``predict_one`` from the encoding of ``x`` (at least one class known)."""
        if self.n_neurons == 0 or len(enc[0]) == 0:
            if self.no_fire == "none" and len(enc[0]) > 0:
                return None
            return self._classes[self._prior_class()]
        # arg-max of the class scores (ties: the class seen first), as predict_proba_one,
        # decided at the first spike that makes a neuron fire (compiled early exit)
        cls = self._decide(enc, by_label=True)
        return None if cls is None else self._classes[cls]

    # ------------------------------------------------------------------ inspection
    def _counter(self, name: str) -> int:
        return getattr(self.tuner.best if self.tuner is not None else self, name)

    @property
    def n_merges(self) -> int:
        """Candidates merged into a neuron (tuned: by the predicting member)."""
        return self._counter("_n_merges")

    @property
    def n_replaced(self) -> int:
        """Candidates that replaced a neuron of a full repository (tuned: predicting member)."""
        return self._counter("_n_replaced")

    @property
    def n_pruned(self) -> int:
        """Neurons removed by passive pruning (tuned: by the predicting member)."""
        return self._counter("_n_pruned")

    @property
    def n_skipped(self) -> int:
        """Learned samples that emitted no spike (tuned: seen by the predicting member)."""
        return self._counter("_n_skipped")

    @property
    def drift_points(self) -> list[int]:
        """Sample indices (learned count) where the drift detector fired (tuned: of the
        predicting member)."""
        if self.tuner is not None:
            return self.tuner.best.drift_points
        return self._drift_points

    @property
    def n_neurons(self) -> int:
        """Output neurons currently stored (all classes; tuned: of the predicting member)."""
        if self.tuner is not None:
            return self.tuner.best.n_neurons
        return int(sum(len(r) for r in self._class_rows))

    def repository_sizes(self) -> dict:
        """Neurons per class label (tuned: of the predicting member)."""
        if self.tuner is not None:
            return self.tuner.best.repository_sizes()
        return {c: len(self._class_rows[i]) for i, c in enumerate(self._classes)}

    @property
    def n_inputs(self) -> int:
        """Input neurons: fields times features learned so far (tuned: predicting member)."""
        if self.tuner is not None:
            return self.tuner.best.n_inputs
        return self._WT.shape[0]

    @property
    def _W(self) -> np.ndarray:
        """The weights as ``[pool rows, inputs]`` (read only: the pool is also held as ``W^T``)."""
        return self._Wr

    def state_bytes(self) -> int:
        """Bytes held by the neuron pool and the range tracker (for memory-bound checks);
        tuned: the sum over the members of the population."""
        if self.tuner is not None:
            return int(sum(m.state_bytes() for m in self.tuner.members))
        arrays = (
            self._WT,
            self._Wr,
            self._theta,
            self._label,
            self._merges,
            self._age,
            self._reliab,
            self._lo,
            self._hi,
            self._modk,
        )
        return int(sum(a.nbytes for a in arrays)) + 16 * self._ranges.state_size()

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _check_x(x) -> None:
        if not isinstance(x, dict):
            raise TypeError(f"x must be a dict of feature values, got {type(x).__name__}")

    @staticmethod
    def _check_y(y) -> None:
        if y is None:
            raise SpikegradInputError("y must be a class label, got None")
        try:
            hash(y)
        except TypeError as exc:
            raise TypeError(f"y must be a hashable class label, got {type(y).__name__}") from exc
        if isinstance(y, float) and math.isnan(y):  # NaN != NaN: every sample a new class
            raise SpikegradInputError("y must be a class label, got NaN")

    @staticmethod
    def _value(key, v) -> float:
        if v is None:
            return math.nan
        try:
            f = float(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"feature {key!r} has non-numeric value {v!r}; OeSNNClassifier needs numbers "
                "(put a river preprocessing.OneHotEncoder in front for categories)"
            ) from exc
        except OverflowError as exc:  # an int beyond the float range
            raise SpikegradInputError(
                f"feature {key!r} is an integer too large for a float (> {_MAX_ABS:g}); "
                "rescale the feature"
            ) from exc
        if math.isfinite(f) and abs(f) > _MAX_ABS:
            raise SpikegradInputError(
                f"feature {key!r} = {f:g} is too large in magnitude (> {_MAX_ABS:g}): the "
                "receptive-field widths would overflow; rescale the feature"
            )
        return f if math.isfinite(f) else math.nan

    def _add_features(self, keys: list) -> None:
        # canonical (sorted) order, so the dict order of x never matters; ties in
        # spike time are broken by this canonical input order too
        for key in sorted(keys, key=_feature_sort_key):
            self._features[key] = len(self._features)
        m = self.n_fields
        self._WT = np.pad(self._WT, ((0, m * len(keys)), (0, 0)))
        self._Wr = np.pad(self._Wr, ((0, 0), (0, m * len(keys))))
        self._lo = np.pad(self._lo, (0, len(keys)))
        self._hi = np.pad(self._hi, (0, len(keys)))
        self._canon = canonical_columns(self._features, m)
        self._inv_canon = np.argsort(self._canon)

    def _add_class(self, y) -> int:
        i = len(self._classes)
        self._classes.append(y)
        self._class_index[y] = i
        self._class_rows.append([])
        self._class_counts.append(0)
        return i

    def _prior_class(self) -> int:
        return int(np.argmax(self._class_counts))

    def _sync_ranges(self, values: dict) -> None:
        """Copy the tracker's ranges of the features just updated into the encoder's arrays."""
        feats = self._features
        rng = self._ranges.range
        for key, f in values.items():
            if f == f:
                i = feats[key]
                self._lo[i], self._hi[i] = rng(key)

    def _encode(self, x: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """Firing order of the spiking inputs (flat indices feature*M + field), and the
        column mask of the present features (``None`` if all learned features are present).

        The dict is read once into a value array; the fields are those of
        :func:`~spikegrad.data.encoding.grf_responses` (same operations, same bits)."""
        nf = len(self._features)
        if nf == 0:
            return np.zeros(0, dtype=np.int64), None
        feats = self._features
        # fast path: every learned feature present as a float (dicts keep the index order)
        raw = [x.get(key) for key in feats]
        if all(v.__class__ is float and -_MAX_ABS <= v <= _MAX_ABS for v in raw):
            vals = np.array(raw)  # finite floats in range: no per-value check needed
        elif all(v.__class__ is float for v in raw):  # NaN, inf or huge: the checked path
            vals = np.array([self._value(k, v) for k, v in zip(feats, raw, strict=True)])
        else:
            vals = np.full(nf, np.nan)
            for key, v in x.items():
                i = feats.get(key)
                if i is not None:
                    if v.__class__ is float and -_MAX_ABS <= v <= _MAX_ABS:
                        vals[i] = v
                    else:
                        vals[i] = self._value(key, v)
        order, missing = _kern.grf_order(
            vals,
            self._lo,
            self._hi,
            self.n_fields,
            float(self.beta),
            self.numbering == "one_based",
            bool(self.skip_constant),
            2.0 if self.late_cut is None else float(self.late_cut),
            self._inv_canon,
        )
        present = None
        if missing:
            bad = np.isnan(vals)
            if self.skip_constant:
                bad |= self._hi - self._lo <= 0
            present = np.repeat(~bad, self.n_fields)
        return order, present

    def _spike_mod(self, order: np.ndarray) -> np.ndarray:
        """Modulation of each spike of ``order``: ``mod**k`` or ``mod**(rank in its feature)``."""
        if self.rank == "global":
            return self._powers(len(order))
        f = order // self.n_fields
        idx = np.argsort(f, kind="stable")
        fs = f[idx]
        # rank within the feature: position in the stably sorted list minus the
        # position where the feature's group starts
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[idx] = np.arange(len(fs)) - np.searchsorted(fs, fs, side="left")
        return self._powers(int(ranks.max()) + 1 if len(ranks) else 0)[ranks]

    def _powers(self, k: int) -> np.ndarray:
        """``mod ** arange(k)`` (cached; the same values numpy's power gives)."""
        if len(self._modk) < k:
            self._modk = self.mod ** np.arange(max(k, 2 * len(self._modk)), dtype=np.float64)
        return self._modk[:k]

    def _theta_used(self, present: np.ndarray | None) -> np.ndarray:
        """Thresholds, scaled by each neuron's weight energy on the present features."""
        theta = self._theta
        if present is not None:
            # missing features: scale each threshold by the share of its weight energy
            # on the present inputs, theta_i * sum_present w^2 / sum_all w^2
            w2 = self._WT * self._WT
            tot = w2.sum(axis=0)
            share = np.divide(w2[present].sum(axis=0), tot, out=np.ones_like(tot), where=tot > 0)
            theta = theta * share
        return theta

    def _no_fire_scores(self, theta: np.ndarray, psp_final: np.ndarray) -> np.ndarray:
        """Scores in [0, 0.999] of silent neurons from the fallback quantity; free rows -1."""
        used = self._label >= 0
        th = np.where(used, theta, 1.0)
        th = np.where(th > 0, th, 1.0)
        if self.no_fire == "ratio":
            s_not = 0.999 * psp_final / th
        else:
            top = psp_final.max() if len(psp_final) else 0.0
            s_not = 0.999 * psp_final / top if top > 0 else np.zeros(len(psp_final))
        return np.where(used, np.clip(s_not, 0.0, 0.999), -1.0)

    def _decide(self, enc: tuple[np.ndarray, np.ndarray | None], by_label: bool) -> int | None:
        """Deciding class index (``by_label``) or pool row; ``None`` if nothing decides.

        Same result as the arg-max of :meth:`_class_scores` (classes) or of
        :meth:`_scores` (rows), from the first spike at which a neuron fires."""
        order, present = enc
        theta = self._theta_used(present)
        psp = np.empty(self._WT.shape[1])
        _, win = _kern.first_fire(
            self._WT, theta, self._label, order, self._spike_mod(order), psp, by_label
        )
        if win >= 0:
            return int(self._label[win]) if by_label else int(win)
        if self.no_fire == "none":
            return None
        s = self._no_fire_scores(theta, psp)
        if not by_label:
            return int(np.argmax(s))
        return int(np.argmax(_kern.class_max(s, self._label, len(self._classes))))

    def _dmax(self, k: int) -> float:
        return dmax(self.mod, k)

    def _scores(self, enc: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
        """Per-pool-row score (see module docstring); free rows get -1."""
        order, present = enc
        k = len(order)
        th_used = self._theta_used(present)
        if k == 0:
            return np.where(self._label >= 0, 0.0, -1.0)
        fired, step, psp_at, psp_final = _kern.recall_all(
            self._WT, th_used, order, self._spike_mod(order)
        )
        theta = np.where(self._label >= 0, th_used, 1.0)
        theta = np.where(theta > 0, theta, 1.0)
        margin = np.maximum(psp_at - th_used, 0.0) / theta
        tie = margin / (1.0 + margin) * (0.5 / k)
        s_fire = 1.0 + (k - step) / k + tie * 0.999
        s = np.where(fired, s_fire, self._no_fire_scores(th_used, psp_final))
        return np.where(self._label >= 0, s, -1.0)

    def _winner(self, enc: tuple[np.ndarray, np.ndarray | None]) -> int | None:
        """Pool row of the deciding neuron, or None if none decides."""
        if self.n_neurons == 0 or len(enc[0]) == 0:
            return None
        return self._decide(enc, by_label=False)

    def _class_scores(self, enc: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
        cs = np.full(len(self._classes), -1.0)
        if self.n_neurons and len(enc[0]):
            cs = _kern.class_max(self._scores(enc), self._label, len(self._classes))
        else:
            cs[self._prior_class()] = 0.0
        return cs

    def _alloc(self) -> int:
        if self._free:
            return self._free.pop()
        n = self._WT.shape[1]
        new = max(8, 2 * n)
        cap = self.max_neurons_per_class * max(1, len(self._classes))
        new = max(n + 1, min(new, cap))
        extra = new - n
        self._WT = np.pad(self._WT, ((0, 0), (0, extra)))
        self._Wr = np.pad(self._Wr, ((0, extra), (0, 0)))
        self._theta = np.pad(self._theta, (0, extra))
        self._label = np.pad(self._label, (0, extra), constant_values=-1)
        self._merges = np.pad(self._merges, (0, extra))
        self._age = np.pad(self._age, (0, extra))
        self._reliab = np.pad(self._reliab, (0, extra))
        self._free.extend(range(new - 1, n, -1))
        return n

    def _set_row(self, r: int, w: np.ndarray, th: float) -> None:
        self._WT[:, r] = w
        self._Wr[r] = w
        self._theta[r] = th
        self._merges[r] = 1.0
        self._age[r] = self._t
        self._reliab[r] = 1.0

    def _remove(self, r: int) -> None:
        cls = int(self._label[r])
        self._class_rows[cls].remove(r)
        self._rows_cache.pop(cls, None)
        self._label[r] = -1
        self._WT[:, r] = 0.0
        self._Wr[r] = 0.0
        self._theta[r] = 0.0
        self._free.append(r)

    def _reduce(self, keep: int) -> None:
        """Keep only the ``keep`` youngest neurons of each class."""
        for rows in self._class_rows:
            if len(rows) > keep:
                rr = np.asarray(rows)
                drop = rr[np.argsort(self._age[rr], kind="stable")[: len(rows) - keep]]
                for r in drop:
                    self._remove(int(r))


# Load the compiled kernels (numba's on-disk cache; compiled and cached on the first
# import ever, or by scripts/setup.sh) here, at import: no stream pays for them in its
# first samples.
_kern.warm_up()
