"""The ddpm / ddnm restorers on a (tiny, untrained) DDPM prior file: plumbing, ranges, consistency."""
import pytest
import torch

from reverse_anything.models.checkpoint import save_ddpm
from reverse_anything.models.ddpm import DDPMConfig, DDPMNet
from reverse_anything.physics import CompressedSensing, Inpainting
from reverse_anything.solvers import DDNMRestorer, DDPMRestorer


@pytest.fixture(scope="module")
def prior_path(tmp_path_factory):
    torch.manual_seed(0)
    model = DDPMNet(DDPMConfig(channels=(8, 16), depth=(1, 1), embed_dim=16, timesteps=20))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    stem = tmp_path_factory.mktemp("prior") / "prior"
    save_ddpm(model, stem)
    return stem.with_suffix(".safetensors")


def _relative_residual(op, x, y):
    return ((op.A(x) - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).max().item()


@pytest.mark.parametrize("factory, options", [(DDNMRestorer, {"steps": 5}), (DDPMRestorer, {}), (DDPMRestorer, {"steps": 4})])
def test_restorers_return_measurement_consistent_images(prior_path, factory, options):
    x = torch.rand(2, 1, 24, 20)
    op = CompressedSensing(0.3, (24, 20), block_size=8, seed=0)
    y = op.A(x)
    restored = factory(model=str(prior_path), **options)(op, y)
    assert restored.shape == x.shape and restored.dtype == x.dtype
    assert _relative_residual(op, restored, y) < 1e-5
    assert not torch.allclose(restored, op.A_dagger(y), atol=1e-3)  # the prior filled the null space


def test_colour_is_restored_channel_by_channel_in_float64(prior_path):
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64)
    op = Inpainting((16, 16), keep_ratio=0.5, seed=1)
    y = op.A(x)
    restored = DDNMRestorer(model=str(prior_path), steps=3)(op, y)
    assert restored.shape == x.shape and restored.dtype == torch.float64
    assert _relative_residual(op, restored, y) < 1e-10


def test_runs_are_reproducible_by_seed(prior_path):
    op = CompressedSensing(0.5, (16, 16), block_size=8)
    y = op.A(torch.rand(1, 1, 16, 16))
    first = DDNMRestorer(model=str(prior_path), steps=4, seed=3)(op, y)
    assert torch.equal(first, DDNMRestorer(model=str(prior_path), steps=4, seed=3)(op, y))
    assert not torch.equal(first, DDNMRestorer(model=str(prior_path), steps=4, seed=4)(op, y))


def test_bad_steps_and_missing_prior_are_refused_before_any_work(prior_path, tmp_path):
    with pytest.raises(ValueError, match="steps must be an integer in 1..20"):
        DDPMRestorer(model=str(prior_path), steps=21)
    with pytest.raises(ValueError, match="no model"):
        DDNMRestorer(model=str(tmp_path / "missing"))
