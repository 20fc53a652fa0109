"""read_image and write_image at 16 bits per channel: colour PNG/TIFF at full depth, planar and CMYK TIFFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverse_anything.data import ImageReadError, read_image, rgb_to_y, write_image

RNG = np.random.default_rng(1)
H, W = 5, 7  # non-square on purpose: catches transposed axes


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)


def _rgb_uint16(planes: int = 3) -> np.ndarray:
    values = RNG.integers(0, 65536, (H, W, planes)).astype(np.uint16)
    values[0, 0, 0], values[0, 1, 0], values[1, 0, 0] = 0, 65535, 1007  # 1007 has a non-zero low byte
    return values


def _write_png16(path: Path, values: np.ndarray) -> Path:
    import png  # written by pypng, independently of how read_image decodes it

    planes = values.shape[-1]
    writer = png.Writer(W, H, greyscale=False, alpha=planes == 4, bitdepth=16)
    with open(path, "wb") as handle:
        writer.write(handle, values.reshape(H, W * planes))
    return path


def _write_tiff16(path: Path, values: np.ndarray, planar: bool = False) -> Path:
    import tifffile

    tifffile.imwrite(path, values.transpose(2, 0, 1) if planar else values, photometric="rgb",
                     planarconfig="separate" if planar else "contig")
    return path


def test_16_bit_planar_tiff_only_3_pixels_wide(tmp_path: Path) -> None:
    """Samples-first layout is read from the file, not guessed from a 3-wide array's shape."""
    values = RNG.integers(0, 65536, (7, 3, 3)).astype(np.uint16)
    import tifffile

    tifffile.imwrite(tmp_path / "narrow.tif", values.transpose(2, 0, 1), photometric="rgb", planarconfig="separate")
    rgb = read_image(tmp_path / "narrow.tif")
    assert rgb.shape == (3, 7, 3)
    torch.testing.assert_close(rgb.double(), torch.from_numpy(values / 65535.0).permute(2, 0, 1), rtol=0, atol=1e-7)


def test_16_bit_grey_with_alpha_png_is_grey_at_full_depth(tmp_path: Path) -> None:
    import png

    values = RNG.integers(0, 65536, (H, W, 2)).astype(np.uint16)
    with open(tmp_path / "la.png", "wb") as handle:
        png.Writer(W, H, greyscale=True, alpha=True, bitdepth=16).write(handle, values.reshape(H, W * 2))
    grey = read_image(tmp_path / "la.png", "keep")
    assert grey.shape == (1, H, W)
    torch.testing.assert_close(grey[0].double(), torch.from_numpy(values[..., 0] / 65535.0), rtol=0, atol=1e-7)


def test_16_bit_cmyk_tiff_keeps_pillows_colour_conversion(tmp_path: Path) -> None:
    import tifffile

    values = RNG.integers(0, 65536, (H, W, 4)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "cmyk.tif", values, photometric="separated")
    with Image.open(tmp_path / "cmyk.tif") as img:
        expected = np.asarray(img.convert("RGB"))
    assert torch.equal(read_image(tmp_path / "cmyk.tif"), _chw(expected))


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp, v: _write_png16(tmp / "deep.png", v),
        lambda tmp, v: _write_tiff16(tmp / "deep.tif", v),
        lambda tmp, v: _write_tiff16(tmp / "planar.tif", v, planar=True),
    ],
    ids=["png", "tiff", "tiff-planar"],
)
def test_16_bit_colour_read_at_full_depth(tmp_path: Path, make) -> None:
    values = _rgb_uint16()
    path = make(tmp_path, values)
    with Image.open(path) as img:  # what Pillow alone would give: the high bytes only
        assert img.mode == "RGB" and not np.array_equal(np.asarray(img).astype(np.uint16) * 257, values)
    rgb = read_image(path)
    expected = torch.from_numpy(values.astype(np.float64) / 65535).permute(2, 0, 1)
    torch.testing.assert_close(rgb.double(), expected, rtol=0, atol=1e-7)
    assert rgb[0, 1, 0] * 65535 == pytest.approx(1007, abs=1e-2)
    # no 8-bit protocol Y exists for 16-bit sources: "y" is the float luma, as "grey"
    torch.testing.assert_close(read_image(path, "y"), rgb_to_y(rgb))
    assert torch.equal(read_image(path, "y"), read_image(path, "grey"))
    assert read_image(path, "keep").shape == (3, H, W)


def test_16_bit_colour_alpha_is_dropped(tmp_path: Path) -> None:
    values = _rgb_uint16(planes=4)
    rgb = read_image(_write_png16(tmp_path / "rgba.png", values))
    torch.testing.assert_close(
        rgb.double(), torch.from_numpy(values[..., :3] / 65535.0).permute(2, 0, 1), rtol=0, atol=1e-7
    )


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_write_16_bit_colour_round_trips_exactly(tmp_path: Path, suffix: str) -> None:
    values = _rgb_uint16()
    image = torch.from_numpy(values.astype(np.float64) / 65535).permute(2, 0, 1)
    path = tmp_path / f"deep{suffix}"
    write_image(path, image, bits=16)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    assert torch.equal((read_image(path).double() * 65535).round().to(torch.int64),
                       torch.from_numpy(values.astype(np.int64)).permute(2, 0, 1))


def test_corrupt_16_bit_colour_png(tmp_path: Path) -> None:
    data = bytearray(_write_png16(tmp_path / "ok.png", _rgb_uint16()).read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 8] = b"\xff" * 8  # broken zlib stream
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="bad.png: cannot decode"):
        read_image(tmp_path / "bad.png")
