"""DDPM schedules against their published formulas.

Expected numbers were worked out from the papers' formulas with 30-digit arithmetic (mpmath),
independently of this code, and hard-coded here:

* linear (Ho et al. 2020): ``beta_i = 1e-4 + (0.02 - 1e-4) * i / 999``;
* cosine (Nichol & Dhariwal 2021, Eq. 17): ``alpha_bar(t) = f(t)/f(0)``,
  ``f(t) = cos^2((t/T + 0.008)/1.008 * pi/2)``, ``beta_t = 1 - alpha_bar(t)/alpha_bar(t-1)``
  clipped at 0.999.
"""
import pytest
import torch

from reverse_anything.diffusion.ddpm_schedules import (
    alphas_cumprod,
    beta_schedule,
    cosine_beta_schedule,
    linear_beta_schedule,
    spaced_timesteps,
)


def test_linear_schedule_matches_ho_et_al():
    betas = linear_beta_schedule()
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    # diffusers' documented DDPMScheduler defaults: beta_start=0.0001, beta_end=0.02, 1000 steps
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-15)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-15)
    assert betas[1].item() == pytest.approx(0.00011991991991991992, rel=1e-12)
    assert betas[500].item() == pytest.approx(0.01005995995995996, rel=1e-12)
    abar = alphas_cumprod(betas)
    assert abar[499].item() == pytest.approx(0.07858724288177824, rel=1e-10)
    assert abar[-1].item() == pytest.approx(4.035829765375683e-05, rel=1e-10)


def test_cosine_schedule_matches_nichol_and_dhariwal():
    betas = cosine_beta_schedule()
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(4.128422482177780e-05, rel=1e-9)
    assert betas[1].item() == pytest.approx(4.614175273669451e-05, rel=1e-9)
    assert betas[499].item() == pytest.approx(0.003145886230478196, rel=1e-9)
    assert betas[998].item() == pytest.approx(0.7499993929011620, rel=1e-9)
    assert betas[999].item() == 0.999  # 1.0 by the formula: clipped (diffusers' max_beta)
    abar = alphas_cumprod(betas)
    assert abar[0].item() == pytest.approx(0.9999587157751782, rel=1e-12)
    assert abar[499].item() == pytest.approx(0.4938435904406377, rel=1e-9)
    assert abar[998].item() == pytest.approx(2.428766907034468e-06, rel=1e-7)


def test_cosine_schedule_at_three_steps_gives_the_reference_levels():
    """idm-method.md §4.2: with T = 3 the plain cosine gives alpha_bar = [0.743, 0.246, ~0]."""
    abar = alphas_cumprod(cosine_beta_schedule(3))
    assert abar[:2].tolist() == pytest.approx([0.7428836293917330, 0.2464481676624081], rel=1e-12)
    assert abar[2].item() == pytest.approx(0.2464481676624081 * 0.001, rel=1e-12)  # clipped last beta


def test_beta_schedule_by_name_and_bad_names():
    assert torch.equal(beta_schedule("linear", 10), linear_beta_schedule(10))
    assert torch.equal(beta_schedule("cosine", 10), cosine_beta_schedule(10))
    with pytest.raises(ValueError, match="unknown DDPM beta schedule"):
        beta_schedule("sigmoid")
    with pytest.raises(ValueError, match="timesteps"):
        linear_beta_schedule(0)


def test_spaced_timesteps_include_both_ends_and_reduce_to_the_full_chain():
    assert spaced_timesteps(1000, 1000).tolist() == list(range(999, -1, -1))
    hundred = spaced_timesteps(1000, 100)
    assert hundred[0].item() == 999 and hundred[-1].item() == 0 and len(set(hundred.tolist())) == 100
    assert (hundred[:-1] > hundred[1:]).all()
    assert spaced_timesteps(10, 4).tolist() == [9, 6, 3, 0]
    assert spaced_timesteps(10, 1).tolist() == [9]
    with pytest.raises(ValueError, match="steps"):
        spaced_timesteps(10, 11)
