"""The IDM restorer: whole images, colour, and tiled measurements restored a few tiles at a time."""
from __future__ import annotations

import pytest
import torch

from reverse_anything.models.idm import IncompatibleMeasurementError
from reverse_anything.physics import MRI, Blur, CompressedSensing, Denoising, Inpainting, SuperResolution, Tiled
from reverse_anything.solvers import get_restorer
from reverse_anything.solvers.learned import default_idm_model


@pytest.fixture(scope="module")
def restore():
    return get_restorer("idm", model="cs")


def test_tiled_restoration_is_the_network_run_on_each_tile(restore):
    torch.manual_seed(0)
    x = torch.rand(1, 2, 80, 60)  # two channels; tile rows 0-31 and 32-79 (absorbed), one 60-wide column
    op = Tiled(CompressedSensing(0.3, (32, 32), perm_seed=3), (80, 60), tile=32)
    restored = restore(op, op.A(x))
    network = restore.model
    with torch.no_grad():
        for top, height in [(0, 32), (32, 48)]:
            tile_op = CompressedSensing(0.3, (height, 60), perm_seed=3)
            piece = x[:, :, top : top + height]
            expected = network(tile_op.A(piece).transpose(0, 1), tile_op).transpose(0, 1)
            torch.testing.assert_close(restored[:, :, top : top + height], expected, rtol=1e-5, atol=1e-5)


def test_tile_batch_does_not_change_the_result():
    x = torch.rand(1, 1, 96, 64)
    op = Tiled(CompressedSensing(0.3, (32, 32)), (96, 64), tile=32)
    y = op.A(x)
    one = get_restorer("idm", model="cs", tile_batch=1)(op, y)
    many = get_restorer("idm", model="cs", tile_batch=6)(op, y)
    torch.testing.assert_close(one, many, rtol=1e-5, atol=1e-5)


def test_tiles_of_an_untrained_ratio_are_refused_before_any_work(restore):
    op = Tiled(CompressedSensing(0.8, (32, 32)), (64, 64), tile=32)
    with pytest.raises(IncompatibleMeasurementError, match="serves cs with ratio in 0.1..0.5, not ratio=0.8"):
        restore(op, op.A(torch.rand(1, 1, 64, 64)))


def test_bad_tile_batch_is_refused():
    with pytest.raises(ValueError, match="tile_batch"):
        get_restorer("idm", model="cs", tile_batch=0)


@pytest.mark.parametrize(
    "op, expected",
    [
        (CompressedSensing(0.3, (32, 32)), "cs-0.3"),  # per-ratio fine-tunes of cs, picked before it
        (CompressedSensing(0.5, (32, 32)), "cs-0.5"),
        (CompressedSensing(0.25, (32, 32)), "cs"),  # one model serves every ratio in 0.1..0.5
        (Tiled(CompressedSensing(0.1, (32, 32)), (64, 64), tile=32), "cs-0.1"),
        (CompressedSensing(0.3, (32, 32), noise_sigma=0.03), "cs-noisy"),  # cs is noiseless; cs-noisy (a fine-tune of any) is not
        (Inpainting((32, 32), keep_ratio=0.3), "any"),
        (Blur((32, 32), sigma=2.0, noise_sigma=0.01), "blur"),  # per-operator fine-tunes of any, picked before it
        (SuperResolution((32, 32), factor=4, kernel="bicubic"), "sr"),
        (MRI((32, 32), acceleration=4, mask="random"), "mri"),
        (Tiled(CompressedSensing(0.3, (32, 32)), (64, 64), tile=32, noise_sigma=0.03), "cs-noisy"),
    ],
)
def test_without_a_model_name_each_measurement_gets_the_model_shipped_for_it(op, expected):
    assert default_idm_model(op) == expected


