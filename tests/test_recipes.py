"""Every task declares its recipe; the ALIF and Izhikevich recipes train and fire.

The accuracy floors were measured on the fixed seeds below (``python
tests/test_recipes.py`` prints the values) and sit a little under them.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikegrad.learning.config import TrainConfig
from spikegrad.nn.catalog import MODEL_CHOICES
from spikegrad.tasks import task_names
from spikegrad.tasks.recipes import DEFAULT_MODEL, RECIPES, Recipe, recipe

#: a tiny Randman for the short runs: 40 samples per class (320 / 40 / 40), 4 epochs
_TINY = {"dataset_options": {"samples_per_class": 40}, "epochs": 4}

#: test accuracy of the short runs, measured on seed 0: alif 0.350, izhikevich 0.275 (40 test
#: samples, chance 0.1); the floors leave two samples for float round-off elsewhere
_FLOORS = {"alif": 0.30, "izhikevich": 0.225}


def test_every_task_has_a_recipe_and_a_default_model():
    for task in task_names():
        assert task in RECIPES, task
        assert DEFAULT_MODEL.get(task) in MODEL_CHOICES, task
        assert DEFAULT_MODEL[task] in RECIPES[task], task
        assert recipe(task) is RECIPES[task][DEFAULT_MODEL[task]]
    assert set(RECIPES) == set(task_names()) == set(DEFAULT_MODEL)


def test_recipes_are_complete():
    for task, models in RECIPES.items():
        for model, rec in models.items():
            assert isinstance(rec, Recipe)
            assert model in MODEL_CHOICES, (task, model)
            assert rec.settings.get("model", "lif") == model, (task, model)
            assert rec.expected and "PENDING" not in rec.expected, (task, model)
            assert rec.command, (task, model)
            assert rec.seconds is None or rec.seconds > 0, (task, model)


def test_recipe_settings_are_train_config_fields():
    for task, models in RECIPES.items():
        for model, rec in models.items():
            cfg = TrainConfig(dataset=task, **rec.settings)
            assert cfg.dataset == task and cfg.model == model, (task, model)


def test_recipe_lookup():
    assert recipe("randman") is RECIPES["randman"]["lif"]
    assert recipe("randman", "alif") is RECIPES["randman"]["alif"]
    assert recipe("spike-target").settings["rule"] == "kernel"
    assert DEFAULT_MODEL["moving-shapes"] == "conv"
    assert recipe("no-such-task") is None
    assert recipe("randman", "srm") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        RECIPES["randman"]["lif"].seconds = 1.0  # type: ignore[misc]


def _short_run(model: str, seed: int = 0) -> dict:
    """Train the randman recipe of ``model`` on the tiny Randman; the test metrics."""
    from spikegrad.learning.config import train

    settings = {**RECIPES["randman"][model].settings, **_TINY}
    res = train(TrainConfig(dataset="randman", seed=seed, **settings), progress=False,
                plots=False)
    return res.metrics


@pytest.mark.parametrize("model", ["alif", "izhikevich"])
def test_short_randman_recipe_trains_and_fires(model):
    torch.set_num_threads(1)
    metrics = _short_run(model)
    assert metrics["spikes_per_neuron"] > 0
    assert metrics["test_accuracy"] >= _FLOORS[model]


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name in ("alif", "izhikevich"):
        m = _short_run(name)
        print(name, m["test_accuracy"], m["spikes_per_neuron"], m.get("wall_seconds"))


def test_tasks_command_lists_every_task_and_its_recipes(capsys):
    import json

    from spikegrad.cli import main

    assert main(["tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == set(task_names())
    for task, row in rows.items():
        assert row["default_model"] == DEFAULT_MODEL[task]
        assert set(row["recipes"]) == set(RECIPES[task])
    assert main(["tasks", "--task", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--task: unknown task 'nope'" in err[0]


def test_train_takes_the_recipe_under_explicit_flags():
    import argparse

    from spikegrad.cli import build_parser
    from spikegrad.commands.train import build_train_config

    parser = build_parser()

    def config(*argv: str):
        args = parser.parse_args(["train", *argv])
        assert isinstance(args, argparse.Namespace)
        return build_train_config(args)

    rec = RECIPES["randman"]["alif"].settings
    cfg = config("--model", "alif", "--lr", "0.02", "--adapt", "0.7")
    assert cfg.lr == 0.02 and cfg.batch_size == rec["batch_size"]  # explicit wins, rest recipe
    assert cfg.model_options == {**rec["model_options"], "adapt": 0.7}
    assert cfg.recipe["name"] == "randman/alif" and "lr" not in cfg.recipe["applied"]
    # the record names only what the recipe supplied: adapt came from the flag
    tau_adapt = rec["model_options"]["tau_adapt"]
    assert cfg.recipe["applied"]["model_options"] == {"tau_adapt": tau_adapt}
    assert cfg.dataset_options["samples_per_class"] == rec["dataset_options"]["samples_per_class"]
    # a recipe's rule options belong to its rule: another rule starts without them
    cfg = config("--task", "spike-target", "--rule", "resume")
    assert cfg.rule == "resume" and cfg.model == "srm" and cfg.rule_options == {}
    cfg = config("--task", "digits", "--model", "coba", "--rule", "conductance")
    assert "rule_options" not in cfg.recipe["applied"]
    assert config("--task", "moving-shapes").model == "conv"


def test_spoken_digit_recipe_is_the_measured_ablation_row():
    """The default spoken-digit recipe is exactly the row its expectation quotes
    (bench/spoken_digits_ablation.py ``no-adapt``): same network, data options and
    training settings, so ``spikegrad train --task spoken-digits --task-option path=DIR``
    reproduces the measured number."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "spoken_digits_ablation.py"
    spec = importlib.util.spec_from_file_location("_sd_ablation", path)
    assert spec is not None and spec.loader is not None
    abl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(abl)
    rec = recipe("spoken-digits")
    assert rec is not None and "--rows no-adapt" in rec.command
    model, recurrent, hidden, dopts, mopts = abl.ROWS["no-adapt"]
    row = TrainConfig(dataset="spoken-digits", dataset_options={"seed": 0, **dopts},
                      model=model, model_options=dict(mopts), hidden=(hidden,),
                      recurrent=recurrent, epochs=15, **abl._SHD)  # fmt: skip
    got = TrainConfig(dataset="spoken-digits", **rec.settings)
    defaults = TrainConfig(dataset="spoken-digits", model="alif")
    # model options: equal once the constructor's defaults fill what the recipe leaves out
    import inspect

    from spikegrad.nn.alif import ALIFNetwork

    sig = inspect.signature(ALIFNetwork.__init__).parameters

    def full(opts: dict) -> dict:
        return {k: opts.get(k, sig[k].default) for k in set(opts) | {"adapt", "tau_adapt"}}

    assert full(got.model_options) == full(row.model_options)
    assert got.model_options["adapt"] == 0.0
    # data options: equal once the loader's defaults fill what the recipe leaves out
    from spikegrad.data.spoken_digits import make_spoken_digits

    dsig = inspect.signature(make_spoken_digits).parameters

    def data(opts: dict) -> dict:
        keys = set(got.dataset_options) | set(row.dataset_options)
        return {k: opts.get(k, dsig[k].default) for k in keys}

    assert data(got.dataset_options) == data(row.dataset_options)
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("model_options", "dataset_options"):
            continue
        assert getattr(got, f.name) == getattr(row, f.name), f.name
    assert defaults.model == got.model
