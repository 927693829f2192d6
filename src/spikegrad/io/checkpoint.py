"""Atomic file writes and safe checkpoints.

Checkpoints hold only tensors, numbers, strings, lists and dicts and are loaded
with ``torch.load(weights_only=True)``: a checkpoint file can never execute code.
Every write goes to a temporary file in the same folder, is fsync'ed, then
renamed over the target, so a run killed mid-write leaves the old file intact.

What the SHA-256 in the header protects against: accidental damage -- a truncated
copy, a flipped bit, a file half written by another tool -- which is detected on load
instead of loading other weights silently. It is not a signature: anyone who can write
the file can also write a matching hash, so it does not protect against a deliberate
forger. (Loading with ``weights_only=True`` is what keeps a forged file from running
code; a forged file can still hold other weights.)
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from .._checks import SpikegradInputError
from .._files import atomic_write as _atomic_write
from .._files import atomic_write_bytes, atomic_write_text

__all__ = [
    "Checkpoint",
    "atomic_write_bytes",
    "atomic_write_text",
    "save_payload",
    "load_payload",
    "save_checkpoint",
    "load_checkpoint",
]


#: File layout: MAGIC, then the SHA-256 of the body, then the body (a torch.save zip).
MAGIC = b"SPIKEGRAD-CKPT-1\n"


def save_payload(path: str | Path, payload: dict[str, Any]) -> None:
    """Save a dict of tensors / numbers / strings / lists / dicts atomically, with a checksum.

    The file is ``MAGIC + sha256(body) + body`` where ``body`` is ``torch.save``'s zip: a
    flipped byte anywhere is detected on load instead of loading other weights silently.
    """
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    data = MAGIC + hashlib.sha256(body).digest() + body
    _atomic_write(Path(path), lambda f: f.write(data))  # (a seam tests/test_faults.py patches)


def _load_reason(exc: BaseException) -> str:
    """One line saying why ``torch.load`` refused a file (torch's weights-only message is a
    page of advice to load unsafely; only the refused global matters)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if "GLOBAL" in ln or "WeightsUnpickler error" in ln:
            return ln
    return lines[0] if lines else type(exc).__name__


def load_payload(path: str | Path, fmt: str) -> dict[str, Any]:
    """Load a payload saved by :func:`save_payload` whose ``"format"`` is ``fmt``.

    Uses ``torch.load(weights_only=True)``, so the file can never execute code.

    Raises
    ------
    SpikegradInputError
        If the file is missing, truncated, tampered with, or of another format.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"checkpoint path must be a str or Path, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"checkpoint {str(path)!r} does not exist")
    raw = path.read_bytes()
    head = len(MAGIC) + 32
    if not raw.startswith(MAGIC) or len(raw) < head:
        raise SpikegradInputError(
            f"{str(path)!r} is not a spikegrad checkpoint (no spikegrad header; truncated or "
            "written by another tool)"
        )
    body = raw[head:]
    if hashlib.sha256(body).digest() != raw[len(MAGIC) : head]:
        raise SpikegradInputError(
            f"checkpoint {str(path)!r} is corrupt, truncated or tampered with (checksum mismatch)"
        )
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise SpikegradInputError(
            f"checkpoint {str(path)!r} is corrupt, truncated or not a safe checkpoint: "
            f"{_load_reason(exc)}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise SpikegradInputError(f"{str(path)!r} is not a spikegrad checkpoint ({fmt})")
    missing = [k for k in _REQUIRED.get(fmt, ()) if k not in payload]
    if missing:
        raise SpikegradInputError(f"checkpoint {str(path)!r} lacks {', '.join(missing)}")
    problem = _type_problem(fmt, payload)
    if problem:
        raise SpikegradInputError(f"checkpoint {str(path)!r} has malformed contents: {problem}")
    return payload


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor_dict_problem(name: str, v: Any) -> str | None:
    if not isinstance(v, dict):
        return f"{name} must be a dict of tensors, got {type(v).__name__}"
    for k, t in v.items():
        if not isinstance(k, str) or not isinstance(t, torch.Tensor):
            return f"{name}[{k!r}] must be a tensor, got {type(t).__name__}"
    return None


#: fields of the resume loop state and the types they must have
_LOOP_TYPES = {
    "epoch": "int",
    "step": "int",
    "loss_sum": "num",
    "correct": "num",
    "spikes": "num",
    "seen": "num",
    "best_val": "num",
    "best_epoch": "int",
    "since_best": "int",
    "done": "bool",
}


def _type_problem(fmt: str, p: dict) -> str | None:
    """What is wrong with the types of a payload's contents (``None``: nothing)."""
    if fmt == "spikegrad-checkpoint-1":
        if not isinstance(p["config"], dict):
            return f"config must be a dict, got {type(p['config']).__name__}"
        if not _is_int(p["epoch"]):
            return f"epoch must be an integer, got {type(p['epoch']).__name__}"
        return _tensor_dict_problem("state_dict", p["state_dict"])
    if fmt == "spikegrad-resume-1":
        for key in ("config", "optimizer"):
            if not isinstance(p[key], dict):
                return f"{key} must be a dict, got {type(p[key]).__name__}"
        if not isinstance(p.get("rule", {}), dict):
            return f"rule must be a dict, got {type(p['rule']).__name__}"
        bad = _tensor_dict_problem("model", p["model"])
        if bad is None and p.get("best_state") is not None:
            bad = _tensor_dict_problem("best_state", p["best_state"])
        if bad:
            return bad
        if not isinstance(p["gen_state"], torch.Tensor) or p["gen_state"].dtype != torch.uint8:
            return "gen_state must be a uint8 tensor (a torch.Generator state)"
        loop = p["loop"]
        if not isinstance(loop, dict):
            return f"loop must be a dict, got {type(loop).__name__}"
        for k, kind in _LOOP_TYPES.items():
            v = loop.get(k)
            ok = {
                "int": _is_int(v),
                "bool": isinstance(v, bool),
                "num": isinstance(v, (int, float)) and not isinstance(v, bool),
            }[kind]
            if not ok:
                return f"loop[{k!r}] must be {'a number' if kind == 'num' else 'an ' + kind}"
        if not isinstance(p["history"], list) or not all(isinstance(h, dict) for h in p["history"]):
            return "history must be a list of dicts"
    return None


