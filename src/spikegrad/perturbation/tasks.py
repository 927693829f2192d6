r"""Tasks for reward-based learning in conductance-based networks.

* :class:`RatesTask` (song-learning-like): a sequence of input bursts (one burst per input
  neuron, tiling the trial like HVC projection neurons) drives a recurrent E/I network;
  the smoothed rates :math:`r_k(t)` of ``n_out`` output neurons must follow target bumps
  :math:`r^*_k(t)`. Error :math:`E = \sum_{k,n} (r_k[n] - r^*_k[n])^2 / \sum_{k,n}
  r^*_k[n]^2` (1 for a silent network), reward :math:`R = -E`.
* :class:`ClassifyTask`: spike patterns (Randman or latency-coded 5x7 digits) drive
  ``n_hidden`` hidden and ``n_classes`` output neurons (excitatory) plus ``n_inh``
  inhibitory neurons that all outputs excite and that inhibit all outputs. The decision is
  the output with the most spikes (a tie is wrong). Reward: ``"loss"``,
  :math:`R = \log \mathrm{softmax}(c / c_0)_y` of the spike counts :math:`c`
  (:math:`c_0` = ``count_scale``), or ``"binary"``, :math:`R = 1` if correct else 0.

Task inputs are generated here from explicit generators; nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_int, check_positive
from ..data.spikes import SpikeDataset, split
from .coba import CobaNetwork, CobaParams, coba_run, smoothed_rate

__all__ = ["RatesTask", "ClassifyTask", "DIGIT_GLYPHS", "make_digits", "REWARDS"]

#: Reward kinds of :class:`ClassifyTask`.
REWARDS = ("loss", "binary")


_check_int = check_int  # shared validator (spikegrad._checks)


@dataclass
class RatesTask:
    """Recurrent network learns target rate time courses (a sequence of bumps).

    Attributes (units: s, Hz, nS)
    ----------
    n_in: input neurons, each firing one burst of ``burst_spikes`` spikes (``burst_isi``
        apart) at ``(j + 0.5) * duration / n_in``.
    n_exc, n_inh: network E and I neurons; the first ``n_out`` E neurons are the outputs.
    bumps: bumps per output; bump ``b`` of output ``k`` is centred at
        ``(k * bumps + b + 0.5) * duration / (n_out * bumps)``... spread over the trial.
    peak, width: bump height (Hz) and Gaussian SD (s).
    tau_rate: smoothing time constant of the produced rates (s).
    w_in: initial input weights are U(0, w_in).
    plastic_recurrent: also learn E -> E recurrent weights (else only input weights).
    method, std_U: integrator and short-term depression (see :class:`~.coba.CobaParams`).
    """

    n_in: int = 30
    n_exc: int = 16
    n_inh: int = 4
    n_out: int = 3
    duration: float = 0.3
    dt: float = 1e-3
    bumps: int = 2
    peak: float = 80.0
    width: float = 0.025
    tau_rate: float = 0.02
    burst_spikes: int = 4
    burst_isi: float = 2e-3
    w_in: float = 6.0
    w_ee: float = 1.0
    w_ei: float = 3.0
    w_ie: float = 4.0
    p_rec: float = 0.3
    plastic_recurrent: bool = True
    method: str = "exp_euler"
    std_U: float = 0.0
    seed: int = 0
    params: CobaParams = field(init=False)
    net: CobaNetwork = field(init=False)

    def __post_init__(self) -> None:
        for nm in ("n_in", "n_exc", "n_out", "bumps", "burst_spikes"):
            _check_int(nm, getattr(self, nm))
        _check_int("n_inh", self.n_inh, 0)
        if self.n_out > self.n_exc:
            raise SpikegradInputError(f"n_out ({self.n_out}) must be <= n_exc ({self.n_exc})")
        for nm in ("duration", "dt", "peak", "width", "tau_rate", "burst_isi", "w_in"):
            check_positive(nm, getattr(self, nm))
        self.params = CobaParams(dt=self.dt, method=self.method, std_U=self.std_U)
        g = torch.Generator().manual_seed(self.seed)
        n_in, N = self.n_in, self.n_exc + self.n_inh
        conn = torch.zeros(N, n_in + N, dtype=torch.bool)
        conn[:, :n_in] = True
        rec = torch.rand(N, N, generator=g) < self.p_rec
        rec.fill_diagonal_(False)
        rec[:, self.n_exc :] = True  # every neuron receives inhibition
        rec[self.n_exc :, : self.n_exc] = True  # I neurons pool all E neurons
        rec.fill_diagonal_(False)
        conn[:, n_in:] = rec
        plastic = torch.zeros_like(conn)
        plastic[:, :n_in] = True
        if self.plastic_recurrent:
            plastic[: self.n_exc, n_in : n_in + self.n_exc] = rec[: self.n_exc, : self.n_exc]
        self.net = CobaNetwork(
            n_in,
            self.n_exc,
            self.n_inh,
            connectivity=conn,
            plastic=plastic,
            outputs=torch.arange(self.n_out),
        )
        self._gen_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))

    @property
    def steps(self) -> int:
        """Steps per trial."""
        return int(round(self.duration / self.dt))

    def init_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """Initial weights: inputs U(0, w_in), E->E w_ee, E->I w_ei, I->all w_ie (nS)."""
        g = generator if generator is not None else torch.Generator().manual_seed(self._gen_seed)
        n_in, ne = self.n_in, self.n_exc
        W = torch.zeros(self.net.n, self.net.m)
        W[:, :n_in] = torch.rand(self.net.n, n_in, generator=g) * self.w_in
        W[:ne, n_in : n_in + ne] = self.w_ee
        W[ne:, n_in : n_in + ne] = self.w_ei
        W[:, n_in + ne :] = self.w_ie
        return W * self.net.connectivity

    def inputs(self) -> Tensor:
        """The burst sequence, ``[T, 1, n_in]``."""
        T = self.steps
        x = torch.zeros(T, 1, self.n_in)
        isi = max(1, int(round(self.burst_isi / self.dt)))
        for j in range(self.n_in):
            t0 = int((j + 0.5) * T / self.n_in)
            for k in range(self.burst_spikes):
                if t0 + k * isi < T:
                    x[t0 + k * isi, 0, j] = 1.0
        return x

    def target(self) -> Tensor:
        """Target rates ``[T, 1, n_out]`` (Hz): ``bumps`` Gaussian bumps per output."""
        T = self.steps
        t = (torch.arange(T) + 0.5) * self.dt
        y = torch.zeros(T, 1, self.n_out)
        nb = self.n_out * self.bumps
        lo, hi = 0.15 * self.duration, 0.9 * self.duration
        for k in range(self.n_out):
            for b in range(self.bumps):
                c = lo + (hi - lo) * (b * self.n_out + k + 0.5) / nb
                y[:, 0, k] += self.peak * torch.exp(-0.5 * ((t - c) / self.width) ** 2)
        return y

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Inputs ``[T, 1, n_in]`` (shared by all trials) and targets ``[T, 1, n_out]``."""
        return self.inputs(), self.target()

    def rates(self, spikes: Tensor) -> Tensor:
        """Smoothed output rates ``[T, B, n_out]`` (Hz)."""
        return smoothed_rate(spikes[:, :, self.net.outputs], self.dt, self.tau_rate)

    def error(self, spikes: Tensor, target: Tensor) -> Tensor:
        """Normalised squared error per trial ``[B]`` (1 for a silent network)."""
        r = self.rates(spikes)
        return ((r - target) ** 2).sum(dim=(0, 2)) / (target**2).sum()

    def reward_fn(self, target: Tensor):
        """:math:`R = -E`."""
        return lambda spikes: -self.error(spikes, target)

    def evaluate(self, W: Tensor) -> dict:
        """Error of the unperturbed (deterministic) trial."""
        x, y = self.inputs(), self.target()
        with torch.no_grad():
            run = coba_run(x, W, self.net, self.params, record=())
        return {
            "error": float(self.error(run.spikes, y)[0]),
            "spikes_per_neuron": float(run.spikes.sum(0).mean()),
        }


