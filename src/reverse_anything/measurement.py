"""Measurement files: ``y`` and everything needed to rebuild its operator, in one safetensors file (no pickle).

``reverse-anything measure`` writes them and ``restore`` (and the web page) read them; user code can too::

    save_measurement(Path("y.safetensors"), y, op, image_shape=(1, 64, 64), channel="y", source="photo.png")
    y, op, image_shape, metadata = load_measurement(Path("y.safetensors"))

The header's JSON metadata holds the operator's ``config()``; arrays larger than
:data:`ARRAY_IN_HEADER_LIMIT` entries (a matrix, a mask, a kernel) travel as tensors beside ``y``,
bit for bit, since safetensors caps the header at 100 MB.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from . import __version__
from .atomic import atomic_output
from .messages import one_line
from .physics import LinearPhysics, build_operator

__all__ = ["MEASUREMENT_FORMAT", "MEASUREMENT_SUFFIXES", "save_measurement", "load_measurement"]

MEASUREMENT_FORMAT = "reverse-anything-measurement/1"
MEASUREMENT_SUFFIXES = frozenset({".safetensors"})
ARRAY_IN_HEADER_LIMIT = 256  # config arrays with more entries travel as tensors (safetensors caps headers at 100 MB)
TENSOR_REFERENCE = "$tensor"


def _arrays_to_tensors(value: Any, tensors: dict[str, Tensor], name: str) -> Any:
    """``value`` with every large numeric array replaced by ``{"$tensor": name}`` and put in ``tensors``.

    An operator's config holds its matrix, mask or kernel as nested lists; as JSON text in the
    file header a 1000 x 4096 matrix would already pass safetensors' header limit.
    """
    if isinstance(value, dict):
        return {key: _arrays_to_tensors(item, tensors, f"{name}.{key}") for key, item in value.items()}
    if isinstance(value, list) and value:
        try:
            array = np.asarray(value)  # floats stay float64, integers int64: bit-exact either way
        except ValueError:  # ragged: stays JSON
            return value
        if array.dtype.kind in "biuf" and array.size >= ARRAY_IN_HEADER_LIMIT:
            tensors[name] = torch.from_numpy(np.ascontiguousarray(array))
            return {TENSOR_REFERENCE: name}
    return value


def _tensors_to_arrays(value: Any, read: Callable[[str], Tensor]) -> Any:
    """Inverse of :func:`_arrays_to_tensors`: ``{"$tensor": name}`` -> ``read(name)``."""
    if isinstance(value, dict):
        if set(value) == {TENSOR_REFERENCE}:
            return read(str(value[TENSOR_REFERENCE]))
        return {key: _tensors_to_arrays(item, read) for key, item in value.items()}
    return value


def save_measurement(path: Path, y: Tensor, op: LinearPhysics, image_shape: Sequence[int], channel: str, source: str) -> None:
    """Write ``y`` losslessly with everything needed to rebuild its operator (JSON metadata, large arrays as tensors)."""
    if path.suffix.lower() not in MEASUREMENT_SUFFIXES:
        raise ValueError(f"{path}: a measurement file ends in .safetensors, not {path.suffix!r}")
    tensors = {"y": y.detach().cpu().contiguous()}
    config = _arrays_to_tensors(op.config(), tensors, "operator")
    metadata = {
        "format": MEASUREMENT_FORMAT,
        "operator": json.dumps(config),
        "image_shape": json.dumps(list(image_shape)),
        "channel": channel,
        "source": source,
        "version": __version__,
    }
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def load_measurement(path: Path) -> tuple[Tensor, LinearPhysics, tuple[int, ...], dict[str, str]]:
    """Read a file written by :func:`save_measurement`: ``(y, operator, image_shape, metadata)``."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != MEASUREMENT_FORMAT or "y" not in handle.keys():
                raise ValueError(f"{path}: not a reverse-anything measurement file (write one with 'measure')")
            y = handle.get_tensor("y")
            try:
                config = _tensors_to_arrays(json.loads(metadata["operator"]), handle.get_tensor)
                image_shape = tuple(int(side) for side in json.loads(metadata["image_shape"]))
            except (KeyError, TypeError, ValueError, SafetensorError):
                raise ValueError(f"{path}: the measurement's operator metadata is missing or malformed") from None
    except SafetensorError as error:
        raise ValueError(f"{path}: not a safetensors measurement file ({one_line(error)})") from None
    if not y.is_floating_point() or not bool(torch.isfinite(y).all()):
        raise ValueError(f"{path}: the measurement must be finite floating-point values")
    op = build_operator(config)
    op.check_measurement(y)
    return y, op, image_shape, metadata
