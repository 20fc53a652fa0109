"""Training (Algorithm 1): loss goes down, resume is exact, DDP runs, bad settings fail early."""
import csv
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from reverse_anything.models.checkpoint import load_idm
from reverse_anything.training import TrainConfig, load_train_config, train

TINY_MODEL = {"steps": 2, "channels": [8, 32], "depth": [1, 1], "embed_dim": 16}


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Real images (scikit-image's bundled photos) in a nested folder, like ../shared/data/train."""
    from skimage import data

    root = tmp_path_factory.mktemp("train")
    (root / "a").mkdir()
    Image.fromarray(data.camera()[::2, ::2]).save(root / "a" / "camera.png")
    Image.fromarray(data.astronaut()[::2, ::2]).save(root / "a" / "astronaut.png")
    Image.fromarray(data.coffee()[:256, :256]).save(root / "coffee.png")
    Image.fromarray(data.brick()[:200, :200]).save(root / "brick.png")
    return root


def _config(folder, out, **overrides) -> TrainConfig:
    values = dict(data=str(folder), out=str(out), iterations=6, batch_size=2, patch_size=32, lr=1e-3, warmup=1,
                  val_holdout=1, val_every=3, val_size=64, checkpoint_every=3, model=TINY_MODEL)
    values.update(overrides)
    return TrainConfig(**values)


def _weights(stem):
    return {k: v.clone() for k, v in load_idm(stem).state_dict().items()}


def test_a_few_iterations_lower_the_loss(image_folder, tmp_path):
    torch.manual_seed(0)
    train(_config(image_folder, tmp_path, iterations=40, lr=2e-3, val_every=40, checkpoint_every=40), progress=False)
    rows = (tmp_path / "log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert len(losses) == 40
    assert np.mean(losses[-8:]) < 0.9 * np.mean(losses[:8])


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(image_folder, tmp_path):
    whole = train(_config(image_folder, tmp_path / "whole"), progress=False)
    train(_config(image_folder, tmp_path / "split"), progress=False, stop_after=3)  # an interrupted run
    resumed = train(_config(image_folder, tmp_path / "split"), resume=True, progress=False)
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_channels_last_training_matches_nchw_and_resumes_exactly(image_folder, tmp_path, monkeypatch):
    """The layout changes speed, not the math: same losses (to rounding), and a channels_last run resumes exactly."""
    from reverse_anything.training import IDMTask

    layouts = []
    real_loss = IDMTask.loss

    def recording_loss(self, net, x0, inputs):
        conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.in_channels > 1)
        layouts.append((x0.is_contiguous(memory_format=torch.channels_last) and not x0.is_contiguous(),
                        conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()))
        return real_loss(self, net, x0, inputs)

    monkeypatch.setattr(IDMTask, "loss", recording_loss)
    nchw = train(_config(image_folder, tmp_path / "nchw"), progress=False)
    assert set(layouts) == {(False, False)}
    layouts.clear()
    whole = train(_config(image_folder, tmp_path / "cl", memory_format="channels_last"), progress=False)
    assert set(layouts) == {(False, True)}  # the weights really are channels_last (a 1-channel batch looks contiguous either way)
    train(_config(image_folder, tmp_path / "cl-split", memory_format="channels_last"), progress=False, stop_after=3)
    resumed = train(_config(image_folder, tmp_path / "cl-split", memory_format="channels_last"), resume=True, progress=False)
    a, b, reference = _weights(whole), _weights(resumed), _weights(nchw)
    for name in a:
        assert torch.equal(a[name], b[name]), name
        torch.testing.assert_close(a[name], reference[name], rtol=1e-3, atol=1e-4)
    losses = {run: [float(r.split(",")[1]) for r in (tmp_path / run / "log.csv").read_text().splitlines()[1:]]
              for run in ("nchw", "cl")}
    np.testing.assert_allclose(losses["cl"], losses["nchw"], rtol=1e-4)
    assert load_idm(whole).training_info["train_config"]["memory_format"] == "channels_last"


def test_resume_after_a_crash_logs_every_iteration_once(image_folder, tmp_path):
    """A crash between checkpoints leaves log rows the checkpoint does not hold; resume drops them."""
    train(_config(image_folder, tmp_path, iterations=6, checkpoint_every=3), progress=False, stop_after=3)
    log = tmp_path / "log.csv"
    with open(log, "a", newline="") as handle:  # what a run killed at iteration 5 would have logged
        handle.write("4,0.5,0.001,0.3,0.1,\r\n5,0.5,0.001,0.3,0.1,\r\n")
    train(_config(image_folder, tmp_path, iterations=6, checkpoint_every=3), resume=True, progress=False)
    iterations = [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:]]
    assert iterations == [1, 2, 3, 4, 5, 6]
    assert all(float(line.split(",")[1]) != 0.5 for line in log.read_text().splitlines()[1:])


def test_a_run_resumed_at_its_end_exports_the_validation_of_its_weights(image_folder, tmp_path):
    """Resuming a finished run (to export it again) or resuming past the last validation must not
    ship a card with empty validation: the last logged scores belong to the same weights."""
    whole = train(_config(image_folder, tmp_path), progress=False)
    scores = load_idm(whole).training_info["validation"]
    assert scores and all(np.isfinite(v) for v in scores.values())
    (tmp_path / "model.json").unlink()
    again = train(_config(image_folder, tmp_path), resume=True, progress=False)
    assert load_idm(again).training_info["validation"] == scores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, config):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    train(config, progress=False)  # opens and closes the process group itself
    assert not torch.distributed.is_initialized()


