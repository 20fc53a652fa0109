"""Reading and writing images as float tensors in [0, 1].

Reading goes through Pillow and forces a full decode, so a corrupt or truncated file fails here
with one clear :class:`ImageReadError` instead of deep inside a model. Writing is atomic: a failed
write never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import png
import tifffile
import torch
from PIL import Image

from ..atomic import atomic_output
from ..messages import one_line
from .color import rgb_to_y, rgb_uint8_to_y_uint8

StrPath = str | os.PathLike[str]

READ_MODES = ("rgb", "grey", "y", "keep")

# Suffix -> Pillow format name, for the formats the project reads and writes.
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_SUFFIXES = frozenset(IMAGE_FORMATS)

# Pillow modes by how they are decoded.
_GREY_8BIT_MODES = frozenset({"1", "L", "LA"})
_GREY_16BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX", "CMYK", "YCbCr"})
_PALETTE_MODES = frozenset({"P", "PA"})
_UINT16_MAX = 65535
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_PHOTOMETRIC, _TIFF_PHOTOMETRIC_RGB = 262, 2

# Pillow signals a bad file with many exception types depending on the codec.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
    png.Error,
    tifffile.TiffFileError,
)

_JPEG_QUALITY = 95


class ImageReadError(ValueError):
    """An image file that cannot be used; the message is ``"<path>: <what is wrong>"``."""

    def __init__(self, path: StrPath, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path = Path(path)


def _decode(path: Path, img: Image.Image) -> tuple[np.ndarray, bool]:
    """Decode a loaded Pillow image to ``(pixels, is_grey)``.

    Grey sources give float32 ``(H, W)`` in [0, 1]; colour sources give uint8 ``(H, W, 3)`` so the
    exact 8-bit Y of the protocol can still be computed from them.
    """
    mode = img.mode
    if mode in _GREY_8BIT_MODES:
        return np.asarray(img.convert("L"), dtype=np.float32) / np.float32(255), True
    if mode in _GREY_16BIT_MODES:
        return np.asarray(img).astype(np.float32) / np.float32(_UINT16_MAX), True
    if mode == "I":
        pixels = np.asarray(img)
        if pixels.min() < 0 or pixels.max() > _UINT16_MAX:
            raise ImageReadError(
                path,
                f"32-bit integer pixels outside 0..{_UINT16_MAX} (only 16-bit data is supported)",
            )
        return pixels.astype(np.float32) / np.float32(_UINT16_MAX), True
    if mode == "F":
        pixels = np.asarray(img, dtype=np.float32)
        if not np.isfinite(pixels).all():
            raise ImageReadError(path, "float image contains NaN or infinite values")
        if pixels.min() < 0 or pixels.max() > 1:
            raise ImageReadError(
                path,
                f"float image values span [{pixels.min():g}, {pixels.max():g}], expected [0, 1]",
            )
        return pixels.copy(), True
    if mode in _PALETTE_MODES:
        # Transparency must go through RGBA (Pillow warns otherwise); the alpha is then dropped.
        rgb = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
        pixels = np.asarray(rgb.convert("RGB"))
        if (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all():
            return pixels[..., 0].astype(np.float32) / np.float32(255), True
        return pixels, False
    if mode in _COLOUR_MODES:
        return np.asarray(img.convert("RGB")), False
    raise ImageReadError(path, f"unsupported image mode {mode!r}")


def _wide_sample_format(img: Image.Image) -> str | None:
    """``"PNG"``/``"TIFF"`` when Pillow would cut the file's 16-bit samples to 8 bits, else ``None``.

    Pillow has no 16-bit colour mode: it opens 16-bit RGB(A) PNG/TIFF, and 16-bit grey+alpha
    PNG, as 8-bit RGB(A) and silently drops the low byte of every sample (planar TIFFs come out
    as garbage), so those are decoded by pypng / tifffile instead. TIFFs say so in their
    BitsPerSample and PhotometricInterpretation tags (only RGB is rerouted: 16-bit CMYK keeps
    Pillow's conversion); for PNGs only the raw mode of the undecoded tiles tells, so call this
    before ``img.load()``.
    """
    if img.mode not in _COLOUR_MODES:
        return None
    if img.format == "TIFF":
        bits = img.tag_v2.get(_TIFF_BITS_PER_SAMPLE, 8)
        deep = max(bits if isinstance(bits, tuple) else (bits,)) > 8
        return "TIFF" if deep and img.tag_v2.get(_TIFF_PHOTOMETRIC) == _TIFF_PHOTOMETRIC_RGB else None
    if img.format == "PNG":
        raw_modes = [tile.args[0] if isinstance(tile.args, tuple) else tile.args for tile in img.tile]
        return "PNG" if any(isinstance(raw, str) and ";16" in raw for raw in raw_modes) else None
    return None


def _read_wide_samples(path: Path, file_format: str) -> tuple[np.ndarray, bool]:
    """``(pixels, is_grey)`` at full depth from a 16-bit PNG or RGB TIFF (first frame; alpha dropped).

    Pixels are float32 in [0, 1], ``(H, W)`` for grey(+alpha) PNGs, ``(H, W, 3)`` for colour.
    Samples are scaled by 1/65535 as stored (a PNG's sBIT chunk is ignored, as for 16-bit grey).
    """
    if file_format == "PNG":
        with open(path, "rb") as handle:
            width, height, rows, info = png.Reader(file=handle).read()
            samples = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
        samples = samples.reshape(height, width, info["planes"])
    else:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            samples = page.asarray()
            if page.axes.startswith("S"):  # planar (separate) configuration: samples first
                samples = np.moveaxis(samples, 0, -1)
    if samples.ndim != 3 or samples.shape[-1] not in (1, 2, 3, 4) or samples.dtype != np.uint16:
        raise ImageReadError(
            path, f"unsupported 16-bit samples: shape {samples.shape}, {samples.dtype} (expected grey or RGB, uint16)"
        )
    unit = samples.astype(np.float32) / np.float32(_UINT16_MAX)
    return (unit[..., 0], True) if samples.shape[-1] <= 2 else (unit[..., :3], False)


def read_image(path: StrPath, mode: str = "rgb", min_size: int = 1) -> torch.Tensor:
    """Read an image file as a float32 ``(C, H, W)`` tensor in [0, 1].

    ``mode``:
      * ``"rgb"``: 3 channels; grey sources are repeated.
      * ``"y"``: 1 channel, the published protocol's Y. Colour sources give OpenCV's uint8
        full-range BT.601 Y divided by 255 (so ``y * 255`` is exactly the protocol's ground
        truth); grey sources are returned as they are.
      * ``"grey"``: 1 channel; colour sources go through :func:`rgb_to_y` in float with no 8-bit
        rounding (differs from ``"y"`` by at most 0.51/255); grey sources as they are.
      * ``"keep"``: 1 channel for grey sources, 3 for colour ones.

    Grey sources are modes 1, L, LA, I;16*, I, F and palette images whose colours are all grey.
    8-bit data is scaled by 1/255 and 16-bit data (I;16*, I, 16-bit RGB PNG/TIFF and 16-bit grey+alpha
    PNG, the last three read at full depth through pypng/tifffile) by 1/65535; a 16-bit colour source has no 8-bit protocol
    Y, so ``"y"`` gives its float Y as ``"grey"`` does. Float (F) images must
    already lie in [0, 1]. Alpha channels are dropped (not composited). Only the first frame of a
    multi-frame file is read, and EXIF orientation is ignored: pixels are taken as stored.

    Raises :class:`ImageReadError` for a missing, empty, corrupt or truncated file, an unsupported
    mode, NaN/inf or out-of-range float pixels, or a side shorter than ``min_size``.
    """
    if mode not in READ_MODES:
        raise ValueError(f"mode must be one of {', '.join(READ_MODES)}; got {mode!r}")
    if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 1:
        raise ValueError(f"min_size must be a positive integer, got {min_size!r}")
    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if not path.is_file():
        raise ImageReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "file is empty")
    try:
        with Image.open(path) as img:
            wide = _wide_sample_format(img)
            img.load()  # Pillow decodes lazily; force it so truncation is caught here.
            if wide:
                pixels, is_grey = _read_wide_samples(path, wide)
            else:
                pixels, is_grey = _decode(path, img)
    except ImageReadError:
        raise
    except _DECODE_ERRORS as error:
        raise ImageReadError(path, f"cannot decode image ({one_line(error, with_type=True)})") from error

    height, width = pixels.shape[:2]
    if min(height, width) < min_size:
        raise ImageReadError(
            path, f"image is {width}x{height}, smaller than the minimum {min_size}x{min_size}"
        )
    return _to_tensor(pixels, is_grey, mode)


def _to_tensor(pixels: np.ndarray, is_grey: bool, mode: str) -> torch.Tensor:
    if is_grey:
        grey = torch.from_numpy(pixels).unsqueeze(0)
        return grey.expand(3, -1, -1).contiguous() if mode == "rgb" else grey
    eight_bit = pixels.dtype == np.uint8
    if mode == "y" and eight_bit:
        luma = rgb_uint8_to_y_uint8(pixels).astype(np.float32) / np.float32(255)
        return torch.from_numpy(luma).unsqueeze(0)
    unit = pixels.astype(np.float32) / np.float32(255) if eight_bit else pixels
    rgb = torch.from_numpy(unit).permute(2, 0, 1).contiguous()
    return rgb_to_y(rgb) if mode in ("grey", "y") else rgb


def _check_image_tensor(image: torch.Tensor) -> torch.Tensor:
    """Validate a ``(H, W)`` / ``(C, H, W)`` float image and return it as ``(C, H, W)``."""
    image = torch.as_tensor(image)
    if not torch.is_floating_point(image):
        raise ValueError(f"image must be a float tensor in [0, 1], got {image.dtype}")
    if image.ndim == 2:
        image = image.unsqueeze(0)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"image must have shape (H, W), (1, H, W) or (3, H, W); got {tuple(image.shape)}"
        )
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"image is empty: shape {tuple(image.shape)}")
    if torch.isnan(image).any():
        raise ValueError("image contains NaN values")
    return image


def quantize(image: torch.Tensor, bits: int = 8) -> np.ndarray:
    """Clamp to [0, 1] and round to unsigned ints: ``(H, W)`` for 1 channel, ``(H, W, 3)`` for 3."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits!r}")
    image = _check_image_tensor(image)
    levels = (1 << bits) - 1
    scaled = (image.detach().to("cpu", torch.float64).clamp(0, 1) * levels).round()
    array = scaled.numpy().astype(np.uint8 if bits == 8 else np.uint16)
    return array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0))


