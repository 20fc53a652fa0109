"""scripts/: the device-lease data packer keeps what training reads bit for bit; ship-model installs a trained model."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reverse_anything.data.datasets import list_image_files
from reverse_anything.data.io import read_image

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_packed_training_folder_reads_back_identically(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    source = tmp_path / "train"
    (source / "a").mkdir(parents=True)
    (source / "b").mkdir()
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(source / "a" / "colour.bmp")
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(source / "a" / "photo.jpg", quality=80)
    Image.fromarray(rng.integers(0, 256, (33, 35), dtype=np.uint8)).save(source / "b" / "grey.tif")
    target = tmp_path / "packed"
    size = _load("pack-train-for-device").pack(source, target)

    originals, packed = list_image_files(source, recursive=True), list_image_files(target, recursive=True)
    assert [p.relative_to(source).with_suffix("").as_posix() for p in originals] == [
        p.relative_to(target).with_suffix("").as_posix() for p in packed
    ]  # same order, so the held-out validation files are the same
    assert (target / "a" / "photo.jpg").read_bytes() == (source / "a" / "photo.jpg").read_bytes()
    assert (target / "a" / "colour.png").is_file() and (target / "b" / "grey.png").is_file()
    for original, copy in zip(originals, packed):
        assert read_image(copy, mode="y").equal(read_image(original, mode="y"))
    assert size == sum(p.stat().st_size for p in packed)


def test_pack_refuses_a_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        _load("pack-train-for-device").pack(tmp_path / "empty", tmp_path / "out")


def test_ship_model_copies_the_files_records_the_command_and_registers_the_names(tmp_path: Path) -> None:
    import json

    import torch

    from reverse_anything.models.checkpoint import load_idm, save_idm
    from reverse_anything.models.idm import IDM, IDMConfig

    run, weights = tmp_path / "run", tmp_path / "weights"
    weights.mkdir()
    (weights / "models.json").write_text(json.dumps({"models": {"cs": "idm-cs", "cs-0.5": "idm-cs"}}))
    torch.manual_seed(0)
    model = IDM(IDMConfig(steps=1, channels=(8, 32), depth=(1, 1), embed_dim=8))
    save_idm(model, run / "model", training={"iterations": 3})
    (run / "log.csv").write_text("iteration,loss\n1,0.5\n")
    _load("ship-model").ship(run, "tuned", ["cs-0.5"], ["train --a", "train --b"], weights=weights, logs=tmp_path / "logs")

    registry = json.loads((weights / "models.json").read_text())["models"]
    assert registry == {"cs": "idm-cs", "cs-0.5": "tuned"}
    shipped = load_idm(weights / "tuned")
    assert shipped.training_info == {"iterations": 3, "commands": ["train --a", "train --b"]}
    for name, value in model.state_dict().items():
        assert torch.equal(value, shipped.state_dict()[name])
    assert (tmp_path / "logs" / "tuned.log.csv").read_text() == "iteration,loss\n1,0.5\n"  # in the repository, not the wheel
    assert not list(weights.glob("*.csv"))


def test_ship_model_refuses_a_broken_export_and_replaces_nothing(tmp_path: Path) -> None:
    run, weights = tmp_path / "run", tmp_path / "weights"
    run.mkdir()
    weights.mkdir()
    (weights / "models.json").write_text('{"models": {}}')
    (run / "model.json").write_text('{"format": "reverse-anything-idm", "config": {}, "training": {}}')
    (run / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match="cannot read weights"):
        _load("ship-model").ship(run, "tuned", ["cs-0.5"], ["x"], weights=weights, logs=tmp_path / "logs")
    assert sorted(p.name for p in weights.iterdir()) == ["models.json"]
