"""PSNR and SSIM against scikit-image on real images, on Y (one channel) and RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reverse_anything.data import example_images, read_image
from reverse_anything.metrics import PSNR_IDENTICAL, psnr, ssim

skimage = pytest.importorskip("skimage")
from skimage import data as skdata  # noqa: E402
from skimage.filters import gaussian as gaussian_blur  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

TOL = 1e-6
RNG = np.random.default_rng(0)


def _degrade(image: np.ndarray) -> np.ndarray:
    """Blur plus noise, in [0, 1], float64: a realistic restoration output."""
    channel_axis = -1 if image.ndim == 3 else None
    blurred = gaussian_blur(image, sigma=1.2, channel_axis=channel_axis)
    return np.clip(blurred + RNG.normal(0, 0.05, image.shape), 0, 1)


def _grey_pair() -> tuple[np.ndarray, np.ndarray]:
    ref = skdata.camera()[100:300, 150:380].astype(np.float64) / 255
    return _degrade(ref), ref


def _rgb_pair() -> tuple[np.ndarray, np.ndarray]:
    ref = skdata.astronaut()[:180, 60:260].astype(np.float64) / 255
    return _degrade(ref), ref


def _batch(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) numpy -> (1, C, H, W) tensor."""
    tensor = torch.from_numpy(image)
    return (tensor[None] if image.ndim == 2 else tensor.permute(2, 0, 1))[None]


def _skimage_ssim(x: np.ndarray, ref: np.ndarray, data_range: float, gaussian: bool) -> float:
    options = (
        {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False} if gaussian else {}
    )
    channel_axis = -1 if x.ndim == 3 else None
    return structural_similarity(
        x, ref, data_range=data_range, channel_axis=channel_axis, **options
    )


@pytest.mark.parametrize("pair", [_grey_pair, _rgb_pair], ids=["grey", "rgb"])
@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_psnr_equals_skimage(pair, scale: float) -> None:
    x, ref = (a * scale for a in pair())
    expected = peak_signal_noise_ratio(ref, x, data_range=scale)
    ours = psnr(_batch(x), _batch(ref), data_range=scale)
    assert ours.shape == (1,) and ours.dtype == torch.float64
    assert abs(ours.item() - expected) <= TOL


@pytest.mark.parametrize("pair", [_grey_pair, _rgb_pair], ids=["grey", "rgb"])
@pytest.mark.parametrize("gaussian", [False, True], ids=["uniform", "gaussian"])
@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_ssim_equals_skimage(pair, gaussian: bool, scale: float) -> None:
    x, ref = (a * scale for a in pair())
    expected = _skimage_ssim(x, ref, scale, gaussian)
    ours = ssim(_batch(x), _batch(ref), data_range=scale, gaussian=gaussian)
    assert ours.shape == (1,) and ours.dtype == torch.float64
    assert abs(ours.item() - expected) <= TOL


def test_gaussian_and_uniform_ssim_differ() -> None:
    x, ref = _grey_pair()
    uniform = ssim(_batch(x), _batch(ref), 1.0).item()
    gaussian = ssim(_batch(x), _batch(ref), 1.0, gaussian=True).item()
    assert abs(uniform - gaussian) > 1e-3


def test_per_image_scores_of_a_batch() -> None:
    """Each image of a batch is scored on its own; the mean over the batch is the reported value."""
    refs = [
        skdata.camera()[i : i + 64, j : j + 80].astype(np.float64) / 255
        for i, j in ((0, 0), (200, 100), (300, 300))
    ]
    outs = [_degrade(r) for r in refs]
    x = torch.cat([_batch(o) for o in outs])
    ref = torch.cat([_batch(r) for r in refs])
    expected_psnr = [
        peak_signal_noise_ratio(r, o, data_range=1.0) for o, r in zip(outs, refs, strict=True)
    ]
    expected_ssim = [_skimage_ssim(o, r, 1.0, False) for o, r in zip(outs, refs, strict=True)]
    torch.testing.assert_close(
        psnr(x, ref, 1.0), torch.tensor(expected_psnr, dtype=torch.float64), rtol=0, atol=TOL
    )
    torch.testing.assert_close(
        ssim(x, ref, 1.0), torch.tensor(expected_ssim, dtype=torch.float64), rtol=0, atol=TOL
    )
    assert abs(ssim(x, ref, 1.0).mean().item() - np.mean(expected_ssim)) <= TOL
    assert len(set(np.round(expected_psnr, 3))) == 3  # the images really differ


def _shipped_colour_example() -> Path:
    return next(p for p in example_images() if p.name == "astronaut.png")


@pytest.mark.parametrize("source", ["shipped", "benchmark"])
def test_on_a_real_colour_image_in_y_and_rgb(source: str, shared_data: Path) -> None:
    """The package's own example always runs; a CBSD68 image too when ../shared is present."""
    path = _shipped_colour_example() if source == "shipped" else shared_data / "cbsd68_idm" / "test_01.png"
    if not path.exists():
        pytest.skip(f"{path} not present")
    for mode in ("y", "rgb"):
        ref = read_image(path, mode)[:, 40:200, 100:300].double().permute(1, 2, 0).numpy()
        ref = ref[..., 0] if mode == "y" else ref
        x = _degrade(ref)
        assert (
            abs(
                psnr(_batch(x), _batch(ref), 1.0).item()
                - peak_signal_noise_ratio(ref, x, data_range=1.0)
            )
            <= TOL
        )
        for gaussian in (False, True):
            ours = ssim(_batch(x), _batch(ref), 1.0, gaussian=gaussian).item()
            assert abs(ours - _skimage_ssim(x, ref, 1.0, gaussian)) <= TOL


def test_identical_images() -> None:
    ref = _batch(_grey_pair()[1])
    assert psnr(ref, ref.clone(), 1.0).item() == PSNR_IDENTICAL
    assert ssim(ref, ref.clone(), 1.0).item() == pytest.approx(1.0, abs=1e-12)


def test_smallest_window_size() -> None:
    ref = np.random.default_rng(1).random((7, 9))
    x = np.clip(ref + 0.1, 0, 1)
    assert abs(ssim(_batch(x), _batch(ref), 1.0).item() - _skimage_ssim(x, ref, 1.0, False)) <= TOL
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim(_batch(x[:6]), _batch(ref[:6]), 1.0)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(_batch(x), _batch(ref), 1.0, gaussian=True)


def test_float32_inputs_keep_float64_scores() -> None:
    x, ref = _grey_pair()
    x32, ref32 = _batch(x).float(), _batch(ref).float()
    expected = structural_similarity(
        x32[0, 0].double().numpy(), ref32[0, 0].double().numpy(), data_range=1.0
    )
    assert abs(ssim(x32, ref32, 1.0).item() - expected) <= TOL


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_bad_input(metric) -> None:
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="shapes differ"):
        metric(x, torch.rand(1, 1, 16, 15), 1.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        metric(x[0], x[0], 1.0)
    for bad_range in (0, -1.0, float("nan"), None):
        with pytest.raises(ValueError, match="data_range"):
            metric(x, x, bad_range)
    nan = x.clone()
    nan[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        metric(nan, x, 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda() -> None:
    x, ref = _rgb_pair()
    expected = _skimage_ssim(x, ref, 1.0, False)
    ours = ssim(_batch(x).cuda().float(), _batch(ref).cuda().float(), 1.0)
    assert ours.device.type == "cuda"
    assert abs(ours.item() - expected) <= 1e-5  # float32 inputs