# ----------------------------------------------------------------------------- digits
#: 5x7 bitmaps of the digits 0-9 (7 rows of 5 pixels, "#" = on).
DIGIT_GLYPHS: tuple[tuple[str, ...], ...] = (
    (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
)


def _glyph(k: int) -> Tensor:
    return torch.tensor([c == "#" for c in "".join(DIGIT_GLYPHS[k])], dtype=torch.float32)


def make_digits(
    samples_per_class: int = 60,
    *,
    n_classes: int = 10,
    noise: float = 0.25,
    n_steps: int = 40,
    t_min: int = 2,
    threshold: float = 0.5,
    seed: int = 0,
) -> SpikeDataset:
    r"""Latency-coded noisy 5x7 digits (35 input units, one spike at most per unit).

    Pixel intensity :math:`v = \mathrm{clip}(\text{glyph} + \mathcal N(0, \text{noise}^2),
    0, 1)`; a pixel with :math:`v > \theta` spikes at step
    :math:`t_\text{min} + \lfloor (n_\text{steps} - 1 - t_\text{min})(1 - v)/(1 - \theta)
    \rfloor` (bright pixels early), others are silent.
    """
    _check_int("samples_per_class", samples_per_class)
    _check_int("n_classes", n_classes)
    if n_classes > 10:
        raise SpikegradInputError(f"n_classes must be <= 10 for digits, got {n_classes}")
    g = torch.Generator().manual_seed(seed)
    glyphs = torch.stack([_glyph(k) for k in range(n_classes)])
    labels = torch.arange(n_classes).repeat_interleave(samples_per_class)
    v = glyphs[labels] + noise * torch.randn(labels.numel(), 35, generator=g)
    v = v.clamp(0, 1)
    x = torch.zeros(labels.numel(), n_steps, 35)
    on = v > threshold
    t = t_min + ((n_steps - 1 - t_min) * (1 - v) / (1 - threshold)).floor().long()
    t = t.clamp(t_min, n_steps - 1)
    n_idx, u_idx = torch.nonzero(on, as_tuple=True)
    x[n_idx, t[n_idx, u_idx], u_idx] = 1.0
    return SpikeDataset.from_dense(x, labels, n_classes=n_classes, name="digits5x7")


@dataclass
class ClassifyTask:
    """Reward-only spiking classification (Randman or latency-coded digits).

    ``steps_per_bin`` simulation steps per data time step; ``tail`` extra empty data bins
    at the end of each trial.
    """

    dataset: str = "randman"
    n_classes: int = 3
    n_hidden: int = 0
    n_inh: int = 4
    reward: str = "loss"
    count_scale: float = 2.0
    dt: float = 1e-3
    steps_per_bin: int = 1
    tail: int = 10
    w_in: float = 3.0
    w_ho: float = 3.0
    w_oi: float = 4.0
    w_io: float = 4.0
    samples_per_class: int = 100
    units: int = 20
    data_seed: int = 0
    seed: int = 0
    method: str = "exp_euler"
    std_U: float = 0.0
    params: CobaParams = field(init=False)
    net: CobaNetwork = field(init=False)

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, ("randman", "digits"))
        check_choice("reward", self.reward, REWARDS)
        _check_int("n_classes", self.n_classes, 2)
        _check_int("n_hidden", self.n_hidden, 0)
        _check_int("n_inh", self.n_inh, 0)
        check_positive("count_scale", self.count_scale)
        self.params = CobaParams(dt=self.dt, method=self.method, std_U=self.std_U)
        if self.dataset == "randman":
            from ..data.randman import make_randman

            self.train, self.val, self.test = make_randman(
                n_classes=self.n_classes,
                n_units=self.units,
                n_steps=50,
                spike_window=40,
                samples_per_class=self.samples_per_class,
                seed=self.data_seed,
            )
        else:
            ds = make_digits(self.samples_per_class, n_classes=self.n_classes, seed=self.data_seed)
            self.train, self.val, self.test = split(
                ds, (0.7, 0.1, 0.2), generator=torch.Generator().manual_seed(self.data_seed)
            )
        n_in, H, K, I = self.train.n_units, self.n_hidden, self.n_classes, self.n_inh
        N = H + K + I
        conn = torch.zeros(N, n_in + N, dtype=torch.bool)
        if H:
            conn[:H, :n_in] = True
            conn[H : H + K, n_in : n_in + H] = True
        else:
            conn[:K, :n_in] = True
        conn[H + K :, n_in + H : n_in + H + K] = True  # outputs -> I
        conn[H : H + K, n_in + H + K :] = True  # I -> outputs
        plastic = torch.zeros_like(conn)
        plastic[: H + K, : n_in + H] = conn[: H + K, : n_in + H]
        self.net = CobaNetwork(
            n_in, H + K, I, connectivity=conn, plastic=plastic, outputs=torch.arange(H, H + K)
        )

    def init_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """Feed-forward weights U(0, w) (nS); fixed lateral inhibition through I."""
        g = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        n_in, H, K = self.net.n_in, self.n_hidden, self.n_classes
        W = torch.zeros(self.net.n, self.net.m)
        rows = slice(0, H) if H else slice(0, K)
        W[rows, :n_in] = torch.rand(W[rows, :n_in].shape, generator=g) * self.w_in
        if H:
            W[H : H + K, n_in : n_in + H] = torch.rand(K, H, generator=g) * self.w_ho
        W[H + K :, n_in + H : n_in + H + K] = self.w_oi
        W[H : H + K, n_in + H + K :] = self.w_io
        return W * self.net.connectivity

    def _dense(self, ds: SpikeDataset, idx: Tensor) -> Tensor:
        x = ds.dense(idx)
        T, B, C = x.shape
        x = torch.cat([x, torch.zeros(self.tail, B, C)])
        if self.steps_per_bin > 1:
            z = torch.zeros(x.shape[0], self.steps_per_bin, B, C)
            z[:, 0] = x
            x = z.reshape(-1, B, C)
        return x

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A random training batch: inputs ``[T, B, n_in]`` and labels ``[B]``."""
        idx = torch.randint(0, len(self.train), (batch,), generator=generator)
        return self._dense(self.train, idx), self.train.labels[idx]

    def counts(self, spikes: Tensor) -> Tensor:
        """Output spike counts ``[B, n_classes]``."""
        return spikes[:, :, self.net.outputs].sum(0)

    def reward_fn(self, labels: Tensor):
        """Reward per trial (see the module docstring)."""

        def fn(spikes: Tensor) -> Tensor:
            c = self.counts(spikes)
            y = (
                labels.repeat(c.shape[0] // labels.numel())
                if c.shape[0] != labels.numel()
                else labels
            )
            if self.reward == "binary":
                return _correct(c, y).to(c.dtype)
            logp = torch.log_softmax(c / self.count_scale, dim=1)
            return logp.gather(1, y.view(-1, 1)).squeeze(1)

        return fn

    def error(self, spikes: Tensor, labels: Tensor) -> Tensor:
        """Per-trial cross-entropy of the spike-count softmax ``[B]``."""
        c = self.counts(spikes)
        return -torch.log_softmax(c / self.count_scale, 1).gather(1, labels.view(-1, 1))[:, 0]

    def evaluate(self, W: Tensor, split_name: str = "val") -> dict:
        """Loss and accuracy (ties wrong) of noise-free trials on a split."""
        ds = {"train": self.train, "val": self.val, "test": self.test}[split_name]
        idx = torch.arange(len(ds))
        with torch.no_grad():
            run = coba_run(self._dense(ds, idx), W, self.net, self.params, record=())
        y = ds.labels
        return {
            "error": float(self.error(run.spikes, y).mean()),
            "accuracy": float(_correct(self.counts(run.spikes), y).float().mean()),
            "spikes_per_neuron": float(run.spikes.sum(0).mean()),
        }


def _correct(counts: Tensor, y: Tensor) -> Tensor:
    best = counts.max(1).values
    top = counts.gather(1, y.view(-1, 1))[:, 0]
    unique = (counts == best.view(-1, 1)).sum(1) == 1
    return (top == best) & unique & (best > 0)
