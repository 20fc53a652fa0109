"""Training on any operator: descriptions drawn into operators, the card's ``serves``, validation per setting."""
from __future__ import annotations

import json

import pytest
import torch

from reverse_anything.models.checkpoint import load_idm
from reverse_anything.models.idm import IncompatibleMeasurementError
from reverse_anything.physics import CompressedSensing, Inpainting, MRI, SuperResolution, Blur
from reverse_anything.training import TrainConfig, train
from reverse_anything.training.operator_draws import (
    OperatorDraws,
    check_training_operators,
    served_description,
    setting_label,
    validation_operator,
    validation_settings,
)
from reverse_anything.training.tasks.idm import IDMTask, training_descriptions

MIXTURE = [
    {"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}, "block_size": 32, "scramble": True, "seed": 0},
    {"operator": "inpainting", "keep_ratio": {"min": 0.2, "max": 0.5}},
    {"operator": "sr", "factor": {"one_of": [2, 4]}, "kernel": "bicubic"},
    {"operator": "mri", "acceleration": 4, "mask": "random"},
]


def _draws(n: int, seed: int = 0, descriptions=MIXTURE) -> list[tuple]:
    draws, generator = OperatorDraws(descriptions, 32), torch.Generator().manual_seed(seed)
    return [draws.draw(generator) for _ in range(n)]


def test_draws_cover_every_description_within_its_rules_and_repeat_with_the_seed():
    drawn = _draws(80)
    families = {config["operator"] for _, config, _ in drawn}
    assert families == {"cs", "inpainting", "sr", "mri"}
    for op, config, label in drawn:
        assert op.name == config["operator"] and label.startswith(config["operator"])
        if config["operator"] == "cs":
            assert 0.1 <= config["ratio"] <= 0.5 and round(config["ratio"], 2) == config["ratio"] and config["seed"] == 0
        if config["operator"] == "inpainting":
            assert 0.2 <= config["keep_ratio"] <= 0.5 and "seed" in config  # a fresh mask each time
        if config["operator"] == "sr":
            assert config["factor"] in (2, 4) and op.config()["kernel"] == "bicubic"
    again = _draws(80)
    assert [c for _, c, _ in drawn] == [c for _, c, _ in again]
    assert [c for _, c, _ in drawn] != [c for _, c, _ in _draws(80, seed=1)]


def test_patterns_are_fresh_each_draw_and_a_fixed_seed_is_kept():
    x = torch.rand(1, 1, 32, 32)
    masks = {tuple(op.A_dagger(op.A(x)).flatten().ne(0).tolist()) for op, _, _ in _draws(6, descriptions=[MIXTURE[1]])}
    assert len(masks) > 1
    fixed = _draws(4, descriptions=[{"operator": "inpainting", "keep_ratio": 0.3, "seed": 5}])
    assert {c["seed"] for _, c, _ in fixed} == {5}
    cs = _draws(4, descriptions=[MIXTURE[0]])
    assert len({c["perm_seed"] for _, c, _ in cs}) == 4
    op, config, _ = cs[0]
    direct = CompressedSensing(config["ratio"], (32, 32), seed=0, perm_seed=config["perm_seed"])
    torch.testing.assert_close(op.A(x), direct.A(x))  # the cached matrix with a new permutation is the operator itself


@pytest.mark.parametrize(
    "description, message",
    [
        ({"operator": "warp"}, "unknown operator 'warp'"),
        ({"operator": "sr", "zoom": 2}, "'sr' takes no zoom"),
        ({"operator": "sr", "image_size": [8, 8]}, "image size comes from the patch size"),
        ({"ratio": 0.3}, "with an 'operator' key"),
        ({"operator": "cs", "ratio": {"min": 0.5, "max": 0.1}}, "min 0.5 is above max 0.1"),
    ],
)
def test_bad_descriptions_are_refused_with_the_reason(description, message):
    with pytest.raises(ValueError, match=message):
        check_training_operators([description])


def test_a_config_with_operators_is_checked_when_it_is_made(tmp_path):
    with pytest.raises(ValueError, match="'mri' takes no factor"):
        TrainConfig(data=str(tmp_path), operators=[{"operator": "mri", "factor": 2}]).validate()
    with pytest.raises(ValueError, match="concern --method idm only"):
        TrainConfig(method="ddpm", data=str(tmp_path), operators=MIXTURE).validate()


def test_validation_settings_and_served_descriptions():
    assert validation_settings(MIXTURE[2]) == [{"operator": "sr", "factor": 2, "kernel": "bicubic"},
                                               {"operator": "sr", "factor": 4, "kernel": "bicubic"}]
    (middle,) = validation_settings(MIXTURE[1])
    assert middle["keep_ratio"] == 0.35 and setting_label(middle, MIXTURE[1]) == "inpainting(keep_ratio=0.35)"
    assert setting_label(validation_settings(MIXTURE[3])[0], MIXTURE[3]) == "mri"
    assert "seed" not in served_description(MIXTURE[0]) and served_description(MIXTURE[1]) == {**MIXTURE[1], "noise_sigma": 0.0}
    noisy = {"operator": "cs", "ratio": 0.3, "noise_sigma": {"min": 0.01, "max": 0.05}}
    assert served_description(noisy) == noisy and "noise_sigma" not in served_description(MIXTURE[1], noiseless=False)
    first, second = (validation_operator(middle, (32, 32), i) for i in (0, 1))
    assert first.config()["seed"] == 10_000 and second.config()["seed"] == 10_001  # fixed per held-out image


def test_without_operators_a_run_trains_scrambled_cs_as_before(tmp_path):
    config = TrainConfig(data=str(tmp_path), ratios=(0.2, 0.4), cs_seed=3)
    (description,) = training_descriptions(config)
    assert description == {"operator": "cs", "ratio": {"min": 0.2, "max": 0.4}, "block_size": 32, "scramble": True, "seed": 3}
    model = IDMTask(config).build_model()
    assert model.config.serves == {"operator": "cs", "ratio": {"min": 0.2, "max": 0.4}, "block_size": 32, "scramble": True, "noise_sigma": 0.0}
    with_run_noise = IDMTask(TrainConfig(data=str(tmp_path), noise_sigma=0.02)).build_model()  # the run's noise, not the operator's
    assert "noise_sigma" not in with_run_noise.config.serves
    assert model.config.extra == {"cs_seed": 3}


def test_a_run_on_several_operators_exports_a_model_that_serves_them_all(training_images, tmp_path):
    config = TrainConfig(data=str(training_images), out=str(tmp_path), iterations=4, batch_size=2, patch_size=32, warmup=1,
                         val_holdout=1, val_every=4, val_size=64, checkpoint_every=2, operators=MIXTURE,
                         model={"steps": 2, "channels": [16, 64], "depth": [1, 1], "embed_dim": 16,
                                "start": {"cs": "unbiased", "default": "pinv"}})
    stem = train(config, progress=False)
    model = load_idm(f"{stem}.safetensors")
    assert model.config.serves == [served_description(d) for d in MIXTURE]
    log = (tmp_path / "log.csv").read_text().splitlines()
    assert log[0].split(",")[3] == "operator" and len(log) == 5
    scores = json.loads((tmp_path / "model.json").read_text())["training"]["validation_at_start"]
    assert set(scores) == {"val_psnr@cs(ratio=0.3)", "val_psnr@inpainting(keep_ratio=0.35)", "val_psnr@sr(factor=2)",
                           "val_psnr@sr(factor=4)", "val_psnr@mri"}
    x = torch.rand(1, 1, 32, 32)
    for op in (SuperResolution((32, 32), factor=4, kernel="bicubic"), Inpainting((32, 32), keep_ratio=0.3), MRI((32, 32), 4, mask="random")):
        with torch.no_grad():
            assert torch.isfinite(model(op.A(x), op)).all()
    with pytest.raises(IncompatibleMeasurementError, match="trained for operators 'cs', 'inpainting', 'sr', 'mri', not 'blur'"):
        model.check_physics(Blur((32, 32)))
    with pytest.raises(IncompatibleMeasurementError, match="serves sr with factor one of 2, 4, not factor=8"):
        model.check_physics(SuperResolution((32, 32), factor=8, kernel="bicubic"))
    with pytest.raises(IncompatibleMeasurementError, match="serves sr with noise_sigma=0.0 only, not noise_sigma=0.02"):
        model.check_physics(SuperResolution((32, 32), factor=4, kernel="bicubic", noise_sigma=0.02))


def test_noise_levels_are_drawn_on_a_fine_grid_and_share_the_operator():
    from reverse_anything.training.operator_draws import grid_decimals

    assert (grid_decimals(0.1, 0.5), grid_decimals(1.5, 2.5), grid_decimals(0.005, 0.015), grid_decimals(0.01, 0.05)) == (2, 2, 3, 3)
    description = {"operator": "cs", "ratio": 0.3, "seed": 0, "noise_sigma": {"min": 0.01, "max": 0.05}}
    drawn = _draws(12, descriptions=[description])
    sigmas = {config["noise_sigma"] for _, config, _ in drawn}
    assert len(sigmas) > 3 and all(0.01 <= s <= 0.05 and round(s, 3) == s for s in sigmas)
    for op, config, _ in drawn:
        assert op.noise_sigma == config["noise_sigma"] and op.config()["noise_sigma"] == config["noise_sigma"]
    x = torch.rand(1, 1, 32, 32)
    first, second = drawn[0][0], drawn[1][0]
    torch.testing.assert_close(first.with_permutation(1).A(x), second.with_permutation(1).A(x))  # one matrix, two noise levels
