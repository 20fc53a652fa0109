"""The reverse-anything command line on good input: measure, restore, eval, demo."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

from reverse_anything import __version__
from reverse_anything.cli import main

FAST_CS = ["--operator", "cs", "--ratio", "0.3", "--block-size", "16"]


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_measure_then_restore_equals_restoring_the_image(colour_image: Path, tmp_path: Path, capsys) -> None:
    flags = [*FAST_CS, "--noise-sigma", "0.01", "--noise-seed", "5", "--channel", "y"]  # a colour image's default is rgb
    measurement = tmp_path / "y.safetensors"
    assert main(["measure", "--input", str(colour_image), "--output", str(measurement), *flags]) == 0
    with safe_open(measurement, framework="pt") as handle:
        metadata = handle.metadata()
        y = handle.get_tensor("y")
    assert json.loads(metadata["operator"])["operator"] == "cs"
    assert json.loads(metadata["operator"])["ratio"] == 0.3
    assert json.loads(metadata["image_shape"]) == [1, 64, 64]
    assert metadata["channel"] == "y" and metadata["source"] == "astronaut.png"
    assert metadata["version"] == __version__
    assert y.shape == (1, 1, 16, 77)  # 16 blocks of 16x16, ceil(0.3 * 256) rows

    from_file, from_image = tmp_path / "from_file.png", tmp_path / "from_image.png"
    assert main(["restore", "--input", str(measurement), "--method", "tv", "--output", str(from_file)]) == 0
    assert main(["restore", "--image", str(colour_image), *flags, "--method", "tv", "--output", str(from_image)]) == 0
    assert np.array_equal(pixels(from_file), pixels(from_image))
    assert pixels(from_file).shape == (64, 64)  # Y channel -> grey PNG
    printed = capsys.readouterr().out.splitlines()
    assert "PSNR" not in printed[1] and "PSNR" in printed[2] and "SSIM" in printed[2]  # truth known only for --image


def test_restore_rgb_with_grid(colour_image: Path, tmp_path: Path) -> None:
    output, grid = tmp_path / "out.png", tmp_path / "grid.png"
    arguments = ["restore", "--image", str(colour_image), "--channel", "rgb", "--operator", "inpainting",
                 "--keep-ratio", "0.5", "--method", "tv", "--tv-iterations", "50", "--output", str(output), "--grid", str(grid)]
    assert main(arguments) == 0
    assert pixels(output).shape == (64, 64, 3)
    height, width, _ = pixels(grid).shape
    assert width > 3 * 64 and height > 64  # A†y | result | truth, with labels above


def test_restore_writes_16_bit_colour_and_shows_a_progress_bar_when_asked(colour_image: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "deep.png"
    arguments = ["restore", "--image", str(colour_image), "--channel", "rgb", "--operator", "inpainting",
                 "--keep-ratio", "0.5", "--method", "tv", "--tv-iterations", "20", "--output", str(output)]
    assert main([*arguments, "--bits", "16", "--progress"]) == 0
    assert "tv:" in capsys.readouterr().err  # tqdm's bar over the iterations
    import png

    width, height, rows, info = png.Reader(filename=str(output)).asDirect()
    assert (width, height, info["bitdepth"], info["planes"]) == (64, 64, 16, 3)
    deep = np.vstack([np.asarray(row, dtype=np.int64) for row in rows]).reshape(64, 64, 3)
    eight = tmp_path / "eight.png"
    assert main([*arguments, "--output", str(eight)]) == 0
    assert capsys.readouterr().err == ""  # no terminal: no bar unless asked
    assert np.abs(deep / 65535 * 255 - pixels(eight)).max() <= 0.5 + 1e-9  # same image, finer levels
    assert len(np.unique(deep % 257)) > 1  # really 16-bit, not 8-bit values scaled by 257


@pytest.mark.parametrize(
    "flags, shape",
    [
        (["--operator", "cs", "--ratio", "0.1", "--block-size", "8", "--no-scramble"], (1, 1, 64, 7)),
        (["--operator", "inpainting", "--box", "8,8,16,16"], (1, 1, 64, 64)),
        (["--operator", "denoising", "--noise-sigma", "0.1"], (1, 1, 64, 64)),
        (["--operator", "blur", "--kernel", "uniform", "--kernel-size", "5"], (1, 1, 64, 64)),
        (["--operator", "sr", "--factor", "4", "--sr-kernel", "bicubic"], (1, 1, 16, 16)),
        (["--operator", "mri", "--acceleration", "4", "--mri-mask", "equispaced"], None),
        (["--operator", "ct", "--angles", "10"], None),
    ],
    ids=["cs", "inpainting-box", "denoising", "blur", "sr", "mri", "ct"],
)
def test_every_operator_round_trips_through_a_file(colour_image: Path, tmp_path: Path, flags, shape) -> None:
    measurement, output = tmp_path / "y.safetensors", tmp_path / "x.png"
    assert main(["measure", "--input", str(colour_image), "--output", str(measurement), "--channel", "y", *flags]) == 0
    with safe_open(measurement, framework="pt") as handle:
        if shape is not None:
            assert tuple(handle.get_tensor("y").shape) == shape
    assert main(["restore", "--input", str(measurement), "--method", "pinv", "--output", str(output)]) == 0
    assert pixels(output).shape == (64, 64)


def test_user_mask_and_matrix_files(colour_image: Path, tmp_path: Path) -> None:
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[::2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    output = tmp_path / "x.png"
    assert main(["restore", "--image", str(colour_image), "--operator", "inpainting", "--mask", str(tmp_path / "mask.png"),
                 "--method", "pinv", "--channel", "y", "--output", str(output)]) == 0
    restored = pixels(output)
    assert (restored[1::2] == 0).all() and restored[::2].any()  # A†y keeps the observed rows only

    small = tmp_path / "small.png"
    Image.open(colour_image).crop((0, 0, 8, 8)).save(small)
    np.save(tmp_path / "m.npy", np.eye(64)[::2])
    assert main(["restore", "--image", str(small), "--operator", "matrix", "--matrix", str(tmp_path / "m.npy"),
                 "--method", "pinv", "--channel", "y", "--output", str(output)]) == 0
    assert pixels(output).shape == (8, 8)


def test_large_operator_arrays_travel_as_tensors_not_header_text(colour_image: Path, tmp_path: Path) -> None:
    """A measurement file holds its matrix as a tensor: JSON text in the header is capped at 100 MB by safetensors."""
    small = tmp_path / "small.png"
    Image.open(colour_image).convert("L").crop((0, 0, 16, 16)).save(small)
    matrix = np.random.default_rng(0).standard_normal((128, 256))
    np.save(tmp_path / "m.npy", matrix)
    measurement, restored, direct = tmp_path / "y.safetensors", tmp_path / "a.png", tmp_path / "b.png"
    flags = ["--operator", "matrix", "--matrix", str(tmp_path / "m.npy"), "--channel", "grey"]
    assert main(["measure", "--input", str(small), *flags, "--output", str(measurement)]) == 0
    with safe_open(measurement, framework="pt") as handle:
        header = json.loads(handle.metadata()["operator"])
        assert header["matrix"] == {"$tensor": "operator.matrix"} and len(handle.metadata()["operator"]) < 1000
        assert np.array_equal(handle.get_tensor("operator.matrix").numpy(), matrix)  # float64, bit for bit
    assert main(["restore", "--input", str(measurement), "--method", "pinv", "--output", str(restored)]) == 0
    assert main(["restore", "--image", str(small), *flags, "--method", "pinv", "--output", str(direct)]) == 0
    assert np.array_equal(pixels(restored), pixels(direct))


def test_eval_writes_table_json_and_csv(image_folder: Path, tmp_path: Path, capsys) -> None:
    json_path, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    arguments = ["eval", "--data", str(image_folder), *FAST_CS, "--method", "tv", "--tv-iterations", "30",
                 "--channel", "y", "--limit", "2", "--json", str(json_path), "--csv", str(csv_path)]
    assert main(arguments) == 0
    document = json.loads(json_path.read_text())
    assert {"psnr", "ssim", "n_images", "seconds_per_image", "channel", "method", "operator", "images"} <= set(document)
    assert document["n_images"] == 2 and document["method"] == "tv" and document["channel"] == "y"
    assert document["operator"]["ratio"] == 0.3 and document["operator"]["perm_seed"] == 0
    assert document["psnr"] == pytest.approx(np.mean([row["psnr"] for row in document["images"]]))
    with open(csv_path, newline="") as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["a.png", "b.png"]
    table = capsys.readouterr().out
    assert "a.png" in table and "b.png" in table and "c.png" not in table and "mean" in table


def test_eval_gives_each_cs_image_its_own_permutation(image_folder: Path, tmp_path: Path) -> None:
    """perm_seed = seed + index: image 1's score does not depend on the run's other images."""
    paths = [tmp_path / "all.json", tmp_path / "one.json"]
    for path, limit in zip(paths, ["3", "2"]):
        main(["eval", "--data", str(image_folder), *FAST_CS, "--seed", "7", "--method", "pinv", "--limit", limit,
              "--json", str(path), "--quiet"])
    full, partial = (json.loads(path.read_text()) for path in paths)
    assert full["operator"]["perm_seed"] == 7 and full["operator"]["seed"] == 7
    assert full["images"][1]["psnr"] == partial["images"][1]["psnr"]


def test_eval_sr_crops_to_the_factor(image_folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "sr.json"
    arguments = ["eval", "--data", str(image_folder), "--operator", "sr", "--factor", "5", "--method", "pinv",
                 "--channel", "rgb", "--json", str(path), "--quiet"]
    assert main(arguments) == 0
    document = json.loads(path.read_text())
    assert document["crop_multiple"] == 5 and document["operator"]["image_size"] == [45, 60]


def test_demo_on_the_shipped_images(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--operator", "inpainting", "--methods", "pinv", "tv", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results] == ["pinv", "tv"] and results[0]["n_images"] == 3
    assert results[1]["psnr"] > results[0]["psnr"] + 5
    grid = pixels(out / "grid.png")
    assert grid.shape[0] > 3 * 200 and grid.shape[1] > 3 * 256  # 3 images x (pinv | tv | truth)
    printed = capsys.readouterr().out
    assert "pinv" in printed and "tv" in printed and "grid.png" in printed


def test_demo_defaults_restore_with_the_model_shipped_for_the_ratio(tmp_path: Path) -> None:
    """The README's first command: CS at 30 % and IDM with no --model must work out of the box."""
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--operator", "cs", "--methods", "pinv", "idm", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results] == ["pinv", "idm"] and results[1]["psnr"] > results[0]["psnr"] + 10


