"""bf16 inference of the noise estimator: it really runs in bf16, the rest stays float32, and the output barely moves."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.transform import resize

from reverse_anything.models.precision import PRECISIONS, autocast_for, check_precision
from reverse_anything.physics import CompressedSensing, SuperResolution, Tiled
from reverse_anything.solvers import get_restorer


def _photo(size: tuple[int, int]) -> torch.Tensor:
    """A real photo (scikit-image's camera), so the comparison is on image content, not noise."""
    grey = resize(data.camera().astype(np.float64) / 255, size, anti_aliasing=True)
    return torch.from_numpy(grey).float()[None, None]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def _conv_input_dtypes(restore) -> set:
    """The dtypes the estimator's 3x3 convolutions saw in one restoration (recorded by forward hooks)."""
    seen: set = set()
    convs = [m for m in restore.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    hooks = [conv.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype)) for conv in convs]
    return seen, hooks


@pytest.mark.parametrize("model, op", [("cs-0.3", CompressedSensing(0.3, (64, 96), perm_seed=1)),
                                       ("sr", SuperResolution((64, 96), factor=4, kernel="bicubic"))], ids=["cs", "sr"])
def test_bf16_runs_the_estimator_in_bf16_and_stays_within_a_hair_of_fp32(model, op):
    x = _photo((64, 96))
    y = op.A(x)
    exact, fast = get_restorer("idm", model=model, precision="fp32"), get_restorer("idm", model=model, precision="bf16")
    reference = exact(op, y)
    seen, hooks = _conv_input_dtypes(fast)
    approximate = fast(op, y)
    for hook in hooks:
        hook.remove()
    assert torch.bfloat16 in seen  # the convolutions really ran in bf16
    assert approximate.dtype == torch.float32 and approximate.shape == reference.shape
    assert not torch.equal(approximate, reference)
    assert _psnr(approximate, reference) > 40  # the two restorations agree to far better than either fits the truth
    assert abs(_psnr(approximate.clamp(0, 1), x) - _psnr(reference.clamp(0, 1), x)) < 0.1


def test_fp32_is_the_default_and_unchanged_by_a_bf16_restorer_loaded_before_it():
    op = CompressedSensing(0.3, (64, 64), perm_seed=2)
    y = op.A(_photo((64, 64)))
    get_restorer("idm", model="cs-0.3", precision="bf16")(op, y)  # its own copy of the model: nothing shared
    default, explicit = get_restorer("idm", model="cs-0.3"), get_restorer("idm", model="cs-0.3", precision="fp32")
    seen, hooks = _conv_input_dtypes(default)
    torch.testing.assert_close(default(op, y), explicit(op, y), rtol=0, atol=0)
    for hook in hooks:
        hook.remove()
    assert seen == {torch.float32}


def test_bf16_with_tiles_colour_and_the_self_ensemble():
    op = Tiled(CompressedSensing(0.3, (32, 32), perm_seed=3), (64, 64), tile=32)
    x = torch.rand(1, 3, 64, 64)
    y = op.A(x)
    fast = get_restorer("idm", model="cs", precision="bf16", self_ensemble=2)(op, y)
    exact = get_restorer("idm", model="cs", self_ensemble=2)(op, y)
    assert fast.shape == x.shape and fast.dtype == torch.float32 and torch.isfinite(fast).all()
    assert _psnr(fast, exact) > 35


@pytest.mark.parametrize("precision", ["fp16", "bfloat16", "", None, 16])
def test_unknown_precisions_are_refused_in_one_line(precision):
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16") as error:
        get_restorer("idm", model="cs", precision=precision)
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError):
        check_precision(precision)


def test_the_autocast_region_is_empty_for_fp32():
    a = torch.rand(8, 8)
    assert set(PRECISIONS) == {"fp32", "bf16"}
    with autocast_for("fp32", "cpu"):
        assert (a @ a).dtype == torch.float32
    with autocast_for("bf16", "cpu"):
        assert (a @ a).dtype == torch.bfloat16
