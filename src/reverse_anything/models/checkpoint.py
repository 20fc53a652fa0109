"""Model files: safetensors weights + a JSON config, never pickle.

A model named ``NAME`` is two files, ``NAME.safetensors`` and ``NAME.json``.
The JSON holds ``{"format": "reverse-anything-idm", "config": IDMConfig,
"training": {...}}`` so a model can be rebuilt without code-side guesses and a
user can read what it was trained for.  The DDPM baseline prior uses the same
pair with format ``"reverse-anything-ddpm"`` and a DDPMConfig; each loader
refuses the other's files.  Shipped models live inside the
package (``reverse_anything/weights``) and are listed by name in
``weights/models.json`` (several names may point to the same files).

The IDM shares one backbone between its steps, so ``state_dict()`` lists the
same tensor under several names; :func:`unique_state_dict` keeps the first
name of each, and :func:`load_unique_state_dict` checks that every missing
name is such an alias.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ..atomic import atomic_output, atomic_write_text
from .ddpm import DDPMConfig, DDPMNet
from .idm import IDM, IDMConfig

__all__ = [
    "MODEL_FORMAT",
    "DDPM_FORMAT",
    "ModelFileError",
    "model_file",
    "unique_state_dict",
    "load_unique_state_dict",
    "save_model_files",
    "read_model_files",
    "save_idm",
    "load_idm",
    "save_ddpm",
    "load_ddpm",
    "shipped_models",
    "resolve_model",
]

MODEL_FORMAT = "reverse-anything-idm"
DDPM_FORMAT = "reverse-anything-ddpm"


class ModelFileError(ValueError):
    """A model name or file that cannot be used (missing, wrong format, corrupt)."""


def model_file(stem: Path, suffix: str) -> Path:
    """``stem`` + ``suffix``: appended, never replacing, so a stem such as ``idm-cs-0.5`` keeps its ``.5``."""
    return stem.with_name(stem.name + suffix)


def unique_state_dict(module: nn.Module) -> dict[str, Tensor]:
    """``state_dict`` with each shared tensor kept once (under its first name), contiguous, on CPU."""
    seen: set[int] = set()
    unique: dict[str, Tensor] = {}
    for name, tensor in module.state_dict().items():
        key = id(tensor) if tensor.numel() == 0 else tensor.data_ptr()
        if key in seen:
            continue
        seen.add(key)
        unique[name] = tensor.detach().cpu().contiguous()
    return unique


def load_unique_state_dict(module: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Load a dict written by :func:`unique_state_dict`; every skipped name must be an alias."""
    expected = set(unique_state_dict(module))
    missing = expected - set(tensors)
    unexpected = set(tensors) - expected
    if missing or unexpected:
        raise ModelFileError(
            f"weights do not fit this model: {len(missing)} missing (e.g. {sorted(missing)[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:2]})"
        )
    try:
        result = module.load_state_dict(tensors, strict=False)
    except RuntimeError as error:  # a tensor of the wrong shape: the weights belong to another architecture
        first = str(error).strip().splitlines()[-1].strip()
        raise ModelFileError(f"weights do not fit this model's config: {first}") from None
    if result.unexpected_keys:
        raise ModelFileError(f"unexpected weights: {result.unexpected_keys[:3]}")


def save_model_files(
    model: nn.Module, stem: Path, model_format: str, config: dict, training: dict | None = None, half: bool = False
) -> tuple[Path, Path]:
    """Write ``stem.safetensors`` and ``stem.json`` (``{"format", "config", "training"}``) atomically.

    Shared by every model kind; ``model_format`` is what a loader checks before building anything.
    ``half`` stores float16 weights.
    """
    stem = Path(stem)
    tensors = unique_state_dict(model)
    if half:
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    weights_path, config_path = model_file(stem, ".safetensors"), model_file(stem, ".json")
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(weights_path) as temporary:
        save_file(tensors, str(temporary), metadata={"format": model_format})
    document = {"format": model_format, "config": config, "training": training or {}}
    atomic_write_text(config_path, json.dumps(document, indent=2) + "\n")
    return weights_path, config_path


