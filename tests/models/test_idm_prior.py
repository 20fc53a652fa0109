"""IDM built on a DDPM prior: it starts as the prior's T-step solver, stays reversible, and trains."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.models.blocks import Injector
from reverse_anything.models.ddpm import DDPMConfig, DDPMNet
from reverse_anything.models.from_prior import idm_from_prior, load_prior_weights, prior_idm_config
from reverse_anything.models.idm import IDM, IDMConfig
from reverse_anything.models.noise_estimator import prior_weight_name
from reverse_anything.physics import CompressedSensing, Inpainting


def _prior(seed: int = 0) -> DDPMNet:
    """A small prior whose zero-initialised layers (each block's last conv, the output) are made random."""
    torch.manual_seed(seed)
    prior = DDPMNet(DDPMConfig(channels=(16, 32, 64), depth=(1, 1, 1), embed_dim=16))
    with torch.no_grad():
        for name, p in prior.named_parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn_like(p))
    return prior.eval()


def test_prior_weight_names_map_stage_blocks_and_keep_everything_else():
    assert prior_weight_name("down_stages.0.blocks.0.conv1.weight") == "down_stages.0.sequence.couplings.0.G.conv1.weight"
    assert prior_weight_name("up_stages.1.blocks.2.film.bias", "after") == "up_stages.1.sequence.couplings.2.F.film.bias"
    assert prior_weight_name("embedding.mlp.0.weight") == "embedding.mlp.0.weight"
    assert prior_weight_name("downsample.0.proj.weight") == "downsample.0.proj.weight"


@pytest.mark.parametrize("injector", ["before", "after"])
def test_the_noise_estimator_starts_as_the_prior(injector):
    prior = _prior()
    idm = idm_from_prior(prior, steps=2, injector=injector)
    backbone = idm.chain.couplings[0].F.backbone
    x = torch.randn(2, 1, 24, 40)
    alpha_bar = torch.tensor([0.3, 0.9])
    op = CompressedSensing(0.3, (24, 40))
    with torch.no_grad():
        expected = prior(x, alpha_bar)
        got = backbone(x, backbone.embedding(alpha_bar, torch.ones(2)), op.A_dagger(op.A(x)), op, 0)
    assert expected.abs().mean() > 0.1  # the check means something: the prior's output is not zero
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def _reference_solver(prior: DDPMNet, model: IDM, y: torch.Tensor, op) -> torch.Tensor:
    """The documented T-step algorithm written out on the prior itself (what IDM computes at iteration 0)."""
    y_prior = 2 * y - op.A(torch.ones_like(op.A_dagger(y)))
    x_init = op.A_dagger(y_prior)
    alpha_bar = model.schedule(x_init)
    ratio = y[0].numel() / x_init[0].numel()
    x1 = x2 = alpha_bar[:, -1].sqrt().view(-1, 1, 1, 1) * x_init / ratio
    for coupling, t in zip(model.chain.couplings, range(model.config.steps, 0, -1)):
        a_t, a_prev = alpha_bar[:, t].view(-1, 1, 1, 1), alpha_bar[:, t - 1].view(-1, 1, 1, 1)
        eps = prior(x1, a_t.flatten())
        x0 = (x1 - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x0 = x0 - op.A_dagger(op.A(x0) - y_prior)
        stepped = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        v = coupling.v
        x1, x2 = (1 - v) * stepped + v * x2, x1
    return (x1 + 1) / 2


@pytest.mark.parametrize("steps", [1, 3])
def test_before_fine_tuning_the_idm_is_the_prior_run_as_a_few_step_solver(steps):
    prior = _prior(1)
    model = idm_from_prior(prior, steps=steps, step_mixing=0.1, start="unbiased").eval()
    x = torch.rand(2, 1, 32, 32)
    op = CompressedSensing(0.3, (32, 32), perm_seed=4)
    with torch.no_grad():
        torch.testing.assert_close(model(op.A(x), op), _reference_solver(prior, model, op.A(x), op), rtol=1e-5, atol=1e-5)


def test_memory_saving_on_and_off_give_the_same_output_and_gradients():
    prior = _prior(2)
    x = torch.rand(2, 1, 32, 32, dtype=torch.float64)
    op = CompressedSensing(0.3, (32, 32), perm_seed=1).to(dtype=torch.float64)
    results = []
    for memory_saving in (True, False):
        torch.manual_seed(0)  # the same init for the parts the prior does not provide
        model = idm_from_prior(prior, steps=3, step_mixing=0.2, start="unbiased", memory_saving=memory_saving).double()
        for p in model.parameters():  # injectors and mixing away from their init, so every path carries gradient
            p.data.add_(0.01 * torch.randn_like(p))
        out = model(op.A(x), op)
        out.square().mean().backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (out_on, grads_on), (out_off, grads_off) = results
    assert torch.equal(out_on, out_off)
    assert grads_on.keys() == grads_off.keys() and len(grads_on) == len(list(model.parameters()))
    for name in grads_on:
        torch.testing.assert_close(grads_on[name], grads_off[name], rtol=1e-7, atol=1e-10, msg=name)


@pytest.mark.parametrize("injector, first_step_gradient", [("before", True), ("after", False)])
def test_injectors_start_at_zero_and_get_gradient_when_the_block_reads_them(injector, first_step_gradient):
    """``before``: the prior block reads the injected stream, so injectors learn from the first step;
    ``after``: the injection reaches the output only through the merge scale m (init 0)."""
    model = idm_from_prior(_prior(3), steps=2, start="unbiased", injector=injector)
    injectors = [m for m in model.modules() if isinstance(m, Injector)]
    assert injectors and all(float(conv.weight.detach().abs().max()) == 0 for m in injectors for conv in m.to_features)
    op = CompressedSensing(0.3, (32, 32))
    x = torch.rand(2, 1, 32, 32)
    (model(op.A(x), op) - x).abs().mean().backward()
    got = any(float(conv.weight.grad.abs().max()) > 0 for m in injectors for conv in m.to_features)
    assert got == first_step_gradient


def test_layout_mismatches_and_split_backbones_are_refused():
    prior = _prior()
    with pytest.raises(ValueError, match="the prior has channels = \\(16, 32, 64\\), not \\[8, 16\\]"):
        prior_idm_config(prior, channels=[8, 16])
    with pytest.raises(ValueError, match="unknown IDM settings"):
        prior_idm_config(prior, stepz=3)
    with pytest.raises(ValueError, match="only a 'prior' backbone"):
        load_prior_weights(IDM(IDMConfig(channels=(8, 32), depth=(1, 1), embed_dim=16)), prior)
    with pytest.raises(ValueError, match="backbone"):
        IDMConfig(backbone="resnet")
    with pytest.raises(ValueError, match="start"):
        IDMConfig(start="zeros")


def test_a_prior_idm_refuses_operators_it_was_not_trained_for():
    model = idm_from_prior(_prior(), steps=2, serves={"operator": "cs"})
    with pytest.raises(ValueError, match="trained for operator 'cs', not 'inpainting'"):
        model.check_physics(Inpainting((32, 32), keep_ratio=0.3))
