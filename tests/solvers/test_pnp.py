"""Plug-and-play on the prior: the denoiser, the data step, the solver and its registry entry."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.data.datasets import NUM_DIHEDRAL, dihedral
from reverse_anything.models.checkpoint import save_ddpm
from reverse_anything.models.ddpm import DDPMConfig, DDPMNet
from reverse_anything.physics import Blur, CompressedSensing, FunctionOperator, Inpainting, MatrixOperator
from reverse_anything.solvers import get_restorer
from reverse_anything.diffusion.updates import conjugate_gradient
from reverse_anything.solvers.pnp import PnPSettings, pnp, prior_denoise


class OraclePrior(torch.nn.Module):
    """A 'prior' that knows the clean image: its noise estimate is exact, so its x0 estimate is the truth."""

    def __init__(self, clean: torch.Tensor) -> None:
        super().__init__()
        self.clean = 2 * clean - 1
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x_t, alpha_bar):
        a = alpha_bar.view(-1, 1, 1, 1)
        return (x_t - a.sqrt() * self.clean) / (1 - a).sqrt()


def test_prior_denoise_inverts_the_noise_model_exactly_for_an_oracle():
    x = torch.rand(2, 3, 16, 16)
    noisy = x + 0.1 * torch.randn_like(x)
    grey = x.reshape(6, 1, 16, 16)
    torch.testing.assert_close(prior_denoise(OraclePrior(grey), noisy, 0.1), x, rtol=1e-5, atol=1e-5)


class LopsidedPrior(torch.nn.Module):
    """A prior that is not equivariant to flips and rotations: a fixed, lopsided 3x3 convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(9.0).view(1, 1, 3, 3) / 40)

    def forward(self, x_t, alpha_bar):
        return self.conv(x_t)


@pytest.mark.parametrize("shape", [(1, 1, 12, 12), (2, 3, 10, 14)])
def test_the_self_ensemble_makes_a_lopsided_prior_equivariant(shape):
    noisy = torch.rand(*shape, generator=torch.Generator().manual_seed(3))
    prior = LopsidedPrior()
    single = prior_denoise(prior, noisy, 0.1)
    ensemble = prior_denoise(prior, noisy, 0.1, self_ensemble=True)
    assert ensemble.shape == noisy.shape
    assert not torch.allclose(prior_denoise(prior, dihedral(noisy, 5), 0.1), dihedral(single, 5), atol=1e-3)
    for k in range(NUM_DIHEDRAL):
        turned = prior_denoise(prior, dihedral(noisy, k), 0.1, self_ensemble=True)
        torch.testing.assert_close(turned, dihedral(ensemble, k), rtol=1e-5, atol=1e-6)


def test_the_self_ensemble_of_an_equivariant_prior_is_the_prior_itself():
    noisy = torch.rand(1, 2, 8, 12, generator=torch.Generator().manual_seed(4))
    prior = LopsidedPrior()
    with torch.no_grad():
        prior.conv.weight.copy_(torch.tensor([[[[0.0, 0.1, 0.0], [0.1, 0.2, 0.1], [0.0, 0.1, 0.0]]]]))  # symmetric: equivariant
    torch.testing.assert_close(prior_denoise(prior, noisy, 0.1, self_ensemble=True), prior_denoise(prior, noisy, 0.1))


def test_conjugate_gradient_solves_an_spd_system():
    torch.manual_seed(0)
    m = torch.randn(2, 6, 6, dtype=torch.float64)
    spd = m @ m.transpose(1, 2) + 6 * torch.eye(6, dtype=torch.float64)
    rhs = torch.randn(2, 6, 1, dtype=torch.float64)
    got = conjugate_gradient(lambda v: spd @ v, rhs, torch.zeros_like(rhs), iterations=50, tolerance=1e-12)
    torch.testing.assert_close(got, torch.linalg.solve(spd, rhs))


@pytest.mark.parametrize("data_sigma", [0.0, 0.02])
def test_with_an_oracle_denoiser_pnp_returns_the_truth(data_sigma):
    x = torch.rand(1, 1, 32, 32)
    op = CompressedSensing(0.3, (32, 32))
    out = pnp(op, op.A(x), OraclePrior(x), PnPSettings(iterations=5, data_sigma=data_sigma))
    torch.testing.assert_close(out, x, rtol=1e-3, atol=1e-3)


