"""read_image on every Pillow mode and every failure; write_image round trips and atomicity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reverse_anything.data import (
    ImageReadError,
    read_image,
    rgb_to_y,
    rgb_uint8_to_y_uint8,
    write_image,
)

RNG = np.random.default_rng(0)
H, W = 5, 7  # non-square on purpose: catches transposed axes


def _save(img: Image.Image, path: Path) -> Path:
    img.save(path)
    return path


def _rgb_uint8() -> np.ndarray:
    return RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _grey_uint8() -> np.ndarray:
    return RNG.integers(0, 256, (H, W), dtype=np.uint8)


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_rgb_lossless_formats_read_exactly(tmp_path: Path, suffix: str) -> None:
    pixels = _rgb_uint8()
    path = _save(Image.fromarray(pixels), tmp_path / f"rgb{suffix}")
    image = read_image(path)
    assert image.dtype == torch.float32 and image.shape == (3, H, W)
    assert torch.equal(image, _chw(pixels))
    assert torch.equal(read_image(path, "keep"), image)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_grey_formats_read_exactly(tmp_path: Path, suffix: str) -> None:
    pixels = _grey_uint8()
    path = _save(Image.fromarray(pixels), tmp_path / f"grey{suffix}")
    expected = torch.from_numpy(pixels.astype(np.float32) / 255)[None]
    for mode in ("keep", "grey", "y"):
        assert torch.equal(read_image(path, mode), expected), mode
    assert torch.equal(read_image(path, "rgb"), expected.expand(3, -1, -1))


def test_jpeg_gives_pillows_decoded_pixels(tmp_path: Path) -> None:
    path = _save(Image.fromarray(_rgb_uint8()), tmp_path / "photo.jpg")
    decoded = np.asarray(Image.open(path).convert("RGB"))
    assert torch.equal(read_image(path), _chw(decoded))


def test_bilevel_mode_1(tmp_path: Path) -> None:
    bits = RNG.integers(0, 2, (H, W)).astype(bool)
    path = _save(Image.fromarray(bits), tmp_path / "bits.png")
    assert Image.open(path).mode == "1"
    assert torch.equal(read_image(path, "keep"), torch.from_numpy(bits.astype(np.float32))[None])


def test_colour_palette_is_expanded_through_the_palette(tmp_path: Path) -> None:
    palette = RNG.integers(0, 256, (256, 3), dtype=np.uint8)
    indices = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette(palette.flatten().tolist())
    path = _save(img, tmp_path / "palette.png")
    image = read_image(path, "keep")
    assert torch.equal(image, _chw(palette[indices]))


def test_grey_palette_counts_as_grey(tmp_path: Path) -> None:
    ramp = np.arange(256, dtype=np.uint8)[::-1]  # not the identity: the palette must be applied
    indices = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    img = Image.fromarray(indices, mode="P")
    img.putpalette(np.repeat(ramp, 3).tolist())
    path = _save(img, tmp_path / "grey_palette.tif")
    assert Image.open(path).mode == "P"
    image = read_image(path, "keep")
    assert torch.equal(image, torch.from_numpy(ramp[indices].astype(np.float32) / 255)[None])


def test_set11_palette_tiffs(shared_data: Path) -> None:
    for name in ("Parrots.tif", "foreman.tif"):
        path = shared_data / "set11" / name
        if not path.exists():
            pytest.skip(f"{path} not present")
        with Image.open(path) as img:
            assert img.mode == "P"
            expected = np.asarray(img.convert("L"), dtype=np.float32) / 255
        image = read_image(path, "keep")
        assert image.shape == (1, *expected.shape)
        assert torch.equal(image[0], torch.from_numpy(expected))


def test_alpha_is_dropped(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    rgba_path = _save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "rgba.png")
    assert torch.equal(read_image(rgba_path), _chw(rgba[..., :3]))
    la = RNG.integers(0, 256, (H, W, 2), dtype=np.uint8)
    la_path = _save(Image.fromarray(la, mode="LA"), tmp_path / "la.png")
    assert torch.equal(
        read_image(la_path, "keep"), torch.from_numpy(la[..., 0].astype(np.float32) / 255)[None]
    )


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_is_converted_like_pillow(tmp_path: Path, suffix: str) -> None:
    cmyk = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    path = _save(Image.fromarray(cmyk, mode="CMYK"), tmp_path / f"cmyk{suffix}")
    with Image.open(path) as img:
        assert img.mode == "CMYK"
        expected = np.asarray(img.convert("RGB"))
    assert torch.equal(read_image(path), _chw(expected))


@pytest.mark.parametrize(
    ("suffix", "pil_mode"), [(".png", "I;16"), (".tif", "I;16"), (".tif", "I;16B")]
)
def test_16_bit_grey_scaled_by_65535(tmp_path: Path, suffix: str, pil_mode: str) -> None:
    values = RNG.integers(0, 65536, (H, W)).astype(np.uint16)
    values[0, 0], values[0, 1] = 0, 65535
    byte_order = ">u2" if pil_mode.endswith("B") else "<u2"
    img = Image.frombytes(pil_mode, (W, H), values.astype(byte_order).tobytes())
    path = _save(img, tmp_path / f"deep{suffix}")
    assert Image.open(path).mode == pil_mode
    image = read_image(path, "keep")
    assert image.shape == (1, H, W)
    torch.testing.assert_close(
        image[0].double(), torch.from_numpy(values / 65535.0), rtol=0, atol=1e-7
    )
    assert image[0, 0, 0] == 0 and image[0, 0, 1] == 1


def test_32_bit_integer_tiff(tmp_path: Path) -> None:
    values = RNG.integers(0, 65536, (H, W)).astype(np.int32)
    path = _save(Image.fromarray(values, mode="I"), tmp_path / "int.tif")
    torch.testing.assert_close(
        read_image(path, "keep")[0].double(), torch.from_numpy(values / 65535.0), rtol=0, atol=1e-7
    )
    values[1, 1] = 70000
    bad = _save(Image.fromarray(values, mode="I"), tmp_path / "int_big.tif")
    with pytest.raises(ImageReadError, match="outside 0..65535"):
        read_image(bad)


def _float_tiff(tmp_path: Path, values: np.ndarray, name: str) -> Path:
    return _save(Image.fromarray(values.astype(np.float32), mode="F"), tmp_path / name)


def test_float_tiff_read_as_is(tmp_path: Path) -> None:
    values = RNG.random((H, W)).astype(np.float32)
    path = _float_tiff(tmp_path, values, "float.tif")
    assert torch.equal(read_image(path, "keep"), torch.from_numpy(values)[None])


@pytest.mark.parametrize(
    ("bad_value", "message"),
    [
        (np.nan, "NaN"),
        (np.inf, "NaN or infinite"),
        (1.5, r"expected \[0, 1\]"),
        (-0.1, r"expected \[0, 1\]"),
    ],
)
def test_float_tiff_rejects_bad_values(tmp_path: Path, bad_value: float, message: str) -> None:
    values = RNG.random((H, W)).astype(np.float32)
    values[2, 3] = bad_value
    path = _float_tiff(tmp_path, values, "bad_float.tif")
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_colour_modes_y_and_grey(tmp_path: Path) -> None:
    pixels = _rgb_uint8()
    path = _save(Image.fromarray(pixels), tmp_path / "colour.png")
    y = read_image(path, "y")
    assert y.shape == (1, H, W)
    assert torch.equal(
        y[0], torch.from_numpy(rgb_uint8_to_y_uint8(pixels).astype(np.float32) / 255)
    )
    grey = read_image(path, "grey")
    assert torch.equal(grey, rgb_to_y(_chw(pixels)))
    assert (grey - y).abs().max() <= 0.51 / 255


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, "no such file"),
        ("empty.png", b"", "file is empty"),
        ("garbage.png", bytes(range(256)) * 4, "cannot decode"),
        ("text.jpg", b"not an image at all\n", "cannot decode"),
        ("", None, "not a regular file"),  # the folder itself
    ],
    ids=["missing", "empty", "garbage", "text", "directory"],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=message) as info:
        read_image(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
def test_truncated_files(tmp_path: Path, suffix: str) -> None:
    big = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = _save(Image.fromarray(big), tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImageReadError, match="cannot decode") as info:
        read_image(cut)
    assert str(cut) in str(info.value)


def test_corrupt_png_data(tmp_path: Path) -> None:
    whole = _save(
        Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)), tmp_path / "whole.png"
    )
    data = bytearray(whole.read_bytes())
    data[200:260] = bytes(60)  # zero out part of the compressed stream
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="cannot decode"):
        read_image(bad)


def test_unsupported_mode(tmp_path: Path) -> None:
    path = _save(Image.new("LAB", (W, H)), tmp_path / "lab.tif")
    with pytest.raises(ImageReadError, match="unsupported image mode 'LAB'"):
        read_image(path)


def test_min_size(tmp_path: Path) -> None:
    path = _save(Image.fromarray(_grey_uint8()), tmp_path / "small.png")
    assert read_image(path, min_size=H).shape == (3, H, W)
    with pytest.raises(ImageReadError, match=f"image is {W}x{H}, smaller than the minimum 6x6"):
        read_image(path, min_size=H + 1)
    one = _save(Image.new("L", (1, 1), 128), tmp_path / "one.png")
    assert read_image(one, "keep").shape == (1, 1, 1)


def test_bad_arguments(tmp_path: Path) -> None:
    path = _save(Image.fromarray(_grey_uint8()), tmp_path / "g.png")
    with pytest.raises(ValueError, match="mode must be one of"):
        read_image(path, "cmyk")
    with pytest.raises(ValueError, match="min_size"):
        read_image(path, min_size=0)


# --- writing -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".tiff"])
@pytest.mark.parametrize("channels", [1, 3])
def test_write_read_round_trip_8_bit(tmp_path: Path, suffix: str, channels: int) -> None:
    levels = torch.from_numpy(RNG.integers(0, 256, (channels, H, W)))
    path = tmp_path / f"out{suffix}"
    write_image(path, levels.double() / 255)
    assert torch.equal(read_image(path, "keep"), levels.float() / 255)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_2d_rounds_and_clamps(tmp_path: Path) -> None:
    image = torch.tensor([[-0.5, 0.0, 0.2, 1.0, 1.7]], dtype=torch.float32)
    write_image(tmp_path / "c.png", image)
    assert np.asarray(Image.open(tmp_path / "c.png")).tolist() == [[0, 0, 51, 255, 255]]


def test_write_16_bit_png(tmp_path: Path) -> None:
    levels = RNG.integers(0, 65536, (1, H, W)).astype(np.float64)
    image = torch.from_numpy(levels / 65535)
    path = tmp_path / "deep.png"
    write_image(path, image, bits=16)
    assert Image.open(path).mode == "I;16"
    assert np.array_equal(np.asarray(Image.open(path)), levels[0].astype(np.uint16))
    with pytest.raises(ValueError, match="16-bit output"):
        write_image(tmp_path / "deep.jpg", image, bits=16)
    assert not (tmp_path / "deep.jpg").exists()


def test_write_jpeg(tmp_path: Path) -> None:
    image = torch.full((3, 16, 16), 0.5)
    write_image(tmp_path / "x.jpeg", image)
    assert (read_image(tmp_path / "x.jpeg") - image).abs().max() < 2 / 255


@pytest.mark.parametrize(
    ("name", "image", "message"),
    [
        ("nan.png", torch.full((1, 4, 4), float("nan")), "NaN"),
        ("x.gif", torch.zeros(1, 4, 4), "unsupported suffix"),
        ("x.png", torch.zeros(2, 4, 4), "shape"),
        ("x.png", torch.zeros(1, 1, 4, 4), "shape"),
        ("x.png", torch.zeros(4, 4, dtype=torch.uint8), "float tensor"),
        ("missing_dir/x.png", torch.zeros(1, 4, 4), "does not exist"),
    ],
)
def test_write_rejects_bad_input_before_writing(
    tmp_path: Path, name: str, image: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_image(tmp_path / name, image)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "result.png"
    path.write_bytes(b"previous content")

    def failing_save(self: Image.Image, fp, *args, **kwargs) -> None:
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(path, torch.zeros(1, 4, 4))
    assert path.read_bytes() == b"previous content"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]
    fresh = tmp_path / "fresh.png"
    with pytest.raises(OSError, match="disk full"):
        write_image(fresh, torch.zeros(1, 4, 4))
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_write_accepts_gpu_style_inputs(tmp_path: Path) -> None:
    """Tensors that need grad or live in float64 are written without complaint."""
    image = torch.rand(3, H, W, dtype=torch.float64, requires_grad=True)
    write_image(tmp_path / "g.png", image)
    levels = (image.detach() * 255).round()
    assert torch.equal(read_image(tmp_path / "g.png").double().mul(255).round(), levels)


def test_y_mode_is_the_protocols_ground_truth(shared_data: Path) -> None:
    """The published code reads with cv2.imread and converts with COLOR_BGR2YCrCb."""
    cv2 = pytest.importorskip("cv2")
    path = shared_data / "cbsd68_idm" / "test_01.png"
    if not path.exists():
        pytest.skip(f"{path} not present")
    truth = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2YCrCb)[..., 0]
    y = read_image(path, "y")[0].double() * 255
    assert torch.equal(y.round(), torch.from_numpy(truth).double())
    assert (y - y.round()).abs().max() < 1e-4
