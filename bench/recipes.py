"""Run a task x model recipe (:mod:`spikegrad.tasks.recipes`) over several seeds.

Trains the recipe's settings (a :class:`~spikegrad.learning.config.TrainConfig` override
dict) on seeds 0 .. N-1 and prints one JSON line per seed, then the mean +- sd (n - 1) of
the test score, the hidden spikes per neuron and the wall time of one run::

    python bench/recipes.py --task randman --model alif --seeds 3
    python bench/recipes.py --task randman --model izhikevich --seeds 3 --set lr=0.01

``--set KEY=VALUE`` (VALUE as JSON, else text) overrides a setting, for searching new
recipes; ``--set model_options.adapt=0.5`` sets one model option. Every model is built by
:func:`spikegrad.learning.config.build_model`, as ``spikegrad train --model M`` builds it
(the recipes were measured with an equivalent builder of this script before TrainConfig
could build ``alif``, ``izhikevich`` and ``conv``; ``spikegrad train`` with each recipe
reproduces seed 0's figure: BENCHMARKS.md, "Task recipes").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import torch


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        out[key] = value
    return out


def apply_overrides(settings: dict, overrides: dict[str, Any]) -> dict:
    """``settings`` with ``overrides``; ``a.b=v`` sets key ``b`` of the dict setting ``a``."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in settings.items()}
    for key, value in overrides.items():
        head, dot, tail = key.partition(".")
        if dot:
            out[head] = {**out.get(head, {}), tail: value}
        else:
            out[key] = value
    return out


def build_model(model: str, cfg: Any, task: Any) -> torch.nn.Module:
    """The network of model choice ``model`` for ``task`` from TrainConfig ``cfg``: the
    model ``spikegrad train --model M`` builds (:func:`spikegrad.learning.config.build_model`)."""
    from spikegrad.learning import config as config_mod
    from spikegrad.tasks import ClassificationTask

    train_set = task.split("train") if isinstance(task, ClassificationTask) else None
    if cfg.model != model:
        raise SystemExit(f"the config builds {cfg.model!r}, not {model!r}")
    return config_mod.build_model(cfg, task.n_inputs, task.n_outputs, train_set)


def run_one(task_name: str, model: str, settings: dict, seed: int) -> dict:
    """Train one seed; the metrics row."""
    from spikegrad.learning.config import TrainConfig, build_optimizer, build_task
    from spikegrad.learning.rules import make_rule
    from spikegrad.learning.trainer import fit

    fields = dict(settings)
    fields.pop("model", None)
    cfg = TrainConfig(dataset=task_name, seed=seed, model=model, **fields)
    t0, c0 = time.perf_counter(), time.process_time()
    task = build_task(cfg)
    net = build_model(model, cfg, task)
    rule = make_rule(cfg.rule, **cfg.rule_options)
    rule.check_model(net)
    res = fit(net, rule, task, build_optimizer(cfg, net), epochs=cfg.epochs,
              batch_size=cfg.batch_size, seed=seed, out_dir=None, patience=cfg.patience,
              eval_every=cfg.eval_every, progress=False, plots=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = res.metrics
    return {
        "task": task_name, "model": model, "seed": seed,
        "score": task.score_name,
        "test": m.get(f"test_{task.score_name}", m.get("test_accuracy")),
        "val": m.get(f"val_{task.score_name}", m.get("val_accuracy")),
        "train_last_epoch": res.history[-1].train_accuracy if res.history else None,
        "best_epoch": m.get("best_epoch"),
        "spikes_per_neuron": m.get("spikes_per_neuron"),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "load": round(os.getloadavg()[0], 2),
    }


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="randman")
    ap.add_argument("--model", default=None, help="model choice (default: the task's)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", default=None, help="write the rows and summary here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from spikegrad.tasks.recipes import DEFAULT_MODEL, recipe

    model = args.model or DEFAULT_MODEL[args.task]
    rec = recipe(args.task, model)
    if rec is None:
        raise SystemExit(f"no recipe for task {args.task!r} and model {model!r}")
    settings = apply_overrides(rec.settings, _parse_set(args.set))
    print(json.dumps({"settings": settings}), flush=True)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = run_one(args.task, model, settings, seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    acc_m, acc_sd = _mean_sd([r["test"] for r in rows])
    spk_m, _ = _mean_sd([r["spikes_per_neuron"] or 0.0 for r in rows])
    wall_m, wall_sd = _mean_sd([r["wall_seconds"] for r in rows])
    cpu_m, _ = _mean_sd([r["cpu_seconds"] for r in rows])
    summary = {
        "task": args.task, "model": model, "seeds": len(rows),
        "test_mean": round(acc_m, 4), "test_sd": round(acc_sd, 4),
        "spikes_per_neuron_mean": round(spk_m, 3),
        "wall_seconds_mean": round(wall_m, 1), "wall_seconds_sd": round(wall_sd, 1),
        "wall_seconds_median": round(statistics.median(r["wall_seconds"] for r in rows), 1),
        "cpu_seconds_mean": round(cpu_m, 1),
        "command": "python " + " ".join(["bench/recipes.py", *(argv or sys.argv[1:])]),
    }
    print(f"{args.task} / {model}: test {rows[0]['score']} {acc_m:.3f} +- {acc_sd:.3f} "
          f"(sd, {len(rows)} seeds), {spk_m:.2f} spikes/neuron, "
          f"{wall_m:.1f} +- {wall_sd:.1f} s wall ({cpu_m:.1f} s CPU) per run")
    print(json.dumps(summary), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "rows": rows, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