def save_idm(model: IDM, stem: Path, training: dict | None = None, half: bool = False) -> tuple[Path, Path]:
    """Write ``stem.safetensors`` and ``stem.json`` atomically; ``half`` stores float16 weights."""
    return save_model_files(model, stem, MODEL_FORMAT, model.config.to_dict(), training, half)


def save_ddpm(model: DDPMNet, stem: Path, training: dict | None = None, half: bool = False) -> tuple[Path, Path]:
    """Write a DDPM prior as ``stem.safetensors`` + ``stem.json`` (format ``reverse-anything-ddpm``)."""
    return save_model_files(model, stem, DDPM_FORMAT, model.config.to_dict(), training, half)


def _shipped_dir() -> Path:
    return Path(str(resources.files("reverse_anything") / "weights"))


def shipped_models() -> dict[str, str]:
    """Names of the models inside the package -> file stem."""
    registry = _shipped_dir() / "models.json"
    if not registry.is_file():
        return {}
    return json.loads(registry.read_text())["models"]


def resolve_model(name_or_path: str | Path) -> Path:
    """A shipped name (``cs-0.5``) or a path to ``X.safetensors`` / ``X.json`` / ``X`` -> the stem ``X``."""
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return _shipped_dir() / shipped[str(name_or_path)]
    path = Path(name_or_path)
    stem = path.with_suffix("") if path.suffix in {".safetensors", ".json"} else path
    if not model_file(stem, ".safetensors").is_file() or not model_file(stem, ".json").is_file():
        names = ", ".join(sorted(shipped)) or "none installed"
        raise ModelFileError(
            f"no model {str(name_or_path)!r}: expected a shipped name ({names}) or a path to X.safetensors with X.json beside it"
        )
    return stem


def read_model_files(name_or_path: str | Path, model_format: str, kind: str) -> tuple[dict, dict[str, Tensor]]:
    """The JSON document and float32 weights of a model file pair, refusing any other format.

    ``kind`` names the model in the error (``"IDM"``, ``"DDPM prior"``).
    """
    stem = resolve_model(name_or_path)
    try:
        document = json.loads(model_file(stem, ".json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{model_file(stem, '.json')}: not a readable model config ({error})") from None
    if not isinstance(document, dict) or document.get("format") != model_format:
        found = document.get("format") if isinstance(document, dict) else None
        raise ModelFileError(f"{model_file(stem, '.json')}: not a Reverse Anything {kind} model (format {found!r})")
    try:
        tensors = load_file(str(model_file(stem, ".safetensors")))
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise ModelFileError(f"{model_file(stem, '.safetensors')}: cannot read weights ({error})") from None
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    return document, tensors


def _build(name_or_path: str | Path, document: dict, build: Callable[[dict], nn.Module], kind: str) -> nn.Module:
    """``build(document["config"])``, with a missing or impossible config reported as a :class:`ModelFileError`."""
    try:
        return build(document["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{name_or_path}: bad {kind} config ({error})") from None


def load_idm(name_or_path: str | Path, device: str | torch.device = "cpu", memory_saving: bool | None = None) -> IDM:
    """Rebuild an IDM from its JSON config and load its weights (float32, eval mode)."""
    document, tensors = read_model_files(name_or_path, MODEL_FORMAT, "IDM")

    def build(raw: dict) -> IDM:
        config = IDMConfig.from_dict(raw)
        if memory_saving is not None:
            config.memory_saving = memory_saving
        return IDM(config)

    model = _build(name_or_path, document, build, "IDM")
    load_unique_state_dict(model, tensors)
    model.training_info = document.get("training", {})
    return model.to(device).eval()


def load_ddpm(name_or_path: str | Path, device: str | torch.device = "cpu") -> DDPMNet:
    """Rebuild a DDPM prior from its JSON config and load its weights (float32, eval mode)."""
    document, tensors = read_model_files(name_or_path, DDPM_FORMAT, "DDPM prior")
    model = _build(name_or_path, document, lambda raw: DDPMNet(DDPMConfig.from_dict(raw)), "DDPM prior")
    load_unique_state_dict(model, tensors)
    model.training_info = document.get("training", {})
    return model.to(device).eval()
