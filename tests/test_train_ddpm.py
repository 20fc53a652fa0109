"""DDPM prior training through the shared loop: loss goes down, files and logs, resume, flags."""
import argparse

import numpy as np
import pytest
import torch

from reverse_anything.models.checkpoint import load_ddpm
from reverse_anything.cli import build_parser
from reverse_anything.cli.train import train_from_args
from reverse_anything.training import TrainConfig, train

TINY_PRIOR = {"channels": [8, 16], "depth": [1, 1], "embed_dim": 16, "timesteps": 100}


@pytest.fixture(scope="module")
def image_folder(training_images):
    return training_images


def _config(folder, out, **overrides) -> TrainConfig:
    values = dict(method="ddpm", data=str(folder), out=str(out), iterations=6, batch_size=4, patch_size=32, lr=2e-3,
                  warmup=1, val_holdout=1, val_every=3, val_size=64, checkpoint_every=3, model=TINY_PRIOR)
    values.update(overrides)
    return TrainConfig(**values)


def test_a_few_dozen_iterations_lower_the_noise_prediction_loss(image_folder, tmp_path):
    stem = train(_config(image_folder, tmp_path, iterations=40, val_every=20, checkpoint_every=40), progress=False)
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0] == "iteration,loss,lr,seconds,val"
    losses = [float(r.split(",")[1]) for r in lines[1:]]
    assert len(losses) == 40
    assert np.mean(losses[:5]) == pytest.approx(1.0, abs=0.35)  # a fresh model predicts 0: MSE = E[eps^2]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    model = load_ddpm(stem)
    assert model.config.timesteps == 100
    assert sorted(model.training_info["validation"]) == ["val_psnr@t10", "val_psnr@t40", "val_psnr@t6", "val_psnr@t70"]


def test_validation_reports_one_shot_psnr_at_fixed_steps(image_folder, tmp_path):
    stem = train(_config(image_folder, tmp_path, iterations=3, model={**TINY_PRIOR, "timesteps": 1000}), progress=False)
    validation = load_ddpm(stem).training_info["validation"]
    assert sorted(validation) == ["val_psnr@t100", "val_psnr@t400", "val_psnr@t56", "val_psnr@t700"]
    assert validation["val_psnr@t100"] > validation["val_psnr@t700"]  # less noise, easier


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(image_folder, tmp_path):
    whole = train(_config(image_folder, tmp_path / "whole"), progress=False)
    train(_config(image_folder, tmp_path / "split"), progress=False, stop_after=3)
    resumed = train(_config(image_folder, tmp_path / "split"), resume=True, progress=False)
    a, b = load_ddpm(whole).state_dict(), load_ddpm(resumed).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["train", *flags])


@pytest.mark.parametrize("flags, message", [
    (["--memory-saving", "on"], "idm only"),
    (["--schedule", "adaptive"], "beta schedule"),
    (["--channels", "8", "16"], "equal length"),
])
def test_flags_that_do_not_fit_a_ddpm_prior_fail_early(image_folder, tmp_path, flags, message):
    with pytest.raises(ValueError, match=message):
        train_from_args(_args("--method", "ddpm", "--data", str(image_folder), "--out", str(tmp_path), *flags))
    assert not (tmp_path / "log.csv").exists()


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown training method"):
        train(TrainConfig(method="gan"))


def test_a_timestep_range_draws_only_steps_inside_it(image_folder, tmp_path):
    from reverse_anything.training.tasks import make_task
    task = make_task(_config(image_folder, tmp_path, timestep_range=(5, 9)))
    generator = torch.Generator().manual_seed(0)
    steps = torch.cat([task.draw(torch.zeros(64, 1, 8, 8), generator)["t"] for _ in range(4)])
    assert int(steps.min()) == 5 and int(steps.max()) == 8  # [low, high): every step of the range, none outside
    whole = make_task(_config(image_folder, tmp_path)).draw(torch.zeros(256, 1, 8, 8), generator)["t"]
    assert int(whole.max()) > 50  # without a range the whole 100-step chain is drawn


