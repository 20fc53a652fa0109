"""Learned methods through the command line: the shipped model works, wrong pairings fail cleanly."""
from __future__ import annotations

from pathlib import Path

import pytest

from reverse_anything.cli import main


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_shipped_model_restores_an_image(colour_image: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    code, stdout, _ = _run(["restore", "--image", str(colour_image), "--operator", "cs", "--ratio", "0.3",
                            "--method", "idm", "--model", "cs", "--output", str(out)], capsys)
    assert code == 0 and out.is_file()
    assert "PSNR" in stdout


def test_tiled_measurement_file_restores_tile_by_tile(colour_image: Path, tmp_path: Path, capsys) -> None:
    measured, out = tmp_path / "y.safetensors", tmp_path / "out.png"
    code, _, _ = _run(["measure", "--input", str(colour_image), "--ratio", "0.3", "--tile", "32", "--output", str(measured)], capsys)
    assert code == 0
    code, stdout, _ = _run(["restore", "--input", str(measured), "--method", "idm", "--model", "cs", "--output", str(out)], capsys)
    assert code == 0 and out.is_file()
    code, _, err = _run(["restore", "--input", str(measured), "--tile", "16", "--output", str(tmp_path / "b.png")], capsys)
    assert code == 2 and "records its operator" in err


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--tile", "0"], "--tile"),
        (["--tile", "8"], "--tile 8: block_size 32 is larger than the 8x8 image"),
        (["--tile", "32", "--operator", "inpainting", "--box", "0,0,8,8"], "--tile does not combine with --box"),
        (["--tile", "32", "--operator", "matrix", "--matrix", "m.npy"], "--tile does not combine with --operator matrix"),
    ],
)
def test_impossible_tiles(flags, expected, colour_image: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    ratio = ["--ratio", "0.3"] if "--operator" not in flags else []
    code, _, err = _run(["restore", "--image", str(colour_image), *ratio, *flags, "--output", str(out)], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--operator", "inpainting", "--keep-ratio", "0.5", "--model", "cs"], "trained for operator 'cs'"),
        (["--operator", "cs", "--ratio", "0.8", "--model", "cs"], "serves cs with ratio in 0.1..0.5, not ratio=0.8"),
        (["--operator", "cs", "--ratio", "0.3", "--model", "no-such-model"], "no model 'no-such-model'"),
        (["--operator", "cs", "--ratio", "0.3", "--no-scramble", "--model", "cs"], "serves cs with scramble=True only, not scramble=False"),
    ],
)
def test_wrong_model_for_the_measurement(flags, expected, colour_image: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    code, _, err = _run(["restore", "--image", str(colour_image), "--method", "idm", *flags, "--output", str(out)], capsys)
    assert code == 2
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_corrupt_model_file(colour_image: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "m.safetensors").write_bytes(b"not safetensors")
    (tmp_path / "m.json").write_text('{"format": "reverse-anything-idm", "config": {}}')
    out = tmp_path / "out.png"
    code, _, err = _run(["restore", "--image", str(colour_image), "--operator", "cs", "--ratio", "0.3",
                         "--method", "idm", "--model", str(tmp_path / "m.safetensors"), "--output", str(out)], capsys)
    assert code == 2 and "cannot read weights" in err and not out.exists()


@pytest.mark.parametrize("flags", [["--ratios", "0"], ["--patch-size", "40"], ["--noise-sigma", "-1"], ["--data", "/nonexistent/folder"]])
def test_impossible_training_settings(flags, tmp_path: Path, capsys) -> None:
    code, _, err = _run(["train", "--out", str(tmp_path / "run"), "--iterations", "1", *flags], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.parametrize("option, good, bad, refusal", [("--self-ensemble", "2", "3", "invalid choice: 3"),
                                                         ("--precision", "bf16", "fp16", "invalid choice: 'fp16'")])
def test_idm_options_restore_in_colour_and_are_refused_elsewhere(option, good, bad, refusal, colour_image: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out.png"
    code, stdout, _ = _run(["restore", "--image", str(colour_image), "--ratio", "0.3", "--method", "idm", option, good, "--output", str(out)], capsys)
    assert code == 0 and out.is_file() and "PSNR" in stdout
    keyword = option.lstrip("-").replace("-", "_")
    for flags, expected in ((["--method", "tv", option, good], f"does not take option(s) {keyword}"), (["--method", "idm", option, bad], refusal)):
        wrong = tmp_path / "bad.png"
        code, _, err = _run(["restore", "--image", str(colour_image), "--ratio", "0.3", *flags, "--output", str(wrong)], capsys)
        assert code == 2 and expected in err and not wrong.exists()