def _write_wide_colour(path: Path, levels: np.ndarray, file_format: str) -> None:
    """Write uint16 ``(H, W, 3)`` samples as a 16-bit colour PNG (pypng) or TIFF (tifffile)."""
    height, width, _ = levels.shape
    if file_format == "PNG":
        writer = png.Writer(width, height, greyscale=False, bitdepth=16)
        with open(path, "wb") as handle:
            writer.write(handle, levels.reshape(height, width * 3))
    else:
        tifffile.imwrite(path, levels, photometric="rgb")


def write_image(path: StrPath, image: torch.Tensor, bits: int = 8) -> None:
    """Write a ``(C, H, W)`` or ``(H, W)`` float image in [0, 1] (values outside are clamped).

    The format follows the suffix (.png, .jpg/.jpeg at quality 95, .bmp, .tif/.tiff). ``bits=16``
    writes 16-bit PNG or TIFF, grey or colour (colour through pypng / tifffile, as Pillow cannot).
    The file is written to a temporary name in the same directory and renamed into place, so an error never leaves a
    half-written file; invalid input raises ``ValueError`` before anything is written.
    """
    path = Path(path)
    file_format = IMAGE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ValueError(
            f"{path}: unsupported suffix {path.suffix!r}; "
            f"use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    if not path.parent.is_dir():
        raise ValueError(f"{path}: directory {path.parent} does not exist")
    image = _check_image_tensor(image)
    if bits == 16 and file_format not in ("PNG", "TIFF"):
        raise ValueError(f"{path}: 16-bit output is only supported for PNG or TIFF")
    levels = quantize(image, bits)
    if bits == 16 and levels.ndim == 3:
        with atomic_output(path) as temporary:
            _write_wide_colour(temporary, levels, file_format)
        return
    pil_image = Image.fromarray(levels)
    options = {"quality": _JPEG_QUALITY} if file_format == "JPEG" else {}

    with atomic_output(path) as temporary:
        pil_image.save(temporary, format=file_format, **options)
