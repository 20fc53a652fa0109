"""DDPM / DDNM samplers with an exact prior: Gaussian data, whose optimal noise predictor is analytic.

For ``x0 ~ N(mu, s^2 I)`` and ``x_t = sqrt(a) x0 + sqrt(1 - a) eps``,
``E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a)``.  With a noiseless
measurement ``y = A x`` (orthonormal rows), the exact posterior keeps ``A†y`` and draws the
null-space part from ``N(P_null mu, s^2 P_null)``: the prior is isotropic, so the null-space
part is independent of ``A x``.
"""
import pytest
import torch

from reverse_anything.diffusion.ddpm_schedules import alphas_cumprod, linear_beta_schedule
from reverse_anything.diffusion.samplers import ddnm_sample, ddpm_sample
from reverse_anything.physics import CompressedSensing

MU, S = 0.3, 0.5
TABLE = alphas_cumprod(linear_beta_schedule(1000))


def gaussian_eps(x: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """The optimal noise predictor for N(MU, S^2 I) data."""
    a = alpha_bar.view(-1, 1, 1, 1)
    return (1 - a).sqrt() * (x - a.sqrt() * MU) / (a * S**2 + 1 - a)


def _noise(shape, seed, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_ddpm_reproduces_the_data_mean_and_variance():
    x = ddpm_sample(gaussian_eps, _noise((2000, 1, 4, 4), 0), TABLE, generator=torch.Generator().manual_seed(1))
    # 32000 scalars: standard error of the mean 0.003, of the variance 0.8 %
    assert x.mean().item() == pytest.approx(MU, abs=0.01)
    assert x.var().item() == pytest.approx(S**2, rel=0.03)


def test_ddim_stepped_ddnm_reproduces_the_data_mean_and_variance_roughly():
    """100 DDIM steps of eta 0.85 are an approximation: the variance comes out a few % low."""
    x = ddnm_sample(gaussian_eps, _noise((2000, 1, 4, 4), 2), TABLE, generator=torch.Generator().manual_seed(3))
    assert x.mean().item() == pytest.approx(MU, abs=0.01)
    assert x.var().item() == pytest.approx(S**2, rel=0.15)


def test_ddnm_with_eta_one_and_every_step_is_ancestral_ddpm():
    table = alphas_cumprod(linear_beta_schedule(50))
    start = _noise((3, 1, 5, 5), 4)
    a = ddpm_sample(gaussian_eps, start, table, generator=torch.Generator().manual_seed(5))
    b = ddnm_sample(gaussian_eps, start, table, steps=50, eta=1.0, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    c = ddnm_sample(gaussian_eps, start, table, steps=50, eta=0.5, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(a, c, atol=1e-3)


def test_ddnm_with_eta_zero_is_deterministic():
    start = _noise((2, 1, 4, 4), 6)
    a = ddnm_sample(gaussian_eps, start, TABLE, eta=0.0, generator=torch.Generator().manual_seed(0))
    b = ddnm_sample(gaussian_eps, start, TABLE, eta=0.0, generator=torch.Generator().manual_seed(99))
    assert torch.equal(a, b)


def _cs_problem(batch: int, size: int = 16, ratio: float = 0.25):
    op = CompressedSensing(ratio, (size, size), block_size=16, seed=0).to(dtype=torch.float64)
    truth = MU + S * _noise((1, 1, size, size), 7)
    y = op.A(truth).expand(batch, -1, -1, -1)
    return op, y


@pytest.mark.parametrize("sampler, options", [(ddnm_sample, {}), (ddnm_sample, {"eta": 0.0}), (ddpm_sample, {"steps": 100})])
def test_projected_samplers_return_measurement_consistent_images(sampler, options):
    op, y = _cs_problem(batch=4)
    x = sampler(gaussian_eps, _noise((4, 1, 16, 16), 8), TABLE, physics=op, y=y, generator=torch.Generator().manual_seed(9), **options)
    residual = (op.A(x) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)
    assert residual.max().item() < 1e-10
    # without the projection the same run is far from consistent: the check can fail
    free = sampler(gaussian_eps, _noise((4, 1, 16, 16), 8), TABLE, generator=torch.Generator().manual_seed(9), **options)
    assert ((op.A(free) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).min().item() > 0.1


def test_projected_ddpm_samples_the_exact_gaussian_posterior():
    batch = 60
    op, y = _cs_problem(batch)
    x = ddpm_sample(gaussian_eps, _noise((batch, 1, 16, 16), 10), TABLE, physics=op, y=y, generator=torch.Generator().manual_seed(11))
    null = x - op.A_dagger(op.A(x))
    mean = torch.full((1, 1, 16, 16), MU, dtype=torch.float64)
    null_mean = mean - op.A_dagger(op.A(mean))
    deviation = null - null_mean
    null_dims = 256 - 64  # 16x16 pixels, ceil(0.25 * 256) measurements
    # 60 x 192 null-space scalars: standard error of the mean 0.005, of the variance ratio 1.3 %
    assert deviation.mean().item() == pytest.approx(0.0, abs=0.02)
    assert (deviation.square().sum() / (batch * null_dims * S**2)).item() == pytest.approx(1.0, abs=0.06)


def test_float32_stays_float32():
    x = ddnm_sample(gaussian_eps, _noise((2, 1, 8, 8), 12, torch.float32), TABLE, steps=10)
    assert x.dtype == torch.float32 and torch.isfinite(x).all()


def test_bad_arguments_are_refused():
    start = _noise((1, 1, 4, 4), 0)
    op, y = _cs_problem(batch=1)
    with pytest.raises(ValueError, match="both physics and y"):
        ddnm_sample(gaussian_eps, start, TABLE, physics=op)
    with pytest.raises(ValueError, match="steps"):
        ddpm_sample(gaussian_eps, start, TABLE, steps=1001)
    with pytest.raises(ValueError, match="eta"):
        ddnm_sample(gaussian_eps, start, TABLE, eta=-1.0)