def test_the_exact_data_step_makes_the_result_consistent_with_y():
    x = torch.rand(1, 1, 32, 32)
    op = CompressedSensing(0.1, (32, 32))
    prior = DDPMNet(DDPMConfig(channels=(8, 16), depth=(1, 1), embed_dim=8)).eval()
    out = pnp(op, op.A(x), prior, PnPSettings(iterations=3, data_sigma=0.0))
    torch.testing.assert_close(op.A(out), op.A(x), rtol=1e-4, atol=1e-5)


def test_the_mean_start_fills_what_the_measurement_misses_with_the_mean_of_what_it_sees():
    from reverse_anything.physics import SuperResolution
    from reverse_anything.solvers.pnp import _start

    x = 0.2 + 0.6 * torch.rand(2, 3, 32, 32)
    op = Inpainting((32, 32), keep_ratio=0.3)
    kept = op.mask.bool().expand_as(x)
    start = _start(op, op.A(x), "mean")
    assert torch.equal(start[kept], x[kept])  # the kept pixels as measured
    for image in range(2):
        for channel in range(3):  # each missing pixel of an image and channel at the mean of its kept ones
            missing = start[image, channel][~kept[image, channel]]
            torch.testing.assert_close(missing, torch.full_like(missing, x[image, channel][kept[image, channel]].mean().item()))
    sr = SuperResolution((32, 32), factor=4, kernel="bicubic")  # A†A 1 = 1: nothing unseen, so the pinv start
    torch.testing.assert_close(_start(sr, sr.A(x), "mean"), _start(sr, sr.A(x), "pinv"), rtol=1e-4, atol=1e-4)


def test_the_registry_entry_restores_every_kind_of_operator(tmp_path):
    torch.manual_seed(0)
    stem = tmp_path / "prior"
    save_ddpm(DDPMNet(DDPMConfig(channels=(8, 16), depth=(1, 1), embed_dim=8)), stem)
    restore = get_restorer("pnp", model=f"{stem}.safetensors", steps=3)
    x = torch.rand(1, 3, 32, 32)
    matrix = torch.randn(512, 32 * 32, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) / 32
    user = FunctionOperator(lambda image: image[..., ::2, :], lambda y: torch.stack([y, torch.zeros_like(y)], -2).flatten(-3, -2))
    for op in (Inpainting((32, 32), keep_ratio=0.5), Blur((32, 32), sigma=1.0), CompressedSensing(0.5, (32, 32)),
               MatrixOperator(matrix, (32, 32)), user):  # a user's matrix, and a user's own (A, Aᵀ) pair
        y = op.A(x.double()).float() if isinstance(op, MatrixOperator) else op.A(x)
        out = restore(op, y)
        assert out.shape == x.shape and torch.isfinite(out).all()
        if isinstance(op, (MatrixOperator, FunctionOperator)):  # no tuned family: the exact projection ends each step
            assert (op.A(out.double()).float() if isinstance(op, MatrixOperator) else op.A(out)).sub(y).norm() < 1e-3 * y.norm()


@pytest.mark.parametrize(
    "settings, message",
    [(dict(iterations=0), "iterations"), (dict(sigma_start=0.01, sigma_end=0.1), "sigma_end <= sigma_start"),
     (dict(data_sigma=-1.0), "data_sigma"), (dict(data_sigma=float("nan")), "data_sigma")],
)
def test_impossible_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        PnPSettings(**settings)


def test_the_schedule_falls_geometrically_from_start_to_end():
    sigmas = PnPSettings(iterations=4, sigma_start=0.8, sigma_end=0.1).sigmas()
    assert sigmas[0] == pytest.approx(0.8) and sigmas[-1] == pytest.approx(0.1)
    assert sigmas[1] / sigmas[0] == pytest.approx(sigmas[3] / sigmas[2])


def test_the_shipped_defaults_are_the_best_points_of_the_recorded_tuning():
    import json
    from pathlib import Path

    from reverse_anything.solvers.pnp import PNP_DEFAULTS

    record = json.loads((Path(__file__).resolve().parents[2] / "results" / "pnp" / "tune_pnp.json").read_text())
    assert set(record["families"]) == set(PNP_DEFAULTS)
    for family, entry in record["families"].items():
        best, settings = entry["best"], PNP_DEFAULTS[family]
        for key in ("iterations", "sigma_start", "data_sigma"):
            assert getattr(settings, key) == best[key], (family, key)
        assert settings.start == best.get("start", "pinv"), family
