r"""From images to input spikes: intensity threshold, edge map, intensity-to-latency.

The paper encodes one input neuron per pixel that spikes when its pre-processed
intensity exceeds a threshold; which pre-processing it uses is not stated, so all
three codes below are spikegrad's reading and are reported with every result.

* ``"threshold"``: :math:`s[0, p] = \Theta(x_p - \vartheta)` (one tick).
* ``"edges"``: Sobel gradient magnitude :math:`e_p = \|\nabla x\|_p / 4` (an ideal
  unit step edge gives :math:`e = 1`; zero padding at the border is replaced by
  edge replication so the frame itself is not an edge), then
  :math:`s[0, p] = \Theta(e_p - \vartheta)`.
* ``"latency"``: brighter pixels spike earlier. For :math:`x_p > \vartheta`,
  :math:`t_p = \min\big(L - 1, \lfloor L (1 - x_p) / (1 - \vartheta) \rfloor\big)`
  with :math:`L` = ``levels`` ticks; darker pixels stay silent. This is the linear
  map of the library's one latency code, :func:`spikegrad.data.encoding.latency`
  (``code="linear"``, ``overflow="clip"``, :math:`n_\text{steps} = L`), which
  :func:`spike_times` and :func:`encode` call. Mirror pairs then
  coincide only when their intensities fall in the same latency bin; spikes of
  different pairs can also coincide (:math:`t_p + d_a = t_{p'} + d_{a'}`).

Images are grey levels in :math:`[0, 1]` (uint8 is divided by 255, bool is 0/1).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .._checks import SpikegradInputError, check_choice, check_positive, format_bytes
from ..data.encoding import latency

__all__ = ["ENCODINGS", "as_image", "sobel_gradient", "edge_map", "encode", "spike_times",
           "load_image"]

#: Pixel-to-spike rules.
ENCODINGS = ("threshold", "edges", "latency")


def as_image(image: object, name: str = "image") -> tuple[torch.Tensor, bool]:
    """Validate a grey image and return it as float32 ``[B, H, W]`` plus "was 2-D".

    Accepts numpy arrays or tensors of shape ``[H, W]`` or ``[B, H, W]``: bool,
    integer (uint8 is scaled by 1/255, other integers must be 0/1) or float (finite).
    """
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint8:
            t = torch.from_numpy(np.asarray(image.astype(np.float32) / 255.0))  # 0-d stays array
        elif image.dtype.kind in "biuf":
            t = torch.from_numpy(np.ascontiguousarray(image))
        else:
            raise TypeError(f"{name} must be a numeric array, got dtype {image.dtype}")
    elif isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.is_complex():
            raise TypeError(f"{name} must be a real image, got dtype {t.dtype}")
        if t.dtype == torch.uint8:
            t = t.float() / 255.0
    else:
        raise TypeError(
            f"{name} must be a numpy array or torch.Tensor [H, W] or [B, H, W], "
            f"got {type(image).__name__}"
        )
    if t.dim() not in (2, 3):
        raise SpikegradInputError(
            f"{name} must be a grey image [H, W] or a batch [B, H, W]; got shape "
            f"{tuple(t.shape)} (convert colour images with load_image or average the channels)"
        )
    if t.numel() == 0:
        raise SpikegradInputError(f"{name} is empty (shape {tuple(t.shape)})")
    if t.dtype == torch.bool:
        t = t.float()
    elif not t.is_floating_point():
        if bool(((t != 0) & (t != 1)).any()):
            raise SpikegradInputError(
                f"{name} has integer dtype {t.dtype} with values other than 0/1; "
                "pass uint8 (0..255) or floats in [0, 1]"
            )
        t = t.float()
    if not bool(torch.isfinite(t).all()):
        raise SpikegradInputError(f"{name} contains NaN or infinite values")
    t = t.float()
    if not bool(torch.isfinite(t).all()):
        raise SpikegradInputError(
            f"{name} has values beyond the float32 range (|x| > 3.4e38); pass intensities in [0, 1]"
        )
    was_2d = t.dim() == 2
    return (t.unsqueeze(0) if was_2d else t), was_2d


def sobel_gradient(image: torch.Tensor) -> torch.Tensor:
    r"""Sobel derivatives ``[B, 2, H, W]``: :math:`g_x` (along columns, to the right) and
    :math:`g_y` (along rows, downwards), border replicated, not divided by 4."""
    x = image.unsqueeze(1)  # [B, 1, H, W]
    x = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype)
    k = torch.stack([kx, kx.t()]).unsqueeze(1)  # [2, 1, 3, 3]
    return torch.nn.functional.conv2d(x, k)


def edge_map(image: torch.Tensor) -> torch.Tensor:
    r"""Sobel gradient magnitude divided by 4, :math:`e = \|\nabla x\| / 4`, ``[B, H, W]``."""
    return torch.sqrt((sobel_gradient(image) ** 2).sum(1)) / 4.0


def encode(
    image: object,
    encoding: str = "threshold",
    threshold: float = 0.5,
    *,
    levels: int = 8,
) -> torch.Tensor:
    """Input spikes of an image, time-major ``[T, B, H, W]`` (``T = 1``, or ``levels``).

    Parameters
    ----------
    image:
        Grey image ``[H, W]`` or batch ``[B, H, W]`` (see :func:`as_image`).
    encoding:
        ``"threshold"``, ``"edges"`` or ``"latency"`` (module docstring).
    threshold:
        The threshold :math:`\\vartheta` on intensity (or on the edge map).
    levels:
        Number of latency ticks :math:`L` (``"latency"`` only).
    """
    check_choice("encoding", encoding, ENCODINGS)
    x, _ = as_image(image)
    thr = float(threshold)
    if not math.isfinite(thr):
        raise SpikegradInputError(f"threshold must be finite, got {threshold!r}")
    if encoding == "threshold":
        return (x > thr).float().unsqueeze(0)
    if encoding == "edges":
        return (edge_map(x) > thr).float().unsqueeze(0)
    _check_latency(thr, levels)
    return latency(x, levels, code="linear", theta=thr, overflow="clip", output="spikes")


def _check_latency(threshold: float, levels: int) -> None:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise SpikegradInputError(f"levels must be an int >= 1, got {levels!r}")
    if not (0.0 <= threshold < 1.0):
        raise SpikegradInputError(
            f"threshold must be in [0, 1) for the latency code, got {threshold!r}"
        )


def spike_times(
    image: object, threshold: float = 0.5, *, levels: int = 8, fractional: bool = False
) -> torch.Tensor:
    r"""Latency code :math:`t_p` of every pixel ``[B, H, W]`` (``inf`` = silent).

    Integer bins as in :func:`encode` (``"latency"``), or the unrounded
    :math:`L (1 - x_p) / (1 - \vartheta)`, clipped to :math:`[0, L - 1]`, when
    ``fractional`` (for the event-driven simulator). Times are in ticks of the
    network (seconds = ticks times ``SymmetryNetwork.dt``).
    """
    x, _ = as_image(image)
    thr = float(threshold)
    _check_latency(thr, levels)
    if fractional:
        return latency(x, levels, code="linear", theta=thr, overflow="clip", output="times")
    steps = latency(x, levels, code="linear", theta=thr, overflow="clip", output="steps")
    return torch.where(steps >= 0, steps.to(x.dtype), torch.full_like(x, math.inf))


def _pil_to_grey(im) -> np.ndarray:
    """Grey float32 in [0, 1] from a Pillow image, keeping 16-bit and float precision."""
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im).astype(np.float32)
        return arr / (65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0)
    if im.mode == "F":
        arr = np.asarray(im).astype(np.float32)
        if not np.isfinite(arr).all():
            raise SpikegradInputError("float image contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            return arr
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


#: most pixels an image file may declare (4096 x 4096): a larger header is refused before
#: any decoding (a forged PNG can declare 20000 x 20000 in a few bytes)
MAX_PIXELS = 4096 * 4096

#: largest --size (longer side after resizing)
MAX_SIDE = 4096


def _check_pixels(path: Path, height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise SpikegradInputError(
            f"image {str(path)!r} is {width}x{height} pixels, over the limit of {MAX_PIXELS} "
            f"(4096x4096; as float32 it would take {format_bytes(4.0 * height * width)}); "
            "scale it down first"
        )


def _read_npy_image(path: Path) -> np.ndarray:
    """A ``.npy`` image checked (shape, numeric dtype, pixel limit, finite) before loading."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SpikegradInputError(
            f"cannot read {str(path)!r} as a .npy array: {str(exc).splitlines()[0]}"
        ) from exc
    if arr.dtype.kind not in "biuf":
        raise SpikegradInputError(
            f"{str(path)!r} holds {arr.dtype} values; an image must be numbers"
        )
    if arr.ndim not in (2, 3):
        raise SpikegradInputError(f"{str(path)!r} must hold a 2-D image, got shape {arr.shape}")
    _check_pixels(path, arr.shape[0], arr.shape[1])
    arr = np.asarray(arr)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise SpikegradInputError(f"{str(path)!r} holds NaN or infinite pixels")
    return arr