_REQUIRED = {
    "spikegrad-checkpoint-1": ("state_dict", "config", "epoch"),
    "spikegrad-resume-1": ("config", "model", "optimizer", "loop", "gen_state", "history"),
}


def save_checkpoint(
    path: str | Path, state_dict: dict[str, torch.Tensor], config: dict, epoch: int
) -> None:
    """Save model weights with the run's config and epoch, atomically."""
    payload = {
        "format": "spikegrad-checkpoint-1",
        "state_dict": state_dict,
        "config": config,
        "epoch": int(epoch),
    }
    save_payload(path, payload)


class Checkpoint(dict):
    """What :func:`load_checkpoint` returns: the payload dict (``"format"``,
    ``"state_dict"``, ``"config"``, ``"epoch"``) with the obvious accessors.

    >>> ckpt = load_checkpoint("runs/randman/checkpoint.pt")  # doctest: +SKIP
    >>> net = ckpt.model()  # rebuilt from the recorded spec  # doctest: +SKIP
    >>> my_net.load_state_dict(ckpt.state_dict)  # a model of your own  # doctest: +SKIP
    """

    @property
    def state_dict(self) -> dict[str, Any]:
        """The weights (a ``torch`` state dict)."""
        return self["state_dict"]

    @property
    def config(self) -> dict[str, Any]:
        """The run's settings (with ``model_spec`` for runs that recorded one)."""
        return self.get("config") or {}

    @property
    def epoch(self) -> int:
        """The epoch whose weights these are."""
        return int(self.get("epoch", 0))

    def model(self) -> Any:
        """The model rebuilt from ``config["model_spec"]`` with these weights, in eval mode.

        Raises :class:`SpikegradInputError` when the checkpoint records no spec (a model of
        your own: build it, then ``model.load_state_dict(ckpt.state_dict)``).
        """
        from ..nn.spec import MODEL_KINDS, model_from_spec

        spec = self.config.get("model_spec")
        if not isinstance(spec, dict) or spec.get("kind") not in MODEL_KINDS or len(spec) <= 1:
            raise SpikegradInputError(
                "this checkpoint records no model spec; build the model yourself, then "
                "model.load_state_dict(checkpoint.state_dict)"
            )
        net = model_from_spec(spec)
        net.load_state_dict(self.state_dict)
        return net.eval()


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (never executes code).

    Returns a :class:`Checkpoint`: the payload dict with ``.state_dict``, ``.config``,
    ``.epoch`` and ``.model()`` (the model rebuilt from the recorded spec).

    Raises
    ------
    SpikegradInputError
        If the file is missing, truncated, tampered with, or not a spikegrad checkpoint.
    """
    return Checkpoint(load_payload(path, "spikegrad-checkpoint-1"))
