"""Precise spike-time learning: spike trains as data, kernels and metrics, SRM0, kernel rules.

spikegrad's reading of the Lin, Zhang & Zhang (2012) kernel rule family and of
Wang, Lin & Dang (2019) delay learning; see ``docs/spiketrain.md``.
"""

from .kernels import (
    GaussianKernel,
    LaplacianKernel,
    SpikeKernel,
    inner_product,
    kernel_distance,
    kernel_error,
    make_kernel,
    schreiber_correlation,
    schreiber_correlation_binned,
    van_rossum_binned,
    van_rossum_distance,
)
from .rules import (
    kernel_delay_gradient,
    kernel_weight_gradient,
    linear_error,
    linear_output,
    multilayer_delay_gradient,
    multilayer_hidden_gradient,
    resume_weight_update,
)
from .srm import SRMParams, free_membrane, psp_kernel, psp_trace, refractory_kernel, srm_simulate
from .trains import SpikeTrains, from_binned, pad_trains, poisson_trains, to_binned

__all__ = [
    "GaussianKernel",
    "LaplacianKernel",
    "SpikeKernel",
    "inner_product",
    "kernel_distance",
    "kernel_error",
    "make_kernel",
    "schreiber_correlation",
    "schreiber_correlation_binned",
    "van_rossum_binned",
    "van_rossum_distance",
    "kernel_delay_gradient",
    "kernel_weight_gradient",
    "linear_error",
    "linear_output",
    "multilayer_delay_gradient",
    "multilayer_hidden_gradient",
    "resume_weight_update",
    "SRMParams",
    "free_membrane",
    "psp_kernel",
    "psp_trace",
    "refractory_kernel",
    "srm_simulate",
    "SpikeTrains",
    "from_binned",
    "pad_trains",
    "poisson_trains",
    "to_binned",
]
