"""The Zenke & Vogels (2021) surrogate-gradient study as sweeps: shape, scale, sparsity, data.

:func:`zenke_vogels_sweeps` turns a :class:`Profile` into the sweeps behind the four parts of
the report (``experiment`` tag):

``shape``    (paper Fig. 3) SuperSpike, sigmoid' and Esser over a log grid of beta; the
             constant-surrogate control and the zero ("true") gradient control.
``scale``    (paper Fig. 5) normalised (``s``) vs asymptotic (``a``) SuperSpike; feed-forward
             with detached (``Ctl``) vs differentiable reset (``DR``); recurrent with the
             gradient through the recurrence (``Prop``) or detached (``Ctl``); depth 1-3
             hidden layers (fluctuation-driven initialisation, since deep nets with the
             paper's uniform init barely learn).
``sparse``   the population upper-bound regulariser swept over (strength, threshold) pairs,
             from gentle to strong enough to silence the network.
``datasets`` the default architecture on every available data set.

Every cell is run at each learning rate of the profile and the rate is chosen on
validation (:func:`~spikegrad.experiments.sweep.select_learning_rate`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

from .._checks import SpikegradInputError
from .config import RunSpec, SweepSpec

__all__ = ["Profile", "PROFILES", "zenke_vogels_sweeps", "zenke_vogels_runs", "estimate_cost"]

SHAPES = ("superspike", "sigmoid", "esser")
#: the harder Randman of the data-set part: more classes, 2-D manifolds, rougher (alpha 0.5)
HARD_RANDMAN = {"n_classes": 20, "dim": 2, "alpha": 0.5}


@dataclass(frozen=True)
class Profile:
    """Size of a study: data, training budget and the grids of each part."""

    name: str
    randman: dict
    epochs: int
    batch_size: int
    hidden: int
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    betas: tuple[float, ...]
    scale_betas: tuple[float, ...]
    depths: tuple[int, ...]
    upper_settings: tuple[tuple[float, float], ...]
    sparse_lrs: tuple[float, ...]
    image_limit: int | None
    shd_limit: int | None
    dataset_epochs: int
    hard_randman: dict = field(default_factory=lambda: dict(HARD_RANDMAN))
    extra: dict = field(default_factory=dict)
    #: seeds of the feed-forward and recurrent scale cells (empty: ``seeds``)
    scale_seeds: tuple[int, ...] = ()
    #: seeds of the shape part (empty: ``seeds``)
    shape_seeds: tuple[int, ...] = ()
    #: the data set of the shape and scale parts (``"randman"``, or ``"spoken-digits"``:
    #: its folder comes from ``data_dirs``)
    dataset: str = "randman"
    #: the parts the profile runs (``shape``, ``scale``, ``depth``, ``sparse``,
    #: ``datasets``)
    parts: tuple[str, ...] = ("shape", "scale", "depth", "sparse", "datasets")


PROFILES: dict[str, Profile] = {
    # seconds, for the test suite: exercises every part of the pipeline, learns nothing
    "smoke": Profile(
        name="smoke",
        randman={"n_classes": 3, "samples_per_class": 20, "n_units": 10},
        epochs=1,
        batch_size=60,
        hidden=8,
        lrs=(0.05,),
        seeds=(0,),
        betas=(1.0, 100.0),
        scale_betas=(10.0,),
        depths=(1, 2),
        upper_settings=((1.0, 0.5), (100.0, 0.01)),
        sparse_lrs=(0.05,),
        image_limit=60,
        shd_limit=40,
        dataset_epochs=1,
        hard_randman={"n_classes": 4, "dim": 2, "alpha": 0.5},
    ),
    # < 20 min on an idle 2-core CPU (2 workers); shows findings 1-3
    "quick": Profile(
        name="quick",
        randman={"samples_per_class": 150},
        epochs=30,
        batch_size=100,
        hidden=100,
        lrs=(0.01, 0.05),
        seeds=(0,),
        betas=(0.1, 1.0, 10.0, 100.0, 1000.0),
        scale_betas=(10.0,),
        depths=(1, 2, 3),
        upper_settings=(
            *((1.0, t) for t in (2.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)),
            (10.0, 0.05),
            (100.0, 0.02),
            (1000.0, 0.01),
            (10000.0, 0.0),
        ),
        sparse_lrs=(0.05,),
        image_limit=3000,
        shd_limit=2000,
        dataset_epochs=30,
    ),
    # the paper's scale: full Randman, 100 epochs, the Fig. 3b grid, 3 seeds
    "full": Profile(
        name="full",
        randman={},
        epochs=100,
        batch_size=250,
        hidden=100,
        lrs=(1e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1),
        seeds=(0, 1, 2),
        betas=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 500.0, 1000.0),
        scale_betas=(1.0, 10.0, 100.0),
        depths=(1, 2, 3),
        upper_settings=tuple(
            (s, t)
            for s in (1.0, 10.0, 100.0, 1000.0)
            for t in (2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0)
        ),
        sparse_lrs=(0.01, 0.05),
        image_limit=None,
        shd_limit=None,
        dataset_epochs=100,
    ),
}

# between quick and full: the quick grid with 5 seeds (10 in the feed-forward and recurrent
# scale cells), and Randman split 25 / 5 / 70 from 600 samples per class: 1500 training
# samples (quick: 1200), 300 validation and 4200 test samples per cell (quick: 150). Sized
# from the measured spread of its first whole run (5 seeds, 1200 test samples, 39 min on 2
# idle cores): paired per-seed differences of the recurrent cells had a t half-width of
# 0.045, and the binomial half-width of a difference of two cells near 0.86 was 0.028, so
# "|aCtl - sCtl| <= 0.05" could not resolve; at 10 seeds and 4200 test samples they are
# about 0.026 and 0.015 (docs/reproductions/zenke-vogels.md). The shape part runs 12 seeds:
# at 5 the paired SD of the shapes' spread (0.080) left its interval at +-0.100 around
# 0.164, straddling the rule's 0.1; at 12 seeds t s / sqrt(n) is about 0.05.
PROFILES = {
    **{k: PROFILES[k] for k in ("smoke", "quick")},
    "standard": replace(
        PROFILES["quick"],
        name="standard",
        randman={"samples_per_class": 600, "splits": [0.25, 0.05, 0.7]},
        seeds=(0, 1, 2, 3, 4),
        scale_seeds=tuple(range(10)),
        shape_seeds=tuple(range(12)),
    ),
    "full": PROFILES["full"],
    # beyond Randman: the shape and scale findings on the spoken digits (SHD's cochlea
    # chain on synthetic voices, `spikegrad data spoken-digits`), tested on held-out
    # speakers; the SHD settings of bench/spoken_digits_train.py (Adam 2e-3, batch 32, the
    # upper-bound regulariser) with 64 hidden neurons, 10 epochs, 8 seeds (3 seeds left
    # every paired interval too wide to decide: t(0.975, 2) = 4.3)
    "spoken-digits": replace(
        PROFILES["quick"],
        name="spoken-digits",
        randman={},
        epochs=10,
        batch_size=32,
        hidden=64,
        lrs=(2e-3,),
        seeds=tuple(range(8)),
        betas=(1.0, 10.0, 100.0),
        dataset="spoken-digits",
        parts=("shape", "scale"),
        extra={"upper_strength": 0.1, "upper_threshold": 7.0},
    ),
}


def _base(p: Profile, data_dirs: dict[str, str] | None = None, **over) -> dict:
    if p.dataset == "randman":
        data: dict = {"dataset": "randman", "dataset_options": dict(p.randman)}
    else:
        folder = (data_dirs or {}).get(p.dataset)
        if not folder:
            raise SpikegradInputError(
                f"--profile {p.name} needs the {p.dataset} files: --data-dir DIR with "
                f"DIR/{p.dataset}/ (made by `spikegrad data {p.dataset}`)"
            )
        data = {"dataset": p.dataset, "dataset_options": {"path": str(folder)}}
    base = {
        **data,
        "hidden": [p.hidden],
        "epochs": p.epochs,
        "batch_size": p.batch_size,
        **p.extra,
    }
    base.update(over)
    return base


def zenke_vogels_sweeps(
    profile: str | Profile = "quick", data_dirs: dict[str, str] | None = None
) -> list[SweepSpec]:
    """The sweeps of the study at one profile.

    Parameters
    ----------
    profile:
        ``"smoke"``, ``"quick"``, ``"standard"``, ``"full"`` or a :class:`Profile`.
    data_dirs:
        Optional folders for ``mnist``, ``fashion-mnist``, ``shd`` and ``spoken-digits``
        (made by ``spikegrad data spoken-digits``); those data sets join
        the ``datasets`` part when given.
    """
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise SpikegradInputError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
        profile = PROFILES[profile]
    p = profile
    lr_seed = {"lr": list(p.lrs), "seed": list(p.seeds)}
    sweeps: list[SweepSpec] = []

    if "shape" in p.parts:
        # 1. shape (Fig. 3)
        shape_seed = {"lr": list(p.lrs), "seed": list(p.shape_seeds or p.seeds)}
        sweeps.append(
            SweepSpec(
                name="shape",
                base=_base(p, data_dirs),
                conditions=[{"condition": s, "surrogate": s} for s in SHAPES],
                grid={"beta": list(p.betas), **shape_seed},
            )
        )
        sweeps.append(
            SweepSpec(
                name="shape",
                base=_base(p, data_dirs),
                conditions=[{"condition": "constant", "surrogate": "constant"}],
                grid=dict(shape_seed),
            )
        )
        sweeps.append(  # the zero gradient never moves a silent network: one lr is enough
            SweepSpec(
                name="shape",
                base=_base(p, data_dirs),
                conditions=[{"condition": "zero", "surrogate": "zero"}],
                grid={"lr": [max(p.lrs)], "seed": shape_seed["seed"]},
            )
        )

    # 2. scale (Fig. 5)
    s, a = "superspike", "asymptotic_superspike"
    ff = [
        {"condition": "sCtl", "surrogate": s, "reset": "detach"},
        {"condition": "sDR", "surrogate": s, "reset": "differentiable"},
        {"condition": "aCtl", "surrogate": a, "reset": "detach"},
        {"condition": "aDR", "surrogate": a, "reset": "differentiable"},
    ]
    rec = [
        {"condition": "sCtl", "surrogate": s, "recurrent_grad": False},
        {"condition": "sProp", "surrogate": s, "recurrent_grad": True},
        {"condition": "aCtl", "surrogate": a, "recurrent_grad": False},
        {"condition": "aProp", "surrogate": a, "recurrent_grad": True},
    ]
    scale_grid = {"beta": list(p.scale_betas), **lr_seed}
    wide_grid = {**scale_grid, "seed": list(p.scale_seeds or p.seeds)}
    if "scale" in p.parts:
        sweeps.append(
            SweepSpec(
                name="scale",
                base=_base(p, data_dirs),
                conditions=ff,
                grid=wide_grid,
                tags={"part": "ff"},
            )
        )
        sweeps.append(
            SweepSpec(
                name="scale",
                base=_base(p, data_dirs, recurrent=True),
                conditions=rec,
                grid=wide_grid,
                tags={"part": "recurrent"},
            )
        )
    if "depth" in p.parts:
        depth_conds = [c for c in ff if c["condition"] in ("sCtl", "aCtl", "aDR")]
        sweeps.append(
            SweepSpec(
                name="scale",
                base=_base(p, data_dirs, init="fluctuation"),
                conditions=depth_conds,
                grid={"hidden": [[p.hidden] * d for d in p.depths], **scale_grid},
                tags={"part": "depth"},
            )
        )

    if "sparse" in p.parts:
        # 3. sparse activity: the population upper bound, from gentle to silencing
        sweeps.append(
            SweepSpec(
                name="sparse",
                base=_base(p, data_dirs),
                conditions=[
                    {"condition": "upper", "upper_strength": st, "upper_threshold": th}
                    for st, th in p.upper_settings
                ],
                grid={"lr": list(p.sparse_lrs), "seed": list(p.seeds)},
            )
        )
        sweeps.append(
            SweepSpec(
                name="sparse",
                base=_base(p, data_dirs, upper_strength=0.0),
                conditions=[{"condition": "none"}],
                grid={"lr": list(p.sparse_lrs), "seed": list(p.seeds)},
            )
        )

    if "datasets" in p.parts:
        # 4. data sets
        ds_base = _base(p, data_dirs, epochs=p.dataset_epochs)
        conds = [
            {"condition": "randman", "dataset": "randman", "dataset_options": dict(p.randman)},
            {
                "condition": "randman-hard",
                "dataset": "randman",
                "dataset_options": {**p.randman, **p.hard_randman},
            },
            {
                "condition": "digits",
                "dataset": "digits",
                "dataset_options": _limit({}, p.image_limit),
            },
        ]
        dirs = data_dirs or {}
        for name in ("mnist", "fashion-mnist"):
            if dirs.get(name):
                opts = _limit({"data_dir": str(dirs[name])}, p.image_limit)
                conds.append({"condition": name, "dataset": name, "dataset_options": opts})
        if dirs.get("shd"):
            opts = _limit({"data_dir": str(dirs["shd"])}, p.shd_limit)
            conds.append({"condition": "shd", "dataset": "shd", "dataset_options": opts})
        if dirs.get("spoken-digits"):  # a folder made by `spikegrad data spoken-digits`
            opts = _limit({"path": str(dirs["spoken-digits"])}, p.shd_limit)
            conds.append(
                {"condition": "spoken-digits", "dataset": "spoken-digits", "dataset_options": opts}
            )
        sweeps.append(
            SweepSpec(name="datasets", base=ds_base, conditions=conds, grid=dict(lr_seed))
        )
    return sweeps


def _limit(opts: dict, limit: int | None) -> dict:
    return {**opts, "limit": limit} if limit is not None else opts


def zenke_vogels_runs(
    profile: str | Profile = "quick", data_dirs: dict[str, str] | None = None
) -> list[RunSpec]:
    """Every (run, tags) of the study, in the order they are worth running.

    Runs at the learning rate closest to the paper's best (0.05) come first, and the
    experiments are interleaved, so a sweep stopped part-way (or still running) already
    has numbers for every finding; ids do not depend on the order.
    """
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for sw in zenke_vogels_sweeps(profile, data_dirs):
        for r in sw.expand():
            key = r.run_id + json.dumps(dict(r.tags), sort_keys=True)
            if key not in seen:
                seen.add(key)
                runs.append(r)
    counter: dict[tuple, int] = {}
    exp_order = {e: k for k, e in enumerate(dict.fromkeys(r.tags["experiment"] for r in runs))}
    keys = {}
    for r in runs:
        lr_rank = abs(math.log(r.config["lr"] / 0.05))
        group = (r.tags["experiment"], lr_rank)
        pos = counter.get(group, 0)
        counter[group] = pos + 1
        keys[r.run_id] = (lr_rank, pos, exp_order[r.tags["experiment"]])
    return sorted(runs, key=lambda r: keys[r.run_id])


#: assumed cost of one sample through one epoch (forward + backward) of the default network
#: (1 hidden layer of 100, 100 steps, one torch thread) on an idle core, seconds: the upper
#: end of 15-50 ms per training step of batch 250 (idle 2-core VM). On the shared machine
#: this was written on, bench/study_cost.py and the quick sweep measured 6.8e-4 (load 6)
#: to 1.8e-3 (load 12), including validation; see docs/reproductions/zenke-vogels.md.
SECONDS_PER_SAMPLE_EPOCH = 2.5e-4


def estimate_cost(runs: list[RunSpec], n_train: dict[str, int] | None = None) -> float:
    """Estimated single-worker seconds of ``runs``: epochs x train samples x layer factor.

    A recurrent layer counts 1.5, every extra hidden layer 1 more; validation passes add
    about 10 %. ``n_train`` maps data set names to training sizes (Randman computed).
    """
    total = 0.0
    for r in {r.run_id: r for r in runs}.values():  # shared configs are trained once
        c = r.config
        if c["dataset"] == "randman":
            opts = c["dataset_options"]
            frac = float(opts.get("splits", (0.8, 0.1, 0.1))[0])
            n = int(frac * opts.get("n_classes", 10) * opts.get("samples_per_class", 1000))
        else:
            n = (n_train or {}).get(c["dataset"], 1438)
            lim = c["dataset_options"].get("limit")
            n = min(n, int(lim)) if lim else n
        factor = len(c["hidden"]) + (0.5 if c["recurrent"] else 0.0)
        total += 1.1 * c["epochs"] * n * factor * SECONDS_PER_SAMPLE_EPOCH
    return total


def with_profile(profile: Profile, **changes) -> Profile:
    """A copy of a profile with some fields changed."""
    return replace(profile, **changes)
