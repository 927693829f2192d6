r"""Kernel learning rules for weights and synaptic delays (Lin et al.), and ReSuMe.

spikegrad's reading of the Lin, Zhang & Zhang (2012) rule family and of the delay rule
of Wang, Lin & Dang (2019) (the papers' full texts were not available; see
``docs/spiketrain.md``), as :class:`~spikegrad.learning.rules.Rule` objects for
SRM\ :sub:`0` models (:class:`~spikegrad.nn.SRMLayer`, :class:`~spikegrad.nn.SRMNetwork`)
and as the explicit formulas they are made of.

The error of output neuron :math:`o` with actual train :math:`s_a` and desired
train :math:`s_d` is

.. math::

    E = \tfrac12\|s_a - s_d\|^2
      = \tfrac12\big(\langle s_a,s_a\rangle - 2\langle s_a,s_d\rangle + \langle s_d,s_d\rangle\big).

With the linear approximation :math:`s_a \approx \sum_i w_i s_i(d_i)`, where
:math:`s_i(d_i)` is input train :math:`i` shifted by its delay
(:math:`t_i^f \mapsto t_i^f + d_i`),

.. math::

    \frac{\partial E}{\partial w_i} &= \langle s_i, s_a\rangle - \langle s_i, s_d\rangle,
    \qquad \Delta w_i = -\eta_w \frac{\partial E}{\partial w_i}
       = \eta_w\big(\langle s_i, s_d\rangle - \langle s_i, s_a\rangle\big), \\
    \frac{\partial E}{\partial d_i} &= w_i \sum_f\Big[\sum_h \partial_1\kappa(t_i^f + d_i, t_a^h)
        - \sum_g \partial_1\kappa(t_i^f + d_i, t_d^g)\Big],
    \qquad \Delta d_i = -\eta_d \frac{\partial E}{\partial d_i},\ 0 \le d_i \le d_\max,

where the *actual* train :math:`s_a` in the rule is the neuron's real output
(not the linear surrogate). These are explicit formulas, not autograd through
the neuron. When :math:`s_a` is replaced by the weighted train
:math:`\sum_j w_j s_j(d_j)` (see :func:`linear_output`) they are exactly the
gradient of :math:`E` -- this is how the tests check them against autograd and
finite differences.

A silent output gives :math:`\langle s_i, s_a\rangle = 0`: only potentiation acts.

Optional ``offset`` (spikegrad extension, default 0): compare the shifted input
spikes :math:`t_i^f + d_i + \text{offset}` with the output spikes (e.g. the PSP
peak time :math:`\tau`), making the kernel window causal in effect.

Shapes (canonical, batched): inputs ``[B, N, M]``, output trains ``[B, O, K]``,
weights and delays ``[O, N]``; gradients ``[B, O, N]`` (sum or average over
``B`` yourself).

As rules (:class:`KernelRule`, :class:`ReSuMe`): ``p.grad`` is the descent direction,
the batch mean of :math:`\partial E/\partial w` (and :math:`\partial E/\partial d` for
learnable delays, in seconds), i.e. the negative of the rule's update per unit learning
rate; plain SGD with learning rate :math:`\eta` applies exactly
:math:`w \leftarrow w - \eta\,\partial E/\partial w` (for ReSuMe ``p.grad`` is
:math:`-\Delta w_\text{ReSuMe}/\eta`). Keep delays in range with
:func:`spikegrad.nn.clamp_after_step` (the rule's projection :math:`0 \le d \le d_\max`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..._checks import SpikegradInputError, check_nonnegative, check_positive
from ...functional.spike_kernels import SpikeKernel, make_kernel, pairwise
from ...functional.spiketrains import SpikeTrains, check_trains, from_slots
from ...nn.srm import SRMOutput, srm_layers
from .base import Rule, RuleStep, set_grads

__all__ = [
    "KernelRule",
    "ReSuMe",
    "shifted_inputs",
    "kernel_weight_gradient",
    "kernel_delay_gradient",
    "linear_output",
    "linear_error",
    "multilayer_hidden_gradient",
    "multilayer_delay_gradient",
    "resume_weight_update",
]


def _canon(inputs: SpikeTrains, out: SpikeTrains, name: str) -> tuple[SpikeTrains, SpikeTrains]:
    inputs = check_trains("inputs", inputs)
    out = check_trains(name, out)
    if inputs.times.dim() != 3:
        raise SpikegradInputError(f"inputs must be [B, N, M], got {tuple(inputs.times.shape)}")
    if out.times.dim() != 3:
        raise SpikegradInputError(f"{name} must be [B, O, K], got {tuple(out.times.shape)}")
    return inputs, out


def shifted_inputs(
    inputs: SpikeTrains, delays: torch.Tensor | None, n_out: int, offset: float = 0.0
) -> SpikeTrains:
    r"""Inputs ``[B, N, M]`` shifted per synapse: ``[B, O, N, M]`` with times
    :math:`t_i^f + d_{oi} + \text{offset}` (``delays`` ``None``, ``[N]`` or ``[O, N]``)."""
    t, m = inputs
    B, N, M = t.shape
    d = torch.zeros(1, N, dtype=t.dtype, device=t.device) if delays is None else delays
    d = d.to(t.dtype).reshape(-1, N)
    ts = t.unsqueeze(1) + d.unsqueeze(0).unsqueeze(-1) + offset
    return SpikeTrains(ts.expand(B, n_out, N, M), m.unsqueeze(1).expand(B, n_out, N, M))


def _unsq(tr: SpikeTrains) -> SpikeTrains:
    """``[B, O, K]`` -> ``[B, O, 1, K]`` to broadcast against the inputs' N dimension."""
    return SpikeTrains(tr.times.unsqueeze(2), tr.mask.unsqueeze(2))


