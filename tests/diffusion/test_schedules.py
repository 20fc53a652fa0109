"""Noise schedules: Eq. 2's cosine base by its formula, bounds, and learnability."""
import math

import pytest
import torch

from reverse_anything.diffusion.schedules import (
    AdaptiveSchedule,
    CosineSchedule,
    GlobalLearnedSchedule,
    alpha_bar_from_betas,
    build_schedule,
    cosine_betas,
)


def test_cosine_base_matches_eq2_by_hand():
    # beta_t = (1 - cos(pi t / 2T)) / s, written out for T = 3, s = 2
    expected = [(1 - math.cos(math.pi * t / 6)) / 2 for t in (1, 2, 3)]
    assert torch.allclose(cosine_betas(3, 2.0), torch.tensor(expected, dtype=torch.float64), atol=1e-15)
    alpha_bar = alpha_bar_from_betas(cosine_betas(3, 2.0))
    assert alpha_bar.tolist() == pytest.approx([1.0, 0.9330127, 0.6997595, 0.3498797], abs=1e-7)


def test_plain_cosine_would_reach_zero_and_clipping_prevents_it():
    assert alpha_bar_from_betas(cosine_betas(3, 1.0))[-1].item() == pytest.approx(0.0, abs=1e-12)
    schedule = CosineSchedule(3, s=1.0)
    alpha_bar = schedule(torch.zeros(2, 1, 8, 8, dtype=torch.float64))
    assert alpha_bar.shape == (2, 4)
    assert alpha_bar[:, -1].min().item() >= (1 - 0.75) * 0.1  # beta_max = 0.75 caps the last step


def test_adaptive_starts_at_cosine_and_stays_bounded():
    torch.manual_seed(0)
    x = torch.rand(3, 1, 32, 32, dtype=torch.float64)
    adaptive = AdaptiveSchedule(3, s=2.0, lam=0.25).double()
    cosine = CosineSchedule(3, s=2.0).double()
    assert torch.allclose(adaptive(x), cosine(x))
    for p in adaptive.phi.parameters():  # push Phi hard: tanh keeps beta inside base +- lambda
        torch.nn.init.normal_(p, std=10.0)
    alpha_bar = adaptive(x)
    worst = alpha_bar_from_betas(torch.clamp(cosine_betas(3, 2.0) + 0.25, max=0.75))[-1].item()
    assert alpha_bar[:, -1].min().item() >= worst - 1e-12
    assert (alpha_bar[:, 1:] < alpha_bar[:, :-1]).all()


def test_adaptive_term_depends_on_the_measurement_and_learns():
    torch.manual_seed(1)
    schedule = AdaptiveSchedule(3).double()
    torch.nn.init.normal_(schedule.phi.head.weight, std=1.0)
    smooth = torch.full((1, 1, 32, 32), 0.5, dtype=torch.float64)
    rough = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    assert not torch.allclose(schedule(smooth), schedule(rough))
    schedule(rough)[:, -1].sum().backward()
    assert schedule.phi.head.weight.grad.abs().sum() > 0


def test_global_schedule_starts_at_published_values():
    alpha_bar = GlobalLearnedSchedule(3)(torch.zeros(1, 1, 4, 4))
    assert alpha_bar[0].tolist() == pytest.approx([1.0, 0.5, 0.25, 0.125])


@pytest.mark.parametrize("kwargs", [{"kind": "nope", "steps": 3}, {"kind": "cosine", "steps": 0}, {"kind": "cosine", "steps": 3, "s": -1.0}])
def test_bad_schedule_parameters(kwargs):
    with pytest.raises(ValueError):
        build_schedule(**kwargs)
