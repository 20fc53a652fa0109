"""Every shipped IDM model loads offline and restores a small image of each measurement its card serves,
and the chooser picks, for each of them, a model that serves it."""
from __future__ import annotations

import json

import pytest
import torch

from reverse_anything.data import example_images, read_image
from reverse_anything.metrics import psnr
from reverse_anything.models.checkpoint import MODEL_FORMAT, model_file, resolve_model, shipped_models
from reverse_anything.models.serves import descriptions
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.learned import default_idm_model
from reverse_anything.training.operator_draws import validation_operator, validation_settings


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 64x64 crop of the shipped camera.png, (1, 1, 64, 64)."""
    path = next(p for p in example_images() if p.name == "camera.png")
    return read_image(path, mode="y")[None, :, 96:160, 96:160].contiguous()


def _served_settings() -> list[tuple[str, dict]]:
    cases = []
    for name in sorted(shipped_models()):
        document = json.loads(model_file(resolve_model(name), ".json").read_text())
        if document.get("format") == MODEL_FORMAT:
            for description in descriptions(document["config"]["serves"]):
                cases += [(name, setting) for setting in validation_settings(description)]
    return cases


@pytest.mark.parametrize("name, setting", _served_settings(), ids=lambda v: v if isinstance(v, str) else json.dumps(v, sort_keys=True))
def test_each_shipped_model_restores_what_it_serves(name, setting, photo):
    x = photo
    op = validation_operator(setting, (64, 64), 0)
    y = op(x, generator=torch.Generator().manual_seed(0))
    restored = get_restorer("idm", model=name)(op, y)
    baseline = get_restorer("pinv")(op, y)
    assert restored.shape == x.shape and torch.isfinite(restored).all()
    assert psnr(restored.clamp(0, 1), x, data_range=1.0) > psnr(baseline.clamp(0, 1), x, data_range=1.0)  # it does restore
    chosen = default_idm_model(op)
    get_restorer("idm", model=chosen)(op, y)  # the chooser's pick serves it too (it refuses otherwise)
