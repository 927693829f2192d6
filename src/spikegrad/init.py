r"""Weight initialisation.

* :func:`uniform_` — Zenke & Vogels 2021:
  :math:`W \sim \mathcal U(\pm 1/\sqrt{n_\text{in}})`, no biases (the same rule for
  recurrent weights). With eq. 4.1 the hidden layer is silent at this
  initialisation on Randman, which is why the lower-bound regulariser matters.
* :func:`fluctuation_driven_` — spikegrad's reading of Rossbroich, Gygax & Zenke 2022
  ("Fluctuation-driven initialization for spiking neural network training"): choose the
  weight mean and spread so that the free membrane potential of eq. 4.1, driven by
  Bernoulli input spikes of probability :math:`p` per step, has mean :math:`\mu_U` and
  standard deviation :math:`\sigma_U`. With :math:`\epsilon_k` the membrane response to
  one unit-weight input spike (lag :math:`k` steps),

  .. math::

      \mathbb E[U] = n\,p\,\mu_w \textstyle\sum_k \epsilon_k, \qquad
      \mathrm{Var}[U] \approx n\,p\,(\sigma_w^2 + \mu_w^2) \textstyle\sum_k \epsilon_k^2

  so :math:`\mu_w = \mu_U / (n p \sum\epsilon)` and
  :math:`\sigma_w^2 = \sigma_U^2 / (n p \sum\epsilon^2) - \mu_w^2`; weights are Gaussian.
"""

from __future__ import annotations

import math

import torch

from ._checks import SpikegradInputError, check_positive

__all__ = ["uniform_", "psp_kernel", "fluctuation_driven_"]


@torch.no_grad()
def uniform_(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """In place :math:`\\mathcal U(\\pm 1/\\sqrt{n_\\text{in}})`; ``weight`` is ``[out, in]``."""
    bound = 1.0 / math.sqrt(weight.shape[1])
    return weight.uniform_(-bound, bound, generator=generator)


def psp_kernel(
    tau_mem: float, tau_syn: float, dt: float, n_steps: int = 1000, dtype=torch.float64
) -> torch.Tensor:
    """Membrane response :math:`\\epsilon_k` of eq. 4.1 (no reset) to one unit input spike at lag 0.

    ``eps[0] = eps[1] = 0``; the first nonzero value is ``eps[2] = 1 - beta_mem``.
    """
    bm, bs = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    eps = torch.zeros(n_steps, dtype=dtype)
    u = i = 0.0
    for n in range(n_steps):
        eps[n] = u
        u, i = bm * u + (1 - bm) * i, bs * i + (1.0 if n == 0 else 0.0)
    return eps


@torch.no_grad()
def fluctuation_driven_(
    weight: torch.Tensor,
    input_prob: float,
    *,
    tau_mem: float = 10e-3,
    tau_syn: float = 5e-3,
    dt: float = 1e-3,
    mu_u: float = 0.0,
    sigma_u: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fluctuation-driven initialisation in place (see module docstring).

    Parameters
    ----------
    weight:
        ``[out, in]`` weights.
    input_prob:
        Probability that one presynaptic neuron spikes in one step (rate x dt).
    mu_u, sigma_u:
        Target mean and standard deviation of the free membrane potential
        (threshold is 1).
    """
    check_positive("input_prob", input_prob)
    check_positive("sigma_u", sigma_u)
    eps = psp_kernel(tau_mem, tau_syn, dt)
    n = weight.shape[1]
    mu_w = mu_u / (n * input_prob * float(eps.sum()))
    var_w = sigma_u**2 / (n * input_prob * float((eps**2).sum())) - mu_w**2
    if var_w <= 0:
        raise SpikegradInputError(
            f"fluctuation-driven init: mu_u={mu_u} is too large for sigma_u={sigma_u} "
            "(the implied weight variance is negative)"
        )
    weight.normal_(mu_w, math.sqrt(var_w), generator=generator)
    return weight
