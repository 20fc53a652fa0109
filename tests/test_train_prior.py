"""``train --init-prior``: an IDM built on a DDPM prior, with EMA weights; resume stays exact."""
from __future__ import annotations

import json

import pytest
import torch

from reverse_anything.models.checkpoint import load_ddpm, load_idm
from reverse_anything.models.from_prior import idm_from_prior
from reverse_anything.models.step_count import matched_schedule_s
from reverse_anything.physics import CompressedSensing
from reverse_anything.training import TrainConfig, train

PRIOR_MODEL = {"channels": [16, 32, 64], "depth": [1, 1, 1], "embed_dim": 16}


@pytest.fixture(scope="module")
def image_folder(training_images):
    return training_images


@pytest.fixture(scope="module")
def prior_stem(image_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("prior")
    config = TrainConfig(method="ddpm", data=str(image_folder), out=str(out), iterations=4, batch_size=2, patch_size=32,
                         warmup=1, val_holdout=1, val_every=4, val_size=64, checkpoint_every=4, ema=0.9, model=PRIOR_MODEL)
    return train(config, progress=False)


def _idm_config(folder, out, prior, **overrides) -> TrainConfig:
    values = dict(method="idm", data=str(folder), out=str(out), iterations=6, batch_size=2, patch_size=32, lr=1e-3, warmup=1,
                  val_holdout=1, val_every=3, val_size=64, checkpoint_every=3, ema=0.9, init_prior=f"{prior}.safetensors",
                  model={"steps": 2, "step_mixing": 0.1, "start": "unbiased"})
    values.update(overrides)
    return TrainConfig(**values)


def test_the_ema_prior_is_exported_and_loads(prior_stem):
    prior = load_ddpm(f"{prior_stem}.safetensors")
    assert prior.config.channels == (16, 32, 64)
    assert json.loads(prior_stem.with_suffix(".json").read_text())["training"]["train_config"]["ema"] == 0.9


def test_init_prior_starts_from_the_prior_and_records_it(image_folder, prior_stem, tmp_path):
    stem = train(_idm_config(image_folder, tmp_path, prior_stem, iterations=1, lr=1e-12, warmup=0), progress=False)
    model = load_idm(f"{stem}.safetensors")
    document = json.loads((tmp_path / "model.json").read_text())
    assert document["config"]["backbone"] == "prior" and document["config"]["channels"] == [16, 32, 64]
    assert document["training"]["init_prior"]["model"].endswith(".safetensors")
    start = document["training"]["validation_at_start"]
    assert set(start) == {"val_psnr@0.1", "val_psnr@0.3", "val_psnr@0.5"}
    # with a negligible learning rate the exported model is still the prior's solver
    reference = idm_from_prior(load_ddpm(f"{prior_stem}.safetensors"), steps=2, step_mixing=0.1, start="unbiased").eval()
    op = CompressedSensing(0.3, (32, 32))
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(op.A(x), op), reference(op.A(x), op), rtol=1e-4, atol=1e-4)


def test_resume_with_ema_gives_the_same_weights_as_an_uninterrupted_run(image_folder, prior_stem, tmp_path):
    whole = train(_idm_config(image_folder, tmp_path / "whole", prior_stem), progress=False)
    train(_idm_config(image_folder, tmp_path / "split", prior_stem), progress=False, stop_after=4)
    resumed = train(_idm_config(image_folder, tmp_path / "split", prior_stem), resume=True, progress=False)
    a, b = load_idm(f"{whole}.safetensors").state_dict(), load_idm(f"{resumed}.safetensors").state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_init_prior_is_refused_where_it_does_not_apply(image_folder, prior_stem, tmp_path):
    with pytest.raises(ValueError, match="--init-prior starts a new IDM"):
        _idm_config(image_folder, tmp_path, prior_stem, method="ddpm").validate()
    with pytest.raises(ValueError, match="EMA decay"):
        _idm_config(image_folder, tmp_path, prior_stem, ema=1.5).validate()
    with pytest.raises(ValueError, match="the prior has channels"):
        train(_idm_config(image_folder, tmp_path, prior_stem, model={"channels": [8, 32]}), progress=False)