def test_the_default_demo_shows_several_operators_each_with_idm(tmp_path: Path, capsys) -> None:
    """The default demo's rows are settings the shipped models serve, so idm runs on every row (Y keeps it quick)."""
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--methods", "pinv", "idm", "--channel", "y", "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    families = ["cs", "inpainting", "blur", "sr", "mri"]
    assert [(r["operator"]["operator"], r["method"]) for r in results] == [(f, m) for f in families for m in ("pinv", "idm")]
    settings = {r["operator"]["operator"]: r["operator"] for r in results}
    assert settings["blur"]["sigma"] == 2 and settings["blur"]["noise_sigma"] == 0.01
    assert settings["sr"]["factor"] == 4 and settings["sr"]["kernel"] == "bicubic" and settings["mri"]["acceleration"] == 4
    for pinv, idm in zip(results[::2], results[1::2]):
        assert idm["psnr"] > pinv["psnr"] + 1, idm["operator"]
    printed = capsys.readouterr().out
    assert "cs: ratio 0.3" in printed and "blur: sigma 2, noise_sigma 0.01" in printed and "left out" not in printed
    assert "models: idm any, idm blur, idm cs-0.3, idm mri, idm sr" in printed  # the specialists are picked before any (and cs)
    grid = pixels(out / "grid.png")
    assert 5 * 256 < grid.shape[0] < 6 * 256 and grid.shape[1] > 3 * 256  # a row per operator: pinv | idm | truth
    assert main(["demo", "--output-dir", str(out), "--ratio", "0.5"]) == 2  # a parameter needs the operator it belongs to
    assert "--ratio needs --operator" in capsys.readouterr().err
    assert main(["demo", "--output-dir", str(out), "--noise-sigma", "0.1"]) == 2
    assert "--noise-sigma needs --operator" in capsys.readouterr().err


