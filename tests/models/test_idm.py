"""IDM: exact memory-saving gradients, operator checks, model files."""
import json

import pytest
import torch

from reverse_anything.models.checkpoint import ModelFileError, load_idm, save_idm
from reverse_anything.models.idm import IDM, IDMConfig, IncompatibleMeasurementError
from reverse_anything.physics import CompressedSensing, Inpainting

TINY = dict(steps=2, channels=(8, 32), depth=(1, 1), embed_dim=16)


def _tiny(memory_saving: bool, **overrides) -> IDM:
    torch.manual_seed(0)
    model = IDM(IDMConfig(**{**TINY, "memory_saving": memory_saving, **overrides})).double()
    with torch.no_grad():  # leave the zero-initialised start: make every path carry signal
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def _measure(ratio=0.3, size=(32, 40), batch=2, dtype=torch.float64):
    torch.manual_seed(1)
    x = torch.rand(batch, 1, *size, dtype=dtype)
    physics = CompressedSensing(ratio, size, seed=0, perm_seed=3).to(dtype=dtype)
    return x, physics, physics.A(x)


@pytest.mark.parametrize("schedule", ["adaptive", "global"])
def test_memory_saving_on_and_off_give_the_same_gradients(schedule):
    x, physics, y = _measure()
    grads = []
    for memory_saving in (True, False):
        model = _tiny(memory_saving, schedule=schedule)
        loss = (model(y, physics) - x).abs().mean()
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    on, off = grads
    assert on.keys() == off.keys() and len(on) == len(list(model.parameters()))
    for name in on:
        assert torch.allclose(on[name], off[name], rtol=1e-10, atol=1e-12), name


def test_output_shape_for_sizes_that_are_not_multiples():
    x, physics, y = _measure(size=(37, 45), batch=1)
    with torch.no_grad():
        out = _tiny(True)(y, physics)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_refuses_measurements_it_was_not_trained_for():
    model = _tiny(True, serves={"operator": "cs", "ratio": {"min": 0.5, "max": 0.5}, "block_size": 32, "scramble": True})
    with pytest.raises(IncompatibleMeasurementError, match="serves cs with ratio=0.5 only, not ratio=0.1"):
        model.check_physics(CompressedSensing(0.1, (32, 32)))
    with pytest.raises(IncompatibleMeasurementError, match="inpainting"):
        model.check_physics(Inpainting((32, 32), keep_ratio=0.5))
    with pytest.raises(IncompatibleMeasurementError, match="serves cs with block_size=32 only, not block_size=16"):
        model.check_physics(CompressedSensing(0.5, (64, 64), block_size=16))
    with pytest.raises(IncompatibleMeasurementError, match="serves cs with scramble=True only, not scramble=False"):
        model.check_physics(CompressedSensing(0.5, (32, 32), scramble=False))
    model.check_physics(CompressedSensing(0.5, (32, 32)))


def test_save_load_round_trip(tmp_path):
    x, physics, y = _measure()
    model = _tiny(True).float()
    save_idm(model, tmp_path / "m", training={"note": "test"})
    loaded = load_idm(tmp_path / "m.safetensors")
    y32, physics32 = y.float(), physics.to(dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(model.eval()(y32, physics32), loaded(y32, physics32))
    assert json.loads((tmp_path / "m.json").read_text())["training"] == {"note": "test"}


@pytest.mark.parametrize("given", ["idm-cs-0.5", "idm-cs-0.5.safetensors", "idm-cs-0.5.json"])
def test_a_stem_with_a_dot_keeps_it(tmp_path, given):
    """``idm-cs-0.5`` is a stem, not ``idm-cs-0`` with suffix ``.5``: files are ``idm-cs-0.5.*``."""
    model = _tiny(True).float()
    save_idm(model, tmp_path / "idm-cs-0.5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idm-cs-0.5.json", "idm-cs-0.5.safetensors"]
    loaded = load_idm(tmp_path / given)
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name])