def kernel_weight_gradient(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    kernel: SpikeKernel,
    delays: torch.Tensor | None = None,
    *,
    offset: float = 0.0,
) -> torch.Tensor:
    r""":math:`\partial E/\partial w_{oi} = \langle s_i(d_{oi}), s_a^o\rangle -
    \langle s_i(d_{oi}), s_d^o\rangle`, shape ``[B, O, N]``.

    ``actual`` / ``desired``: ``[B, O, K]`` trains (masks may be floating spike weights).
    The update of the rule is ``-lr * gradient``.
    """
    inputs, actual = _canon(inputs, actual, "actual")
    _, desired = _canon(inputs, desired, "desired")
    si = shifted_inputs(inputs, delays, actual.times.shape[1], offset)
    return pairwise(si, _unsq(actual), kernel.value) - pairwise(si, _unsq(desired), kernel.value)


def kernel_delay_gradient(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    weights: torch.Tensor,
    kernel: SpikeKernel,
    delays: torch.Tensor | None = None,
    *,
    offset: float = 0.0,
) -> torch.Tensor:
    r""":math:`\partial E/\partial d_{oi} = w_{oi}\sum_f[\sum_h\partial_1\kappa(t_i^f+d_{oi},
    t_a^h) - \sum_g \partial_1\kappa(t_i^f + d_{oi}, t_d^g)]`, shape ``[B, O, N]``.

    The update of the rule is ``-lr_delay * gradient``, then clamp to ``[0, d_max]``.
    """
    inputs, actual = _canon(inputs, actual, "actual")
    _, desired = _canon(inputs, desired, "desired")
    si = shifted_inputs(inputs, delays, actual.times.shape[1], offset)
    g = pairwise(si, _unsq(actual), kernel.d1) - pairwise(si, _unsq(desired), kernel.d1)
    return weights.reshape(1, *g.shape[1:]).to(g.dtype) * g


def linear_output(
    inputs: SpikeTrains, weights: torch.Tensor, delays: torch.Tensor | None = None
) -> SpikeTrains:
    r"""The linear approximation :math:`s_a \approx \sum_i w_{oi} s_i(d_{oi})` as a weighted
    train ``[B, O, N*M]`` (its mask holds the spike weights :math:`w_{oi}`)."""
    inputs = check_trains("inputs", inputs)
    O = weights.shape[0]
    si = shifted_inputs(inputs, delays, O, 0.0)
    B, _, N, M = si.times.shape
    w = weights.to(si.times.dtype).reshape(1, O, N, 1) * si.mask.to(si.times.dtype)
    return SpikeTrains(si.times.reshape(B, O, N * M), w.reshape(B, O, N * M))