@pytest.mark.parametrize(
    "op, reason",
    [(Denoising(noise_sigma=0.1), "none is trained for denoising; they serve blur, cs, inpainting, mri, sr"),
     (Blur((32, 32), sigma=1.0, noise_sigma=0.01), "serves blur with sigma in 1.5..2.5, not sigma=1.0"),
     (CompressedSensing(0.8, (32, 32)), "serves cs with ratio in 0.1..0.5, not ratio=0.8"),
     (CompressedSensing(0.3, (32, 32), scramble=False), "serves cs with scramble=True only, not scramble=False"),
     (CompressedSensing(0.3, (32, 32), noise_sigma=0.2), "serves cs with noise_sigma in 0.01..0.05, not noise_sigma=0.2")],
)
def test_a_measurement_no_shipped_model_serves_is_refused_naming_the_methods_that_do(op, reason):
    with pytest.raises(IncompatibleMeasurementError, match=reason) as error:
        default_idm_model(op)
    assert "pinv, tv and pnp serve every operator" in str(error.value)


def test_the_default_restorer_loads_the_chosen_model_and_refuses_what_none_serves():
    restore = get_restorer("idm")
    x = torch.rand(1, 1, 32, 32)
    for ratio in (0.3, 0.25):
        op = CompressedSensing(ratio, (32, 32))
        expected = get_restorer("idm", model=default_idm_model(op))(op, op.A(x))
        torch.testing.assert_close(restore(op, op.A(x)), expected)
    op = Inpainting((32, 32), keep_ratio=0.3)
    torch.testing.assert_close(restore(op, op.A(x)), get_restorer("idm", model="any")(op, op.A(x)))
    assert restore.model_name == "any"
    op = Denoising(noise_sigma=0.1)
    with pytest.raises(IncompatibleMeasurementError, match="none is trained for denoising"):
        restore(op, op.A(x))


def test_a_specialist_is_chosen_before_a_model_for_many_operators():
    from reverse_anything.models.idm import IDMConfig
    from reverse_anything.solvers.learned import specialists_first

    cs = {"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}}
    cards = [("any", IDMConfig(serves=[cs, {"operator": "sr"}])), ("b-cs", IDMConfig(serves=cs)),
             ("all", IDMConfig(serves={})), ("a-cs", IDMConfig(serves=[cs]))]
    assert [name for name, _ in specialists_first(cards)] == ["a-cs", "b-cs", "any", "all"]
    one_ratio = {"operator": "cs", "ratio": {"min": 0.3, "max": 0.3}}
    cards = [("a-cs", IDMConfig(serves=cs)), ("z-cs-0.3", IDMConfig(serves=one_ratio))]
    assert [name for name, _ in specialists_first(cards)] == ["z-cs-0.3", "a-cs"]  # narrower range, despite the name


def test_breadth_ranks_narrow_cards_first():
    from reverse_anything.models.serves import breadth

    assert breadth({"operator": "cs", "ratio": {"min": 0.3, "max": 0.3}}) == 0
    assert breadth({"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}}) == pytest.approx(0.8)
    assert breadth({"operator": "sr", "factor": {"one_of": [2, 4]}}) == 1
    assert breadth([{"operator": "cs", "ratio": {"min": 0.25, "max": 0.5}}, {"operator": "mri"}]) == pytest.approx(0.5)
    assert breadth({}) == float("inf")


def test_zero_shot_runs_a_named_model_on_an_operator_it_was_not_trained_for_with_a_warning():
    x = torch.rand(1, 1, 32, 32)
    op = CompressedSensing(0.6, (32, 32))
    with pytest.raises(IncompatibleMeasurementError, match="not ratio=0.6"):
        get_restorer("idm", model="cs")(op, op.A(x))
    with pytest.warns(UserWarning, match="zero-shot: this IDM model serves cs with ratio in 0.1..0.5, not ratio=0.6"):
        out = get_restorer("idm", model="cs", zero_shot=True)(op, op.A(x))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="zero-shot needs a named model"):
        get_restorer("idm", zero_shot=True)


def test_a_noisy_tiled_measurement_is_seen_as_noisy_by_the_model():
    from reverse_anything.solvers.learned import tile_operators

    op = Tiled(CompressedSensing(0.3, (32, 32)), (64, 64), tile=32, noise_sigma=0.03)
    assert {inner.noise_sigma for inner in tile_operators(op)} == {0.03} and {g.noise_sigma for g in op.groups} == {0.0}
    assert default_idm_model(op) == "cs-noisy"  # the noiseless specialist is passed over, as for the untiled measurement
    with pytest.raises(IncompatibleMeasurementError, match="not noise_sigma=0.03"):
        get_restorer("idm", model="cs")(op, op(torch.rand(1, 1, 64, 64)))
