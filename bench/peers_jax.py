"""The Spyx (JAX) side of bench/peers.py; runs with the JAX environment's python.

    .venv-jax/bin/python bench/peers_jax.py parity --input in.npz --output out.npz
    .venv-jax/bin/python bench/peers_jax.py time --weights w.npz --variant ff --T 100
    .venv-jax/bin/python bench/peers_jax.py time --weights w.npz --variant rec --input x.npz

``parity`` reads spikegrad's weights (``W`` [H, 700], optional ``V`` [H, H],
``Wout`` [20, H]; H = 200 in bench/peers.py, the hidden size is taken from ``W``) and
input spikes ``x`` [T, B, 700], and writes the Spyx network's hidden spikes and readout
trace. ``time`` trains the network (one ``jax.jit``-compiled step: forward scan,
backward, optax Adam) and prints one JSON row: on random spikes of density 0.02 with
``--T`` steps and ``--batch`` samples, or, with ``--input``, on the batch of that file
(``x`` [T, B, 700], bool/uint8 or float32, and labels ``y`` [B]; ``--T`` and
``--batch`` are then taken from it).

Mapping (docs/peers.md): Spyx's ``CuBaLIF`` / ``RCuBaLIF`` have no (1 - beta) factor,
so the input and recurrent weights are scaled by (1 - beta_mem); the hidden spike at t
is spikegrad's S[t + 1] until a neuron's first spike, after which Spyx's subtractive
reset (and, recurrent, its one-step-shorter loop) make them differ. The readout is two
``LI`` filters (synapse, then membrane), with (1 - beta_out) in the weights; its output
at t is spikegrad's readout at t + 3.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _memory import _status_mb, memory_baseline, peak_since_baseline  # noqa: E402

N_IN, N_HID, N_OUT = 700, 200, 20
P_IN = 0.02
DT = 1e-3
TAU_SYN, TAU_MEM, TAU_OUT = 5e-3, 10e-3, 20e-3
BETA = 10.0
U0 = -1e-3
LR = 1e-3
BM = math.exp(-DT / TAU_MEM)
BS = math.exp(-DT / TAU_SYN)
BMO = math.exp(-DT / TAU_OUT)


def set_threads(k: int) -> str:
    """Pin to k CPUs and ask XLA for k intra-op threads (before jax is imported)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))[:k]
        os.sched_setaffinity(0, cpus)
    except (AttributeError, OSError):  # pragma: no cover
        cpus = []
    flags = os.environ.get("XLA_FLAGS", "")
    flags += f" --xla_cpu_multi_thread_eigen={'true' if k > 1 else 'false'}"
    flags += f" intra_op_parallelism_threads={k}"
    os.environ["XLA_FLAGS"] = flags.strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    return f"XLA_FLAGS='{os.environ['XLA_FLAGS']}', cpu affinity={cpus}"


def set_sizes(w) -> None:
    """Take the layer sizes from the weights: ``W`` [H, 700], ``Wout`` [20, H]."""
    global N_IN, N_HID, N_OUT
    N_HID, N_IN = w["W"].shape
    N_OUT = w["Wout"].shape[0]
    if w["Wout"].shape[1] != N_HID or ("V" in w and w["V"].shape != (N_HID, N_HID)):
        shapes = {k: w[k].shape for k in ("W", "V", "Wout") if k in w}
        raise SystemExit(f"weights of inconsistent shapes: {shapes}")


def load_input(path: str):
    """The batch of an ``--input`` file as float32 ``x`` [T, B, N_IN] and int labels ``y``.

    Converted step by step, so no float [T, B, N_IN] temporary beyond ``x`` itself."""
    import numpy as np

    d = np.load(path)
    src, y = d["x"], np.asarray(d["y"]).astype(np.int32)
    if src.ndim != 3 or src.shape[2] != N_IN or y.shape != (src.shape[1],):
        raise SystemExit(f"--input: x {src.shape} must be [T, B, {N_IN}], y {y.shape} [B]")
    x = np.empty(src.shape, np.float32)
    for t in range(src.shape[0]):
        x[t] = src[t]
    return x, y


def build(w, rec: bool):
    """The Spyx network with spikegrad's weights; returns (model, hidden-only model)."""
    import jax.numpy as jnp
    import spyx
    from flax import nnx

    rngs = nnx.Rngs(0)
    fc1 = nnx.Linear(N_IN, N_HID, use_bias=False, rngs=rngs)
    fc1.kernel.value = jnp.asarray(w["W"].T * (1 - BM), jnp.float32)
    act = spyx.axn.superspike(k=BETA)
    if rec:
        lif = spyx.nn.RCuBaLIF((N_HID,), alpha=BS, beta=BM, threshold=1.0, activation=act,
                               rngs=rngs)  # fmt: skip
        # spikes @ recurrent_w: row = presynaptic, spikegrad's V[post, pre] transposed
        lif.recurrent_w.value = jnp.asarray(w["V"].T * (1 - BM), jnp.float32)
    else:
        lif = spyx.nn.CuBaLIF((N_HID,), alpha=BS, beta=BM, threshold=1.0, activation=act,
                              rngs=rngs)  # fmt: skip
    fc2 = nnx.Linear(N_HID, N_OUT, use_bias=False, rngs=rngs)
    fc2.kernel.value = jnp.asarray(w["Wout"].T * (1 - BMO), jnp.float32)
    syn_out = spyx.nn.LI((N_OUT,), beta=BS, rngs=rngs)
    mem_out = spyx.nn.LI((N_OUT,), beta=BMO, rngs=rngs)
    model = spyx.nn.Sequential(fc1, lif, fc2, syn_out, mem_out)
    hidden = spyx.nn.Sequential(fc1, lif)
    return model, hidden


