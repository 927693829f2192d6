"""Declarative experiment grids: a base config, conditions, and axes to sweep.

A grid file (TOML, or YAML if PyYAML is installed) names :class:`~spikegrad.learning.config.
TrainConfig` fields::

    name = "shape"                    # tag "experiment" of every run

    [base]                            # fixed settings (TrainConfig fields)
    epochs = 20
    dataset = "randman"
    dataset_options = { samples_per_class = 200 }

    [grid]                            # Cartesian product over these axes
    surrogate = ["superspike", "sigmoid", "esser"]
    beta = [1.0, 10.0, 100.0]
    lr = [0.01, 0.05]
    seed = [0, 1]
    "dataset_options.alpha" = [1.0, 0.5]   # dotted keys reach into a dict field

    [[conditions]]                    # optional; each is merged over base, then the grid
    condition = "sCtl"                # (applied to each) -- ``condition`` becomes a tag
    surrogate = "superspike"

Keys outside TrainConfig's fields raise an error naming them. Every run is identified by a
stable hash of its full config (:attr:`RunSpec.run_id`), so the same grid always maps to
the same result files and a sweep can be resumed; a config listed under several tags is
trained once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._checks import SpikegradInputError
from ..learning.config import TrainConfig

__all__ = ["RunSpec", "SweepSpec", "load_sweep_file", "parse_value", "parse_assignments"]

TAG_KEYS = ("experiment", "condition")
_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class RunSpec:
    """One training run: a full TrainConfig (as a dict) and free-form tags."""

    config: Mapping[str, Any]
    tags: Mapping[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        """Stable 16-hex-digit id: SHA-1 of the canonical JSON of the config.

        Tags do not enter the id: the same config serving two experiments is one run,
        trained once, whose result is reported under each experiment's tags.
        """
        blob = _canonical(dict(self.config))
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def train_config(self) -> TrainConfig:
        """The :class:`TrainConfig` of this run (validated)."""
        return TrainConfig.from_dict(copy.deepcopy(dict(self.config)))

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "tags": dict(self.tags), "config": dict(self.config)}


def _set(d: dict, key: str, value: Any, where: str) -> None:
    """``d[key] = value``; dotted keys reach into dict fields (``dataset_options.alpha``)."""
    head, _, rest = key.partition(".")
    if head not in _FIELDS:
        raise SpikegradInputError(
            f"unknown setting {key!r} in {where}; valid settings: {', '.join(sorted(_FIELDS))}"
        )
    if rest:
        sub = d.get(head)
        sub = dict(sub) if isinstance(sub, Mapping) else {}
        sub[rest] = value
        d[head] = sub
    else:
        d[head] = copy.deepcopy(value)


@dataclass
class SweepSpec:
    """A base config, optional conditions and grid axes; :meth:`expand` lists the runs."""

    name: str = "sweep"
    base: dict = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    conditions: list[dict] = field(default_factory=list)
    tags: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "grid") -> SweepSpec:
        """Build from the parsed grid file (keys ``name``, ``base``, ``grid``, ``conditions``)."""
        known = {"name", "base", "grid", "conditions", "tags"}
        unknown = set(d) - known
        if unknown:
            raise SpikegradInputError(
                f"unknown top-level keys {sorted(unknown)} in {where}; expected {sorted(known)}"
            )
        grid = dict(d.get("grid", {}))
        for k, v in grid.items():
            if not isinstance(v, list) or not v:
                raise SpikegradInputError(
                    f"grid axis {k!r} in {where} must be a non-empty list, got {v!r}"
                )
        conditions = d.get("conditions", [])
        if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
            raise SpikegradInputError(f"conditions in {where} must be a list of tables")
        spec = cls(
            name=str(d.get("name", "sweep")),
            base=dict(d.get("base", {})),
            grid=grid,
            conditions=[dict(c) for c in conditions],
            tags=dict(d.get("tags", {})),
        )
        spec.expand()  # validate every run now, not halfway through the sweep
        return spec

    def expand(self) -> list[RunSpec]:
        """Every run: (each condition) x (Cartesian product of the grid axes)."""
        runs: list[RunSpec] = []
        seen: set[str] = set()
        axes = list(self.grid)
        for cond in self.conditions or [{}]:
            cond = dict(cond)
            tags = {"experiment": self.name, **self.tags}
            for key in TAG_KEYS:
                if key in cond:
                    tags[key] = cond.pop(key)
            for values in itertools.product(*(self.grid[a] for a in axes)):
                cfg: dict = {}
                for k, v in self.base.items():
                    _set(cfg, k, v, f"[base] of {self.name!r}")
                for k, v in cond.items():
                    _set(cfg, k, v, f"a condition of {self.name!r}")
                for k, v in zip(axes, values, strict=True):
                    _set(cfg, k, v, f"[grid] of {self.name!r}")
                _convert(cfg, self.name)
                try:
                    full = TrainConfig.from_dict(copy.deepcopy(cfg)).to_dict()
                except (TypeError, ValueError) as exc:
                    raise SpikegradInputError(f"invalid run in {self.name!r}: {exc}") from exc
                _check_dataset(full, self.name)
                run = RunSpec(full, tags)
                key = run.run_id + _canonical(tags)
                if key not in seen:
                    seen.add(key)
                    runs.append(run)
        return runs


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _convert(cfg: dict, name: str) -> None:
    """Convert text values of number fields (YAML reads ``1e-3`` as a string) in place.

    A float field accepts an integer or a numeric string (``"1e-3"`` -> 0.001); an
    integer field a string of an integer (``"3"`` -> 3). Anything else that is not a
    number is refused naming the field, before any run starts.
    """
    for key, value in list(cfg.items()):
        default = _DEFAULTS.get(key)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        if not isinstance(value, str):
            continue
        text = value.strip()
        try:
            cfg[key] = int(text) if isinstance(default, int) else float(text)
        except ValueError:
            kind = "an integer" if isinstance(default, int) else "a number"
            raise SpikegradInputError(
                f"invalid run in {name!r}: {key} must be {kind}, got the text {value!r}"
            ) from None


def _check_dataset(cfg: dict, name: str) -> None:
    """Refuse a data set name that neither the registry nor the tasks know."""
    from ..data.registry import DATASETS
    from ..tasks import TASKS

    known = set(DATASETS) | set(TASKS)
    if cfg["dataset"] not in known:
        raise SpikegradInputError(
            f"invalid run in {name!r}: unknown dataset {cfg['dataset']!r}; valid: "
            f"{', '.join(sorted(known))}"
        )


def load_sweep_file(path: str | Path) -> SweepSpec:
    """Read a grid file: ``.toml`` (tomllib / tomli) or ``.yaml`` / ``.yml`` (PyYAML)."""
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"grid file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise SpikegradInputError(
                f"{str(path)!r} is YAML, which needs PyYAML (pip install pyyaml); "
                "or write the grid as TOML"
            ) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SpikegradInputError(f"cannot parse {str(path)!r} as YAML: {exc}") from exc
    else:
        toml = _tomllib()
        try:
            data = toml.loads(text)
        except toml.TOMLDecodeError as exc:
            raise SpikegradInputError(f"cannot parse {str(path)!r} as TOML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise SpikegradInputError(f"{str(path)!r} must hold a table/mapping at the top level")
    return SweepSpec.from_dict(data, where=str(path))


def _tomllib():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError as exc:
            raise SpikegradInputError(
                "reading TOML on Python 3.10 needs tomli (pip install tomli)"
            ) from exc
    return tomllib


def parse_value(text: str) -> Any:
    """A CLI value as TOML (``0.05``, ``true``, ``[100, 100]``, ``"x"``); else the string."""
    try:
        return _tomllib().loads(f"v = {text}")["v"]
    except Exception:
        return text


def parse_assignments(items: Iterable[str], many: bool, flag: str) -> dict[str, Any]:
    """Parse ``key=value`` (``many=False``) or ``key=v1,v2,...`` (``many=True``) flags.

    A list value in brackets (``hidden=[100,100]``) is one value; for ``many`` use ``;``
    between bracketed values (``hidden=[100];[100,100]``).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SpikegradInputError(f"{flag} expects KEY=VALUE, got {item!r}")
        key = key.strip().replace("-", "_")
        if many:
            parts: Sequence[str] = value.split(";") if "[" in value else value.split(",")
            out[key] = [parse_value(p.strip()) for p in parts if p.strip()]
            if not out[key]:
                raise SpikegradInputError(f"{flag} {key}= needs at least one value")
        else:
            out[key] = parse_value(value.strip())
    return out