def test_bad_model_files(tmp_path):
    with pytest.raises(ModelFileError, match="no model"):
        load_idm(tmp_path / "missing")
    save_idm(_tiny(True).float(), tmp_path / "m")
    (tmp_path / "m.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="cannot read weights"):
        load_idm(tmp_path / "m")
    (tmp_path / "m.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelFileError, match="not a Reverse Anything IDM"):
        load_idm(tmp_path / "m")


def test_model_files_whose_config_does_not_fit_the_weights(tmp_path):
    """A JSON edited (or copied from another model) is a one-line ModelFileError, not a torch traceback."""
    import json

    save_idm(_tiny(True).float(), tmp_path / "m")
    document = json.loads((tmp_path / "m.json").read_text())
    wider = {**document, "config": {**document["config"], "channels": [c * 2 for c in document["config"]["channels"]]}}
    (tmp_path / "m.json").write_text(json.dumps(wider))
    with pytest.raises(ModelFileError, match="do not fit this model's config: .*size mismatch"):
        load_idm(tmp_path / "m")
    (tmp_path / "m.json").write_text(json.dumps({**document, "config": {**document["config"], "steps": 0}}))
    with pytest.raises(ModelFileError, match="bad IDM config .*steps must be >= 1"):
        load_idm(tmp_path / "m")
    (tmp_path / "m.json").write_text(json.dumps({"format": document["format"]}))
    with pytest.raises(ModelFileError, match="bad IDM config"):
        load_idm(tmp_path / "m")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"channels": (8, 16), "depth": (1,)}, "equal length"),
        ({"channels": (7, 16), "depth": (1, 1)}, "must be even"),
        ({"schedule_s": 0.0}, "schedule_s > 0"),
        ({"serves": {"ratio": {"min": 0.5, "max": 0.1}}}, "min 0.5 is above max 0.1"),
        ({"serves": {"ratio": {"low": 0.1}}}, "must be a value"),
    ],
)
def test_impossible_configs_are_refused_when_made(overrides, message):
    with pytest.raises(ValueError, match=message):
        IDMConfig(**overrides)


def test_cards_written_before_serves_still_load_as_scrambled_cs():
    legacy = IDMConfig.from_dict({**TINY, "operator": "cs", "ratio_range": [0.1, 0.5], "block_size": 32})
    assert legacy.serves == {"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}, "block_size": 32, "scramble": True}
    assert IDMConfig.from_dict(legacy.to_dict()) == legacy


def test_an_empty_description_serves_every_operator():
    model = _tiny(True)
    model.check_physics(Inpainting((32, 32), keep_ratio=0.5))
    assert model.config.serves == {}


def test_a_model_for_several_operators_serves_each_and_names_them_when_refusing():
    from reverse_anything.physics import SuperResolution

    serves = [{"operator": "cs", "ratio": {"min": 0.1, "max": 0.5}}, {"operator": "inpainting"}]
    model = _tiny(True, serves=serves)
    model.check_physics(Inpainting((32, 32), keep_ratio=0.5))
    model.check_physics(CompressedSensing(0.2, (32, 32)))
    with pytest.raises(IncompatibleMeasurementError, match="serves cs with ratio in 0.1..0.5, not ratio=0.8"):
        model.check_physics(CompressedSensing(0.8, (32, 32)))
    with pytest.raises(IncompatibleMeasurementError, match="trained for operators 'cs', 'inpainting', not 'sr'"):
        model.check_physics(SuperResolution((32, 32), factor=2))
    assert IDMConfig.from_dict(model.config.to_dict()) == model.config


@pytest.mark.parametrize("serves, message", [([], "must not be empty"), ([{"ratio": 0.3}], "names its operator")])
def test_malformed_lists_of_descriptions_are_refused(serves, message):
    with pytest.raises(ValueError, match=message):
        IDMConfig(**TINY, serves=serves)


def test_the_start_can_differ_per_operator_family():
    from reverse_anything.physics import SuperResolution

    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    mixed = _tiny(True, start={"cs": "unbiased", "default": "pinv"})
    assert mixed.config.start_for("cs") == "unbiased" and mixed.config.start_for("sr") == "pinv"
    for op, plain_start in ((CompressedSensing(0.3, (32, 32)).double(), "unbiased"), (SuperResolution((32, 32), factor=2).double(), "pinv")):
        plain = _tiny(True, start=plain_start)
        other = _tiny(True, start="pinv" if plain_start == "unbiased" else "unbiased")
        with torch.no_grad():
            out = mixed(op.A(x), op)
            torch.testing.assert_close(out, plain(op.A(x), op))
            assert not torch.allclose(out, other(op.A(x), op))
    with pytest.raises(ValueError, match="unknown start"):
        IDMConfig(**TINY, start={"cs": "sideways"})


def test_a_noisy_measurement_takes_the_proximal_step_with_exact_memory_saving_gradients():
    from reverse_anything.physics import Blur

    torch.manual_seed(2)
    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    noisy, clean = (Blur((32, 32), sigma=2.0, noise_sigma=s).double() for s in (0.02, 0.0))
    y = noisy(x, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(_tiny(True)(y, noisy), _tiny(True)(y, clean))  # sigma changes the data step
    grads = []
    for memory_saving in (True, False):
        model = _tiny(memory_saving)
        (model(y, noisy) - x).abs().mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-10, atol=1e-12)


def test_a_model_that_learned_its_relaxation_keeps_it_for_noisy_measurements():
    from reverse_anything.physics import Blur

    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    noisy, clean = (Blur((32, 32), sigma=2.0, noise_sigma=s).double() for s in (0.02, 0.0))
    y = noisy(x, generator=torch.Generator().manual_seed(0))
    model = _tiny(True, learn_consistency=True)
    with torch.no_grad():
        torch.testing.assert_close(model(y, noisy), model(y, clean))
