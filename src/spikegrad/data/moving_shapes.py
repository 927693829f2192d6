r"""An event-camera-shaped data set generated offline: moving shapes as ON/OFF events.

Each sample is a small shape (a filled square or a plus sign, chosen at random) that
moves across a ``size x size`` sensor in one of four directions (the class: 0 right,
1 left, 2 down, 3 up) at a random speed; a pixel emits an ON event at step :math:`t`
when it becomes covered (frame :math:`t` is 1, frame :math:`t-1` was 0) and an OFF
event when it becomes uncovered, as a dynamic vision sensor does for a bright shape on a
dark background. Independent noise events are added with probability ``noise`` per
pixel, polarity and step. Frames are channel-major ``(2, size, size)`` (ON, OFF),
flattened in C order to ``2 * size * size`` input units, so a spiking convolution sees
``[T, B, 2, size, size]``.

All randomness comes from the ``generator`` given.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import SpikegradInputError, check_size

__all__ = ["DIRECTIONS", "moving_shapes"]

#: class index -> (row, column) direction of motion
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _shape_mask(kind: int) -> np.ndarray:
    if kind == 0:  # filled square
        return np.ones((4, 4), dtype=bool)
    m = np.zeros((5, 5), dtype=bool)  # plus sign
    m[2, :] = True
    m[:, 2] = True
    return m


def moving_shapes(
    n: int,
    *,
    size: int = 16,
    n_steps: int = 20,
    speed: tuple[float, float] = (0.2, 0.35),
    noise: float = 0.002,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` samples: events ``[n, n_steps, 2 * size * size]`` (uint8) and labels ``[n]``.

    Parameters
    ----------
    n:
        Number of samples (classes drawn uniformly).
    size:
        Sensor side in pixels (>= 8).
    n_steps:
        Steps per sample (>= 2); the shape travels ``speed * n_steps`` pixels, which
        must fit on the sensor.
    speed:
        Range of speeds in pixels per step.
    noise:
        Probability of a noise event per pixel, polarity and step, in [0, 1).
    generator:
        Source of all randomness.
    """
    n = check_size("n", n)
    size = check_size("size", size, 8)
    n_steps = check_size("n_steps", n_steps, 2)
    lo, hi = float(speed[0]), float(speed[1])
    if not (0 < lo <= hi):
        raise SpikegradInputError(f"speed must be a range 0 < lo <= hi, got {speed!r}")
    if not (0.0 <= float(noise) < 1.0):
        raise SpikegradInputError(f"noise must lie in [0, 1), got {noise!r}")
    travel = int(np.ceil(hi * (n_steps - 1)))
    if travel + 5 > size:
        raise SpikegradInputError(
            f"a shape moving up to {hi} px/step for {n_steps} steps needs a sensor of at least "
            f"{travel + 5} px, got size={size}"
        )
    u = torch.rand(n, 6, generator=generator, dtype=torch.float64).numpy()
    noise_draw = torch.rand(n, n_steps, 2, size, size, generator=generator) < float(noise)
    y = (u[:, 0] * 4).astype(np.int64).clip(0, 3)
    out = np.zeros((n, n_steps, 2, size, size), dtype=np.uint8)
    for k in range(n):
        mask = _shape_mask(int(u[k, 1] * 2))
        h = mask.shape[0]
        v = lo + (hi - lo) * u[k, 2]
        dr, dc = DIRECTIONS[y[k]]
        # start so that the whole path stays on the sensor
        free = size - h - travel
        along = int(u[k, 3] * (free + 1))
        across = int(u[k, 4] * (size - h + 1))
        if dr == 0:
            r0, c0 = across, along if dc > 0 else size - h - along
        else:
            c0, r0 = across, along if dr > 0 else size - h - along
        prev = np.zeros((size, size), dtype=bool)
        for t in range(n_steps):
            r = r0 + int(round(dr * v * t))
            c = c0 + int(round(dc * v * t))
            frame = np.zeros((size, size), dtype=bool)
            frame[r:r + h, c:c + h] = mask
            out[k, t, 0] = frame & ~prev
            out[k, t, 1] = prev & ~frame
            prev = frame
    events = torch.from_numpy(out) | noise_draw.to(torch.uint8)
    return events.reshape(n, n_steps, 2 * size * size), torch.from_numpy(y)