def test_fine_tuning_moves_the_injectors_of_an_after_model_before_the_blocks(image_folder, prior_stem, tmp_path):
    """``--init-from`` an ``injector = "after"`` model with ``injector = "before"``: same weights, swapped slots,
    and (injectors still zero) the same output."""
    after = train(_idm_config(image_folder, tmp_path / "after", prior_stem, iterations=1, lr=1e-12, warmup=0,
                              model={"steps": 2, "step_mixing": 0.1, "start": "unbiased", "injector": "after"}), progress=False)
    moved = train(_idm_config(image_folder, tmp_path / "before", None, init_prior=None, init_from=f"{after}.safetensors",
                              iterations=1, lr=1e-12, warmup=0, model={"injector": "before"}), progress=False)
    a, b = load_idm(f"{after}.safetensors"), load_idm(f"{moved}.safetensors")
    assert a.config.injector == "after" and b.config.injector == "before"
    op = CompressedSensing(0.3, (32, 32))
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(b(op.A(x), op), a(op.A(x), op), rtol=1e-4, atol=1e-4)


def test_training_data_is_an_explicit_folder(tmp_path):
    with pytest.raises(ValueError, match="no training data: pass --data"):
        TrainConfig(out=str(tmp_path)).validate()
    with pytest.raises(ValueError, match="missing"):  # checked where the images are read, so configs load anywhere
        train(TrainConfig(data=str(tmp_path / "missing"), out=str(tmp_path / "run")), progress=False)


def test_fine_tuning_with_fewer_steps_resamples_the_per_step_weights(image_folder, prior_stem, tmp_path):
    """``--init-from`` a T = 4 model with ``steps = 2``: the shared network carries over, new step t' takes old step
    2t' (injectors, mixing v, schedule row), and the result loads and restores."""
    four = train(_idm_config(image_folder, tmp_path / "four", prior_stem, iterations=2, warmup=0,
                             model={"steps": 4, "step_mixing": 0.1, "start": "unbiased"}), progress=False)
    two = train(_idm_config(image_folder, tmp_path / "two", None, init_prior=None, init_from=f"{four}.safetensors",
                            iterations=1, lr=1e-12, warmup=0, ema=0.0, model={"steps": 2}), progress=False)
    a, b = load_idm(f"{four}.safetensors"), load_idm(f"{two}.safetensors")
    assert (a.config.steps, b.config.steps) == (4, 2)
    assert b.config.schedule_s == matched_schedule_s(4, a.config.schedule_s, 2) < a.config.schedule_s  # same start level
    injector = lambda model: model.chain.couplings[0].F.backbone.down_stages[0].sequence.couplings[0].F  # noqa: E731
    for new_index, old_index in ((0, 1), (1, 3)):  # new steps 1, 2 <- old steps 2, 4
        torch.testing.assert_close(injector(b).to_image[new_index].weight, injector(a).to_image[old_index].weight, rtol=1e-6, atol=1e-9)
    # chain coupling i runs step T - i: new coupling 0 (t' = 2) <- old coupling 0 (t = 4), new 1 (t' = 1) <- old 2 (t = 2)
    torch.testing.assert_close(b.chain.couplings[1].v_logit, a.chain.couplings[2].v_logit, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(b.schedule.phi.head.weight, a.schedule.phi.head.weight[[1, 3]], rtol=1e-6, atol=1e-9)
    backbone = lambda model: model.chain.couplings[0].F.backbone.conv_in.weight  # noqa: E731
    torch.testing.assert_close(backbone(b), backbone(a), rtol=1e-6, atol=1e-9)
    op = CompressedSensing(0.3, (32, 32))
    with torch.no_grad():
        assert torch.isfinite(b(op.A(torch.rand(1, 1, 32, 32)), op)).all()
