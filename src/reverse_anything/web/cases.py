"""What the web page does, without HTTP: measure an uploaded image (or load a measurement file), restore it with
the chosen methods, score each result exactly as ``eval`` does, and keep a few cases in memory for the page.

Everything that can be wrong with an input raises ``ValueError`` with one line the page shows as it is.
"""
from __future__ import annotations

import tempfile
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data import example_images, read_image
from ..evaluate import measure_truth, showcase_setting, truth_from_image
from ..measurement import load_measurement, save_measurement
from ..metrics import protocol_scores
from ..physics import LinearPhysics, build_operator, operator_defaults
from ..physics.inpainting import DEFAULT_KEEP_RATIO
from ..solvers import Restorer, get_restorer

__all__ = ["Limits", "Case", "Result", "Cases", "PAGE_OPERATORS", "PAGE_METHODS", "page_options", "operator_for_page",
           "case_from_image", "case_from_measurement", "restore_case", "measurement_bytes"]

# The operators the page offers and the one parameter of each it lets a user set (the constructor keyword).
# Each starts at the demo's setting (evaluate.SHOWCASE_SETTINGS: the README tables' settings, which the shipped IDM models serve,
# its other keywords fixed, e.g. SR's bicubic kernel, and its noise as the noise field's default), else at the constructor's default.
PAGE_OPERATORS: dict[str, tuple[str, ...]] = {
    "cs": ("ratio",),
    "inpainting": ("keep_ratio",),
    "blur": ("sigma",),
    "sr": ("factor",),
    "mri": ("acceleration",),
    "denoising": (),
}
PAGE_METHODS = ("pinv", "tv", "pnp", "idm")
MIN_SIDE = 16  # smaller images carry too little for any method (and CS blocks would not fit)


@dataclass(frozen=True)
class Limits:
    """What the page accepts: the upload size and the image sides (both configurable on ``serve``)."""

    max_upload_bytes: int = 20 * 2**20
    max_side: int = 1024


@dataclass
class Result:
    """One method's restoration of a case and its scores against the truth (``None`` without a truth)."""

    image: Tensor  # (C, H, W) in [0, 1]
    seconds: float
    model: str = ""
    psnr: float | None = None
    ssim: float | None = None


@dataclass
class Case:
    """One measurement the page works on: its operator, ``y``, ``A†y``, and the truth when it came from an image."""

    op: LinearPhysics
    y: Tensor
    image_shape: tuple[int, ...]
    channel: str
    source: str
    pinv: Tensor  # (C, H, W), clamped, what the page shows as the measurement
    truth: Tensor | None = None  # (C, H, W)
    truth_uint8: np.ndarray | None = None
    scored_channel: str = ""
    results: dict[str, Result] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"operator": self.op.config().get("operator"), "source": self.source, "channel": self.channel,
                "shape": list(self.image_shape), "has_truth": self.truth is not None}


class Cases:
    """The last ``capacity`` cases by id (oldest dropped first): the page's memory, owned by one app."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._cases: OrderedDict[str, Case] = OrderedDict()
        self._restorers: dict[str, Restorer] = {}

    def add(self, case: Case) -> str:
        key = uuid.uuid4().hex[:12]
        self._cases[key] = case
        while len(self._cases) > self.capacity:
            self._cases.popitem(last=False)
        return key

    def get(self, key: str) -> Case:
        if key not in self._cases:
            raise KeyError(f"no case {key!r} (the server keeps the last {self.capacity}; measure the image again)")
        return self._cases[key]

    def restorer(self, method: str) -> Restorer:
        """One restorer per method, loaded once (IDM picks the shipped model per measurement)."""
        if method not in PAGE_METHODS:
            raise ValueError(f"unknown method {method!r}; the page offers {', '.join(PAGE_METHODS)}")
        if method not in self._restorers:
            self._restorers[method] = get_restorer(method)
        return self._restorers[method]


def page_options(limits: Limits) -> dict[str, Any]:
    """What the page's form offers: each parameter's default (the demo's setting, else the constructor's) and each
    operator's default noise level."""
    constructor = {name: operator_defaults(name) for name in PAGE_OPERATORS}
    constructor["inpainting"]["keep_ratio"] = DEFAULT_KEEP_RATIO  # what Inpainting keeps when given nothing
    showcase = {name: showcase_setting(name) for name in PAGE_OPERATORS}
    defaults = {name: {key: showcase[name].get(key, constructor[name].get(key)) for key in keys} for name, keys in PAGE_OPERATORS.items()}
    noise = {name: float(showcase[name].get("noise_sigma", 0.0)) for name in PAGE_OPERATORS}
    return {"operators": defaults, "noise_sigma": noise, "methods": list(PAGE_METHODS), "examples": [path.name for path in example_images()],
            "max_upload_bytes": limits.max_upload_bytes, "max_side": limits.max_side, "min_side": MIN_SIDE}