def test_two_process_gloo_ddp_trains(image_folder, tmp_path):
    config = _config(image_folder, tmp_path, iterations=4, checkpoint_every=2)
    mp.spawn(_ddp_worker, args=(2, _free_port(), config), nprocs=2, join=True)
    model = load_idm(tmp_path / "model")
    assert model.training_info["world_size"] == 2
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 5


@pytest.mark.parametrize("override", [{"ratios": [0.0]}, {"ratios": [1.5]}, {"patch_size": 40}, {"noise_sigma": -1.0}, {"amp": "fp8"}, {"memory_format": "nhwc"}, {"nonsense": 1}])
def test_bad_training_settings_fail_early(override):
    with pytest.raises(ValueError):
        load_train_config(None, override)


# --- fine-tuning with --init-from -------------------------------------------------------------


@pytest.fixture(scope="module")
def base_model(image_folder, tmp_path_factory):
    """A tiny trained IDM (ratios 0.1-0.5) to fine-tune from."""
    return train(_config(image_folder, tmp_path_factory.mktemp("base"), iterations=3), progress=False)


def test_init_from_starts_at_that_models_weights_and_takes_its_architecture(image_folder, base_model, tmp_path):
    # A one-iteration run with a negligible learning rate must end where it started.
    config = _config(image_folder, tmp_path, iterations=1, lr=1e-12, warmup=1, ratios=[0.5], model={}, init_from=str(base_model))
    tuned = load_idm(train(config, progress=False))
    assert tuned.config.channels == tuple(TINY_MODEL["channels"]) and tuned.config.steps == TINY_MODEL["steps"]
    assert tuned.config.serves["ratio"] == {"min": 0.5, "max": 0.5}  # what the model serves comes from this run
    start = _weights(base_model)
    for name, value in _weights(tmp_path / "model").items():
        torch.testing.assert_close(value, start[name], atol=1e-8, rtol=0)
    assert tuned.training_info["init_from"] == {"model": str(base_model), "iterations": 3, "train_minutes": load_idm(base_model).training_info["train_minutes"]}


def test_a_fresh_model_differs_from_the_init_weights(image_folder, base_model, tmp_path):
    """Guards the test above: without --init-from the same run ends elsewhere."""
    stem = train(_config(image_folder, tmp_path, iterations=1, lr=1e-12, warmup=1, ratios=[0.5]), progress=False)
    start, fresh = _weights(base_model), _weights(stem)
    assert any(not torch.allclose(fresh[name], start[name]) for name in start)


def test_resume_of_a_fine_tune_continues_from_its_checkpoint(image_folder, base_model, tmp_path):
    config = lambda: _config(image_folder, tmp_path, iterations=4, checkpoint_every=2, init_from=str(base_model))  # noqa: E731
    whole = _weights(train(_config(image_folder, tmp_path / "whole", iterations=4, init_from=str(base_model)), progress=False))
    train(config(), progress=False, stop_after=2)
    resumed = _weights(train(config(), resume=True, progress=False))
    for name in whole:
        assert torch.equal(whole[name], resumed[name]), name


def test_init_from_refuses_a_conflicting_architecture(image_folder, base_model, tmp_path):
    config = _config(image_folder, tmp_path, model={**TINY_MODEL, "channels": [16, 32]}, init_from=str(base_model))
    with pytest.raises(ValueError, match=r"--init-from .* channels = \[8, 32\], this run asks for \[16, 32\]"):
        train(config, progress=False)
    assert not (tmp_path / "model.safetensors").exists()


def test_init_from_refuses_another_kind_of_model(image_folder, base_model, tmp_path):
    config = _config(image_folder, tmp_path, method="ddpm", model={}, init_from=str(base_model))
    with pytest.raises(ValueError, match="not a Reverse Anything DDPM prior model"):
        train(config, progress=False)


def test_init_from_a_missing_model_names_the_choices(image_folder, tmp_path):
    with pytest.raises(ValueError, match="no model 'nope'.*shipped name"):
        train(_config(image_folder, tmp_path, init_from="nope"), progress=False)


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_training_config_builds_its_model(path):
    """The configs the README and model cards quote must stay loadable as the code changes."""
    from reverse_anything.training import make_task

    task = make_task(load_train_config(path, {}))
    assert sum(p.numel() for p in task.build_model().parameters()) > 0


@pytest.mark.parametrize("device, backend", [("cpu", "gloo"), ("cuda", "nccl")])
def test_torchrun_picks_the_process_group_backend_from_the_device(device, backend, monkeypatch):
    """``torchrun ... train --device cuda`` must use nccl (it used gloo whatever the device)."""
    import torch.distributed as dist

    from reverse_anything.training.distributed import distributed

    opened: list[str] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda name: opened.append(name))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: opened.append("closed"))
    with distributed(device):
        pass
    assert opened == [backend, "closed"]


def test_the_last_validation_is_logged_even_off_the_validation_period(image_folder, tmp_path):
    stem = train(_config(image_folder, tmp_path, iterations=4, val_every=3, checkpoint_every=2), progress=False)
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [row["iteration"] for row in rows if row["val"]] == ["3", "4"]
    exported = json.loads(stem.with_suffix(".json").read_text())["training"]["validation"]
    assert json.loads(rows[-1]["val"]) == exported