def test_the_demo_leaves_idm_out_with_a_note_where_no_shipped_model_serves(tmp_path: Path, capsys) -> None:
    """--operator alone takes the demo's setting (blur sigma 2, noise 0.01); a flag given overrides it."""
    out = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out), "--operator", "blur", "--methods", "pinv", "--quiet"]) == 0
    setting = json.loads((out / "results.json").read_text())[0]["operator"]
    assert (setting["operator"], setting["sigma"], setting["noise_sigma"]) == ("blur", 2.0, 0.01)
    assert main(["demo", "--output-dir", str(out), "--operator", "blur", "--blur-sigma", "1", "--channel", "y", "--quiet"]) == 0
    assert [r["method"] for r in json.loads((out / "results.json").read_text())] == ["pinv", "tv"]
    assert "idm left out for blur: no shipped IDM model serves" in capsys.readouterr().out


def test_help_and_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert main(["eval", "--help"]) == 0
    assert "--operator" in capsys.readouterr().out


def test_library_warnings_and_log_messages_print_as_one_prefixed_line_each(capsys) -> None:
    import logging
    import warnings

    from reverse_anything.cli.main import warnings_on_one_line

    root_handlers, show = list(logging.getLogger().handlers), warnings.showwarning
    with warnings_on_one_line(), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("odd tag\nskipped", UserWarning)
        logging.getLogger("tifffile").warning("invalid\n  offset")
    assert capsys.readouterr().err.splitlines() == [
        "reverse-anything: warning: odd tag skipped",
        "reverse-anything: warning: invalid offset",
    ]
    assert logging.getLogger().handlers == root_handlers and warnings.showwarning is show  # nothing left behind
