"""Precise spike-time learning: the topic package that gathers its parts in one namespace.

spikegrad's reading of the Lin, Zhang & Zhang (2012) kernel rule family and of
Wang, Lin & Dang (2019) delay learning; see ``docs/spiketrain.md``. The parts live in
the layers every model, rule and task of spikegrad shares:

* spike trains, kernels, metrics, SRM0: :mod:`spikegrad.functional.spiketrains`,
  :mod:`spikegrad.functional.spike_kernels`, :mod:`spikegrad.functional.srm`;
* the models: :class:`spikegrad.nn.SRMLayer`, :class:`spikegrad.nn.SRMNetwork`; delays
  for LIF networks: :class:`spikegrad.nn.DelayedLinear` (``LIFLayer(projection=...)``);
* the rules: :mod:`spikegrad.learning.rules.kernel` (``KernelRule``, ``ReSuMe`` and the
  gradient formulas);
* the tasks: :mod:`spikegrad.tasks.spike_targets` (``SpikeTargetTask`` and generators);
* training: :func:`spikegrad.learning.trainer.fit`, as for every rule.

This package re-exports them and adds the PNG plots of ``spikegrad spiketrain``
(:mod:`spikegrad.spiketrain.plots`).
"""

from ..functional.spike_kernels import (
    GaussianKernel,
    LaplacianKernel,
    SpikeKernel,
    gaussian_kernel_loss,
    inner_product,
    kernel_distance,
    kernel_error,
    make_kernel,
    pairwise,
    schreiber_correlation,
    schreiber_correlation_binned,
    van_rossum_binned,
    van_rossum_distance,
)
from ..functional.spiketrains import (
    SpikeTrains,
    from_binned,
    from_slots,
    pad_trains,
    poisson_trains,
    to_binned,
    to_slots,
)
from ..functional.srm import (
    SRMParams,
    free_membrane,
    psp_kernel,
    psp_trace,
    refractory_kernel,
    srm_simulate,
)
from ..learning.rules.kernel import (
    KernelRule,
    ReSuMe,
    kernel_delay_gradient,
    kernel_weight_gradient,
    linear_error,
    linear_output,
    multilayer_delay_gradient,
    multilayer_hidden_gradient,
    resume_weight_update,
    shifted_inputs,
)
from ..nn.srm import SRMLayer, SRMNetwork, SRMOutput
from ..tasks.spike_targets import (
    PatternTask,
    SpikePatterns,
    SpikeTargetTask,
    classify_by_distance,
    lag_order_task,
    pattern_classes_task,
    random_target,
    single_target_task,
)

__all__ = [
    "GaussianKernel",
    "LaplacianKernel",
    "SpikeKernel",
    "gaussian_kernel_loss",
    "inner_product",
    "kernel_distance",
    "kernel_error",
    "make_kernel",
    "pairwise",
    "schreiber_correlation",
    "schreiber_correlation_binned",
    "van_rossum_binned",
    "van_rossum_distance",
    "SpikeTrains",
    "from_binned",
    "from_slots",
    "pad_trains",
    "poisson_trains",
    "to_binned",
    "to_slots",
    "SRMParams",
    "free_membrane",
    "psp_kernel",
    "psp_trace",
    "refractory_kernel",
    "srm_simulate",
    "KernelRule",
    "ReSuMe",
    "kernel_delay_gradient",
    "kernel_weight_gradient",
    "linear_error",
    "linear_output",
    "multilayer_delay_gradient",
    "multilayer_hidden_gradient",
    "resume_weight_update",
    "shifted_inputs",
    "SRMLayer",
    "SRMNetwork",
    "SRMOutput",
    "PatternTask",
    "SpikePatterns",
    "SpikeTargetTask",
    "classify_by_distance",
    "lag_order_task",
    "pattern_classes_task",
    "random_target",
    "single_target_task",
]
