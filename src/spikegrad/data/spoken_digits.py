"""Spoken digits made offline: espeak-ng speech through the SHD cochlea chain.

The Spiking Heidelberg Digits (Cramer et al. 2020) are recordings of the digits 0-9 in
English and German (20 classes) passed through a cochlea model into 700 spike channels.
Those recordings cannot be downloaded here, so this module makes a data set the same way
from synthetic speech: the speech synthesiser ``espeak-ng`` (a Debian package:
``apt-get install espeak-ng``) speaks every digit in both languages, and
:func:`spikegrad.data.audio.encode_audio` (the SHD chain) turns each utterance into
spikes, written in SHD's HDF5 layout (:func:`write_shd_hdf5`).

* **Classes** in SHD's order: labels 0-9 are the English digits *zero* ... *nine*,
  10-19 the German *null* ... *neun* (``extra/keys``).
* **Speakers**: a speaker is one espeak-ng voice variant (``+m1``, ``+f3``, ``+klatt``,
  ...) with its own base speed (words per minute) and pitch (0-99), drawn from ``seed``;
  it speaks English with an English voice and German with the German voice. Each
  repetition jitters speed (+-8 %) and pitch (+-6) around the speaker's base, so repeats
  differ like a person's do. The train/test split holds speakers out, as SHD does.
* **Sizes**: ``n_speakers x 20 classes x repeats`` utterances.

:func:`make_spoken_digits` loads a generated folder (or the small subset shipped with
spikegrad) binned like :func:`spikegrad.data.shd.make_shd`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import wave
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from .._checks import SpikegradInputError, check_size
from .audio import encode_audio

if TYPE_CHECKING:
    from .spikes import SpikeDataset

__all__ = [
    "ENGLISH",
    "GERMAN",
    "KEYS",
    "VARIANTS",
    "SHIPPED_DIR",
    "Speaker",
    "espeak_available",
    "require_espeak",
    "make_speakers",
    "warp_audio",
    "EXTRA_VARIANTS",
    "synthesize",
    "generate_spoken_digits",
    "write_shd_hdf5",
    "make_spoken_digits",
]

ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
GERMAN = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun")
#: class names in SHD's label order (English 0-9, then German 0-9)
KEYS = tuple(f"english {w}" for w in ENGLISH) + tuple(f"german {w}" for w in GERMAN)
#: espeak-ng voice variants a speaker is drawn from (male, female and Klatt voices)
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "adam", "john", "david", "linda", "steph",
    "belinda", "edward", "michael", "paul", "robert", "annie", "aunty", "max", "zac",
)  # fmt: skip
ENGLISH_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp")
#: folder of the small generated subset shipped with spikegrad
SHIPPED_DIR = Path(__file__).resolve().parent / "_shipped"
INSTALL_HINT = (
    "espeak-ng is not installed: install the speech synthesiser first "
    "(Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng)"
)


#: further espeak-ng variants (``espeak-ng --voices=variant``) for extra training speakers:
#: the human-sounding ones not in :data:`VARIANTS` (no whisper, robot or effect voices)
EXTRA_VARIANTS = (
    "Alex", "Alicia", "Andrea", "Andy", "antonio", "benjamin", "boris", "caleb", "Denis",
    "Diogo", "ed", "edward2", "Gene", "Gene2", "gustave", "announcer", "Henrique", "Hugo",
    "iven", "iven2", "iven3", "Jacky", "Lee", "marcelo", "Marco", "Mario", "Mike", "Mr",
    "Nguyen", "pablo", "pedro", "quincy", "rob", "steph2", "steph3", "Storm", "anika",
    "norbert", "sandro", "shelby", "travis", "victor", "m8", "klatt5", "klatt6", "grandpa",
    "grandma",
)  # fmt: skip


class Speaker(NamedTuple):
    r"""One synthetic speaker: voice variant, English dialect, base speed and pitch, and a
    vocal-tract warp :math:`\alpha` (1: none; the audio is resampled so that every
    frequency, formants included, is multiplied by :math:`\alpha`, :func:`warp_audio`)."""

    variant: str
    english_voice: str
    speed: int
    pitch: int
    warp: float = 1.0


def espeak_available() -> bool:
    """Whether the ``espeak-ng`` program is on the PATH."""
    return shutil.which("espeak-ng") is not None


def require_espeak() -> None:
    """Raise :class:`SpikegradInputError` with the install hint if espeak-ng is missing."""
    if not espeak_available():
        raise SpikegradInputError(INSTALL_HINT)


def make_speakers(
    n: int,
    seed: int = 0,
    *,
    variants: Sequence[str] = VARIANTS,
    warp: float = 0.0,
) -> list[Speaker]:
    """``n`` distinct speakers drawn from ``seed`` (variants without repetition first).

    ``variants`` is the pool (default :data:`VARIANTS`; :data:`EXTRA_VARIANTS` gives other
    voices for extra training speakers); ``warp`` > 0 draws a vocal-tract warp per speaker
    uniformly in ``[1 - warp, 1 + warp]`` (0, the default, keeps 1 and draws nothing, so
    the speakers of a seed are those drawn before the option existed).
    """
    n = check_size("n_speakers", n)
    if not variants or any(not isinstance(v, str) or not v for v in variants):
        raise SpikegradInputError("variants must be a non-empty sequence of variant names")
    if not 0.0 <= float(warp) < 0.5:
        raise SpikegradInputError(f"warp must lie in [0, 0.5), got {warp!r}")
    rng = np.random.default_rng(int(seed))
    order = list(rng.permutation(len(variants)))
    out = []
    for i in range(n):
        variant = variants[order[i % len(variants)]]
        voice = ENGLISH_VOICES[int(rng.integers(len(ENGLISH_VOICES)))]
        speed, pitch = int(rng.integers(130, 211)), int(rng.integers(25, 76))
        alpha = float(rng.uniform(1 - warp, 1 + warp)) if warp > 0 else 1.0
        out.append(Speaker(variant, voice, speed, pitch, alpha))
    return out


def warp_audio(x: np.ndarray, alpha: float) -> np.ndarray:
    r"""Resample ``x`` so every frequency is multiplied by ``alpha``: :math:`y[n] =
    x(\alpha n)` (linear interpolation; ``alpha`` > 1 raises formants and pitch and
    shortens the utterance, as a shorter vocal tract does)."""
    if alpha == 1.0:
        return x
    n_out = int(np.floor((x.size - 1) / alpha)) + 1
    return np.interp(np.arange(n_out) * alpha, np.arange(x.size), x)


def synthesize(word: str, voice: str, *, speed: int, pitch: int) -> tuple[np.ndarray, int]:
    """Speak ``word`` with espeak-ng (``-v voice -s speed -p pitch``): (samples, rate)."""
    require_espeak()
    cmd = ["espeak-ng", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "--stdout"]
    res = subprocess.run([*cmd, word], capture_output=True, check=False, timeout=60)
    if res.returncode != 0 or not res.stdout:
        msg = res.stderr.decode(errors="replace").strip().splitlines()
        raise SpikegradInputError(
            f"espeak-ng failed for voice {voice!r}: {msg[0] if msg else res.returncode}"
        )
    raw = res.stdout
    # espeak-ng writes a streaming WAV header whose sizes may be 0 or -1: read the fmt
    # chunk with the wave module and take the samples after the 44-byte header directly
    with wave.open(io.BytesIO(raw[:44] + b"\0\0"), "rb") as w:
        rate, width, ch = w.getframerate(), w.getsampwidth(), w.getnchannels()
    if width != 2 or ch != 1:
        raise SpikegradInputError(
            f"espeak-ng returned {ch} channels of {width} bytes, expected mono 16-bit"
        )
    data = raw[44:]
    x = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float64) / 32768.0
    return x, int(rate)


def _utterance(job: tuple) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Worker: speak one word and encode it; returns (times, units, duration, label).

    With a cache folder (eighth job field) the result is kept there as ``.npz`` named by a
    hash of the job, so a killed run resumes where it stopped.
    """
    word, voice, speed, pitch, label, enc_seed, options, cache = job[:8]
    warp = float(job[8]) if len(job) > 8 else 1.0  # optional 9th field: vocal-tract warp
    ident = job[:7] if warp == 1.0 else (*job[:7], warp)
    key = hashlib.sha256(repr(ident).encode()).hexdigest()[:24]
    part = Path(cache) / f"{key}.npz" if cache else None
    if part is not None and part.is_file():
        with np.load(part) as z:
            return z["t"], z["u"], float(z["d"]), label
    x, rate = synthesize(word, voice, speed=speed, pitch=pitch)
    x = warp_audio(x, warp)
    t, u = encode_audio(x, rate, seed=enc_seed, **options)
    out = t.astype(np.float32), u.astype(np.uint16), x.size / rate, label
    if part is not None:
        buf = io.BytesIO()
        np.savez(buf, t=out[0], u=out[1], d=out[2])
        _write_atomically(part, buf.getvalue())  # no half-written cache entry, no leftover
    return out