def linear_error(
    inputs: SpikeTrains,
    weights: torch.Tensor,
    desired: SpikeTrains,
    kernel: SpikeKernel,
    delays: torch.Tensor | None = None,
) -> torch.Tensor:
    r""":math:`E_\text{lin} = \tfrac12\|\sum_i w_{oi} s_i(d_{oi}) - s_d^o\|^2`, shape ``[B, O]``.

    Differentiable in ``weights`` and ``delays`` (autograd); its gradients equal
    :func:`kernel_weight_gradient` / :func:`kernel_delay_gradient` with
    ``actual = linear_output(...)``.
    """
    lin = linear_output(inputs, weights, delays)
    desired = check_trains("desired", desired)
    aa = pairwise(lin, lin, kernel.value)
    ad = pairwise(lin, desired, kernel.value)
    dd = pairwise(desired, desired, kernel.value)
    return 0.5 * (aa - 2 * ad + dd)


def multilayer_hidden_gradient(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    out_weights: torch.Tensor,
    kernel: SpikeKernel,
    delays: torch.Tensor | None = None,
    *,
    offset: float = 0.0,
) -> torch.Tensor:
    r"""Hidden-layer gradient of the multilayer kernel rule, ``[B, H, N]``:

    .. math::

        \frac{\partial E}{\partial w_{hi}} = \sum_o w_{oh}\big(\langle s_i, s_a^o\rangle
        - \langle s_i, s_d^o\rangle\big)

    (linear approximation :math:`s_a^o \approx \sum_h w_{oh}\sum_i w_{hi} s_i`;
    Lin, Zhang & Zhang 2012). ``actual``/``desired`` are the *output* layer's trains
    ``[B, O, K]``, ``out_weights`` is ``[O, H]``, ``delays`` (input-to-hidden)
    ``None``, ``[N]`` or ``[H, N]``.
    """
    inputs, actual = _canon(inputs, actual, "actual")
    _, desired = _canon(inputs, desired, "desired")
    H = out_weights.shape[1]
    si = shifted_inputs(inputs, delays, H, offset)  # [B, H, N, M]
    # <s_i(d_hi), s^o> for every (h, o): broadcast [B, H, 1, N, M] x [B, 1, O, 1, K]
    sx = SpikeTrains(si.times.unsqueeze(2), si.mask.unsqueeze(2))

    def o_trains(tr: SpikeTrains) -> SpikeTrains:
        return SpikeTrains(tr.times.unsqueeze(1).unsqueeze(3), tr.mask.unsqueeze(1).unsqueeze(3))

    g = pairwise(sx, o_trains(actual), kernel.value) - pairwise(sx, o_trains(desired), kernel.value)
    # g: [B, H, O, N]; weight by w_oh and sum over o
    return torch.einsum("bhon,oh->bhn", g, out_weights.to(g.dtype))


def multilayer_delay_gradient(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    hidden_weights: torch.Tensor,
    out_weights: torch.Tensor,
    kernel: SpikeKernel,
    delays: torch.Tensor | None = None,
    *,
    offset: float = 0.0,
) -> torch.Tensor:
    r"""Input-to-hidden delay gradient of the multilayer rule, ``[B, H, N]``:

    .. math::

        \frac{\partial E}{\partial d_{hi}} = w_{hi}\sum_o w_{oh}\sum_f\Big[\sum_h
        \partial_1\kappa(t_i^f + d_{hi}, t_a^{o,h}) - \sum_g \partial_1\kappa(t_i^f + d_{hi},
        t_d^{o,g})\Big]

    (the single-layer delay rule per output, mixed by :math:`w_{oh}`; exact gradient
    of the two-layer linear approximation when ``actual`` is that approximation).
    """
    inputs, actual = _canon(inputs, actual, "actual")
    _, desired = _canon(inputs, desired, "desired")
    H = hidden_weights.shape[0]
    si = shifted_inputs(inputs, delays, H, offset)  # [B, H, N, M]
    sx = SpikeTrains(si.times.unsqueeze(2), si.mask.unsqueeze(2))  # [B, H, 1, N, M]

    def o_trains(tr: SpikeTrains) -> SpikeTrains:
        return SpikeTrains(tr.times.unsqueeze(1).unsqueeze(3), tr.mask.unsqueeze(1).unsqueeze(3))

    g = pairwise(sx, o_trains(actual), kernel.d1) - pairwise(sx, o_trains(desired), kernel.d1)
    g = torch.einsum("bhon,oh->bhn", g, out_weights.to(g.dtype))  # [B, H, N]
    return hidden_weights.to(g.dtype).unsqueeze(0) * g


