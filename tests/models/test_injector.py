"""The measurement injector computes the published formula, in a cheaper order (1x1 maps on the coarse grid)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reverse_anything.models.blocks import Injector, coarse_grid_conv
from reverse_anything.physics import Blur, CompressedSensing, Inpainting


def test_the_published_order_is_the_formula_as_written():
    injector = _random_injector(32, 4)
    injector.published_order = True
    physics = CompressedSensing(0.3, (32, 32))
    f, x_init = torch.randn(1, 32, 8, 8, dtype=torch.float64), torch.randn(1, 1, 32, 32, dtype=torch.float64)
    z = injector.to_image[0](F.pixel_shuffle(f, 4))
    u = torch.cat([z, physics.A_dagger(physics.A(z)), x_init], dim=1)
    torch.testing.assert_close(injector(f, None, x_init, physics, step=0), F.pixel_unshuffle(injector.to_features[0](u), 4))


def _random_injector(channels: int, scale: int) -> Injector:
    torch.manual_seed(scale)
    injector = Injector(channels, scale, steps=3)
    with torch.no_grad():
        for p in injector.parameters():
            p.copy_(torch.randn_like(p))  # the zero-initialised maps too, or the test could not fail
    return injector.double()


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("make_operator", [
    lambda size: CompressedSensing(0.3, size),
    lambda size: Inpainting(size, keep_ratio=0.5, seed=1),
    lambda size: Blur(sigma=1.5, image_size=size),
], ids=["cs", "inpainting", "blur"])
def test_same_values_and_gradients_as_the_published_formula(scale, make_operator):
    size = (40, 56)  # not a multiple of 8 x 8 at scale 8: the padded border is covered too
    physics = make_operator(size)
    injector = _random_injector(16 * scale, scale)
    coarse = (-(-size[0] // scale), -(-size[1] // scale))
    f = torch.randn(2, 16 * scale, *coarse, dtype=torch.float64, requires_grad=True)
    x_init = torch.randn(2, 1, *size, dtype=torch.float64)
    ours = injector(f, None, x_init, physics, step=1)
    injector.published_order = True
    reference = injector(f, None, x_init, physics, step=1)
    torch.testing.assert_close(ours, reference)
    weights = torch.randn_like(ours)
    grads = torch.autograd.grad((ours * weights).sum(), [f, *injector.parameters()], allow_unused=True)
    expected = torch.autograd.grad((reference * weights).sum(), [f, *injector.parameters()], allow_unused=True)
    for got, want in zip(grads, expected):
        if want is None:
            assert got is None  # other steps' weights
        else:
            torch.testing.assert_close(got, want)


def test_coarse_grid_conv_moves_a_1x1_map_across_the_pixel_unshuffle():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 1).double()
    u = torch.randn(1, 3, 12, 20, dtype=torch.float64)
    torch.testing.assert_close(coarse_grid_conv(F.pixel_unshuffle(u, 4), conv, 4), F.pixel_unshuffle(conv(u), 4))
