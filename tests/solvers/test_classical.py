"""Classical solvers: pinv, TV (correctness against an oracle, generality), and the registry."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.restoration import denoise_tv_chambolle

from reverse_anything.data import example_images, read_image
from reverse_anything.metrics import psnr
from reverse_anything.physics import CompressedSensing, Denoising, FunctionOperator, Inpainting, Tiled
from reverse_anything.solvers.classical import TV_NOISY_DEFAULTS
from reverse_anything.solvers import TV_DEFAULTS, available_methods, get_restorer, pinv, tv
from reverse_anything.solvers.classical import gradient, gradient_adjoint


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """A real 96x128 grey photo (the shipped camera.png, cropped for speed) as (1, 1, H, W)."""
    path = next(p for p in example_images() if p.name == "camera.png")
    return read_image(path, mode="y")[None, :, 64:160, 64:192].contiguous()


class OnlyVerbs:
    """A bare operator: the three verbs and nothing else, counting how often each is used."""

    def __init__(self, op: torch.nn.Module) -> None:
        self._op = op
        self.calls = {"A": 0, "A_adjoint": 0, "A_dagger": 0}

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self.calls["A"] += 1
        return self._op.A(x)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.calls["A_adjoint"] += 1
        return self._op.A_adjoint(y)

    def A_dagger(self, y: torch.Tensor) -> torch.Tensor:
        self.calls["A_dagger"] += 1
        return self._op.A_dagger(y)


@pytest.mark.parametrize("shape", [(1, 1, 5, 7), (2, 3, 8, 1), (1, 2, 1, 6)])
def test_gradient_adjoint_is_exact(shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    g = torch.randn((shape[0], shape[1], 2, *shape[2:]), generator=generator, dtype=torch.float64)
    lhs = (gradient(x) * g).sum()
    rhs = (x * gradient_adjoint(g)).sum()
    assert abs(float(lhs - rhs)) <= 1e-12 * float(x.norm() * g.norm())


def test_gradient_of_constant_is_zero_and_of_ramp_is_one() -> None:
    assert gradient(torch.full((1, 1, 4, 5), 0.3)).abs().max() == 0
    ramp = torch.arange(5.0).expand(1, 1, 4, 5)
    assert torch.equal(gradient(ramp)[0, 0, 1, :, :-1], torch.ones(4, 4))


def test_tv_denoising_matches_scikit_image_chambolle(camera: torch.Tensor) -> None:
    """With A = I and no box, tv solves ½‖x − y‖² + w·TV(x): the problem Chambolle's algorithm solves."""
    noisy = camera.double() + 0.1 * torch.randn(camera.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    weight = 0.08
    ours = tv(Denoising(), noisy, weight=weight, iterations=3000, tolerance=1e-9, box=None)
    oracle = denoise_tv_chambolle(noisy[0, 0].numpy(), weight=weight, eps=1e-9, max_num_iter=5000)
    assert np.abs(ours[0, 0].numpy() - oracle).max() < 1e-3
    assert float(psnr(ours, camera.double(), 1.0)[0]) > float(psnr(noisy, camera.double(), 1.0)[0]) + 5


def test_tv_with_zero_weight_is_box_constrained_least_squares() -> None:
    y = torch.rand(1, 1, 6, 6, dtype=torch.float64) * 1.4 - 0.2
    result = tv(Denoising(), y, weight=0.0, iterations=500, tolerance=0)
    torch.testing.assert_close(result, y.clamp(0, 1), atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "make_operator",
    [
        lambda size: CompressedSensing(0.3, size, block_size=16),
        lambda size: Inpainting(size, keep_ratio=0.3),
    ],
    ids=["cs-0.3", "inpainting-0.3"],
)
def test_tv_beats_pinv_on_a_real_image(camera: torch.Tensor, make_operator) -> None:
    op = make_operator(tuple(camera.shape[-2:]))
    y = op.A(camera)
    baseline = float(psnr(pinv(op, y).clamp(0, 1), camera, 1.0)[0])
    restored = tv(op, y)
    assert restored.min() >= 0 and restored.max() <= 1  # the default box
    assert float(psnr(restored, camera, 1.0)[0]) > baseline + 8


def test_tv_needs_only_the_three_verbs(camera: torch.Tensor) -> None:
    op = CompressedSensing(0.3, tuple(camera.shape[-2:]), block_size=16)
    y = op.A(camera)
    bare = OnlyVerbs(op)
    result = tv(bare, y, weight=0.01, iterations=40, tolerance=0)
    assert bare.calls["A_dagger"] == 1 and bare.calls["A"] > 40 and bare.calls["A_adjoint"] > 40
    torch.testing.assert_close(result, tv(op, y, weight=0.01, iterations=40, tolerance=0))
    # A user operator from two functions (A_dagger by CGLS) gives the same answer.
    wrapped = FunctionOperator(op.A, op.A_adjoint)
    torch.testing.assert_close(tv(wrapped, y, weight=0.01, iterations=40, tolerance=0), result, atol=1e-4, rtol=0)


class TwoVerbs:
    """Only ``A`` and ``A_adjoint``, as a user might hand over two functions."""

    def __init__(self, op) -> None:
        self.A, self.A_adjoint = op.A, op.A_adjoint


def test_tv_works_with_only_a_and_its_adjoint(camera: torch.Tensor) -> None:
    op = CompressedSensing(0.3, tuple(camera.shape[-2:]), block_size=16)
    y = op.A(camera)
    restored = tv(TwoVerbs(op), y, weight=0.01, iterations=300)
    reference = tv(op, y, weight=0.01, iterations=300)
    assert abs(float(psnr(restored, camera, 1.0)[0]) - float(psnr(reference, camera, 1.0)[0])) < 0.1  # same minimiser
    assert float(psnr(restored, camera, 1.0)[0]) > float(psnr(op.A_dagger(y), camera, 1.0)[0]) + 8


def test_tv_takes_the_operator_family_defaults(camera: torch.Tensor) -> None:
    op = Inpainting(tuple(camera.shape[-2:]), keep_ratio=0.5)
    y = op.A(camera)
    defaults = TV_DEFAULTS["inpainting"]
    expected = tv(op, y, weight=defaults.weight, iterations=defaults.iterations)
    assert torch.equal(tv(op, y), expected)
    assert torch.equal(tv(OnlyVerbs(op), y, operator_family="inpainting"), expected)


def test_tv_on_a_noisy_cs_measurement_takes_the_weight_tuned_with_noise(camera: torch.Tensor) -> None:
    from reverse_anything.physics import CompressedSensing

    image = camera[..., :64, :64]
    noisy, clean = (CompressedSensing(0.3, (64, 64), noise_sigma=s) for s in (0.03, 0.0))
    y = noisy(image, generator=torch.Generator().manual_seed(0))
    assert TV_NOISY_DEFAULTS["cs"].weight > TV_DEFAULTS["cs"].weight
    assert torch.equal(tv(noisy, y, iterations=20), tv(noisy, y, weight=TV_NOISY_DEFAULTS["cs"].weight, iterations=20))
    assert torch.equal(tv(clean, y, iterations=20), tv(clean, y, weight=TV_DEFAULTS["cs"].weight, iterations=20))


def test_tv_on_a_tiled_operator_takes_the_wrapped_family_defaults(camera: torch.Tensor) -> None:
    """Tiling changes where an operator applies, not its kind: denoising's weight (0.1), not the fallback."""
    image = camera[..., :64, :64]
    op = Tiled(Denoising(), (64, 64), tile=32)
    assert op.family == "denoising" and TV_DEFAULTS["denoising"].weight != TV_DEFAULTS["cs"].weight
    y = op.A(image) + 0.1 * torch.randn(op.A(image).shape, generator=torch.Generator().manual_seed(0), dtype=image.dtype)
    expected = tv(op, y, weight=TV_DEFAULTS["denoising"].weight, iterations=20, tolerance=0)
    assert torch.equal(tv(op, y, iterations=20, tolerance=0), expected)


def test_tv_keeps_dtype_and_stops_on_tolerance(camera: torch.Tensor) -> None:
    op = Inpainting(tuple(camera.shape[-2:]), keep_ratio=0.5)
    y = op.A(camera.double())
    counted = OnlyVerbs(op)
    result = tv(counted, y, weight=0.01, iterations=10_000, tolerance=1e-3)
    assert result.dtype == torch.float64
    assert counted.calls["A"] < 10_000


@pytest.mark.parametrize(
    "options, message",
    [({"weight": -1.0}, "weight"), ({"weight": float("nan")}, "weight"), ({"iterations": 0}, "iterations"), ({"box": (1.0, 0.0)}, "box")],
)
def test_tv_rejects_bad_settings(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tv(Denoising(), torch.rand(1, 1, 4, 4), **options)


def test_registry() -> None:
    assert {"pinv", "tv"} <= set(available_methods())
    op = Inpainting((6, 6), keep_ratio=0.5)
    y = op.A(torch.rand(1, 1, 6, 6))
    assert torch.equal(get_restorer("pinv")(op, y), op.A_dagger(y))
    assert torch.equal(get_restorer("tv", weight=0.05, iterations=20)(op, y), tv(op, y, weight=0.05, iterations=20))
    with pytest.raises(ValueError, match="unknown method 'nope'.*pinv.*tv"):
        get_restorer("nope")
    with pytest.raises(ValueError, match="does not take option.*weight"):
        get_restorer("pinv", weight=1.0)


def test_every_method_is_a_restorer_class_in_one_registry():
    from reverse_anything.solvers import RESTORERS, Restorer, method_options

    assert set(RESTORERS) == {"pinv", "tv", "idm", "ddpm", "ddnm", "pnp"}
    for name, cls in RESTORERS.items():
        assert issubclass(cls, Restorer) and cls.name == name and "progress" in method_options(name)
    restorer = get_restorer("tv", iterations=5)
    assert isinstance(restorer, Restorer) and restorer.model is None and restorer.model_name == ""
    with pytest.raises(ValueError, match="does not take option"):
        get_restorer("pinv", weight=1.0)