def resume_weight_update(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    delays: torch.Tensor | None = None,
    *,
    a: float = 0.0,
    amplitude: float = 1.0,
    tau_l: float = 5e-3,
) -> torch.Tensor:
    r"""ReSuMe (Ponulak & Kasinski 2010) weight change per unit learning rate, ``[B, O, N]``:

    .. math::

        \Delta w_i / \eta = \sum_g\Big[a + \sum_f A e^{-(t_d^g - t_i^f)/\tau_L}
          \Theta(t_d^g - t_i^f)\Big] - \sum_h\Big[a + \sum_f A e^{-(t_a^h - t_i^f)/\tau_L}
          \Theta(t_a^h - t_i^f)\Big]

    (integrated over the trial; input times shifted by their delays). The
    learning window is causal: only inputs *before* an output spike count;
    :math:`a` is the non-Hebbian term.
    """
    inputs, actual = _canon(inputs, actual, "actual")
    _, desired = _canon(inputs, desired, "desired")
    check_nonnegative("a", a)
    tau_l = float(tau_l)
    if tau_l <= 0:
        raise SpikegradInputError(f"tau_l must be > 0, got {tau_l}")
    si = shifted_inputs(inputs, delays, actual.times.shape[1], 0.0)

    def window(diff: torch.Tensor) -> torch.Tensor:  # diff = t_i - t_out
        return torch.where(
            diff < 0, amplitude * torch.exp(diff.clamp_max(0.0) / tau_l), torch.zeros_like(diff)
        )

    hebb = pairwise(si, _unsq(desired), window) - pairwise(si, _unsq(actual), window)
    nonhebb = a * (desired.mask.sum(-1) - actual.mask.sum(-1)).to(hebb.dtype).unsqueeze(-1)
    return hebb + nonhebb


# --------------------------------------------------------------------------- the rules


def _input_trains(x: object) -> SpikeTrains:
    """The batch's input trains ``[B, N, M]`` (trains, or the spike-time tensor ``[M, B, N]``)."""
    if isinstance(x, torch.Tensor):
        return from_slots(x)
    return check_trains("x", x)


def _desired_trains(y: object) -> SpikeTrains:
    """The batch's desired trains ``[B, O, K]`` (trains, or times padded with ``+inf``)."""
    if isinstance(y, torch.Tensor):
        return SpikeTrains.from_padded(y)
    return check_trains("y", y)


def _check_view(rule: Rule, task: Any) -> None:
    view = getattr(task, "view", "trains")
    if view != "trains":
        raise SpikegradInputError(
            f"rule {rule.name!r} trains SRM0 models on spike times; the task gives the "
            f"{view!r} view (build it with view='trains')"
        )


