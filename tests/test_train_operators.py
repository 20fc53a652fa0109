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
    label_keys,
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
        ({"operator": "inpainting", "keep_ratio": {"min": 0.5, "max": 1.5}}, "keep_ratio"),
        ({"operator": "blur", "noise_sigma": {"min": -0.01, "max": 0.01}}, "noise_sigma must be a finite number >= 0"),
        ({"operator": "sr", "factor": {"one_of": [4, 3]}}, "divisible"),
    ],
)
def test_bad_descriptions_are_refused_with_the_reason(description, message):
    with pytest.raises(ValueError, match=message):
        check_training_operators([description])


def test_descriptions_are_told_apart_and_a_repeated_one_is_refused():
    two = [{"operator": "sr", "factor": 2}, {"operator": "sr", "factor": 4}, {"operator": "mri", "acceleration": {"min": 4, "max": 8}}]
    labels = {label for _, _, label in _draws(60, descriptions=two)}
    assert {"sr(factor=2)", "sr(factor=4)"} <= labels and {label for label in labels if label.startswith("mri")} == {
        f"mri(acceleration={a})" for a in range(4, 9)}  # integer ranges: every integer, both ends included
    with pytest.raises(ValueError, match="listed twice"):
        check_training_operators([two[0], dict(two[0])])


def test_validation_midpoints_stay_on_the_draw_grid():
    (setting,) = validation_settings({"operator": "cs", "ratio": 0.3, "noise_sigma": {"min": 0.001, "max": 0.004}})
    assert setting["noise_sigma"] == 0.0025


def test_the_cs_run_without_operators_draws_exactly_as_before():
    """The legacy path (ratios + cs_seed) consumes the generator as the code before `operators` did."""
    for ratios in ((0.1, 0.5), (0.3, 0.3)):
        config = TrainConfig(data=".", ratios=ratios)
        draws = OperatorDraws(training_descriptions(config), 32)
        new, old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        for _ in range(20):
            _, setting, _ = draws.draw(new)
            lo, hi = min(ratios), max(ratios)
            ratio = round(lo + (hi - lo) * torch.rand((), generator=old).item(), 2) if hi > lo else lo
            perm_seed = int(torch.randint(0, 2**31 - 1, (), generator=old))
            assert (setting["ratio"], setting["perm_seed"], setting["seed"]) == (ratio, perm_seed, 0)
        assert torch.equal(new.get_state(), old.get_state())


def test_a_config_with_operators_is_checked_when_it_is_made(tmp_path):
    with pytest.raises(ValueError, match="'mri' takes no factor"):
        TrainConfig(data=str(tmp_path), operators=[{"operator": "mri", "factor": 2}]).validate()
    with pytest.raises(ValueError, match="concern --method idm only"):
        TrainConfig(method="ddpm", data=str(tmp_path), operators=MIXTURE).validate()
    with pytest.raises(ValueError, match="its own noise_sigma"):
        TrainConfig(data=str(tmp_path), operators=MIXTURE, noise_sigma=0.01).validate()
    with pytest.warns(UserWarning, match="start 'unbiased' divides"):
        IDMTask(TrainConfig(data=str(tmp_path), operators=MIXTURE, model={"start": "unbiased"}))


def test_validation_settings_and_served_descriptions():
    assert validation_settings(MIXTURE[2]) == [{"operator": "sr", "factor": 2, "kernel": "bicubic"},
                                               {"operator": "sr", "factor": 4, "kernel": "bicubic"}]
    (middle,) = validation_settings(MIXTURE[1])
    assert middle["keep_ratio"] == 0.35 and setting_label(middle, label_keys(MIXTURE[1], MIXTURE)) == "inpainting(keep_ratio=0.35)"
    assert setting_label(validation_settings(MIXTURE[3])[0], label_keys(MIXTURE[3], MIXTURE)) == "mri"
    assert "seed" not in served_description(MIXTURE[0]) and served_description(MIXTURE[1]) == {**MIXTURE[1], "noise_sigma": 0.0}
    noisy = {"operator": "cs", "ratio": 0.3, "noise_sigma": {"min": 0.01, "max": 0.05}}
    assert served_description(noisy) == noisy and "noise_sigma" not in served_description(MIXTURE[1], trained_noiseless=False)
    first, second = (validation_operator(middle, (32, 32), i) for i in (0, 1))
    assert validation_operator(validation_settings(MIXTURE[0])[0], (32, 32), 3).config()["seed"] == 0  # CS's matrix stays
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

    assert (grid_decimals(0.1, 0.5), grid_decimals(1.5, 2.5), grid_decimals(0.005, 0.015), grid_decimals(0.01, 0.05)) == (2, 2, 4, 4)
    description = {"operator": "cs", "ratio": 0.3, "seed": 0, "noise_sigma": {"min": 0.01, "max": 0.05}}
    drawn = _draws(12, descriptions=[description])
    sigmas = {config["noise_sigma"] for _, config, _ in drawn}
    assert len(sigmas) > 3 and all(0.01 <= s <= 0.05 and round(s, 4) == s for s in sigmas)
    for op, config, _ in drawn:
        assert op.noise_sigma == config["noise_sigma"] and op.config()["noise_sigma"] == config["noise_sigma"]
    first, second = drawn[0][0], drawn[1][0]
    assert first.noise_sigma != second.noise_sigma and first.phi.data_ptr() == second.phi.data_ptr()  # one matrix, built once


def test_with_noise_shares_the_matrix_keeps_the_original_and_checks_the_level():
    op = CompressedSensing(0.3, (32, 32), seed=0)
    noisy = op.with_noise(0.02)
    assert noisy.noise_sigma == 0.02 and op.noise_sigma == 0.0 and noisy.phi.data_ptr() == op.phi.data_ptr()
    noisy.float()  # its own module tables: converting the twin leaves the original alone
    assert noisy.phi.dtype == torch.float32 and op.phi.dtype == torch.float64
    with pytest.raises(ValueError, match="noise_sigma must be a finite number >= 0"):
        op.with_noise(float("nan"))
