"""Before/after pictures: images tiled in a grid with a text label over each (Pillow only)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = ["labelled_grid", "describe_operator"]

LabelledImage = tuple[str, Tensor]

_BACKGROUND = 255
_TEXT = (0, 0, 0)


def _as_rgb_uint8(image: Tensor) -> np.ndarray:
    """``(C, H, W)`` or ``(H, W)`` float in [0, 1] (clamped) as ``(H, W, 3)`` uint8."""
    image = image.detach().to("cpu", torch.float64)
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"grid images must be (H, W), (1, H, W) or (3, H, W), got {tuple(image.shape)}")
    image = image.expand(3, -1, -1)
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


_HIDDEN_KEYS = {"operator", "image_size", "seed", "perm_seed", "eps", "inner"}


# The one parameter (and the noise) that says what a measurement is, for short labels: "cs: ratio 0.3"
HEADLINE_KEYS = ("ratio", "keep_ratio", "sigma", "factor", "acceleration", "n_angles", "noise_sigma")


def short_label(config: dict) -> str:
    """``cs: ratio 0.3``: an operator config's family and headline parameter (the noise only when there is some)."""
    shown = [f"{key} {config[key]:g}" for key in HEADLINE_KEYS if key in config and (key != "noise_sigma" or config[key])]
    return f"{config['operator']}: {', '.join(shown)}" if shown else str(config["operator"])


def describe_operator(op) -> str:
    """A one-line description of an operator from its ``config()`` for picture titles, e.g. ``cs: ratio 0.3, scramble True`` (and the block side).

    Scalars only (arrays, seeds and sizes are left out); a tiled operator describes the operator it tiles.
    """
    config = op.config()
    prefix = ""
    if config.get("operator") == "tiled" and isinstance(config.get("inner"), dict):
        prefix, config = f"tiled {config['tile'][0]}x{config['tile'][1]}, ", config["inner"]
    parts = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in config.items()
             if k not in _HIDDEN_KEYS and isinstance(v, (int, float, str, bool)) and v is not None and not (k == "noise_sigma" and v == 0)]
    return f"{config.get('operator', type(op).__name__)}: {prefix}" + ", ".join(parts)


def labelled_grid(rows: Sequence[Sequence[LabelledImage]], gap: int = 6, title: str | None = None) -> Tensor:
    """Tile labelled images row by row into one ``(3, H, W)`` float image in [0, 1].

    ``title``, when given, is one line of text above the whole grid (what was measured, say).

    Each cell is as large as the largest image in its row and column; smaller images sit in
    the top-left corner on a white background. The label is written above its image.
    Grey images are shown as grey RGB.
    """
    if not rows or not all(rows):
        raise ValueError("a grid needs at least one row and every row at least one image")
    pixels = [[(label, _as_rgb_uint8(image)) for label, image in row] for row in rows]
    font = ImageFont.load_default()
    label_height = max(font.getbbox(label)[3] for row in rows for label, _ in row) + gap
    n_columns = max(len(row) for row in pixels)
    column_widths = [
        max(cell[1].shape[1] for row in pixels if column < len(row) for cell in [row[column]])
        for column in range(n_columns)
    ]
    row_heights = [max(cell[1].shape[0] for cell in row) + label_height for row in pixels]
    title_height = font.getbbox(title)[3] + gap if title else 0
    canvas = Image.new(
        "RGB",
        (sum(column_widths) + gap * (n_columns + 1), title_height + sum(row_heights) + gap * (len(rows) + 1)),
        (_BACKGROUND,) * 3,
    )
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, gap), title, fill=_TEXT, font=font)
    top = gap + title_height
    for row, height in zip(pixels, row_heights):
        left = gap
        for (label, image), width in zip(row, column_widths):
            draw.text((left, top), label, fill=_TEXT, font=font)
            canvas.paste(Image.fromarray(image), (left, top + label_height))
            left += width + gap
        top += height + gap
    return torch.from_numpy(np.asarray(canvas).copy()).permute(2, 0, 1).float() / 255
