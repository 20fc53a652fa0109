"""Bad input of every kind: exit status 2, one clear line on stderr, and no output file.

Each case runs the real command line in-process (``main([...])``) and checks the output
directory is exactly as it was: no result, no leftover temporary.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from reverse_anything.cli import main
from reverse_anything.measurement import MEASUREMENT_FORMAT


def write_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def corrupt(folder: Path) -> Path:
    path = folder / "corrupt.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path


def truncated(folder: Path) -> Path:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="PNG")
    path = folder / "truncated.png"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def empty(folder: Path) -> Path:
    path = folder / "empty.png"
    path.write_bytes(b"")
    return path


def one_pixel(folder: Path) -> Path:
    return write_png(folder / "one.png", np.array([[[10, 20, 30]]], dtype=np.uint8))


def nan_pixels(folder: Path) -> Path:
    values = np.full((40, 40), 0.5, dtype=np.float32)
    values[3, 4] = np.nan
    path = folder / "nan.tif"
    Image.fromarray(values, mode="F").save(path)
    return path


def lab_mode(folder: Path) -> Path:
    path = folder / "lab.tif"
    Image.new("LAB", (40, 40)).save(path)
    return path


def int32_out_of_range(folder: Path) -> Path:
    path = folder / "int32.tif"
    Image.fromarray(np.full((40, 40), 70_000, dtype=np.int32)).save(path)
    return path


def missing(folder: Path) -> Path:
    return folder / "does_not_exist.png"


BAD_IMAGES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "corrupt": (corrupt, "cannot decode"),
    "truncated": (truncated, "cannot decode"),
    "empty": (empty, "empty"),
    "1x1": (one_pixel, "larger than the 1x1 image"),
    "nan": (nan_pixels, "NaN"),
    "lab-mode": (lab_mode, "unsupported image mode"),
    "int32-mode": (int32_out_of_range, "32-bit"),
    "missing": (missing, "no such file"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_to_measure(case: str, tmp_path: Path, capsys, run_and_check) -> None:
    make, expected = BAD_IMAGES[case]
    image = make(tmp_path)
    output = tmp_path / "out"
    output.mkdir()
    run_and_check(["measure", "--input", str(image), "--output", str(output / "y.safetensors")], output, capsys, expected)


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_to_restore(case: str, tmp_path: Path, capsys, run_and_check) -> None:
    make, expected = BAD_IMAGES[case]
    image = make(tmp_path)
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["restore", "--image", str(image), "--method", "pinv", "--output", str(output / "x.png"),
                 "--grid", str(output / "grid.png")]
    run_and_check(arguments, output, capsys, expected)


def test_bad_image_inside_an_eval_folder(noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    corrupt(tmp_path)
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["eval", "--data", str(tmp_path), "--method", "pinv", "--block-size", "16", "--quiet", "--strict",
                 "--json", str(output / "r.json"), "--csv", str(output / "r.csv")]
    run_and_check(arguments, output, capsys, "corrupt.png")


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--ratio", "0"], "ratio"),
        (["--ratio", "1.5"], "ratio"),
        (["--ratio", "abc"], "--ratio"),
        (["--block-size", "128"], "block_size must be an int in 1..64"),
        (["--block-size", "0"], "block_size"),
        (["--noise-sigma", "-0.1"], "noise_sigma"),
        (["--operator", "inpainting", "--keep-ratio", "0"], "keep_ratio"),
        (["--operator", "inpainting", "--box", "1,2,3"], "--box"),
        (["--operator", "inpainting", "--box", "0,0,100,100"], "does not fit"),
        (["--operator", "sr", "--factor", "3"], "not divisible"),
        (["--operator", "blur", "--blur-sigma", "-1"], "sigma"),
        (["--operator", "blur", "--blur-sigma", "inf"], "finite sigma"),
        (["--operator", "blur", "--blur-sigma", "1e5"], "larger than the image"),
        (["--operator", "blur", "--kernel", "uniform", "--kernel-size", "100000"], "larger than the image"),
        (["--operator", "mri", "--mri-mask", "equispaced", "--acceleration", "inf"], "finite number >= 1"),
        (["--operator", "mri", "--acceleration", "0.5"], "acceleration"),
        (["--operator", "ct", "--angles", "0"], "n_angles"),
        (["--operator", "matrix"], "--matrix"),
        (["--operator", "warp"], "--operator"),
        (["--operator", "cs", "--keep-ratio", "0.3"], "--keep-ratio does not apply to --operator cs"),
        (["--channel", "cmyk"], "--channel"),
    ],
)
def test_impossible_parameters(flags: list[str], expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["measure", "--input", str(noise_image), "--output", str(output / "y.safetensors"), *flags]
    run_and_check(arguments, output, capsys, expected)


@pytest.mark.parametrize(
    "content, expected",
    [(b"", "not a numeric .npy kernel"), (b"\x93NUMPY\x01\x00garbage", "not a numeric .npy kernel"), (None, "an .npz archive")],
    ids=["empty", "corrupt", "npz-renamed"],
)
def test_bad_kernel_files(content: bytes | None, expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    kernel = tmp_path / "k.npy"
    if content is None:
        with open(kernel, "wb") as handle:
            np.savez(handle, k=np.ones((3, 3)))
    else:
        kernel.write_bytes(content)
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["measure", "--input", str(noise_image), "--operator", "blur", "--kernel", str(kernel),
                 "--output", str(output / "y.safetensors")]
    run_and_check(arguments, output, capsys, expected)


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--method", "magic"], "--method"),
        (["--method", "tv", "--tv-weight", "-1"], "weight"),
        (["--method", "tv", "--tv-iterations", "0"], "iterations"),
        (["--device", "tpu"], "device"),
        (["--device", "cuda:7"], "--device cuda:7"),
        (["--bits", "12"], "--bits"),
    ],
)
def test_impossible_method_settings(flags: list[str], expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["restore", "--image", str(noise_image), "--block-size", "16", "--output", str(output / "x.png"), *flags]
    run_and_check(arguments, output, capsys, expected)


def test_16_bit_output_needs_png_or_tiff(noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["restore", "--image", str(noise_image), "--block-size", "16", "--bits", "16", "--output", str(output / "x.jpg")]
    run_and_check(arguments, output, capsys, "--bits 16 needs a .png or .tif output")


@pytest.mark.parametrize("command", ["measure", "restore"])
def test_block_size_larger_than_the_image(command: str, tmp_path: Path, capsys, run_and_check) -> None:
    small = write_png(tmp_path / "small.png", np.random.default_rng(2).integers(0, 256, (40, 40, 3), dtype=np.uint8))
    output = tmp_path / "out"
    output.mkdir()
    target = output / ("y.safetensors" if command == "measure" else "x.png")
    source = "--input" if command == "measure" else "--image"
    arguments = [command, source, str(small), "--block-size", "48", "--output", str(target)]
    run_and_check(arguments, output, capsys, "block_size 48 is larger than the 40x40 image")


def test_cuda_requested_without_cuda(noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run_and_check(["restore", "--image", str(noise_image), "--device", "cuda", "--output", str(tmp_path / "x.png")],
                  tmp_path, capsys, "CUDA is not available")


def measurement_file(path: Path, operator: dict, y: torch.Tensor | None = None, **extra: str) -> Path:
    metadata = {"format": MEASUREMENT_FORMAT, "operator": json.dumps(operator), "image_shape": "[1, 8, 8]", **extra}
    save_file({"y": torch.zeros(1, 1, 8, 8) if y is None else y}, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda folder: measurement_file(folder / "m.safetensors", {"operator": "warp", "strength": 2}), "unknown operator 'warp'"),
        (lambda folder: measurement_file(folder / "m.safetensors", {"operator": "inpainting", "image_size": [8, 8], "box": [0, 0, 2, 2]},
                                         y=torch.full((1, 1, 8, 8), float("nan"))), "finite"),
        (lambda folder: measurement_file(folder / "m.safetensors", {"operator": "inpainting", "image_size": [8, 8], "box": [0, 0, 2, 2]},
                                         y=torch.zeros(1, 1, 4, 4)), "shape"),
        (lambda folder: measurement_file(folder / "m.safetensors", {"operator": "cs", "ratio": 0, "image_size": [8, 8]}), "ratio"),
        (lambda folder: write_png(folder / "m.png", np.zeros((8, 8), dtype=np.uint8)).rename(folder / "m.safetensors"), "not a safetensors"),
        (lambda folder: (folder / "m.safetensors").write_bytes(b"") or folder / "m.safetensors", "not a safetensors"),
        (lambda folder: save_file({"x": torch.zeros(2)}, str(folder / "m.safetensors")) or folder / "m.safetensors",
         "not a reverse-anything measurement"),
        (lambda folder: folder / "absent.safetensors", "no such file"),
    ],
    ids=["unknown-operator", "nan-measurement", "wrong-shape", "bad-config", "png-renamed", "empty", "foreign-safetensors", "missing"],
)
def test_bad_measurement_file(make, expected: str, tmp_path: Path, capsys, run_and_check) -> None:
    path = make(tmp_path)
    output = tmp_path / "out"
    output.mkdir()
    run_and_check(["restore", "--input", str(path), "--output", str(output / "x.png")], output, capsys, expected)


@pytest.mark.parametrize(
    "flags, expected",
    [(["--ratio", "0.5"], "operator flags do not apply"), (["--noise-sigma", "0.1"], "operator flags do not apply"),
     (["--channel", "rgb"], "--channel does not apply")],
)
def test_operator_flags_with_a_measurement_file(flags: list[str], expected: str, tmp_path: Path, capsys, run_and_check) -> None:
    path = measurement_file(tmp_path / "m.safetensors", {"operator": "denoising"})
    run_and_check(["restore", "--input", str(path), *flags, "--output", str(tmp_path / "x.png")], tmp_path, capsys, expected)


@pytest.mark.parametrize(
    "output_name, expected",
    [("missing_dir/x.png", "does not exist"), ("x.gif", "unsupported suffix"), ("y.npy", ".safetensors")],
)
def test_bad_output_paths(output_name: str, expected: str, noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    command = "measure" if output_name.endswith(".npy") else "restore"
    arguments = [command, "--block-size", "16", "--output", str(output / output_name)]
    arguments += ["--input", str(noise_image)] if command == "measure" else ["--image", str(noise_image), "--method", "pinv"]
    run_and_check(arguments, output, capsys, expected)


def test_a_bad_second_output_stops_before_the_first_is_written(noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["restore", "--image", str(noise_image), "--block-size", "16", "--method", "pinv",
                 "--output", str(output / "x.png"), "--grid", str(output / "nowhere" / "grid.png")]
    run_and_check(arguments, output, capsys, "does not exist")
    arguments = ["eval", "--data", str(tmp_path), "--block-size", "16", "--method", "pinv", "--quiet",
                 "--json", str(output / "r.json"), "--csv", str(output / "r.txt")]
    run_and_check(arguments, output, capsys, "unsupported suffix")


def test_eval_on_a_folder_without_images_or_bad_limit(tmp_path: Path, noise_image: Path, capsys, run_and_check) -> None:
    empty_folder = tmp_path / "nothing"
    empty_folder.mkdir()
    run_and_check(["eval", "--data", str(empty_folder), "--method", "pinv", "--quiet"], tmp_path, capsys, "no image files")
    run_and_check(["eval", "--data", str(tmp_path), "--limit", "0", "--method", "pinv", "--quiet"], tmp_path, capsys, "--limit")
    run_and_check(["eval", "--data", str(tmp_path / "nowhere"), "--method", "pinv"], tmp_path, capsys, "not a directory")


def test_missing_subcommand_and_required_flag(capsys, tmp_path: Path, run_and_check) -> None:
    run_and_check([], tmp_path, capsys, "required")
    run_and_check(["measure", "--input", "x.png"], tmp_path, capsys, "--output")


def test_grid_and_output_on_the_same_file(noise_image: Path, tmp_path: Path, capsys, run_and_check) -> None:
    output = tmp_path / "out"
    output.mkdir()
    arguments = ["restore", "--image", str(noise_image), "--block-size", "16", "--method", "pinv",
                 "--output", str(output / "x.png"), "--grid", str(output / "x.png")]
    run_and_check(arguments, output, capsys, "--grid and --output are the same file")


def test_an_unexpected_error_is_one_line_and_status_1_unless_debugging(noise_image: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """A bug must not print a wall of traceback at a user; REVERSE_ANYTHING_DEBUG=1 shows it."""
    import reverse_anything.cli as cli
    import reverse_anything.cli.restore as restore_command

    def broken(*args, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(restore_command, "protocol_scores", broken)
    arguments = ["restore", "--image", str(noise_image), "--block-size", "16", "--method", "pinv", "--output", str(tmp_path / "x.png")]
    monkeypatch.delenv(cli.DEBUG_VARIABLE, raising=False)
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: something broke" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv(cli.DEBUG_VARIABLE, "1")
    with pytest.raises(RuntimeError, match="broke"):
        main(arguments)


def test_demo_with_an_operator_idm_was_not_trained_for_fails_before_the_other_methods(tmp_path: Path, capsys, monkeypatch, run_and_check) -> None:
    import reverse_anything.demo as demo

    asked: list[str] = []
    real = demo.get_restorer
    monkeypatch.setattr(demo, "get_restorer", lambda method, **options: asked.append(method) or real(method, **options))
    run_and_check(["demo", "--output-dir", str(tmp_path / "demo"), "--operator", "blur", "--blur-sigma", "1", "--methods", "pinv", "tv", "idm", "--quiet"],
                  tmp_path, capsys, "serves blur with sigma in 1.5..2.5, not sigma=1.0")
    assert asked == []  # refused from the shipped models' cards, before any method was loaded or run


def _tiff_with_an_impossible_tag(path: Path) -> Path:
    """A valid little-endian TIFF whose ImageDescription tag claims more data than the file holds."""
    import struct

    import tifffile

    tifffile.imwrite(path, np.random.default_rng(3).integers(0, 256, (64, 64), dtype=np.uint8), description="a description")
    data = bytearray(path.read_bytes())
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack_from("<H", data, at)[0] == 270:
            struct.pack_into("<I", data, at + 4, 10**6)
    path.write_bytes(bytes(data))
    return path


def test_a_library_warning_about_the_input_is_one_line(tmp_path: Path, capsys) -> None:
    """Pillow decodes this file but warns about the skipped tag: one prefixed line per warning, no source lines."""
    odd = _tiff_with_an_impossible_tag(tmp_path / "odd.tif")
    with pytest.warns(UserWarning, match="larger than file"):  # what Pillow alone says about it
        Image.open(odd).load()
    output = tmp_path / "out"
    output.mkdir()
    assert main(["measure", "--input", str(odd), "--block-size", "16", "--output", str(output / "y.safetensors")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.startswith("reverse-anything: warning: ") for line in lines), lines
    assert any("larger than file" in line for line in lines)
