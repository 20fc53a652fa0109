"""What a new user trips over (issue 16): threads, colour, pictures that explain themselves, sharp edges."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from reverse_anything import demo
from reverse_anything.cli import main
from reverse_anything.cli import restore as restore_command
from reverse_anything.cli import train as train_command


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", ["measure", "restore", "eval", "demo"])
def test_every_command_takes_threads(command, colour_image, image_folder, tmp_path, capsys):
    previous = torch.get_num_threads()
    args = {
        "measure": ["measure", "--input", str(colour_image), "--output", str(tmp_path / "y.safetensors")],
        "restore": ["restore", "--image", str(colour_image), "--method", "pinv", "--output", str(tmp_path / "o.png")],
        "eval": ["eval", "--data", str(image_folder), "--method", "pinv", "--json", str(tmp_path / "r.json")],
        "demo": ["demo", "--methods", "pinv", "--output-dir", str(tmp_path / "demo"), "--quiet"],
    }[command]
    try:
        code, _, err = _run([*args, "--threads", "1"], capsys)
        assert code == 0, err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
    if command == "eval":
        assert json.loads((tmp_path / "r.json").read_text())["threads_set_by"].startswith("--threads 1")
    if command == "demo":
        document = json.loads((tmp_path / "demo" / "results.json").read_text())[0]
        assert document["threads_set_by"].startswith("--threads 1") and document["command"].startswith("reverse-anything demo")


def test_a_colour_image_is_measured_and_restored_in_colour_by_default(colour_image, tmp_path, capsys):
    out = tmp_path / "out.png"
    code, _, err = _run(["restore", "--image", str(colour_image), "--operator", "inpainting", "--keep-ratio", "0.5",
                         "--method", "tv", "--output", str(out)], capsys)
    assert code == 0, err
    assert Image.open(out).mode == "RGB"
    measured = tmp_path / "y.safetensors"
    assert _run(["measure", "--input", str(colour_image), "--output", str(measured)], capsys)[0] == 0
    restored = tmp_path / "restored.png"
    assert _run(["restore", "--input", str(measured), "--method", "pinv", "--output", str(restored)], capsys)[0] == 0
    assert Image.open(restored).mode == "RGB"
    grey = tmp_path / "grey.png"
    assert _run(["restore", "--image", str(colour_image), "--channel", "y", "--method", "pinv", "--output", str(grey)], capsys)[0] == 0
    assert Image.open(grey).mode == "L"


def test_the_restore_grid_is_labelled_and_the_message_names_it(colour_image, tmp_path, capsys):
    out, grid = tmp_path / "out.png", tmp_path / "grid.png"
    code, stdout, err = _run(["restore", "--image", str(colour_image), "--operator", "cs", "--ratio", "0.3", "--method", "idm",
                              "--output", str(out), "--grid", str(grid)], capsys)
    assert code == 0, err
    assert f"wrote {out} and {grid}" in stdout
    assert "model cs" in stdout  # the model picked without --model is reported
    width, height = Image.open(grid).size
    assert width > 3 * 64 and height > 64 + 2 * 10  # three panels side by side, under a title line and their labels


def test_labels_carry_psnr_and_ssim(monkeypatch, colour_image, tmp_path, capsys):
    seen = {}
    real = restore_command.labelled_grid

    def spy(rows, **kwargs):
        seen["labels"] = [label for row in rows for label, _ in row]
        seen["title"] = kwargs.get("title")
        return real(rows, **kwargs)

    monkeypatch.setattr(restore_command, "labelled_grid", spy)
    code, stdout, _ = _run(["restore", "--image", str(colour_image), "--operator", "cs", "--ratio", "0.3", "--method", "pinv",
                            "--output", str(tmp_path / "o.png"), "--grid", str(tmp_path / "g.png")], capsys)
    assert code == 0
    assert seen["title"].startswith("cs: ratio 0.3")
    assert " dB / " in seen["labels"][0] and " dB / " in seen["labels"][1] and seen["labels"][2] == "ground truth"


def test_the_demo_grid_says_what_it_shows(monkeypatch, tmp_path, capsys):
    seen = {}
    real = demo.labelled_grid
    monkeypatch.setattr(demo, "labelled_grid", lambda rows, **kw: seen.update(kw) or real(rows, **kw))
    code, stdout, _ = _run(["demo", "--methods", "pinv", "--operator", "inpainting", "--keep-ratio", "0.4",
                            "--output-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 0
    assert seen["title"].startswith("inpainting: keep_ratio 0.4")


@pytest.mark.parametrize("flag", ["--output", "--grid"])
def test_restore_refuses_to_overwrite_its_input_image_unless_forced(flag, colour_image, tmp_path, capsys):
    before = colour_image.read_bytes()
    other = str(tmp_path / ("g.png" if flag == "--output" else "o.png"))
    paths = {"--output": str(colour_image), "--grid": other} if flag == "--output" else {"--output": other, "--grid": str(colour_image)}
    args = ["restore", "--image", str(colour_image), "--method", "pinv", "--output", paths["--output"], "--grid", paths["--grid"]]
    code, _, err = _run(args, capsys)
    assert code == 2 and "is the input image" in err and "--force" in err
    assert colour_image.read_bytes() == before
    assert _run([*args, "--force"], capsys)[0] == 0


@pytest.mark.parametrize("flag", ["--input", "--image"])
def test_a_folder_where_a_file_belongs_is_named_as_a_folder(flag, image_folder, tmp_path, capsys):
    code, _, err = _run(["restore", flag, str(image_folder), "--output", str(tmp_path / "o.png")], capsys)
    assert code == 2 and "is a folder" in err and "eval --data" in err
    assert not (tmp_path / "o.png").exists()


def test_eval_scores_the_readable_images_and_exits_2_with_a_count(image_folder, tmp_path, capsys):
    (image_folder / "broken.png").write_bytes(b"not a png")
    result = tmp_path / "r.json"
    code, stdout, err = _run(["eval", "--data", str(image_folder), "--method", "pinv", "--json", str(result)], capsys)
    assert code == 2
    assert "skipped broken.png" in err and "1 of 4 images could not be read" in err
    document = json.loads(result.read_text())
    assert document["n_images"] == 3 and [s["name"] for s in document["skipped"]] == ["broken.png"]
    code, _, err = _run(["eval", "--data", str(image_folder), "--method", "pinv", "--strict"], capsys)
    assert code == 2 and "broken.png" in err and "could not be read" not in err


def test_eval_quiet_prints_only_the_mean(image_folder, capsys):
    code, stdout, _ = _run(["eval", "--data", str(image_folder), "--method", "pinv", "--quiet"], capsys)
    assert code == 0
    assert stdout.strip().startswith("mean") and len(stdout.strip().splitlines()) == 1


def test_only_rank_zero_announces_the_export(monkeypatch, capsys):
    monkeypatch.setattr(train_command, "train_from_args", lambda args: Path("runs/x/model"))
    monkeypatch.setenv("RANK", "1")
    assert train_command.command_train(None) == 0 and capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    assert train_command.command_train(None) == 0 and "exported runs/x/model.safetensors" in capsys.readouterr().out


def test_demo_output_is_ignored_by_git():
    lines = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "/demo-output/" in lines


def test_the_demo_restores_colour_examples_in_colour_and_grey_ones_as_y(tmp_path, capsys):
    code, stdout, _ = _run(["demo", "--methods", "pinv", "--output-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 0 and "auto channels" in stdout
    document = json.loads((tmp_path / "results.json").read_text())[0]
    assert document["channel"] == "auto" and document["n_images"] == 3
    code, stdout, _ = _run(["demo", "--methods", "pinv", "--channel", "y", "--output-dir", str(tmp_path / "y"), "--quiet"], capsys)
    assert code == 0 and json.loads((tmp_path / "y" / "results.json").read_text())[0]["channel"] == "y"


def test_auto_channel_scores_a_colour_image_in_rgb_and_a_grey_one_in_y(image_folder):
    from reverse_anything.evaluate import evaluate_folder
    from reverse_anything.physics import Inpainting
    from reverse_anything.solvers import get_restorer

    seen = {}
    result = evaluate_folder(image_folder, lambda size, index: Inpainting(size, keep_ratio=0.5), get_restorer("pinv"),
                             channel="auto", observe=lambda name, truth, restored: seen.update({name: truth.shape[1]}))
    assert seen == {"a.png": 3, "b.png": 1, "c.png": 3} and result.n_images == 3
