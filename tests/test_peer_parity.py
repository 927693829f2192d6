"""Forward parity of the peer libraries' networks in bench/peers.py with spikegrad.

Same weights and input spikes; the peer's hidden spike at step t must equal
spikegrad's S[t + shift] (docs/peers.md derives the mapping). Where a peer's model
can be configured to be spikegrad's exactly (plain torch loop, snnTorch, Norse with a
one-step refractory period) the spike trains must be identical and the readout traces
equal to float32 rounding; where it cannot (Norse LIF and SpikingJelly reset the
membrane but keep the current input of the step after a spike, Spyx resets by
subtraction), they must agree up to each neuron's first spike. Peers that are not
installed are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import peers  # noqa: E402

T, B = 40, 8


@pytest.fixture(scope="module")
def data():
    x, _ = peers.make_data(T, B, seed=3)
    return {rec: peers.make_weights(rec) for rec in (False, True)}, x


def _check_exact(res: dict) -> None:
    assert res["ref_spikes"] > 20, "test network too silent to say anything"
    assert res["spikes_equal"], res
    assert res["readout_max_abs_diff"] < 1e-5, res


def _check_until_reset(res: dict, rec: bool) -> None:
    assert res["ref_spikes"] > 20, "test network too silent to say anything"
    if rec:  # another neuron's earlier spike reaches this one a step sooner
        assert res["first_mismatch_t"] is None or res["first_mismatch_t"] > res["first_spike_t"]
    else:
        assert res["mismatches_before_first_spike"] == 0, res


@pytest.mark.parametrize("rec", [False, True])
def test_torch_loop_is_exact(data, rec):
    w, x = data
    _check_exact(peers.parity_torch_peer("torch", w[rec], rec, x))


@pytest.mark.parametrize("rec", [False, True])
def test_snntorch_is_exact_after_shift(data, rec):
    pytest.importorskip("snntorch")
    w, x = data
    res = peers.parity_torch_peer("snntorch", w[rec], rec, x)
    assert res["shift"] == 2
    _check_exact(res)


def test_norse_refractory_is_exact_after_shift(data):
    pytest.importorskip("norse")
    w, x = data
    _check_exact(peers.parity_torch_peer("norse", w[False], False, x, refractory=True))


@pytest.mark.parametrize("rec", [False, True])
def test_norse_lif_equal_until_reset(data, rec):
    pytest.importorskip("norse")
    w, x = data
    res = peers.parity_torch_peer("norse", w[rec], rec, x)
    _check_until_reset(res, rec)
    assert not res["spikes_equal"]  # the documented difference shows at this activity


@pytest.mark.parametrize("rec", [False, True])
def test_spikingjelly_equal_until_reset(data, rec):
    pytest.importorskip("spikingjelly")
    w, x = data
    _check_until_reset(peers.parity_torch_peer("spikingjelly", w[rec], rec, x), rec)


def test_spyx_equal_until_reset(data):
    ok, why = peers.available("spyx")
    if not ok:
        pytest.skip(why)
    w, x = data
    res = peers.parity_spyx(w[False], False, x)
    assert res["shift"] == 1
    _check_until_reset(res, False)


def test_loss_runs_for_every_installed_peer(data):
    """One backward pass per installed torch peer: the timed step works."""
    w, x = data
    y = torch.zeros(B, dtype=torch.long)
    for lib in ("spikegrad", "torch", "snntorch", "norse", "spikingjelly"):
        if not peers.available(lib)[0]:
            continue
        m = peers.build(lib, w[True], True)
        m.loss(x, y).backward()
        grads = [p.grad for p in m.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), lib