def initial_state(model, batch: int):
    import jax.numpy as jnp

    state = model.initial_state(batch)
    state[-1] = jnp.full((batch, N_OUT), U0 * BMO**2, jnp.float32)  # readout start u0
    return state


def trainable(path, value) -> bool:
    """Only the weights are trained; the decay factors (nnx.Params in Spyx) stay fixed."""
    from flax import nnx

    return isinstance(value, nnx.Param) and path[-1] in ("kernel", "recurrent_w")


def cmd_parity(args) -> None:
    import numpy as np

    set_threads(args.threads)
    import spyx

    d = np.load(args.input)
    w = {k: d[k] for k in d.files}
    set_sizes(w)
    rec = "V" in w
    model, hidden = build(w, rec)
    x = spyx.jnp.asarray(w["x"], spyx.jnp.float32)
    readout, _ = spyx.nn.run(model, x, initial_state(model, x.shape[1]))
    spikes, _ = spyx.nn.run(hidden, x)
    np.savez(args.output, spikes=np.asarray(spikes), readout=np.asarray(readout))


def cmd_time(args) -> None:
    thread_info = set_threads(args.threads)
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    import spyx
    from flax import nnx

    d = np.load(args.weights)
    w = {k: d[k] for k in d.files}
    set_sizes(w)
    rec = args.variant == "rec"
    if rec and "V" not in w:
        raise SystemExit("--variant rec needs a recurrent weight V in --weights")
    if args.input:
        x, y = load_input(args.input)
        args.T, args.batch = x.shape[:2]
    else:
        rng = np.random.default_rng(0)
        # step by step: no float64 [T, B, 700] temporary raises the memory high-water mark
        x = np.empty((args.T, args.batch, N_IN), np.float32)
        for t in range(args.T):
            x[t] = rng.random((args.batch, N_IN)) < P_IN
        y = rng.integers(0, N_OUT, args.batch)
    density = float(x.mean())
    x = jnp.asarray(x)
    y = jnp.asarray(y)
    x.block_until_ready()
    base = memory_baseline()

    model, hidden = build(w, rec)
    graphdef, params, rest = nnx.split(model, trainable, ...)
    state0 = initial_state(model, args.batch)
    tx = optax.adam(LR)
    opt_state = tx.init(params)

    def loss_fn(params, x, y):
        m = nnx.merge(graphdef, params, rest)
        out, _ = spyx.nn.run(m, x, state0)
        logits = out.max(axis=0)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    # bench/peers.py: the first 100 steps; with --input (bench/shd_cpu.py) all of them
    rate = float(spyx.nn.run(hidden, x if args.input else x[: min(args.T, 100)])[0].mean())
    wall, cpu = [], []
    for k in range(args.warmup + args.steps):
        if k == args.warmup:  # steady state: the XLA compile peak is behind us
            warm_peak = peak_since_baseline(base)
            memory_baseline()
        t0, c0 = time.perf_counter(), time.process_time()
        params, opt_state, loss = train_step(params, opt_state, x, y)
        jax.block_until_ready((params, opt_state, loss))
        t1, c1 = time.perf_counter(), time.process_time()
        if k >= args.warmup:
            wall.append(t1 - t0)
            cpu.append(c1 - c0)
        print(f"    spyx {args.variant} H={N_HID} T={args.T} step "
              f"{k + 1}/{args.warmup + args.steps}: {t1 - t0:.3f} s", file=sys.stderr,
              flush=True)  # fmt: skip
    steady = peak_since_baseline(base)
    rss = _status_mb("VmRSS")
    row = {
        "library": "spyx",
        "variant": args.variant,
        "T": args.T,
        "hidden": N_HID,
        "batch": args.batch,
        "s_per_step": statistics.median(wall),
        "s_per_step_min": min(wall),
        "s_per_step_max": max(wall),
        "peak_mb": max(warm_peak, steady),
        "steady_peak_mb": steady,
        "cpu_s": statistics.median(cpu),
        # RSS after the last step over the same baseline (imports + data)
        "rss_after_mb": None if rss is None else rss - base,
        "steps": args.steps,
        "warmup": args.warmup,
        "input_density": density,
        "hidden_rate": rate,
        "loss": float(loss),
        "threads": thread_info,
        "versions": {"jax": jax.__version__, "spyx": spyx.__version__},
    }
    print(json.dumps(row))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("parity")
    a.add_argument("--input", required=True)
    a.add_argument("--output", required=True)
    a.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("time")
    b.add_argument("--weights", required=True)
    b.add_argument("--variant", choices=["ff", "rec"], default="ff")
    b.add_argument("--T", type=int, default=100, help="steps of the random input")
    b.add_argument("--batch", type=int, default=256, help="samples of the random input")
    b.add_argument("--input", metavar="NPZ",
                   help="train on this batch instead: x [T, B, 700] (bool/uint8/float32), "
                   "y [B]")  # fmt: skip
    b.add_argument("--warmup", type=int, default=2)
    b.add_argument("--steps", type=int, default=10)
    b.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    cmd_parity(args) if args.cmd == "parity" else cmd_time(args)


if __name__ == "__main__":
    main()
