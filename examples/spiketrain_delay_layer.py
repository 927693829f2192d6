"""A learnable-delay LIF layer in a small BPTT network: tell which input group fired first.

    python examples/spiketrain_delay_layer.py

The two groups fire 40 steps apart; a delayed layer can line the volleys up.
See bench/spiketrain_lag_order.py for the full comparison with and without delays.
"""

from __future__ import annotations

import torch

from spikegrad.functional.readout import readout_logits
from spikegrad.nn.delay import DelayedLIFLayer
from spikegrad.nn.lif import Readout
from spikegrad.spiketrain.tasks import lag_order_task


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = lag_order_task(256, n_steps=120, group=4, lag=40, jitter=2, generator=g)
    hidden = DelayedLIFLayer(8, 16, max_delay=50, mode="gaussian", sigma=4.0, generator=g)
    readout = Readout(16, 2, generator=g)
    with torch.no_grad():
        hidden.weight.mul_(3.0)
    opt = torch.optim.Adam(
        [
            {"params": [hidden.weight, *readout.parameters()], "lr": 5e-3},
            {"params": [hidden.delays], "lr": 1.0},
        ]
    )
    for epoch in range(10):
        for k in range(0, 256, 64):
            logits = readout_logits(readout(hidden(x[:, k : k + 64])), "max")
            loss = torch.nn.functional.cross_entropy(logits, y[k : k + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
            hidden.clamp_()
        hidden.proj.sigma = max(0.5, hidden.proj.sigma * 0.9)
        with torch.no_grad():
            acc = (readout_logits(readout(hidden(x)), "max").argmax(-1) == y).float().mean()
        print(f"epoch {epoch + 1:2d}  loss {loss.item():.3f}  train accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
