"""Operator data from users' files: a blur kernel or a measurement matrix, as ``.npy`` or ``.safetensors``.

Numbers only: ``.npy`` files are read with ``allow_pickle=False`` (a pickle can run code), and anything
unreadable is one ``ValueError`` line that names the file and what was wrong with it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from torch import Tensor

__all__ = ["load_npy", "load_kernel_file", "load_matrix_file"]


def load_npy(path: Path, what: str) -> np.ndarray:
    """One array from a ``.npy`` file (never pickled objects); ``what`` names it in errors ("kernel", "matrix")."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (ValueError, EOFError, OSError) as error:  # corrupt, empty or truncated files
        raise ValueError(f"{path}: not a numeric .npy {what} ({error or type(error).__name__})") from None
    if not isinstance(loaded, np.ndarray):  # an .npz archive under a .npy name
        loaded.close()
        raise ValueError(f"{path}: an .npz archive, not a .npy {what}")
    return loaded


def load_kernel_file(path: Path) -> np.ndarray:
    """A blur kernel from a ``.npy`` file (``Blur`` checks its shape and values)."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ValueError(f"a kernel file must be .npy, got {path.name!r}")
    return load_npy(path, "kernel")


def load_matrix_file(path: Path) -> Tensor | np.ndarray:
    """A measurement matrix ``(m, H*W)`` from ``.npy`` or ``.safetensors`` (one tensor, or one named ``matrix``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return load_npy(path, "matrix")
    if suffix == ".safetensors":
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        try:
            with safe_open(path, framework="pt") as handle:
                keys = list(handle.keys())
                if len(keys) != 1 and "matrix" not in keys:
                    raise ValueError(f"{path}: expected one tensor or one named 'matrix', found {keys}")
                return handle.get_tensor("matrix" if "matrix" in keys else keys[0])
        except SafetensorError as error:
            raise ValueError(f"{path}: not a safetensors file ({error})") from None
    raise ValueError(f"a matrix file must be .npy or .safetensors, got {path.name!r}")
