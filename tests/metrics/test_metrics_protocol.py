"""protocol_scores follows the published IDM evaluation protocol (idm-method.md §3.6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverse_anything.data import rgb_uint8_to_y_uint8
from reverse_anything.metrics import protocol_scores

skdata = pytest.importorskip("skimage.data")
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

RNG = np.random.default_rng(0)


def _y_truth() -> np.ndarray:
    return rgb_uint8_to_y_uint8(skdata.astronaut()[100:260, 150:330])


def test_y_channel_matches_the_published_recipe() -> None:
    truth = _y_truth()
    # A restoration overshooting [0, 1]: the protocol clamps, then scales by 255 without rounding.
    restored = torch.from_numpy(truth / 255.0 + RNG.normal(0, 0.04, truth.shape))[None]
    assert restored.min() < 0 or restored.max() > 1
    x_out = np.clip(restored[0].numpy(), 0, 1) * 255
    scores = protocol_scores(restored, truth, "y")
    assert scores["psnr"] == pytest.approx(
        peak_signal_noise_ratio(truth, x_out, data_range=255), abs=1e-6
    )
    assert scores["ssim"] == pytest.approx(
        structural_similarity(x_out, truth.astype(np.float64), data_range=255), abs=1e-6
    )
    # Rounding to uint8 first would change the score: the protocol does not round.
    rounded = np.round(x_out)
    assert abs(peak_signal_noise_ratio(truth, rounded, data_range=255) - scores["psnr"]) > 1e-3


def test_float32_restoration_and_2d_input() -> None:
    truth = _y_truth()
    restored = torch.from_numpy(truth / 255.0).float()
    scores = protocol_scores(restored, truth, "y")
    assert scores["psnr"] > 60 and scores["ssim"] == pytest.approx(1.0, abs=1e-9)


def test_perfect_reconstruction_scores_100() -> None:
    truth = _y_truth()
    scores = protocol_scores(torch.from_numpy(truth / 255.0)[None], truth, "y")
    assert scores == {"psnr": 100.0, "ssim": pytest.approx(1.0, abs=1e-12)}


def test_rgb_channel() -> None:
    truth = skdata.coffee()[50:200, 100:300]
    restored = torch.from_numpy(truth / 255.0 + RNG.normal(0, 0.03, truth.shape)).permute(2, 0, 1)
    x_out = np.clip(restored.permute(1, 2, 0).numpy(), 0, 1) * 255
    scores = protocol_scores(restored, truth, "rgb")
    assert scores["psnr"] == pytest.approx(
        peak_signal_noise_ratio(truth, x_out, data_range=255), abs=1e-6
    )
    expected_ssim = structural_similarity(
        x_out, truth.astype(np.float64), data_range=255, channel_axis=-1
    )
    assert scores["ssim"] == pytest.approx(expected_ssim, abs=1e-6)


def test_bad_input() -> None:
    truth = _y_truth()
    restored = torch.from_numpy(truth / 255.0)[None]
    with pytest.raises(ValueError, match="uint8"):
        protocol_scores(restored, truth.astype(np.float64), "y")
    with pytest.raises(ValueError, match="channel"):
        protocol_scores(restored, truth, "cbcr")
    with pytest.raises(ValueError, match="expected"):
        protocol_scores(restored[:, 1:], truth, "y")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        protocol_scores(restored, truth, "rgb")
