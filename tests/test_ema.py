"""EMA weights: the average is what validation and export see, and a resumed run keeps it exactly."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from reverse_anything.ema import EMA


def test_the_average_follows_the_update_rule_and_swapping_restores_the_raw_weights():
    model = nn.Linear(3, 2)
    start = [p.detach().clone() for p in model.parameters()]
    ema = EMA(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update()  # decay ramps: min(0.9, 2/11)
    d = 2 / 11
    for average, s in zip(ema.average, start):
        torch.testing.assert_close(average, d * s + (1 - d) * (s + 1))
    raw = [p.detach().clone() for p in model.parameters()]
    with ema.swapped_in():
        assert all(torch.equal(p, a) for p, a in zip(model.parameters(), ema.average))
    assert all(torch.equal(p, r) for p, r in zip(model.parameters(), raw))


def test_state_round_trip_and_refusals():
    model = nn.Linear(3, 2)
    ema = EMA(model, decay=0.99)
    ema.update()
    other = EMA(nn.Linear(3, 2), decay=0.99)
    other.load_state_tensors(ema.state_tensors())
    assert other.updates == 1 and all(torch.equal(a, b) for a, b in zip(ema.average, other.average))
    with pytest.raises(ValueError, match="no EMA weights"):
        other.load_state_tensors({})
    with pytest.raises(ValueError, match="decay"):
        EMA(model, decay=1.0)
