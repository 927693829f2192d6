"""Run a list of training runs in parallel, resumably, and collect the results.

Output folder::

    OUT/
      sweep.json          the runs of the latest sweep started here (id, tags, config)
      grids/<grid>.json   the runs of every grid ever run in this folder (one file each)
      runs/<run_id>.json  one file per finished run, written atomically (temp + fsync + rename)
      work/<run_id>/      run folder of a run in flight (last.pt: resumed mid-run on the
                          next start; removed once the run's result is written)
      errors/<run_id>.txt traceback of a run that failed (retried on the next start)
      results.csv         one row per finished run and tag set of every grid of the folder:
                          every config field, tag and metric (a config shared by two
                          experiments is trained once and listed under both)
      .run.lock           held (flock) while a sweep runs: a second sweep, or any other
                          command writing the folder, is refused at once
                          (:func:`spikegrad.io.run.lock_run_folder`)

A run is *finished* when its ``runs/<run_id>.json`` exists. Starting a sweep again skips
finished runs and resumes the others from their ``last.pt`` (written every
``checkpoint_every`` steps and at each epoch end), so a sweep killed at any moment loses
at most the steps since the last checkpoint of each run in flight, and a resumed run ends
with exactly the result of an uninterrupted one. Results are written by the driver (never
by the workers), so the local and the Ray executor produce the same files. Local worker
processes end when the driver dies, however it dies (SIGKILL included): each asks the
kernel for SIGKILL when its parent exits (Linux) and polls its parent's pid.

A full disk (or a file-size limit) stops the sweep with one :class:`OSError` naming it;
every result written before stays intact and the next start resumes.

A run whose loss diverges is a result (``status = "diverged"``, accuracies empty) — high
learning rates do that and the learning-rate selection must see it.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import SpikegradInputError
from ..io.checkpoint import atomic_write_text
from ..io.run import run_folder_lock
from .config import RunSpec

__all__ = [
    "execute_run",
    "run_sweep",
    "SweepOutcome",
    "load_results",
    "load_tagged_results",
    "results_rows",
    "write_results_csv",
    "select_learning_rate",
    "select_per_seed",
    "EXECUTORS",
    "METRIC_COLUMNS",
]

EXECUTORS = ("local", "ray")
METRIC_COLUMNS = (
    "test_accuracy",
    "val_accuracy",
    "train_accuracy",
    "test_loss",
    "val_loss",
    "spikes_per_neuron",
    "best_epoch",
    "epochs",
    "wall_seconds",
    "cpu_seconds",
)

_DATA_CACHE: dict[str, Any] = {}


def _load_data(config: dict):
    """Datasets are cached per process: every run of a sweep shares a few data sets."""
    from ..data.registry import load_dataset

    key = json.dumps([config["dataset"], config["dataset_options"]], sort_keys=True)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) > 4:
            _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_dataset(config["dataset"], **config["dataset_options"])
    return _DATA_CACHE[key]


#: errno values of a full disk, a quota or a file-size limit
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def execute_run(run: dict, threads: int | None = 1, work_dir: str | Path | None = None) -> dict:
    """Train one run (``RunSpec.to_dict()``) and return its result record.

    Runs in a worker process (local or Ray); sets the torch thread count first (one
    thread per worker: several threads per process on a shared CPU are much slower).
    With ``work_dir`` the run writes its run folder there (``last.pt`` every
    ``checkpoint_every`` steps) and resumes from it when it exists, so a killed run
    continues mid-run. A diverged run returns ``status = "diverged"``; a full disk
    returns ``status = "disk-full"`` (the driver stops); other errors propagate.
    """
    import warnings

    from ..learning.config import TrainConfig, train

    if threads:
        from ..kernels import set_num_threads

        set_num_threads(int(threads))
    t0, c0 = time.perf_counter(), time.process_time()
    config = TrainConfig.from_dict(dict(run["config"]))
    data = _load_data(run["config"])
    record = {**run, "host": os.uname().nodename, "pid": os.getpid()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a sweep's workers print nothing per run
            res = _train_resumable(train, config, data, work_dir)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        record.update(status="disk-full", error=f"{exc.strerror}: {exc.filename}", metrics={})
        return record
    except FloatingPointError as exc:
        record.update(status="diverged", error=str(exc), metrics={})
        record["metrics"]["wall_seconds"] = time.perf_counter() - t0
        record["metrics"]["cpu_seconds"] = time.process_time() - c0
        return record
    metrics = {k: v for k, v in res.metrics.items() if k != "config"}
    # CPU time of this process (data loading included): the cost on an idle machine,
    # where wall time on a shared one is inflated by the other jobs
    metrics["cpu_seconds"] = time.process_time() - c0
    history = [
        {
            k: getattr(h, k)
            for k in ("epoch", "train_loss", "train_accuracy", "val_accuracy", "spikes_per_neuron")
        }
        for h in res.history
    ]
    record.update(status="ok", metrics=metrics, history=history)
    return record


def _train_resumable(train, config, data, work_dir):
    """``train`` in ``work_dir`` (resumed from its ``last.pt`` if there), or in memory."""
    if work_dir is None:
        return train(config, data=data, out_dir=None, progress=False, plots=False)
    from .._checks import SpikegradInputError as _InputError
    from ..io.run import RunFolder

    work = Path(work_dir)
    if (work / RunFolder.LAST).is_file():
        try:
            return train(config, data=data, out_dir=work, progress=False, plots=False, resume=True)
        except _InputError:
            import shutil

            shutil.rmtree(work, ignore_errors=True)  # unreadable or foreign state: start over
    return train(config, data=data, out_dir=work, progress=False, plots=False)


def _init_worker(parent: int | None = None) -> None:
    """Worker set-up: one torch thread; end when the driver ``parent`` dies."""
    import torch

    torch.set_num_threads(1)
    if parent is not None:
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """End this process when ``parent`` exits, however it exits (SIGKILL included).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a daemon thread that polls
    the parent pid twice a second (the pid of an orphan's parent changes).
    """
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog
            pass
    if os.getppid() != parent:  # already orphaned before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="spikegrad-parent-watch", daemon=True).start()


# ----------------------------------------------------------------------------- executors
Outcome = tuple[dict, dict | None, str | None]  # run, record, error text


def _serial(pending: Sequence[dict], threads: int | None, work: Path | None) -> Iterator[Outcome]:
    for run in pending:
        try:
            yield run, execute_run(run, threads, _work_dir(work, run)), None
        except Exception:  # a failed run is recorded, the sweep goes on
            yield run, None, traceback.format_exc()


def _work_dir(work: Path | None, run: dict) -> str | None:
    return None if work is None else str(work / run["run_id"])


def _local(pending: Sequence[dict], workers: int, work: Path | None) -> Iterator[Outcome]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # no forked torch state; same behaviour on every OS
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
    )
    normal_exit = False
    try:
        todo = list(pending)
        futures: dict = {}
        while todo or futures:
            while todo and len(futures) < 2 * workers:  # bounded queue: quick to cancel
                run = todo.pop(0)
                futures[pool.submit(execute_run, run, 1, _work_dir(work, run))] = run
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in done:
                run = futures.pop(fut)
                exc = fut.exception()
                if exc is None:
                    yield run, fut.result(), None
                else:
                    yield run, None, "".join(traceback.format_exception(exc))
        normal_exit = True
    finally:
        if not normal_exit:  # interrupted: do not wait for the runs in flight
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=normal_exit, cancel_futures=True)


def _ray(
    pending: Sequence[dict], workers: int, address: str | None, work: Path | None
) -> Iterator[Outcome]:
    try:
        import ray
    except ImportError as exc:
        raise SpikegradInputError(
            "--executor ray needs Ray: pip install 'spikegrad[ray]' (or pip install ray)"
        ) from exc
    started_here = not ray.is_initialized()
    if started_here:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=workers, **kw)
    remote = ray.remote(num_cpus=1, max_retries=0)(execute_run)
    refs: dict = {}
    try:
        refs = {remote.remote(run, 1, _work_dir(work, run)): run for run in pending}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                run = refs.pop(ref)
                try:
                    yield run, ray.get(ref), None
                except Exception:
                    yield run, None, traceback.format_exc()
    finally:
        for ref in refs:  # left only if interrupted
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


# ----------------------------------------------------------------------------- driver
@dataclass
class SweepOutcome:
    """Counts of a sweep invocation and where its files are."""

    out_dir: Path
    total: int
    skipped: int
    finished: int
    failed: int
    rows: list[dict]

    @property
    def complete(self) -> bool:
        return self.failed == 0 and self.skipped + self.finished == self.total


def _result_path(out: Path, run_id: str) -> Path:
    return out / "runs" / f"{run_id}.json"


def _is_finished(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return "status" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # unreadable: redo it


def run_sweep(
    runs: Sequence[RunSpec],
    out_dir: str | Path,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
    threads: int | None = 1,
    on_result: Callable[[dict], None] | None = None,
    resumable: bool = True,
) -> SweepOutcome:
    """Run every not-yet-finished run and write ``results.csv``.

    Parameters
    ----------
    runs:
        The runs (e.g. ``SweepSpec.expand()``); ids must be unique.
    out_dir:
        Sweep folder (created); see the module docstring for its layout.
    executor:
        ``"local"``: worker processes on this machine (``workers == 1`` runs in this
        process); ``"ray"``: Ray tasks on the cluster at ``address`` (a local Ray
        instance with ``workers`` CPUs if ``address`` is ``None``).
    workers:
        Parallel local processes (>= 1).
    threads:
        torch threads of an in-process (``workers == 1``) run; workers always use one.
    on_result:
        Called with each new result record.
    resumable:
        Give each run a run folder under ``OUT/work/`` with its ``last.pt``, so a killed
        run resumes mid-run (``False``: runs train in memory and restart from scratch).

    Raises
    ------
    SpikegradInputError
        Another sweep holds the folder, or the folder cannot be created.
    OSError
        The disk is full (``errno`` ENOSPC / EDQUOT / EFBIG): the sweep stops, every
        result written before is intact.
    """
    if executor not in EXECUTORS:
        raise SpikegradInputError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpikegradInputError(f"workers must be an integer >= 1, got {workers!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpikegradInputError(f"sweep folder {str(out)!r} exists and is a file")
    try:
        (out / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise
        raise SpikegradInputError(
            f"sweep folder {str(out)!r} cannot be created: {exc.strerror or exc}"
        ) from exc
    with run_folder_lock(out, "sweep"):
        return _run_locked(runs, out, executor, workers, address, progress, threads, on_result,
                           resumable)  # fmt: skip


def _run_locked(runs, out, executor, workers, address, progress, threads, on_result, resumable):
    # the lock is held, so no writer is active: temporary files are left by a write that a
    # kill interrupted (atomic writes rename them into place only once complete)
    for folder in (out, out / "runs"):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    listed = [r.to_dict() for r in runs]
    unique: dict[str, dict] = {}
    for s in listed:  # a config listed under several tags is trained once
        unique.setdefault(s["run_id"], s)
    specs = list(unique.values())
    listing = json.dumps({"runs": listed}, indent=1)
    (out / "grids").mkdir(exist_ok=True)
    atomic_write_text(out / "grids" / f"{grid_id(listed)}.json", listing)
    atomic_write_text(out / "sweep.json", listing)
    pending = [s for s in specs if not _is_finished(_result_path(out, s["run_id"]))]
    skipped = len(specs) - len(pending)
    work = out / "work" if resumable else None
    if work is not None:
        # a kill between recording a run and removing its run folder leaves the folder
        import shutil

        for s in specs:
            if s not in pending and (work / s["run_id"]).exists():
                shutil.rmtree(work / s["run_id"], ignore_errors=True)
    if executor == "ray":
        stream = _ray(pending, workers, address, work)
    elif workers == 1 or len(pending) <= 1:
        stream = _serial(pending, threads, work)
    else:
        stream = _local(pending, min(workers, len(pending)), work)
    bar = _bar(len(specs), skipped, progress)
    finished = failed = 0
    restore = _terminate_as_interrupt()
    try:
        for run, record, err in stream:
            rid = run["run_id"]
            if record is not None and record.get("status") == "disk-full":
                raise OSError(errno.ENOSPC, f"no space left on device ({record['error']})")
            if record is not None:
                atomic_write_text(_result_path(out, rid), json.dumps(record, indent=1))
                err_file = out / "errors" / f"{rid}.txt"
                if err_file.exists():
                    err_file.unlink()
                if work is not None:
                    import shutil

                    shutil.rmtree(work / rid, ignore_errors=True)
                finished += 1
                if on_result is not None:
                    on_result(record)
                acc = record["metrics"].get("test_accuracy")
                bar.set_postfix_str(f"last test {acc:.3f}" if acc is not None else "diverged")
            else:
                (out / "errors").mkdir(exist_ok=True)
                atomic_write_text(out / "errors" / f"{rid}.txt", err or "")
                failed += 1
                bar.set_postfix_str(f"{failed} failed")
            bar.update(1)
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close:
            close()  # an interrupted executor stops its workers here
        restore()
    rows = results_rows(_tagged(load_results(out, list(unique)), listed))
    write_results_csv(folder_rows(out), out / "results.csv")
    return SweepOutcome(out, len(specs), skipped, finished, failed, rows)


def grid_id(listed: Sequence[dict]) -> str:
    """Stable 16-hex-digit id of a grid: SHA-1 of its sorted (run id, tags) pairs."""
    keys = sorted(json.dumps([s["run_id"], s["tags"]], sort_keys=True) for s in listed)
    return hashlib.sha1("\n".join(keys).encode()).hexdigest()[:16]


def folder_rows(out_dir: str | Path) -> list[dict]:
    """Rows of every finished run of every grid run in the folder (``grids/*.json``).

    What ``results.csv`` holds: two grids run in one folder never drop each other's rows.
    Folders written before ``grids/`` existed fall back to ``sweep.json``.
    """
    out = Path(out_dir)
    listed: list[dict] = []
    seen: set[str] = set()
    files = sorted((out / "grids").glob("*.json")) or [out / "sweep.json"]
    for f in files:
        try:
            runs = json.loads(f.read_text(encoding="utf-8"))["runs"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for s in runs:
            key = json.dumps([s.get("run_id"), s.get("tags")], sort_keys=True)
            if key not in seen:
                seen.add(key)
                listed.append(s)
    ids = list(dict.fromkeys(s["run_id"] for s in listed))
    return results_rows(_tagged(load_results(out, ids), listed))


def latest_grid_rows(out_dir: str | Path) -> tuple[list[dict], int]:
    """Rows of the finished runs of the latest grid run in the folder, and its run count.

    Rebuilt from what the folder holds (``sweep.json``), not from a grid the caller
    assumes. Raises :class:`SpikegradInputError` when the folder holds no sweep.
    """
    path = Path(out_dir) / "sweep.json"
    try:
        listed = json.loads(path.read_text(encoding="utf-8"))["runs"]
        ids = list(dict.fromkeys(s["run_id"] for s in listed))
    except FileNotFoundError:
        raise SpikegradInputError(f"{str(out_dir)!r} holds no sweep (no sweep.json)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpikegradInputError(f"{str(path)!r} is unreadable or malformed: {exc}") from exc
    return results_rows(_tagged(load_results(out_dir, ids), listed)), len(listed)


def _terminate_as_interrupt() -> Callable[[], object]:
    """Turn SIGTERM into KeyboardInterrupt while a sweep runs, so its workers are stopped.

    Returns a function restoring the previous handler. Only in the main thread (signal
    handlers cannot be set elsewhere); SIGKILL cannot be caught, and the result files stay
    consistent either way.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc="runs",
        unit="run",
        disable=not enabled,
        dynamic_ncols=True,
    )


# ----------------------------------------------------------------------------- results
def load_results(out_dir: str | Path, run_ids: Sequence[str] | None = None) -> list[dict]:
    """Result records of a sweep folder (only ``run_ids`` if given, in that order)."""
    out = Path(out_dir)
    if run_ids is None:
        paths = sorted((out / "runs").glob("*.json"))
    else:
        paths = [_result_path(out, rid) for rid in run_ids]
    records = []
    for p in paths:
        if _is_finished(p):
            records.append(json.loads(p.read_text(encoding="utf-8")))
    return records


def _tagged(records: Sequence[dict], listed: Sequence[dict]) -> list[dict]:
    """One record per listed (run, tags): a shared run appears under each of its tags."""
    by_id = {r["run_id"]: r for r in records}
    return [{**by_id[s["run_id"]], "tags": s["tags"]} for s in listed if s["run_id"] in by_id]


def load_tagged_results(out_dir: str | Path, runs: Sequence[RunSpec]) -> list[dict]:
    """Finished results of ``runs``, one per run and tag set (see :func:`run_sweep`)."""
    listed = [r.to_dict() for r in runs]
    return _tagged(load_results(out_dir, list(dict.fromkeys(s["run_id"] for s in listed))), listed)


def _flat(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def results_rows(records: Sequence[dict]) -> list[dict]:
    """One flat row per run: ``run_id``, ``status``, tags, config fields, metrics.

    ``hidden`` becomes ``"100-100"``; ``dataset_options`` entries become ``data.<key>``
    columns; metrics of a diverged run are empty (``None``).
    """
    rows = []
    for rec in records:
        row: dict[str, Any] = {"run_id": rec["run_id"], "status": rec.get("status", "ok")}
        for k, v in rec.get("tags", {}).items():
            row[k] = _flat(v)
        for k, v in rec["config"].items():
            if k == "dataset_options":
                for dk, dv in sorted(v.items()):
                    row[f"data.{dk}"] = _flat(dv)
            else:
                row[k] = _flat(v)
        row["n_layers"] = len(rec["config"]["hidden"])
        m = rec.get("metrics", {})
        for k in METRIC_COLUMNS:
            row[k] = m.get(k)
        rows.append(row)
    return rows


def write_results_csv(rows: Sequence[dict], path: str | Path) -> None:
    """Write rows (union of their columns, first-seen order) as CSV, atomically."""
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write_text(path, buf.getvalue())


def _mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def select_learning_rate(
    rows: Sequence[dict],
    vary: Sequence[str] = ("lr",),
    over: Sequence[str] = ("seed",),
    select_on: str = "val_accuracy",
) -> list[dict]:
    """Pick the learning rate on validation per condition; report test at that choice.

    Rows are grouped by every column except ``vary`` (the settings being selected),
    ``over`` (replicates averaged over, e.g. seeds), ``run_id``, ``status`` and the
    metrics. Inside a group, the ``vary`` setting with the best mean ``select_on`` over
    replicates wins (a diverged run counts as 0); the output row holds the group's
    settings, the chosen values, and mean/sd/n of test accuracy, validation accuracy and
    spikes per neuron over the replicates of that choice. Test accuracy is never used to
    choose.
    """
    skip = set(vary) | set(over) | {"run_id", "status"} | set(METRIC_COLUMNS)
    groups: dict[tuple, dict[tuple, list[dict]]] = {}
    keys_order: list[str] = []
    for r in rows:
        for k in r:
            if k not in skip and k not in keys_order:
                keys_order.append(k)
    for r in rows:
        gkey = tuple((k, r.get(k)) for k in keys_order)
        ckey = tuple(r.get(k) for k in vary)
        groups.setdefault(gkey, {}).setdefault(ckey, []).append(r)
    out = []
    for gkey, choices in groups.items():

        def score(item):
            vals = [r[select_on] if r.get(select_on) is not None else 0.0 for r in item[1]]
            return sum(vals) / len(vals)

        best_key, best_rows = max(sorted(choices.items(), key=lambda kv: str(kv[0])), key=score)
        row = dict(gkey)
        row.update(dict(zip(vary, best_key, strict=True)))
        for metric in ("test_accuracy", "val_accuracy", "spikes_per_neuron"):
            xs = [r[metric] for r in best_rows if r.get(metric) is not None]
            m, sd = _mean_sd(xs)
            row[f"{metric}_mean"], row[f"{metric}_sd"] = m, sd
        row["n"] = len(best_rows)
        row["n_diverged"] = sum(r.get("status") == "diverged" for r in best_rows)
        row["candidates"] = len(choices)
        out.append(row)
    return out


def select_per_seed(
    rows: Sequence[dict],
    vary: Sequence[str] = ("lr",),
    over: str = "seed",
    select_on: str = "val_accuracy",
) -> tuple[list[dict], list[dict]]:
    """Pick the learning rate on validation per condition *and seed*; test at that choice.

    The grid search of Zenke & Vogels (2021) reports each configuration's best run: a seed
    that fails at one learning rate but learns at another counts with the rate it learns
    at. Rows are grouped into cells exactly as in :func:`select_learning_rate`; inside a
    cell, each replicate ``over`` (a seed: same initial weights and batch order for every
    condition) takes the ``vary`` setting with its best ``select_on`` (a diverged run
    counts as 0; ties go to the first setting in sorted order). Test accuracy is never
    used to choose.

    Returns
    -------
    (cells, choices):
        ``cells``: one row per cell with the cell's settings, mean/sd over seeds of test
        accuracy, validation accuracy and spikes per neuron at each seed's choice, ``n``,
        ``n_diverged``, ``candidates``, ``lr`` (the choice most seeds made), ``lrs`` (every
        seed's choice, ``"seed:lr"`` joined by spaces) and ``per_seed``: a dict seed ->
        ``{"test_accuracy", "val_accuracy", "spikes_per_neuron", <vary>...}`` for paired
        statistics (:mod:`spikegrad.experiments.reports`). ``choices``: one flat row per
        cell and seed (``selection.csv``): the cell's settings, the seed, the chosen
        setting, its metrics and the number of candidates.
    """
    skip = set(vary) | {over, "run_id", "status"} | set(METRIC_COLUMNS)
    keys_order: list[str] = []
    for r in rows:
        for k in r:
            if k not in skip and k not in keys_order:
                keys_order.append(k)
    groups: dict[tuple, dict[Any, dict[tuple, dict]]] = {}
    for r in rows:
        gkey = tuple((k, r.get(k)) for k in keys_order)
        ckey = tuple(r.get(k) for k in vary)
        groups.setdefault(gkey, {}).setdefault(r.get(over), {})[ckey] = r
    cells: list[dict] = []
    flat: list[dict] = []
    for gkey, by_seed in groups.items():
        per_seed: dict[Any, dict] = {}
        n_div = 0
        cand = 0
        for seed in sorted(by_seed, key=str):
            opts = by_seed[seed]
            cand = max(cand, len(opts))

            def score(item: tuple[tuple, dict]) -> float:
                v = item[1].get(select_on)
                return 0.0 if v is None else float(v)

            best_key, best = max(sorted(opts.items(), key=lambda kv: str(kv[0])), key=score)
            n_div += best.get("status") == "diverged"
            rec = dict(zip(vary, best_key, strict=True))
            for metric in ("test_accuracy", "val_accuracy", "spikes_per_neuron"):
                rec[metric] = best.get(metric)
            per_seed[seed] = rec
            flat.append({**dict(gkey), over: seed, **rec, "candidates": len(opts)})
        row = dict(gkey)
        chosen = [tuple(v[k] for k in vary) for v in per_seed.values()]
        common = max(sorted(set(chosen), key=str), key=chosen.count)
        row.update(dict(zip(vary, common, strict=True)))
        for metric in ("test_accuracy", "val_accuracy", "spikes_per_neuron"):
            xs = [v[metric] for v in per_seed.values() if v[metric] is not None]
            row[f"{metric}_mean"], row[f"{metric}_sd"] = _mean_sd(xs)
        row["n"] = len(per_seed)
        row["n_diverged"] = n_div
        row["candidates"] = cand
        row["lrs"] = " ".join(
            f"{s}:" + "/".join(f"{v[k]:g}" if isinstance(v[k], float) else str(v[k]) for k in vary)
            for s, v in per_seed.items()
        )
        row["per_seed"] = per_seed
        cells.append(row)
    return cells, flat
