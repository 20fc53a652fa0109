"""The DDPM baseline prior: shapes, conditioning, model files that IDM's loader refuses (and vice versa)."""
import json

import pytest
import torch

from reverse_anything.models.checkpoint import ModelFileError, load_ddpm, load_idm, save_ddpm, save_idm
from reverse_anything.models.ddpm import DDPMConfig, DDPMNet, from_model_range, to_model_range
from reverse_anything.models.idm import IDM, IDMConfig

TINY = DDPMConfig(channels=(8, 16), depth=(1, 1), embed_dim=16, timesteps=50)


def _tiny(dtype=torch.float64) -> DDPMNet:
    torch.manual_seed(0)
    model = DDPMNet(TINY).to(dtype)
    with torch.no_grad():  # leave the zero-initialised output layer: make every path carry signal
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_output_has_the_input_shape_for_any_size_and_dtype():
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 1, 19, 23, dtype=dtype)
        eps = _tiny(dtype)(x, torch.tensor([0.9, 0.1], dtype=dtype))
        assert eps.shape == x.shape and eps.dtype == dtype and torch.isfinite(eps).all()


def test_a_fresh_model_predicts_zero_noise_and_a_trained_one_depends_on_the_level():
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    assert torch.count_nonzero(DDPMNet(TINY).double()(x, torch.tensor([0.5]))) == 0
    model = _tiny()
    assert not torch.allclose(model(x, torch.tensor([0.9])), model(x, torch.tensor([0.1])))


def test_schedule_comes_from_the_config():
    model = DDPMNet(DDPMConfig(timesteps=1000, schedule="linear"))
    assert model.alphas_cumprod.shape == (1000,) and model.alphas_cumprod.dtype == torch.float64
    assert model.alphas_cumprod[-1].item() == pytest.approx(4.035829765375683e-05, rel=1e-10)
    cosine = DDPMNet(DDPMConfig(timesteps=1000, schedule="cosine")).alphas_cumprod
    assert cosine[499].item() == pytest.approx(0.4938435904406377, rel=1e-9)


def test_model_range_round_trip():
    x = torch.rand(2, 1, 4, 4)
    assert to_model_range(x).min() >= -1 and to_model_range(x).max() <= 1
    assert torch.allclose(from_model_range(to_model_range(x)), x)


def test_config_json_round_trip_and_bad_configs():
    assert DDPMConfig.from_dict(json.loads(json.dumps(TINY.to_dict()))) == TINY
    with pytest.raises(ValueError, match="unknown DDPMConfig keys"):
        DDPMConfig.from_dict({"memory_saving": True})
    with pytest.raises(ValueError, match="beta schedule"):
        DDPMConfig(schedule="adaptive")
    with pytest.raises(ValueError, match="equal length"):
        DDPMConfig(channels=(8, 16), depth=(1,))


def test_grey_images_only():
    with pytest.raises(ValueError, match="grey"):
        _tiny()(torch.randn(1, 3, 8, 8, dtype=torch.float64), torch.tensor([0.5]))


def test_model_file_round_trip(tmp_path):
    model = _tiny().float()
    save_ddpm(model, tmp_path / "prior", training={"iterations": 3})
    loaded = load_ddpm(tmp_path / "prior.safetensors")
    assert loaded.config == model.config and loaded.training_info == {"iterations": 3}
    x = torch.randn(2, 1, 16, 16)
    level = torch.tensor([0.3, 0.7])
    assert torch.equal(loaded(x, level), model.eval()(x, level))
    assert json.loads((tmp_path / "prior.json").read_text())["format"] == "reverse-anything-ddpm"


def test_idm_and_ddpm_loaders_refuse_each_others_files(tmp_path):
    save_ddpm(_tiny().float(), tmp_path / "prior")
    with pytest.raises(ModelFileError, match="not a Reverse Anything IDM model .*reverse-anything-ddpm"):
        load_idm(tmp_path / "prior")
    save_idm(IDM(IDMConfig(steps=2, channels=(8, 32), depth=(1, 1), embed_dim=16)), tmp_path / "idm")
    with pytest.raises(ModelFileError, match="not a Reverse Anything DDPM prior model .*reverse-anything-idm"):
        load_ddpm(tmp_path / "idm")
