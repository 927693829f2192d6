"""A LIF layer with learnable synaptic delays in a small BPTT network: which group fired first?

    python examples/spiketrain_delay_layer.py

The two groups fire 40 steps (40 ms) apart; a delayed projection in front of the LIF layer
can line the volleys up. Delays are in seconds. See bench/spiketrain_lag_order.py for the
full comparison with and without delays.
"""

from __future__ import annotations

import torch

from spikegrad.functional.readout import readout_logits
from spikegrad.nn import DelayedLinear, LIFLayer, Readout, clamp_after_step
from spikegrad.tasks.spike_targets import lag_order_task


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = lag_order_task(256, n_steps=120, group=4, lag=40, jitter=2, generator=g)
    proj = DelayedLinear(8, 16, max_delay=50e-3, mode="gaussian", sigma=4e-3, generator=g)
    hidden = LIFLayer(8, 16, projection=proj)  # the fused backend runs it
    readout = Readout(16, 2, generator=g)
    with torch.no_grad():
        hidden.weight.mul_(3.0)
    opt = torch.optim.Adam(
        [
            {"params": [hidden.weight, *readout.parameters()], "lr": 5e-3},
            {"params": [proj.delays], "lr": 1e-3},  # seconds per Adam step
        ]
    )
    clamp_after_step(opt, hidden)  # delays stay in [0, 50 ms]
    for epoch in range(10):
        for k in range(0, 256, 64):
            logits = readout_logits(readout(hidden(x[:, k : k + 64])), "max")
            loss = torch.nn.functional.cross_entropy(logits, y[k : k + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
        proj.sigma = max(0.5e-3, proj.sigma * 0.9)
        with torch.no_grad():
            acc = (readout_logits(readout(hidden(x)), "max").argmax(-1) == y).float().mean()
        print(f"epoch {epoch + 1:2d}  loss {loss.item():.3f}  train accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