@dataclass
class KernelRule(Rule):
    r"""The kernel rule of Lin, Zhang & Zhang (2012) for weights and synaptic delays.

    One :class:`~spikegrad.nn.SRMLayer`: :math:`\partial E/\partial w_{oi}` by
    :func:`kernel_weight_gradient` and, when the layer's delays are learnable,
    :math:`\partial E/\partial d_{oi}` by :func:`kernel_delay_gradient`. An
    :class:`~spikegrad.nn.SRMNetwork` of two layers (input -> hidden -> output): the
    output weights by the single-layer rule on the hidden trains, the hidden weights by
    :func:`multilayer_hidden_gradient` and learnable hidden delays by
    :func:`multilayer_delay_gradient`. Gradients are the batch means (see the module notes
    for the sign convention).

    Parameters
    ----------
    kernel, width:
        ``"gaussian"`` (sigma) or ``"laplacian"`` (tau) and its width in seconds (5 ms).
    offset:
        Extra shift of the input spikes in the kernel comparison, seconds (default 0).
    """

    name: ClassVar[str] = "kernel"
    models: ClassVar[tuple[str, ...]] = ("srm",)
    exact: ClassVar[bool] = False

    kernel: str = "gaussian"
    width: float = 5e-3
    offset: float = 0.0

    def __post_init__(self) -> None:
        self.width = check_positive("width", self.width)
        make_kernel(self.kernel, self.width)
        self.offset = float(self.offset)

    def _check_model(self, model: torch.nn.Module) -> None:
        layers = srm_layers(model)
        if len(layers) > 2:
            raise SpikegradInputError(
                f"the kernel rule trains one SRM0 layer or two (one hidden), got {len(layers)}"
            )
        if len(layers) == 2 and layers[1].delays is not None:
            raise SpikegradInputError(
                "the multilayer kernel rule has no rule for output-layer delays; put the "
                "delays on the hidden layer"
            )

    def gradients(self, model: torch.nn.Module, task: Any, x: Any, y: Any) -> RuleStep:
        """Write :math:`\\partial E/\\partial w` (and ``d``) batch means into ``p.grad``."""
        _check_view(self, task)
        k = make_kernel(self.kernel, self.width)
        layers = srm_layers(model)
        out: SRMOutput = model(x)
        inputs = _input_trains(x)
        inputs = SpikeTrains(inputs.times.to(layers[0].weight.dtype), inputs.mask)
        desired = _desired_trains(y)
        actual = out.trains
        if len(layers) == 1:
            (layer,) = layers
            d = None if layer.delays is None else layer.delays.detach()
            gw = kernel_weight_gradient(inputs, actual, desired, k, d, offset=self.offset)
            set_grads([layer.weight], [gw.mean(0)])
            if layer.learn_delays:
                gd = kernel_delay_gradient(
                    inputs, actual, desired, layer.weight.detach(), k, d, offset=self.offset
                )
                set_grads([layer.delays], [gd.mean(0)])
        else:
            hid, top = layers
            h = out.layers[0]
            wh, wo = hid.weight.detach(), top.weight.detach()
            dh = None if hid.delays is None else hid.delays.detach()
            g_o = kernel_weight_gradient(h, actual, desired, k, offset=self.offset)
            g_h = multilayer_hidden_gradient(inputs, actual, desired, wo, k, dh, offset=self.offset)
            set_grads([top.weight, hid.weight], [g_o.mean(0), g_h.mean(0)])
            if hid.learn_delays:
                gd = multilayer_delay_gradient(
                    inputs, actual, desired, wh, wo, k, dh, offset=self.offset
                )
                set_grads([hid.delays], [gd.mean(0)])
        with torch.no_grad():
            loss = task.loss(model, out, y).detach()
        return RuleStep(loss, out)


@dataclass
class ReSuMe(Rule):
    r"""ReSuMe (Ponulak & Kasinski 2010) on one SRM\ :sub:`0` layer, the baseline rule.

    ``p.grad`` of the weights is :math:`-\Delta w/\eta` of :func:`resume_weight_update`
    (batch mean), so SGD with learning rate :math:`\eta` applies
    :math:`w \leftarrow w + \eta\,\Delta w/\eta`. Fixed delays of the layer shift the
    inputs; ReSuMe has no delay rule (a layer with learnable delays is refused).

    Parameters
    ----------
    a:
        Non-Hebbian term (default 0).
    amplitude, tau_l:
        Height and time constant (seconds, 5 ms) of the causal learning window.
    """

    name: ClassVar[str] = "resume"
    models: ClassVar[tuple[str, ...]] = ("srm",)
    exact: ClassVar[bool] = False

    a: float = 0.0
    amplitude: float = 1.0
    tau_l: float = 5e-3

    def __post_init__(self) -> None:
        self.a = check_nonnegative("a", self.a)
        self.amplitude = float(self.amplitude)
        self.tau_l = check_positive("tau_l", self.tau_l)

    def _check_model(self, model: torch.nn.Module) -> None:
        layers = srm_layers(model)
        if len(layers) != 1:
            raise SpikegradInputError(f"ReSuMe trains one SRM0 layer, got {len(layers)}")
        if layers[0].learn_delays:
            raise SpikegradInputError(
                "ReSuMe has no delay rule; use rule 'kernel' to learn delays"
            )

    def gradients(self, model: torch.nn.Module, task: Any, x: Any, y: Any) -> RuleStep:
        """Write :math:`-\\Delta w_\\text{ReSuMe}/\\eta` (batch mean) into ``weight.grad``."""
        _check_view(self, task)
        (layer,) = srm_layers(model)
        out: SRMOutput = model(x)
        inputs = _input_trains(x)
        inputs = SpikeTrains(inputs.times.to(layer.weight.dtype), inputs.mask)
        d = None if layer.delays is None else layer.delays.detach()
        dw = resume_weight_update(
            inputs,
            out.trains,
            _desired_trains(y),
            d,
            a=self.a,
            amplitude=self.amplitude,
            tau_l=self.tau_l,
        )
        set_grads([layer.weight], [-dw.mean(0)])
        with torch.no_grad():
            loss = task.loss(model, out, y).detach()
        return RuleStep(loss, out)