def load_image(path: str | Path, *, size: int | None = None) -> np.ndarray:
    """Read a PNG/JPEG/TIFF (through Pillow) or ``.npy`` file as a grey ``float32 [H, W]`` array.

    8-bit and colour images are converted with ITU-R 601 luma (Pillow's ``"L"``
    mode) and divided by 255; 16-bit images (common for satellite tiles) are
    divided by 65535; float images already in [0, 1] are kept, others are
    min-max scaled. ``size`` optionally resizes so that the longer side has
    ``size`` pixels (bilinear).
    """
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"image file {str(path)!r} does not exist")
    if size is not None:
        check_positive("size", size)
    if size is not None and size > MAX_SIDE:
        raise SpikegradInputError(
            f"size must be at most {MAX_SIDE} pixels, got {size} (one {size}x{size} float32 "
            f"image alone would take {format_bytes(4.0 * size * size)}, the network many "
            "times that)"
        )
    if path.suffix.lower() == ".npy":
        arr = _read_npy_image(path)
        if arr.ndim == 3 and arr.shape[-1] in (3, 4):
            arr = arr[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
            if arr.max() > 1.0:
                arr = arr / 255.0
        x, was_2d = as_image(arr, name=f"array in {path.name}")
        if not was_2d:
            raise SpikegradInputError(f"{path.name} must hold a 2-D grey image")
        img = x[0].numpy()
    else:
        try:
            from PIL import Image
        except ImportError as exc:  # pragma: no cover - Pillow comes with matplotlib
            msg = "reading image files needs Pillow (pip install pillow)"
            raise SpikegradInputError(msg) from exc
        import warnings

        try:
            with warnings.catch_warnings():  # the size is checked below, before decoding
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as im:
                    _check_pixels(path, im.size[1], im.size[0])  # from the header
                    img = _pil_to_grey(im)
        except SpikegradInputError:
            raise
        except Image.DecompressionBombError as exc:  # Pillow's own, far larger limit
            raise SpikegradInputError(
                f"image {str(path)!r} declares over {MAX_PIXELS} pixels (4096x4096; Pillow "
                "refuses it as a possible decompression bomb); scale it down first"
            ) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise SpikegradInputError(f"cannot read image {str(path)!r}: {exc}") from exc
    if size is not None and max(img.shape) != size:
        scale = size / max(img.shape)
        new = (max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale)))
        t = torch.from_numpy(img)[None, None]
        small = torch.nn.functional.interpolate(t, size=new, mode="bilinear", align_corners=False)
        img = small[0, 0].numpy()
    return img.astype(np.float32)