def _number(name: str, text: Any, kind: type) -> Any:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
    if kind is float and not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {text!r}")
    return value


def operator_for_page(name: str, params: dict[str, Any], image_size: tuple[int, int], noise_sigma: float) -> LinearPhysics:
    """The operator of the form, built like ``eval`` builds it for the first image of a folder (CS ``perm_seed`` 0):
    the demo's setting of the family, with the form's parameter and noise on top."""
    if name not in PAGE_OPERATORS:
        raise ValueError(f"unknown operator {name!r}; the page offers {', '.join(PAGE_OPERATORS)}")
    config: dict[str, Any] = {key: value for key, value in showcase_setting(name).items() if key != "noise_sigma"}
    if name != "denoising":
        config["image_size"] = image_size
    for key in PAGE_OPERATORS[name]:
        if params.get(key) not in (None, ""):
            default = operator_defaults(name).get(key)
            config[key] = _number(key, params[key], int if isinstance(default, int) and not isinstance(default, bool) else float)
    if name == "cs":
        config["perm_seed"] = operator_defaults("cs")["seed"]  # eval's image 0: perm_seed = seed + 0
    if noise_sigma:
        config["noise_sigma"] = noise_sigma
    return build_operator(config)


def _checked_image(path: Path, name: str, limits: Limits) -> None:
    """Refuse what the page cannot take before decoding it (a 20 000 px image is refused from its header)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise ValueError(f"{name}: not an image the page can read (PNG, JPEG, TIFF, BMP, WebP, ...)") from None
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"{name} is {width}×{height} px; the page needs at least {MIN_SIDE} px per side")
    if max(width, height) > limits.max_side:
        raise ValueError(f"{name} is {width}×{height} px; the page restores images up to {limits.max_side} px per side "
                         "(serve --max-side), larger ones with the command line's --tile")


def case_from_image(data: bytes, name: str, operator: str, params: dict[str, Any], channel: str, noise_sigma: float,
                    limits: Limits) -> Case:
    """Measure an uploaded (or example) image as ``eval`` would measure it as a one-image folder."""
    if channel not in ("auto", "y"):
        raise ValueError(f"channel must be auto or y, got {channel!r}")
    noise_sigma = _number("noise sigma", noise_sigma, float)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(name).name or "upload")
        path.write_bytes(data)
        _checked_image(path, name, limits)
        image = read_image(path, mode="y" if channel == "y" else "rgb")
    crop = _number("factor", params.get("factor") or operator_defaults("sr")["factor"], int) if operator == "sr" else 1
    x, truth_uint8, scored = truth_from_image(image, channel, crop)
    op = operator_for_page(operator, params, (x.shape[-2], x.shape[-1]), noise_sigma)
    with torch.no_grad():
        y = measure_truth(op, x, noise_seed=0)
        pinv = op.A_dagger(y)[0].clamp(0, 1)
    return Case(op, y, tuple(x.shape[1:]), "y" if x.shape[1] == 1 else "rgb", name, pinv, x[0], truth_uint8, scored)


def case_from_measurement(data: bytes, name: str) -> Case:
    """A measurement file written by ``reverse-anything measure`` (or downloaded from the page)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "measurement.safetensors"
        path.write_bytes(data)
        try:
            y, op, image_shape, metadata = load_measurement(path)
        except ValueError as error:  # name the user's file, not the temporary copy
            raise ValueError(str(error).replace(str(path), name)) from None
    with torch.no_grad():
        pinv = op.A_dagger(y)[0].clamp(0, 1)
    return Case(op, y, tuple(image_shape), str(metadata.get("channel", "y")), name, pinv)


def restore_case(cases: Cases, case: Case, method: str) -> Result:
    """Restore ``case`` with ``method`` (kept on the case) and score it as ``eval`` scores it."""
    restorer = cases.restorer(method)
    start = time.perf_counter()
    with torch.no_grad():
        restored = restorer(case.op, case.y)
    seconds = time.perf_counter() - start
    result = Result(restored[0].clamp(0, 1), seconds, getattr(restorer, "model_name", ""))
    if case.truth_uint8 is not None:
        scores = protocol_scores(restored[0].cpu(), case.truth_uint8, case.scored_channel)
        result.psnr, result.ssim = scores["psnr"], scores["ssim"]
    case.results[method] = result
    return result


def measurement_bytes(case: Case) -> bytes:
    """The case's measurement as the same safetensors file ``reverse-anything measure`` writes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "measurement.safetensors"
        save_measurement(path, case.y, case.op, case.image_shape, case.channel, case.source)
        return path.read_bytes()
