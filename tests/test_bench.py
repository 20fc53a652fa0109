"""``reverse-anything bench`` end to end on tiny, barely trained models (2 iterations each)."""
import argparse
import json

import pytest
import torch
from PIL import Image

from reverse_anything.bench import _fid_column, _Keeper, measure_training_memory, run_bench
from reverse_anything.bench.report import describe_budget
from reverse_anything.cli import build_parser
from reverse_anything.cli.bench import command_bench
from reverse_anything.models.idm import IDMConfig
from reverse_anything.training import TrainConfig, train

TINY_IDM = {"steps": 2, "channels": [8, 32], "depth": [1, 1], "embed_dim": 16}
TINY_PRIOR = {"channels": [8, 16], "depth": [1, 1], "embed_dim": 16, "timesteps": 20}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Three small real images, an IDM and a DDPM prior trained for 2 iterations on them."""
    from skimage import data

    root = tmp_path_factory.mktemp("bench")
    images = root / "images"
    images.mkdir()
    Image.fromarray(data.camera()[100:164, 100:196]).save(images / "a_camera.png")
    Image.fromarray(data.coffee()[50:114, 200:296]).save(images / "b_coffee.png")
    Image.fromarray(data.astronaut()[:64, :96]).save(images / "c_astronaut.png")
    common = dict(data=str(images), iterations=2, batch_size=2, patch_size=32, warmup=1, val_holdout=1, val_every=2,
                  val_size=32, checkpoint_every=2)
    idm = train(TrainConfig(method="idm", out=str(root / "idm"), ratios=(0.3, 0.5), model=TINY_IDM, **common), progress=False)
    ddpm = train(TrainConfig(method="ddpm", out=str(root / "ddpm"), model=TINY_PRIOR, **common), progress=False)
    return images, idm.with_suffix(".safetensors"), ddpm.with_suffix(".safetensors")


def _args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *flags])


def test_bench_writes_the_tables_the_pictures_and_the_json(setup, tmp_path, capsys):
    images, idm, ddpm = setup
    flags = ["--data", str(images), "--limit", "1", "--idm-model", str(idm), "--ddpm-model", str(ddpm),
             "--pnp-model", str(ddpm), "--ddpm-steps", "3", "--ddnm-steps", "2", "--out-dir", str(tmp_path / "out"), "--json", str(tmp_path / "bench.json"),
             "--memory-batch", "2", "--memory-patch", "32", "--memory-reps", "1", "--quiet"]
    assert command_bench(_args(*flags)) == 0
    document = json.loads((tmp_path / "bench.json").read_text())
    assert set(document) == {"quality", "memory"}
    assert list(document["quality"]) == ["pinv", "tv", "ddpm", "ddnm", "pnp", "idm"]
    for scores in document["quality"].values():
        assert set(scores) == {"psnr", "ssim", "fid", "seconds_per_image"}
        assert scores["fid"] is None and scores["seconds_per_image"] > 0 and 0 < scores["ssim"] <= 1
    memory = document["memory"]
    assert set(memory) == {"on_bytes", "off_bytes", "reduction", "on_seconds_per_iter", "off_seconds_per_iter"}
    assert 0 < memory["on_bytes"] < memory["off_bytes"] and memory["reduction"] == pytest.approx(1 - memory["on_bytes"] / memory["off_bytes"])
    markdown = (tmp_path / "out" / "bench.md").read_text()
    assert "n/a (no --fid-weights given)" in markdown and "| idm | 2 |" in markdown and "| ddpm | 3 |" in markdown and "| pnp | 60 |" in markdown
    assert "| reduction |" in markdown and "Hardware:" in markdown
    assert f"idm `{idm}` (2 iterations, " in markdown and f"ddpm / ddnm prior `{ddpm}` (2 iterations, " in markdown  # budgets stated
    grid = Image.open(tmp_path / "out" / "grid.png")
    assert f"pnp prior `{ddpm}` (2 iterations, " in markdown
    assert grid.width > 7 * 96 and 64 < grid.height < 2 * 64 + 40  # one image: A†y, tv, ddpm, ddnm, pnp, idm, truth
    assert (tmp_path / "out" / "psnr_vs_time.png").stat().st_size > 0
    assert "wrote" in capsys.readouterr().out


def test_the_pinv_row_is_the_pseudo_inverse_scored_like_eval(setup, tmp_path):
    images, idm, ddpm = setup
    report = run_bench(images, limit=2, idm_model=str(idm), ddpm_model=str(ddpm), ddpm_steps=2, ddnm_steps=2,
                       methods=("pinv", "idm"), out_dir=tmp_path, memory_batch=1, memory_patch=32, memory_reps=1, progress=False)
    from reverse_anything.evaluate import evaluate_folder
    from reverse_anything.physics import CompressedSensing
    from reverse_anything.solvers import get_restorer

    direct = evaluate_folder(images, lambda size, i: CompressedSensing(0.5, size, seed=0, perm_seed=i), get_restorer("pinv"),
                             limit=2, progress=False)
    assert report.document["quality"]["pinv"]["psnr"] == pytest.approx(direct.psnr, abs=1e-9)
    assert "FID needs at least 2 images" not in report.markdown  # 2 images, but no weights: the reason is the weights


def test_fid_column_compares_each_method_with_the_truth_features():
    keeper = _Keeper(lambda images: images.flatten(1)[:, :4].double())
    truths = [torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(5)]
    for method, change in (("same", lambda x: x), ("darker", lambda x: x / 2)):
        keeper.method = method
        for index, truth in enumerate(truths):
            keeper(f"im{index}", truth, change(truth))
    fid = _fid_column(keeper, ["same", "darker"], None)
    assert fid["same"] == pytest.approx(0.0, abs=1e-9) and fid["darker"] > 0.01
    assert len(keeper.grid) == 3 and set(keeper.grid["im0"]) == {"truth", "same", "darker"}
    assert _fid_column(_Keeper(None), ["x"], "no --fid-weights given") == {"x": "n/a (no --fid-weights given)"}
    one = _Keeper(lambda images: images.flatten(1))
    one.method = "x"
    one("a", truths[0], truths[0])
    assert _fid_column(one, ["x"], None)["x"].startswith("n/a (FID needs at least 2 images")


def test_memory_saving_holds_less_for_backward_than_plain_autograd():
    config = IDMConfig(**{**TINY_IDM, "channels": (8, 32), "depth": (1, 1)})
    on, off = measure_training_memory(config, torch.rand(2, 1, 32, 32), ratio=0.5, reps=1)
    assert on.memory_saving and not off.memory_saving
    assert 0 < on.saved_bytes < 0.5 * off.saved_bytes
    assert on.seconds_per_iter > 0 and off.seconds_per_iter > 0


def test_missing_models_fail_before_any_evaluation(setup, tmp_path):
    images, idm, _ = setup
    with pytest.raises(ValueError, match="no model"):
        run_bench(images, limit=1, idm_model=str(idm), ddpm_model=str(tmp_path / "none"), out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="needs the idm method"):
        run_bench(images, methods=("pinv",), out_dir=tmp_path / "out", progress=False)


def test_a_model_for_another_ratio_fails_before_any_evaluation(setup, tmp_path, monkeypatch):
    """The idm row runs last: its model is checked against --ratio before the slow ddpm row starts."""
    images, idm, ddpm = setup
    monkeypatch.setattr("reverse_anything.bench.evaluate_folder", lambda *a, **k: pytest.fail("evaluated before the check"))
    with pytest.raises(ValueError, match="serves cs with ratio in 0.3..0.5, not ratio=0.1"):
        run_bench(images, ratio=0.1, limit=1, idm_model=str(idm), ddpm_model=str(ddpm), ddpm_steps=4, ddnm_steps=2,
                  out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_methods_flag_runs_only_those_rows(setup, tmp_path):
    images, idm, _ = setup
    flags = ["--data", str(images), "--limit", "1", "--idm-model", str(idm), "--methods", "pinv", "idm", "--out-dir",
             str(tmp_path / "out"), "--json", str(tmp_path / "bench.json"), "--memory-batch", "2", "--memory-patch", "32",
             "--memory-reps", "1", "--quiet"]
    assert command_bench(_args(*flags)) == 0
    assert list(json.loads((tmp_path / "bench.json").read_text())["quality"]) == ["pinv", "idm"]
    markdown = (tmp_path / "out" / "bench.md").read_text()
    assert "| idm | 2 |" in markdown and "| ddpm |" not in markdown and "ddpm / ddnm prior" not in markdown
    with pytest.raises(ValueError, match="invalid choice"):  # the CLI's parser refuses an unknown row in one line
        _args("--methods", "magic")


def test_a_missing_data_folder_is_one_line_and_leaves_no_output(tmp_path):
    with pytest.raises(ValueError, match="no such folder of test images"):
        run_bench(tmp_path / "nowhere", out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


class _Picked(Exception):
    """Raised by the stand-in for ``build_restorers`` to end the run once the idm model is chosen."""


@pytest.mark.parametrize("ratio, expected", [(0.5, "cs-0.5"), (0.1, "cs-0.1"), (0.25, "cs")])
def test_without_a_named_model_the_bench_runs_the_model_restore_picks(tmp_path, monkeypatch, ratio, expected):
    """`bench --ratio R` compares the model `restore --method idm` would use at R, not one fixed model."""
    from reverse_anything.physics import CompressedSensing
    from reverse_anything.solvers.learned import default_idm_model

    assert default_idm_model(CompressedSensing(ratio, (64, 64))) == expected

    def stand_in(methods, idm_model, *args, **kwargs):
        raise _Picked(idm_model)

    monkeypatch.setattr("reverse_anything.bench.build_restorers", stand_in)
    (tmp_path / "images").mkdir()
    with pytest.raises(_Picked, match=f"^{expected}$"):
        run_bench(tmp_path / "images", ratio=ratio, out_dir=tmp_path / "out", progress=False)


def test_a_ratio_no_shipped_model_serves_fails_in_one_line_before_any_output(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match=r"serves cs with ratio in 0\.1\.\.0\.5, not ratio=0\.8"):
        run_bench(tmp_path / "images", ratio=0.8, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_the_budget_of_a_model_trained_in_several_runs_counts_every_run():
    one_run = {"iterations": 700, "train_minutes": 89.4, "init_from": {"model": "cs", "iterations": 801, "train_minutes": 109.2}}
    assert describe_budget("cs-0.5", one_run) == "`cs-0.5` (700 iterations, 89.4 min, fine-tuned from `cs`: 801 iterations, 109.2 min)"
    stages = [{"iterations": 400, "minutes": 47.0}, {"iterations": 950, "minutes": 115.5}]
    assert describe_budget("cs-0.1", {**one_run, "stages": stages}) == (
        "`cs-0.1` (400 + 950 iterations in 2 runs, 162.5 min, fine-tuned from `cs`: 801 iterations, 109.2 min)")
    inside = {**one_run, "stages": stages, "init_from": {"model": "checkpoints/run/ema-600.safetensors", "iterations": 600}}
    assert describe_budget("cs", inside) == "`cs` (400 + 950 iterations in 2 runs, 162.5 min)"
