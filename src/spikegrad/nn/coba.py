r"""The conductance-based spiking network as a module: ``W`` is its one parameter.

The dynamics are the pure functions of :mod:`spikegrad.functional.coba` (physical units:
s, mV, nS, nF; exponential or forward Euler). :class:`CobaSpikingNetwork` holds the
weights :math:`W \in \mathbb R_{\ge 0}^{N \times M}` (non-negative magnitudes, nS; the
presynaptic population sets the sign, Dale's law), the :class:`~spikegrad.functional.coba.
CobaTopology` (populations, which synapses exist and which learn) and the constants.

**Constraints after an optimizer step.** Two mechanisms keep :math:`W` valid:

* *the rules mask the gradient*: the perturbation rules write estimates that are zero off
  ``topology.plastic``; through autograd (BPTT) the forward pass uses
  :math:`W \odot P + \mathrm{sg}[W \odot (1 - P)]` (:math:`P` the plastic mask,
  :math:`\mathrm{sg}` stop-gradient; the same values), so fixed synapses get a zero
  gradient and no optimizer moves them;
* *the model projects the weights*: :meth:`CobaSpikingNetwork.project_` sets
  :math:`W \leftarrow \max(W, 0) \odot A` (:math:`A` the connectivity) in place; every
  forward pass (and :meth:`~CobaSpikingNetwork.simulate`) applies it first, so a step
  that pushed a magnitude below zero is undone before the weights are used again, and
  the trainer's evaluations and checkpoints see projected weights.
  :meth:`~CobaSpikingNetwork.constrain` also registers it as a post-step hook of an
  optimizer, for code that reads ``W`` right after ``optimizer.step()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import SpikegradInputError, check_positive, check_size
from ..functional.coba import CobaParams, CobaRun, CobaTopology, coba_run
from ..functional.surrogate import Surrogate, make_surrogate
from ..kernels import coba_numba as _coba_numba  # noqa: F401  (registers coba_run's compiled forward)

__all__ = [
    "CobaOutput",
    "CobaSpikingNetwork",
    "classifier_topology",
    "classifier_weights",
    "coba_classifier",
    "coba_classifier_shape",
]


class CobaOutput(NamedTuple):
    """What :meth:`CobaSpikingNetwork.forward` returns (time-major).

    Attributes
    ----------
    spikes:
        ``(z,)``: the spikes of all ``N`` neurons, ``[T, B, N]`` (one spiking population).
    output_spikes:
        The spikes of the output neurons ``topology.outputs``, ``[T, B, K]``.
    """

    spikes: tuple[Tensor, ...]
    output_spikes: Tensor


class CobaSpikingNetwork(nn.Module):
    r"""Conductance-based LIF network (Fiete & Seung 2006's model class) with weights ``W``.

    Parameters
    ----------
    topology:
        Populations ``[inputs | E | I]``, ``connectivity``, ``plastic`` and ``outputs``.
    params:
        Neuron and synapse constants (default :class:`~spikegrad.functional.coba.
        CobaParams`: 0.5 ms steps, exponential Euler).
    weight:
        Initial weights ``[N, M]`` (nS, >= 0; copied). Default
        :math:`\mathcal U(0, \text{init_scale})` on the existing synapses, drawn from a
        generator seeded with ``seed``.
    surrogate, beta:
        Surrogate spike derivative used when the forward pass is recorded by autograd
        (surrogate BPTT through the threshold,
        :math:`z = \sigma((V - V_\theta)/(V_\theta - V_r))`, reset and refractory clamp
        detached); without autograd the spikes are the exact Heaviside
        :math:`V \ge V_\theta`.
    init_scale, seed:
        Scale (nS) and seed of the default initial weights.
    dtype:
        Floating dtype of ``W`` (default float32).
    """

    #: model kind for the rule registry (:func:`spikegrad.learning.rules.model_kind`)
    kind = "coba"

    def __init__(
        self,
        topology: CobaTopology,
        params: CobaParams | None = None,
        weight: Tensor | None = None,
        *,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        init_scale: float = 1.0,
        seed: int = 0,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(topology, CobaTopology):
            raise TypeError(f"topology must be a CobaTopology, got {type(topology).__name__}")
        params = CobaParams() if params is None else params
        if not isinstance(params, CobaParams):
            raise TypeError(f"params must be CobaParams, got {type(params).__name__}")
        self.topology, self.params = topology, params
        self.surrogate = make_surrogate(surrogate, beta)
        if weight is None:
            check_positive("init_scale", init_scale)
            g = torch.Generator().manual_seed(int(seed))
            weight = torch.rand(topology.n, topology.m, generator=g) * init_scale
            weight = weight * topology.connectivity
        topology.check_weights(weight, "weight")
        w = weight.detach().clone()
        if dtype is not None:
            w = w.to(dtype)
        self.weight = nn.Parameter(w)
        with torch.no_grad():
            self.weight.mul_(topology.connectivity.to(w.dtype))

    @property
    def n_inputs(self) -> int:
        """External input units ``n_in``."""
        return self.topology.n_in

    @property
    def n_outputs(self) -> int:
        """Output neurons (``len(topology.outputs)``)."""
        return int(self.topology.outputs.numel())

    def spec(self) -> dict:
        """``{"kind": "coba", "topology": {...}, "params": {...}, "surrogate", "beta",
        "dtype"}``: the populations, connectivity / plastic masks (0/1 lists), read-out
        neurons and constants; the weights come from the state dict."""
        t = self.topology
        return {
            "kind": self.kind,
            "topology": {
                "n_in": t.n_in, "n_exc": t.n_exc, "n_inh": t.n_inh,
                "connectivity": t.connectivity.int().tolist(),
                "plastic": t.plastic.int().tolist(),
                "outputs": t.outputs.tolist(),
            },
            "params": dict(self.params._asdict()),
            "surrogate": self.surrogate.name,
            "beta": float(self.surrogate.beta),
            "dtype": str(self.weight.dtype).removeprefix("torch."),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> CobaSpikingNetwork:
        """The network :meth:`spec` described (weights drawn anew: load a state dict)."""
        if not isinstance(spec, dict) or spec.get("kind") != cls.kind:
            raise SpikegradInputError(f"not a CobaSpikingNetwork spec: {spec!r}")
        try:
            t = dict(spec["topology"])
            topology = CobaTopology(
                int(t["n_in"]), int(t["n_exc"]), int(t["n_inh"]),
                connectivity=torch.tensor(t["connectivity"], dtype=torch.bool),
                plastic=torch.tensor(t["plastic"], dtype=torch.bool),
                outputs=torch.tensor(t["outputs"], dtype=torch.int64),
            )
            dtype = getattr(torch, str(spec.get("dtype", "float32")))
            return cls(topology, CobaParams(**spec["params"]), surrogate=spec["surrogate"],
                       beta=spec["beta"], dtype=dtype)
        except (KeyError, TypeError, ValueError) as exc:
            raise SpikegradInputError(f"malformed CobaSpikingNetwork spec: {exc}") from exc

    @torch.no_grad()
    def project_(self) -> None:
        r"""Project ``W`` in place onto the constraint set: :math:`W \leftarrow \max(W, 0)
        \odot A` (Dale's law: non-negative magnitudes; no weight where no synapse)."""
        self.weight.clamp_(min=0.0).mul_(self.topology.connectivity.to(self.weight.dtype))

    def constrain(self, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        """Project the weights after every ``optimizer.step()``; returns the hook's remover."""
        handle = optimizer.register_step_post_hook(lambda *_: self.project_())
        return handle.remove

    def _masked_weight(self) -> Tensor:
        """``W`` whose gradient is zero off the plastic mask (same values)."""
        w = self.weight
        if not (torch.is_grad_enabled() and w.requires_grad):
            return w
        p = self.topology.plastic.to(w.dtype)
        return w * p + (w * (1.0 - p)).detach()

    def simulate(
        self,
        x: Tensor,
        *,
        weight: Tensor | None = None,
        record: tuple[str, ...] = (),
        surrogate: Surrogate | None = None,
        check_sign: bool = True,
        xi_exc: Tensor | None = None,
        xi_inh: Tensor | None = None,
        i_noise: Tensor | None = None,
        g_extra: Tensor | None = None,
    ) -> CobaRun:
        """Run :func:`~spikegrad.functional.coba.coba_run` on ``x`` ``[T, B, n_in]``.

        ``weight`` replaces ``W`` (e.g. perturbed weights ``[B, N, M]``, one per trial;
        ``check_sign=False`` lets them cross zero); otherwise ``W`` is projected first and
        used with its plastic-masked gradient. Perturbations are time-major ``[T, B, N]``.
        """
        if weight is None:
            self.project_()
            weight = self._masked_weight()
        return coba_run(
            x, weight, self.topology, self.params, xi_exc=xi_exc, xi_inh=xi_inh,
            i_noise=i_noise, g_extra=g_extra, surrogate=surrogate, record=record,
            check_sign=check_sign,
        )

    def forward(self, x: Tensor) -> CobaOutput:
        """Spikes of the network on input spikes ``x`` ``[T, B, n_in]`` (time-major).

        With autograd recording (``W.requires_grad`` and grad mode on) the spikes are the
        surrogate ones, so ``loss.backward()`` is surrogate BPTT through the
        conductance dynamics; otherwise the exact Heaviside spikes.
        """
        recording = torch.is_grad_enabled() and self.weight.requires_grad
        run = self.simulate(x, surrogate=self.surrogate if recording else None)
        return self.output(run.spikes)

    def output(self, spikes: Tensor) -> CobaOutput:
        """The :class:`CobaOutput` of a spike tensor ``[T, B, N]`` of all neurons."""
        if not isinstance(spikes, Tensor) or spikes.dim() != 3 or spikes.shape[-1] != (
            self.topology.n
        ):
            raise SpikegradInputError(
                f"spikes must be [T, B, N] with N = {self.topology.n} neurons"
            )
        return CobaOutput((spikes,), spikes[:, :, self.topology.outputs])

    def logits(self, out: CobaOutput) -> Tensor:
        """Spike counts of the output neurons, ``[B, K]`` (the classification logits)."""
        return out.output_spikes.sum(0)

    def extra_repr(self) -> str:
        t = self.topology
        return (
            f"n_in={t.n_in}, n_exc={t.n_exc}, n_inh={t.n_inh}, "
            f"plastic={int(t.plastic.sum())}/{int(t.connectivity.sum())}, "
            f"method={self.params.method!r}, dt={self.params.dt:g}"
        )


def classifier_topology(
    n_in: int, n_classes: int, n_hidden: int = 0, n_inh: int = 4
) -> CobaTopology:
    """Inputs -> [``n_hidden`` E] -> ``n_classes`` E outputs, with lateral inhibition.

    Neurons are ordered ``[hidden | outputs | inhibitory]``. Plastic synapses: inputs ->
    hidden -> outputs (inputs -> outputs without a hidden layer); fixed: outputs -> the
    ``n_inh`` inhibitory neurons -> outputs (soft winner-take-all). ``outputs`` are the
    class neurons, whose spike counts are the logits.
    """
    n_in = check_size("n_in", n_in)
    K = check_size("n_classes", n_classes)
    H = check_size("n_hidden", n_hidden, 0)
    I = check_size("n_inh", n_inh, 0)
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
    return CobaTopology(
        n_in, H + K, I, connectivity=conn, plastic=plastic, outputs=torch.arange(H, H + K)
    )


def classifier_weights(
    topology: CobaTopology,
    n_hidden: int,
    n_classes: int,
    *,
    w_in: float = 3.0,
    w_ho: float = 3.0,
    w_oi: float = 4.0,
    w_io: float = 4.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Weights of :func:`classifier_topology` (nS): feed-forward :math:`\mathcal U(0, w)`,
    fixed lateral inhibition (``w_oi`` outputs -> I, ``w_io`` I -> outputs)."""
    n_in, H, K = topology.n_in, int(n_hidden), int(n_classes)
    W = torch.zeros(topology.n, topology.m)
    rows = slice(0, H) if H else slice(0, K)
    W[rows, :n_in] = torch.rand(W[rows, :n_in].shape, generator=generator) * w_in
    if H:
        W[H : H + K, n_in : n_in + H] = torch.rand(K, H, generator=generator) * w_ho
    W[H + K :, n_in + H : n_in + H + K] = w_oi
    W[H : H + K, n_in + H + K :] = w_io
    return W * topology.connectivity


def coba_classifier(
    n_in: int,
    n_classes: int,
    *,
    n_hidden: int = 0,
    n_inh: int = 4,
    w_in: float = 3.0,
    w_ho: float = 3.0,
    w_oi: float = 4.0,
    w_io: float = 4.0,
    seed: int = 0,
    dt: float = 1e-3,
    method: str = "exp_euler",
    **kwargs,
) -> CobaSpikingNetwork:
    """A conductance-based classifier (:func:`classifier_topology`, weights from ``seed``).

    ``dt`` and ``method`` set :class:`~spikegrad.functional.coba.CobaParams` (one
    simulation step per input bin); ``kwargs`` go to :class:`CobaSpikingNetwork`
    (``surrogate``, ``beta``, ``dtype``).
    """
    topology = classifier_topology(n_in, n_classes, n_hidden, n_inh)
    w = classifier_weights(
        topology, n_hidden, n_classes, w_in=w_in, w_ho=w_ho, w_oi=w_oi, w_io=w_io,
        generator=torch.Generator().manual_seed(int(seed)),
    )
    return CobaSpikingNetwork(topology, CobaParams(dt=dt, method=method), w, **kwargs)


def coba_classifier_shape(state_dict: dict, n_hidden: int = 0, n_inh: int = 4) -> tuple[int, int]:
    """``(n_in, n_classes)`` of a :func:`coba_classifier` from its state dict."""
    N, M = state_dict["weight"].shape
    return int(M - N), int(N - n_hidden - n_inh)