def _jobs(
    speakers: Sequence[Speaker],
    classes: Sequence[int],
    repeats: int,
    seed: int,
    options: dict,
    cache: str | None,
):
    rng = np.random.default_rng([int(seed), 1])
    jobs, meta = [], []
    for s_idx, sp in enumerate(speakers):
        for label in classes:
            english = label < 10
            word = ENGLISH[label] if english else GERMAN[label - 10]
            voice = (sp.english_voice if english else "de") + "+" + sp.variant
            for rep in range(repeats):
                speed = int(round(sp.speed * (1.0 + rng.uniform(-0.08, 0.08))))
                pitch = int(np.clip(sp.pitch + rng.integers(-6, 7), 0, 99))
                enc_seed = int(rng.integers(2**31 - 1))
                jobs.append((word, voice, speed, pitch, label, enc_seed, options, cache, sp.warp))
                meta.append((s_idx, rep, speed, pitch))
    return jobs, meta


def write_shd_hdf5(
    path: str | Path,
    times: Sequence[np.ndarray],
    units: Sequence[np.ndarray],
    labels: Sequence[int],
    *,
    speakers: Sequence[int] | None = None,
    keys: Sequence[str] = KEYS,
    attrs: dict | None = None,
) -> Path:
    """Write spike trains in SHD's HDF5 layout (atomically: temp file, then rename).

    ``spikes/times`` (variable-length float32 seconds), ``spikes/units`` (variable-length
    uint16), ``labels`` (uint16), ``extra/speaker`` (uint16), ``extra/keys`` (bytes);
    ``attrs`` (JSON-able) go to ``extra/meta_info`` as a JSON string attribute.
    """
    import h5py

    path = Path(path)
    if not (len(times) == len(units) == len(labels)):
        raise SpikegradInputError("times, units and labels must have one entry per sample")
    # built in memory, then written by one atomic write: a full disk gives a plain OSError
    # (errno ENOSPC / EFBIG) and no temp file, never h5py's close-time tracebacks
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        ft = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
        fu = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times, units, strict=True)):
            ft[i] = np.asarray(t, np.float32)
            fu[i] = np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        spk = np.zeros(len(labels), np.uint16) if speakers is None else speakers
        f.create_dataset("extra/speaker", data=np.asarray(spk, np.uint16))
        f.create_dataset("extra/keys", data=np.array([k.encode() for k in keys]))
        g = f.create_group("extra/meta_info")
        g.attrs["json"] = json.dumps(attrs or {})
    _write_atomically(path, buf.getvalue())
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """``data`` to ``path`` through a temp file beside it and a rename; the temp file is
    removed on any failure (``data`` sits below ``io``, so io.checkpoint's writer is not
    importable here)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def generate_spoken_digits(
    out_dir: str | Path,
    *,
    n_speakers: int = 12,
    n_test_speakers: int = 2,
    repeats: int = 10,
    classes: Sequence[int] | None = None,
    seed: int = 0,
    workers: int = 1,
    prefix: str = "spoken_digits",
    progress: Callable[[int], None] | None = None,
    encoder_options: dict | None = None,
    speakers: Sequence[Speaker] | None = None,
) -> dict:
    """Synthesise, encode and write ``{prefix}_train.h5`` / ``{prefix}_test.h5``.

    The last ``n_test_speakers`` speakers form the test file (held out, as in SHD: 12
    speakers, 2 only in the test set). ``classes`` restricts the vocabulary (labels
    0-19, default all). ``progress(n)`` is called after each utterance. Each finished
    utterance is kept in ``out_dir/.utterances`` until the files are written, so a run
    that is killed and started again with the same settings continues where it stopped.
    ``speakers`` replaces the ``n_speakers`` drawn from ``seed`` by an explicit list
    (e.g. :func:`make_speakers` over :data:`EXTRA_VARIANTS` with a warp, for an extra
    training file; ``n_test_speakers=0`` writes the train file only).
    Returns a summary (counts, speakers, seconds of audio, files).
    """
    require_espeak()
    if speakers is not None:
        speakers = list(speakers)
        if not speakers or not all(isinstance(sp, Speaker) for sp in speakers):
            raise SpikegradInputError("speakers must be a non-empty list of Speaker")
        n_speakers = len(speakers)
    n_speakers = check_size("n_speakers", n_speakers)
    n_test = check_size("n_test_speakers", n_test_speakers, 0)
    if n_test >= n_speakers:
        raise SpikegradInputError(
            f"n_test_speakers must be below n_speakers ({n_speakers}), got {n_test}"
        )
    repeats = check_size("repeats", repeats)
    workers = check_size("workers", workers)
    classes = list(range(20)) if classes is None else [int(c) for c in classes]
    if not classes or any(not 0 <= c < 20 for c in classes):
        raise SpikegradInputError(f"classes must be labels in 0..19, got {classes!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if speakers is None:
        speakers = make_speakers(n_speakers, seed)
    cache = out / ".utterances"  # finished utterances: a killed run resumes from here
    cache.mkdir(exist_ok=True)
    jobs, meta = _jobs(speakers, classes, repeats, seed, dict(encoder_options or {}), str(cache))
    results: list = [None] * len(jobs)
    if workers == 1:
        for i, job in enumerate(jobs):
            results[i] = _utterance(job)
            if progress:
                progress(1)
    else:
        with ProcessPoolExecutor(workers) as pool:
            for i, r in enumerate(pool.map(_utterance, jobs, chunksize=4)):
                results[i] = r
                if progress:
                    progress(1)
    info = {
        "generator": "espeak-ng + spikegrad cochlea chain (SHD's lauscher equations)",
        "seed": int(seed),
        "speakers": [sp._asdict() for sp in speakers],
        "test_speakers": list(range(n_speakers - n_test, n_speakers)),
        "repeats": repeats,
        "classes": classes,
        "espeak_ng": _espeak_version(),
    }
    files: dict[str, dict] = {}
    summary: dict[str, object] = {"files": files, "audio_seconds": 0.0}
    first_test = n_speakers - n_test
    for part, is_test in (("train", False), ("test", True)):
        idx = [i for i, m in enumerate(meta) if (m[0] >= first_test) == is_test]
        if not idx:
            continue
        path = write_shd_hdf5(
            out / f"{prefix}_{part}.h5",
            [results[i][0] for i in idx],
            [results[i][1] for i in idx],
            [results[i][3] for i in idx],
            speakers=[meta[i][0] for i in idx],
            attrs={**info, "speed": [meta[i][2] for i in idx], "pitch": [meta[i][3] for i in idx]},
        )
        files[part] = {"path": str(path), "samples": len(idx)}
    shutil.rmtree(cache, ignore_errors=True)
    summary["audio_seconds"] = float(sum(r[2] for r in results))
    summary["spikes"] = int(sum(r[0].size for r in results))
    summary["utterances"] = len(results)
    return summary


def _espeak_version() -> str:
    try:
        res = subprocess.run(["espeak-ng", "--version"], capture_output=True, timeout=10)
        return res.stdout.decode(errors="replace").strip()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        return "unknown"


def make_spoken_digits(
    path: str | Path | None = None,
    *,
    n_steps: int = 100,
    duration: float = 1.0,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    prefix: str = "spoken_digits",
    channels: int = 700,
    extra_train: bool = True,
    time_shift: int = 0,
    channel_shift: int = 0,
    dropout: float = 0.0,
    noise: float = 0.0,
) -> tuple:
    """Spoken digits binned like SHD: (train, validation, test) :class:`SpikeDataset` s.

    ``path`` is a folder made by ``spikegrad data spoken-digits`` (files
    ``{prefix}_train.h5`` / ``{prefix}_test.h5``); ``None`` loads the small subset
    shipped with spikegrad (``spoken_digits_mini_*``). An event at ``t`` seconds goes to
    step ``floor(t * n_steps / duration)`` (counts kept, events past ``duration``
    dropped). The validation set is ``val_fraction`` of the training file (seeded,
    stratified by class when every class can spare a sample); the test file holds other
    speakers.

    ``extra_train`` (default on) appends ``{prefix}_extra_train.h5`` to the training file
    when the folder holds one (extra training speakers, ``bench/spoken_digits_data.py``).
    ``channels`` pools the 700 cochlea channels into that many bands (a divisor of 700,
    e.g. 140: five neighbouring channels summed; counts kept). ``time_shift``,
    ``channel_shift`` (in steps / pooled channels), ``dropout`` and ``noise`` augment
    every training batch anew (:class:`spikegrad.data.augment.AugmentedDataset`, drawn
    from ``seed``); validation and test spikes are never changed.
    """
    from . import shd
    from .augment import Augment, AugmentedDataset
    from .spikes import split

    if path is None:
        folder, prefix = SHIPPED_DIR, "spoken_digits_mini"
    else:
        folder = Path(path)
    if not 0.0 < float(val_fraction) < 1.0:
        raise SpikegradInputError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    train_p = shd.find_hdf5_file(folder, f"{prefix}_train")
    test_p = shd.find_hdf5_file(folder, f"{prefix}_test")
    gen = torch.Generator().manual_seed(int(seed))
    kw = dict(n_steps=n_steps, duration=duration, n_classes=20)
    channels = check_size("channels", channels)
    if N_CHANNELS % channels:
        raise SpikegradInputError(f"channels must divide {N_CHANNELS}, got {channels}")
    aug = Augment(time_shift, channel_shift, dropout, noise)
    full = shd._load(train_p, limit, gen, name="spoken-digits-train", **kw)
    extra_p = folder / f"{prefix}_extra_train.h5"
    if extra_train and extra_p.is_file():
        full = _concat(full, shd._load(extra_p, limit, gen, name="extra", **kw))
    test = shd._load(test_p, limit, gen, name="spoken-digits-test", **kw)
    if channels != N_CHANNELS:
        full, test = pool_channels(full, channels), pool_channels(test, channels)
    perm = torch.randperm(len(full), generator=gen)
    # stratified unless a class is too small to give the validation set one sample
    # (the shipped subset has one utterance per class and speaker)
    per_class = torch.bincount(full.labels, minlength=20)
    strat = bool(per_class[per_class > 0].min() * val_fraction >= 0.5)
    train, val = split(full.subset(perm), (1 - val_fraction, val_fraction), stratified=strat)
    for ds, part in ((train, "train"), (val, "validation"), (test, "test")):
        ds.name = f"spoken-digits-{part}"
    if aug.active:
        train = AugmentedDataset(train, aug, seed=int(seed))
    return train, val, test


#: cochlea channels of the SHD chain (and of every file written here)
N_CHANNELS = 700


def _concat(a, b):
    """Two binned data sets of the same shape as one (``a``'s samples first)."""
    from .spikes import SpikeDataset

    if (a.n_steps, a.n_units) != (b.n_steps, b.n_units):
        raise SpikegradInputError("extra training file has another shape than the train file")
    return SpikeDataset(
        torch.cat([a.times, b.times]), torch.cat([a.units, b.units]),
        torch.cat([a.offsets, b.offsets[1:] + a.offsets[-1]]),
        torch.cat([a.labels, b.labels]), a.n_steps, a.n_units, max(a.n_classes, b.n_classes),
        a.name,
    )  # fmt: skip


def pool_channels(ds: SpikeDataset, channels: int) -> SpikeDataset:
    """Channel ``u`` of ``ds.n_units`` -> band ``u * channels // ds.n_units`` (counts add).

    The spoken-digit task's ``channels`` option (e.g. 700 cochlea channels -> 140 bands);
    :func:`spikegrad.api.read_for_run` applies it to new recordings for a run that used it.
    """
    from .spikes import SpikeDataset

    return SpikeDataset(
        ds.times, ds.units * channels // ds.n_units, ds.offsets, ds.labels, ds.n_steps,
        channels, ds.n_classes, ds.name,
    )  # fmt: skip