def test_the_timestep_range_flag_reaches_the_run(image_folder, tmp_path):
    config = tmp_path / "holdout.json"
    config.write_text('{"val_holdout": 1}')
    stem = train_from_args(_args("--method", "ddpm", "--data", str(image_folder), "--out", str(tmp_path), "--iterations", "2",
                                 "--batch-size", "2", "--patch-size", "32", "--val-every", "2", "--steps", "100", "--config", str(config),
                                 "--channels", "8", "16", "--depth", "1", "1", "--timestep-range", "0", "30"))
    assert load_ddpm(stem).training_info["train_config"]["timestep_range"] == [0, 30]


@pytest.mark.parametrize("overrides, message", [
    (dict(timestep_range=(10, 10)), "low < high"),
    (dict(timestep_range=(-1, 10)), "low >= 0"),
    (dict(timestep_range=(0, 101)), "runs past the prior's 100 steps"),
    (dict(method="idm", model={}, timestep_range=(0, 10)), "ddpm only"),
])
def test_impossible_timestep_ranges_are_refused(image_folder, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train(_config(image_folder, tmp_path, **overrides), progress=False)
    assert not (tmp_path / "log.csv").exists()


def test_a_prior_fine_tuned_with_init_from_takes_that_priors_architecture(image_folder, tmp_path):
    wide = {**TINY_PRIOR, "channels": [12, 24]}
    first = train(_config(image_folder, tmp_path / "first", iterations=2, model=wide), progress=False)
    second = train(_config(image_folder, tmp_path / "second", iterations=2, model={}, init_from=str(first) + ".safetensors",
                           timestep_range=(0, 30)), progress=False)
    model = load_ddpm(second)
    assert list(model.config.channels) == [12, 24] and model.config.timesteps == 100


def test_a_deepened_prior_starts_as_exactly_the_prior_it_grew_from(image_folder, tmp_path):
    from reverse_anything.models.ddpm import DDPMNet, deepened_weights
    from reverse_anything.training.tasks import make_task
    first = train(_config(image_folder, tmp_path / "first", iterations=3), progress=False)
    prior = load_ddpm(first)
    task = make_task(_config(image_folder, tmp_path / "deep", model={"depth": [3, 2]}, init_from=str(first) + ".safetensors"))
    deep = task.build_model()
    task.load_initial_weights(deep)
    assert list(deep.config.depth) == [3, 2] and deep.parameter_count() > prior.parameter_count()
    x, level = torch.randn(2, 1, 32, 32), torch.tensor([0.9, 0.3])
    torch.testing.assert_close(deep(x, level), prior(x, level), rtol=0, atol=1e-6)  # new blocks add exactly zero
    deep.down_stages[0].blocks[2].conv2.weight.data.fill_(0.01)  # ...because they are at zero, not because they are skipped
    assert not torch.allclose(deep(x, level), prior(x, level), atol=1e-4)
    with pytest.raises(ValueError, match="can only be deepened"):
        deepened_weights(dict(deep.state_dict()), (3, 2), DDPMNet(prior.config))


def test_a_prior_is_deepened_and_trained_through_the_cli(image_folder, tmp_path):
    first = train(_config(image_folder, tmp_path / "first", iterations=2), progress=False)
    config = tmp_path / "holdout.json"
    config.write_text('{"val_holdout": 1}')
    stem = train_from_args(_args("--method", "ddpm", "--data", str(image_folder), "--out", str(tmp_path / "deep"), "--config", str(config),
                                 "--iterations", "2", "--batch-size", "2", "--patch-size", "32", "--val-every", "2",
                                 "--init-from", str(first) + ".safetensors", "--depth", "2", "2"))
    assert list(load_ddpm(stem).config.depth) == [2, 2]
