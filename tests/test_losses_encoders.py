"""Spike/membrane losses and tensor encoders: values by hand, gradients, determinism."""

import math

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.encoding import delta_code, latency, rate_code
from spikegrad.functional.losses import (
    ce_count_loss,
    ce_rate_loss,
    first_spike_time_loss,
    first_spike_times,
    mse_count_loss,
    mse_membrane_loss,
    van_rossum_loss,
)

D = torch.float64


def _spikes():
    # T = 4, B = 2, K = 3
    s = torch.zeros(4, 2, 3, dtype=D)
    s[1, 0, 0] = s[2, 0, 0] = s[3, 0, 2] = 1  # sample 0: counts (2, 0, 1)
    s[0, 1, 1] = 1  # sample 1: counts (0, 1, 0)
    return s, torch.tensor([0, 2])


def test_count_and_rate_cross_entropy_by_hand():
    s, y = _spikes()
    ce0 = -math.log(math.exp(2) / (math.exp(2) + 1 + math.exp(1)))
    ce1 = -math.log(1 / (1 + math.e + 1))
    assert float(ce_count_loss(s, y)) == pytest.approx((ce0 + ce1) / 2, abs=1e-12)
    # rate: per step CE of the spike vector; 8 (step, sample) terms
    lse = {0: math.log(3), 1: math.log(math.e + 2)}  # no spike / one spike in the vector
    # sample 0 (target 0): silent, on target, on target, on class 2; sample 1 (target 2):
    # on class 1, then silent three times
    terms = [lse[0], lse[1] - 1, lse[1] - 1, lse[1], lse[1], lse[0], lse[0], lse[0]]
    assert float(ce_rate_loss(s, y)) == pytest.approx(sum(terms) / 8, abs=1e-12)


def test_mse_losses_by_hand():
    s, y = _spikes()
    # targets: s0 (3, 0, 0) vs counts (2, 0, 1); s1 (0, 0, 3) vs (0, 1, 0)
    assert float(mse_count_loss(s, y, correct=3)) == pytest.approx((1 + 0 + 1 + 0 + 1 + 9) / 6)
    u = torch.full((2, 2, 3), 0.5, dtype=D)
    # every element 0.5 away from its target (1 or 0)
    assert float(mse_membrane_loss(u, y)) == pytest.approx(0.25)
    assert float(mse_membrane_loss(u, y, on=0.5, off=0.5)) == 0.0


def test_van_rossum_loss_by_hand():
    a = torch.zeros(3, 1, 1, dtype=D)
    b = torch.zeros(3, 1, 1, dtype=D)
    a[0] = 1.0
    # f = 1, e, e^2 with e = exp(-dt/tau) = exp(-0.1); D2 = (dt/tau) sum f^2
    e = math.exp(-0.1)
    assert float(van_rossum_loss(a, b, tau=10e-3, dt=1e-3)) == pytest.approx(
        0.1 * (1 + e**2 + e**4), abs=1e-12
    )
    assert float(van_rossum_loss(a, a)) == 0.0


def test_first_spike_times_and_loss():
    s, y = _spikes()
    t = first_spike_times(s)
    assert t.tolist() == [[1.0, 4.0, 3.0], [4.0, 0.0, 4.0]]  # T = 4 where silent
    # soft spikes: t = 0*0.5 + 1*0.5*(1-0.5) + 2*... analytic check on one train
    soft = torch.tensor([0.5, 0.5, 0.0], dtype=D).reshape(3, 1, 1).requires_grad_()
    ts = first_spike_times(soft)
    # 0*0.5 + 1*0.5*0.5 + 2*0*0.25 + T*(0.5*0.5*1) = 0.25 + 0.75
    assert float(ts.detach()) == pytest.approx(1.0)
    ts.sum().backward()
    # d/ds0 [s1 (1-s0) + 3 (1-s0)(1-s1)] = -s1 - 3 (1 - s1) = -2
    assert float(soft.grad[0]) == pytest.approx(-2.0)
    loss = first_spike_time_loss(s, y, tau=1.0)
    ce0 = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-4) + math.exp(-3)))
    ce1 = -math.log(math.exp(-4) / (math.exp(-4) + 1 + math.exp(-4)))
    assert float(loss) == pytest.approx((ce0 + ce1) / 2, abs=1e-12)


def test_loss_errors():
    s, y = _spikes()
    with pytest.raises(SpikegradInputError, match=r"\[T, B, K\]"):
        ce_count_loss(s[0], y)
    with pytest.raises(SpikegradInputError, match="y must lie"):
        ce_count_loss(s, torch.tensor([0, 3]))


def test_rate_code():
    x = torch.tensor([[0.0, 0.25, 1.0]]).expand(400, 3)
    g = torch.Generator().manual_seed(0)
    state = torch.get_rng_state()
    s = rate_code(x, 50, generator=g)
    assert torch.equal(torch.get_rng_state(), state)
    assert s.shape == (50, 400, 3) and s.dtype == torch.float32
    rates = s.mean(dim=(0, 1))
    assert float(rates[0]) == 0.0 and float(rates[2]) == 1.0
    assert abs(float(rates[1]) - 0.25) < 0.01  # 20000 draws: sd 0.003
    again = rate_code(x, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)
    assert float(rate_code(x, 50, generator=g, gain=4.0).mean(dim=(0, 1))[1]) == 1.0
    with pytest.raises(SpikegradInputError, match=">= 0"):
        rate_code(-x, 5, generator=g)


def test_latency_spikes_of_a_batch():
    x = torch.tensor([[1.0, 0.21], [0.2, 0.5]])
    s = latency(x, 100, output="spikes")  # the one latency implementation
    assert s.shape == (100, 2, 2)
    assert s.sum(0).tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert int(s[:, 0, 0].argmax()) == 4 and int(s[:, 0, 1].argmax()) == 60


def test_delta_code_by_hand():
    x = torch.tensor([0.0, 0.3, 1.0, 1.0, 1.0, 0.2, 0.2], dtype=D)
    s = delta_code(x, 0.5)
    # ref 0: 0.3 no; 1.0 ON (ref 0.5); 1.0 ON (ref 1.0); 1.0 no; 0.2 OFF (ref 0.5); 0.2 no
    assert s[:, 0].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert s[:, 1].tolist() == [0, 0, 0, 0, 0, 1, 0]
    batch = torch.stack([x, -x], dim=1)  # [T, B]
    sb = delta_code(batch, 0.5)
    assert sb.shape == (7, 2, 2)
    assert torch.equal(sb[:, 0, 1], sb[:, 1, 0])  # -x: ON and OFF swap
    assert torch.equal(delta_code(x, 0.5, polarity=False), s[:, 0])


def test_models_command_lists_layers_and_rules(capsys):
    import json

    from spikegrad.cli import main
    from spikegrad.learning.rules import available_rules

    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for name in ("lif", "alif", "izhikevich", "conv2d", "avgpool2d", "maxpool2d", "flatten",
                 "dropout", "readout"):
        assert "bptt" in rows[name]["rules"], name
    assert "eprop" in rows["lif"]["rules"] and "eprop" in rows["alif"]["rules"]
    assert "eprop" not in rows["izhikevich"]["rules"]
    assert rows["srm"]["rules"] == ["kernel", "resume"]
    rules = available_rules()
    for r in rows.values():
        for rule in r["rules"]:
            assert set(rules[rule].models) & set(r["kinds"])
    assert main(["models"]) == 0
    assert "alif        bptt" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["models", "--bogus"])
    assert exc.value.code == 2
