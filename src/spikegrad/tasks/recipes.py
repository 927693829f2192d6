"""What to train on each task: the settings measured to work, what they reach, the cost.

Every task of :func:`spikegrad.tasks.task_names` declares, per model choice
(:data:`spikegrad.nn.catalog.MODEL_CHOICES`), a :class:`Recipe`: the
:class:`~spikegrad.learning.config.TrainConfig` fields that differ from its defaults,
what they reach (with the number of seeds, or "not measured"), the exact command that
measured it and the wall time of one run on the project's 2-core VM.
:data:`DEFAULT_MODEL` names the model choice ``spikegrad train --task T`` uses when no
``--model`` is given::

    >>> from spikegrad.tasks.recipes import recipe
    >>> recipe("randman", "alif").settings["lr"]
    0.01

``model_options`` hold the model's constructor arguments: for ``alif`` those of
:class:`~spikegrad.nn.alif.ALIFNetwork` beyond the network fields of the config
(``tau_adapt``, ``adapt``, ...), for ``izhikevich`` those of
:class:`~spikegrad.nn.izhikevich.IzhikevichLayer` (``preset``, ``a`` .. ``d``,
``v_scale``, ``weight_scale``; the surrogate, ``beta``, ``reset`` and ``dt`` are the
config's), for ``conv`` those of :func:`~spikegrad.nn.sequential.conv_network`
(``channels``, ``kernel_size``, ``hidden``, ``dropout``, ``weight_scale``,
``hidden_weight_scale``). ``bench/recipes.py --task T --model M --seeds N`` runs a recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Recipe", "RECIPES", "DEFAULT_MODEL", "recipe"]


@dataclass(frozen=True)
class Recipe:
    """Settings measured to work on one task with one model choice.

    ``settings``: :class:`~spikegrad.learning.config.TrainConfig` field overrides
    (``model`` included). ``expected``: what the settings reach, with seeds and the source
    of the number. ``command``: the command that measured it. ``seconds``: wall time of
    one run on the 2-core VM (shared with other jobs, so an upper-side figure), ``None``
    where not measured. ``notes``: anything a user of the recipe must know.
    """

    settings: dict
    expected: str
    command: str
    seconds: float | None = None
    notes: str = field(default="", compare=False)


#: Randman of the paper (10 classes, 20 units, 100 steps) with 200 instead of 1000 samples
#: per class (1600 / 200 / 200), so that a recipe measures in minutes on the 2-core VM
_SMALL_RANDMAN = {"samples_per_class": 200}

#: the SHD recipe of bench/spoken_digits_train.py (Zenke-lab tutorial + stork upper bound)
_SHD_RECIPE = {
    "hidden": (128,),
    "recurrent": True,
    "lr": 2e-3,
    "batch_size": 32,
    "epochs": 30,
    "upper_strength": 0.1,
    "upper_threshold": 7.0,
}

#: issue 29, the held-out-voice recipe: a recurrent layer of 128 LIF neurons (the ALIF
#: network with adapt = 0, the network that carries per-synapse delays) with learned
#: delays (up to 10 steps, linear taps) on 140 pooled channels, SHD-style augmentation in
#: training. adapt = 0.2 measured 0.795 against 0.809 over the same 7 seeds (BENCHMARKS.md)
_SD_NEURONS = {"adapt": 0.0, "max_delay": 0.01, "delay_mode": "linear"}
_SD_DATA = {"seed": 0, "channels": 140, "time_shift": 5, "channel_shift": 3, "dropout": 0.1}

#: the default network of the Zenke & Vogels study's data-set part, quick profile
#: (src/spikegrad/experiments/study.py: batch 100, 30 epochs, lr chosen on validation)
_STUDY_DATASETS = {"batch_size": 100, "epochs": 30, "lr": 0.01}

_NO_FILES = (
    "not measured: the data files are not on the project's VM (no download there); the "
    "settings are those of {source}"
)

RECIPES: dict[str, dict[str, Recipe]] = {
    "randman": {
        "lif": Recipe(
            settings={"model": "lif", "patience": 10},
            expected=(
                "test accuracy 0.998 / 0.996 / 0.885 on seeds 0 / 1 / 2 (0.960 +- 0.065 sd; "
                "full Randman 8000 / 1000 / 1000), stopped after 10 epochs without a "
                "validation gain at epochs 48 / 42 / 49 (`spikegrad train --seed S`); the "
                "full 100 epochs (`--patience 0`) gave 0.999 / 0.996 / 0.897 (0.964 +- "
                "0.058): the same within the spread, in half the epochs. Seed 2 stops near "
                "0.89 train accuracy, one class of ten not separated. BENCHMARKS.md "
                "'Accuracy of the defaults' recorded 0.995-1.000 on seed 0 with other backends"
            ),
            command="spikegrad train --seed S --out runs/S  (S = 0, 1, 2)",
            seconds=42.7,
            notes="seconds: `spikegrad train --out DIR` after `python -m "
            "spikegrad.learning.warmup` (what scripts/setup.sh runs), idle machine (load "
            "0.9-1.4), 48 epochs (seed 0); BENCHMARKS.md 'Speed (2026-12-08)'",
        ),
        "alif": Recipe(
            settings={
                "model": "alif",
                "dataset_options": dict(_SMALL_RANDMAN),
                "init": "fluctuation",
                "lr": 0.01,
                "batch_size": 50,
                "epochs": 40,
                "model_options": {"tau_adapt": 0.1, "adapt": 0.2},
            },
            expected=(
                "test accuracy 0.937 +- 0.013 (sd, 3 seeds: 0.935 / 0.925 / 0.950) on Randman "
                "with 200 samples per class (1600 / 200 / 200), 40 epochs; 2.24 spikes per "
                "hidden neuron; best validation at epoch 30 / 40 / 32. After 20 epochs: "
                "0.882 +- 0.010"
            ),
            command="python bench/recipes.py --task randman --model alif --seeds 3",
            seconds=23.8,
            notes="seconds: median of 22.9-24.3 s wall at load 0.8-1.7 (45 s CPU); the "
            "20-epoch runs took 83-244 s at load 5-7 (BENCHMARKS.md 'Task recipes'). "
            "At the TrainConfig defaults (uniform init, lr 0.05, batch 250) it trains "
            "slowly: 0.435 after 10 epochs against 0.835 with these settings (seed 0, "
            "bench/results/recipes_search_2026-12-07.txt)",
        ),
        "izhikevich": Recipe(
            settings={
                "model": "izhikevich",
                "dataset_options": dict(_SMALL_RANDMAN),
                "lr": 0.05,
                "batch_size": 50,
                "epochs": 20,
                "model_options": {"preset": "regular_spiking", "weight_scale": 60.0},
            },
            expected=(
                "test accuracy 0.350 +- 0.013 (sd, 3 seeds: 0.335 / 0.360 / 0.355; chance 0.1) "
                "on Randman with 200 samples per class (1600 / 200 / 200), 20 epochs; 0.43 "
                "spikes per hidden neuron. It fires and learns, far below LIF / ALIF at this "
                "budget"
            ),
            command="python bench/recipes.py --task randman --model izhikevich --seeds 3",
            seconds=63.8,
            notes="seconds: median of 15.7-90.4 s wall at load 3.7-4.7. weight_scale 60 makes "
            "the layer fire (0.47 spikes per neuron before training; at the default 20 only "
            "1 % of the neurons ever fire on Randman's one spike per input unit). No variant "
            "tried beat it (bench/results/recipes_search_2026-12-07.txt)",
        ),
    },
    "digits": {
        "lif": Recipe(
            settings={"model": "lif", **_STUDY_DATASETS},
            expected=(
                "test accuracy 0.924 +- 0.009 (sd, 3 seeds: 0.922 / 0.916 / 0.933; 179 test "
                "samples of the latency-coded sklearn digits); the Zenke & Vogels study's "
                "data-set part recorded 0.922 on seed 0 (docs/reproductions/zenke-vogels.md)"
            ),
            command="python bench/recipes.py --task digits --model lif --seeds 3",
            seconds=19.6,
            notes="seconds: median of 6.6-25.4 s wall at load 3.3",
        ),
        "coba": Recipe(
            settings={
                "model": "coba",
                "dataset_options": {"limit": 1000, "n_steps": 40},
                "model_options": {"n_hidden": 32},
                "lr": 0.3,
                "batch_size": 32,
                "epochs": 15,
                "lower_strength": 0.0,
            },
            expected=(
                "test accuracy 0.736 +- 0.040 (sd, 3 seeds: 0.693 / 0.743 / 0.772; 202 test "
                "samples of the first 1000 latency-coded digits, 40 steps; chance 0.1) by "
                "BPTT through the conductance-based network"
            ),
            command="python bench/recipes.py --task digits --model coba --seeds 3",
            seconds=11.7,
            notes="seconds: median of 11.7-16.9 s wall at load 1.6. The conductance rule "
            "(Fiete & Seung; README: --model coba --rule conductance) on the same settings "
            "with rule_options trials=4 reaches 0.142 +- 0.021 (3 seeds, 12 s per run; "
            "spikegrad compare recorded 0.119 [0.045, 0.193], docs/reproductions/"
            "learning-rules.md): it barely learns at this budget, so the recipe uses BPTT",
        ),
    },
    "mnist": {
        "lif": Recipe(
            settings={"model": "lif", **_STUDY_DATASETS},
            expected=_NO_FILES.format(
                source="the Zenke & Vogels study's data-set part (quick profile, lr 0.01 "
                "as selected for digits; the study's quick profile also caps the images at "
                "limit=3000)"
            ),
            command="python bench/recipes.py --task mnist --model lif --seeds 3 "
            "--set dataset_options.data_dir=DIR  (not run)",
        ),
    },
    "fashion-mnist": {
        "lif": Recipe(
            settings={"model": "lif", **_STUDY_DATASETS},
            expected=_NO_FILES.format(
                source="the Zenke & Vogels study's data-set part (quick profile, lr 0.01 "
                "as selected for digits; the study's quick profile also caps the images at "
                "limit=3000)"
            ),
            command="python bench/recipes.py --task fashion-mnist --model lif --seeds 3 "
            "--set dataset_options.data_dir=DIR  (not run)",
        ),
    },
    "shd": {
        "lif": Recipe(
            settings={"model": "lif", **_SHD_RECIPE},
            expected=_NO_FILES.format(
                source="the spoken-digits recipe (bench/spoken_digits_train.py, the SHD "
                "recipe of the Zenke-lab tutorials with stork's upper bound)"
            ),
            command="python bench/recipes.py --task shd --model lif --seeds 3 "
            "--set dataset_options.data_dir=DIR  (not run)",
        ),
    },
    "ssc": {
        "lif": Recipe(
            settings={"model": "lif", **_SHD_RECIPE},
            expected=_NO_FILES.format(source="the SHD / spoken-digits recipe"),
            command="python bench/recipes.py --task ssc --model lif --seeds 3 "
            "--set dataset_options.data_dir=DIR  (not run)",
        ),
    },
    "spoken-digits": {
        "lif": Recipe(
            settings={"model": "lif", "dataset_options": {"seed": 0}, **_SHD_RECIPE},
            expected=(
                "test accuracy 0.515 +- 0.026 (population sd, 3 seeds) on the 2 held-out "
                "speakers of a 960-utterance set (`spikegrad data spoken-digits --speakers "
                "12 --test-speakers 2 --repeats 4`, passed as dataset_options path=DIR); "
                "recorded in BENCHMARKS.md 'Spoken digits', not re-run here. On the shipped "
                "subset (18 training utterances, one speaker; test: another speaker) the "
                "recipe fits the training split (train accuracy 0.78 at epoch 30, seed 0; "
                "Randman's settings stay at 0.06) but the held-out speaker stays at chance "
                "(test 0.033 +- 0.029, 3 seeds; chance 0.05): one utterance per class cannot "
                "generalise across voices"
            ),
            command=(
                "python bench/spoken_digits_train.py DIR --epochs 30 --hidden 128 "
                "--seeds 0 1 2 --parts recurrent"
            ),
            seconds=200.0,
            notes="seconds: 30 epochs x 6.3-7.0 s per epoch at load 11-13 (BENCHMARKS.md); "
            "on the shipped subset 2-13 s. Shipped-subset check: python bench/recipes.py "
            "--task spoken-digits --model lif --seeds 3 (and --seeds 1 for the train "
            "accuracy; Randman's settings: --set hidden=[100] --set recurrent=false --set "
            "lr=0.05 --set batch_size=250 --set upper_strength=0 --set upper_threshold=4)",
        ),
        # issue 29: the held-out-voice recipe (the task's default model)
        "alif": Recipe(
            settings={
                "model": "alif",
                "model_options": dict(_SD_NEURONS),
                "dataset_options": dict(_SD_DATA),
                **_SHD_RECIPE,
                "epochs": 15,
            },
            expected=(
                "test accuracy on the 4 held-out speakers 0.828 / 0.825 / 0.819 on seeds "
                "0 / 1 / 2, mean 0.824 (95 % t-interval 0.812-0.836); over seeds 0-6 0.809 "
                "(0.789-0.830; 0.828 / 0.825 / 0.819 / 0.828 / 0.769 / 0.794 / 0.803), on "
                "the 16-speaker set plus 12 extra training speakers (BENCHMARKS.md "
                "'Held-out voices, issue 29', with the ablation of every ingredient); with "
                "adaptive thresholds (adapt 0.2) 0.795 over the same seeds, the same "
                "delays fixed (not learned) 0.763 (learned: +0.046, 95 % interval "
                "+0.022..+0.071, better on 7 of 7 seeds), no delays 0.719-0.730. Not "
                "measured on the shipped subset (one utterance per class and speaker)"
            ),
            command=(
                "python bench/spoken_digits_ablation.py DIR --rows no-adapt --seeds 0 1 2 3 4 5 "
                "6 --epochs 15  (DIR: `spikegrad data spoken-digits --speakers 16 "
                "--test-speakers 4 --repeats 4` plus `python bench/spoken_digits_data.py DIR "
                "--speakers 12 --repeats 1 --warp 0.12`)"
            ),
            seconds=28.4,
            notes="seconds: `spikegrad train --task spoken-digits --task-option path=DIR` "
            "(seed 0) on the idle 2-core VM, load 1.0: 28.4 s wall (21.7 s training), test "
            "accuracy 0.8281, the ablation row's seed 0 exactly (BENCHMARKS.md 'The "
            "spoken-digit recipe's cost'). Learnable delays train at lr * 50 dt "
            "(spikegrad.nn.delay)",
        ),
    },
    "lag-order": {
        "lif": Recipe(
            settings={"model": "lif", "lr": 5e-3, "batch_size": 32, "epochs": 30},
            expected=(
                "test accuracy 1.000 on each of 3 seeds (60 test samples of the default task: "
                "600 samples, lag 25 steps, jitter 1, no noise); best validation at epoch 9-12"
            ),
            command="python bench/recipes.py --task lag-order --model lif --seeds 3",
            seconds=11.8,
            notes="seconds: median of 10.2-12.0 s wall at load 2.9",
        ),
    },
    "spike-target": {
        "srm": Recipe(
            settings={
                "model": "srm",
                "rule": "kernel",
                "optimizer": "sgd",
                "lr": 0.003,
                "batch_size": 1,
                "epochs": 20,
            },
            expected=(
                "test correlation (Schreiber C) 0.975 +- 0.011 (sd, 3 seeds: 0.962 / 0.983 / "
                "0.980) after 20 epochs; over seeds 0-19 the same rule reaches C >= 0.95 in a "
                "median 9 epochs (BENCHMARKS.md 'Spike-time learning', "
                "bench/spiketrain_single.py)"
            ),
            command="python bench/recipes.py --task spike-target --model srm --seeds 3",
            seconds=2.1,
            notes="the README command: spikegrad train --model srm --rule kernel --task "
            "spike-target --optimizer sgd --lr 0.003 --batch-size 1 --epochs 20",
        ),
    },
    "moving-shapes": {
        "conv": Recipe(
            settings={
                "model": "conv",
                "dataset_options": {"samples": 600, "n_steps": 30, "seed": 0},
                "hidden": [32],
                "model_options": {"channels": [4, 8]},
                "lr": 5e-3,
                "batch_size": 32,
                "epochs": 15,
                "lower_strength": 0.0,
            },
            expected=(
                "test accuracy 0.861 +- 0.125 (sd, 3 seeds: 0.933 / 0.717 / 0.933; 60 test "
                "samples, chance 0.25); seed 1 peaks at epoch 8 (validation 0.73)"
            ),
            command="python bench/recipes.py --task moving-shapes --model conv --seeds 3",
            seconds=71.5,
            notes="seconds: median of 41.9-84.7 s wall at load 3.3-3.6; 13.6 s on a quiet "
            "machine (bench/conv_moving_shapes.py --epochs 15, BENCHMARKS.md 'Models and "
            "building blocks', which recorded 0.917 on seed 0 on 2026-12-06). "
            "lower_strength 0: that bench trains without the activity regulariser",
        ),
    },
}

#: task -> the model choice ``spikegrad train --task T`` uses without ``--model``
DEFAULT_MODEL: dict[str, str] = {
    "randman": "lif",
    "digits": "lif",
    "mnist": "lif",
    "fashion-mnist": "lif",
    "shd": "lif",
    "ssc": "lif",
    "spoken-digits": "alif",
    "lag-order": "lif",
    "spike-target": "srm",
    "moving-shapes": "conv",
}


def recipe(task: str, model: str | None = None) -> Recipe | None:
    """The recipe of ``task`` for ``model`` (default: :data:`DEFAULT_MODEL` ``[task]``);
    ``None`` where none is declared."""
    models = RECIPES.get(task)
    if models is None:
        return None
    return models.get(model if model is not None else DEFAULT_MODEL[task])
