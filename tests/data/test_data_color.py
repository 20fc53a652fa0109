"""Colour conversions against OpenCV (the published protocol's converter); per_channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reverse_anything.data import (
    per_channel,
    rgb_to_y,
    rgb_to_ycbcr,
    rgb_uint8_to_y_uint8,
    ycbcr_to_rgb,
)

skimage_data = pytest.importorskip("skimage.data")


def _real_rgb_uint8() -> list[np.ndarray]:
    return [skimage_data.astronaut(), skimage_data.coffee(), skimage_data.chelsea()]


def test_uint8_y_equals_opencv_bit_for_bit() -> None:
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    random_colours = rng.integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    grey_ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    for rgb in [random_colours, grey_ramp, *_real_rgb_uint8()]:
        expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0]
        assert np.array_equal(rgb_uint8_to_y_uint8(rgb), expected)
    # Plain float rounding is *not* the protocol: the exact fixed-point arithmetic matters.
    wide = random_colours.astype(np.float64)
    naive = np.floor(wide @ np.array([0.299, 0.587, 0.114]) + 0.5).astype(np.uint8)
    assert not np.array_equal(naive, cv2.cvtColor(random_colours, cv2.COLOR_RGB2YCrCb)[..., 0])


def test_uint8_y_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        rgb_uint8_to_y_uint8(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        rgb_uint8_to_y_uint8(np.zeros((2, 2, 4), dtype=np.uint8))


def test_float_ycbcr_equals_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    rgb = skimage_data.astronaut().astype(np.float32) / 255
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)  # OpenCV orders Y, Cr, Cb
    ours = rgb_to_ycbcr(torch.from_numpy(rgb).permute(2, 0, 1))
    assert ours.dtype == torch.float32
    expected = torch.from_numpy(ycrcb[..., [0, 2, 1]]).permute(2, 0, 1)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        rgb_to_y(torch.from_numpy(rgb).permute(2, 0, 1)), expected[:1], rtol=0, atol=1e-6
    )
    # Our inverse is exact; OpenCV's uses rounded coefficients and stays within 5e-4 of it.
    back_cv = cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
    back = ycbcr_to_rgb(expected.double()).permute(1, 2, 0).numpy()
    assert np.abs(back - back_cv).max() < 5e-4


def test_ycbcr_round_trip_float64() -> None:
    rgb = torch.rand(2, 3, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ycc = rgb_to_ycbcr(rgb)
    assert ycc.dtype == torch.float64 and ycc.shape == rgb.shape
    torch.testing.assert_close(ycbcr_to_rgb(ycc), rgb, rtol=0, atol=1e-13)


def test_float_y_is_the_uint8_y_before_rounding() -> None:
    rgb = skimage_data.coffee()
    exact = rgb_to_y(torch.from_numpy(rgb.astype(np.float64) / 255).permute(2, 0, 1))[0] * 255
    rounded = torch.from_numpy(rgb_uint8_to_y_uint8(rgb).astype(np.float64))
    # Half a level of rounding plus OpenCV's 14-bit weights (off by < 3e-5 each).
    assert (exact - rounded).abs().max() <= 0.5 + 255 * 2.4e-5


def test_conversions_reject_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, H, W\)"):
        rgb_to_y(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="float"):
        rgb_to_ycbcr(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_per_channel_processes_channels_independently() -> None:
    x = torch.rand(2, 3, 8, 6, dtype=torch.float64)

    def normalise(t: torch.Tensor) -> torch.Tensor:  # depends on the whole plane it is given
        assert t.shape[1] == 1
        return t / t.mean(dim=(2, 3), keepdim=True)

    out = per_channel(normalise, x)
    expected = torch.stack(
        [torch.cat([normalise(x[n : n + 1, c : c + 1]) for c in range(3)], 1)[0] for n in range(2)]
    )
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, x / x.mean(dim=(1, 2, 3), keepdim=True))


def test_per_channel_allows_new_trailing_shape() -> None:
    x = torch.rand(2, 3, 8, 6)
    out = per_channel(lambda t: F.avg_pool2d(t, 2), x)
    torch.testing.assert_close(out, F.avg_pool2d(x, 2))
    with pytest.raises(ValueError, match="one channel|\\(N\\*C, 1"):
        per_channel(lambda t: t.repeat(1, 2, 1, 1), x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        per_channel(lambda t: t, x[0])
