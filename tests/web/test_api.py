"""The web page's API (Starlette's test client, no browser): scores equal eval's, bad input is one line and the server lives on."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from reverse_anything.cli import main
from reverse_anything.web import Limits, create_app

TestClient = pytest.importorskip("starlette.testclient", reason="Starlette's test client needs httpx2 (test extra)").TestClient

LIMITS = Limits(max_upload_bytes=300_000, max_side=512)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(LIMITS))


def _measure(client, data: bytes, name: str = "photo.png", **fields):
    form = {"operator": "cs", "ratio": "0.3", "channel": "auto", "noise_sigma": "0", **fields}
    return client.post("/api/measure", files={"image": (name, data, "image/png")}, data=form)


def _eval_psnr(folder: Path, tmp_path: Path, method: str, *flags: str) -> dict:
    out = tmp_path / f"{method}.json"
    assert main(["eval", "--data", str(folder), "--method", method, "--channel", "rgb", "--quiet", "--json", str(out), *flags]) == 0
    return json.loads(out.read_text())["images"][0]


@pytest.mark.parametrize("method", ["tv", "idm"])
def test_the_scores_shown_are_those_eval_computes(client, photo_folder, tmp_path, method):
    answer = _measure(client, (photo_folder / "photo.png").read_bytes())
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert case["channel"] == "rgb" and case["has_truth"] and case["shape"] == [3, 64, 64]
    result = client.post("/api/restore", json={"id": case["id"], "method": method}).json()
    expected = _eval_psnr(photo_folder, tmp_path, method, "--operator", "cs", "--ratio", "0.3")
    assert result["psnr"] == expected["psnr"] and result["ssim"] == expected["ssim"]
    assert result["model"] == ("cs-0.3" if method == "idm" else "")  # the per-ratio fine-tune, picked before cs
    picture = Image.open(io.BytesIO(client.get(result["image"]).content))
    assert picture.size == (64, 64) and picture.mode == "RGB"
    download = client.get(result["image"] + "?download=1")
    assert f'filename="photo-{method}.png"' in download.headers["content-disposition"]


def test_the_measurement_downloads_as_the_file_measure_writes_and_restores_again(client, photo_folder, tmp_path):
    case = _measure(client, (photo_folder / "photo.png").read_bytes(), operator="inpainting", keep_ratio="0.4").json()
    data = client.get(case["measurement"]).content
    written = tmp_path / "cli.safetensors"
    assert main(["measure", "--input", str(photo_folder / "photo.png"), "--output", str(written), "--operator", "inpainting",
                 "--keep-ratio", "0.4"]) == 0
    from reverse_anything.measurement import load_measurement

    (tmp_path / "page.safetensors").write_bytes(data)
    page_y, page_op, page_shape, _ = load_measurement(tmp_path / "page.safetensors")
    cli_y, cli_op, cli_shape, _ = load_measurement(written)
    assert page_shape == cli_shape and page_op.config() == cli_op.config() and bool((page_y == cli_y).all())
    again = client.post("/api/measurement", files={"measurement": ("m.safetensors", data, "application/octet-stream")}).json()
    assert not again["has_truth"] and again["operator"] == "inpainting"
    restored = client.post("/api/restore", json={"id": again["id"], "method": "pinv"}).json()
    assert restored["psnr"] is None
    assert client.get(restored["image"]).content == client.get(case["pinv"]).content


def _truncated_png(photo_folder: Path) -> bytes:
    data = (photo_folder / "photo.png").read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "make, fields, status, message",
    [
        (lambda folder: b"this is not an image", {}, 400, "not an image the page can read"),
        (_truncated_png, {}, 400, "photo.png"),
        (lambda folder: png_bytes(Image.new("RGB", (1, 1))), {}, 400, "is 1×1 px; the page needs at least 16 px per side"),
        (lambda folder: png_bytes(Image.new("L", (20000, 16))), {}, 400, "is 20000×16 px; the page restores images up to 512 px"),
        (lambda folder: (folder / "photo.png").read_bytes(), {"ratio": "1.5"}, 400, "CS ratio must be in (0, 1], got 1.5"),
        (lambda folder: (folder / "photo.png").read_bytes(), {"ratio": "lots"}, 400, "ratio must be a number"),
        (lambda folder: (folder / "photo.png").read_bytes(), {"operator": "magic"}, 400, "unknown operator 'magic'"),
        (lambda folder: (folder / "photo.png").read_bytes(), {"operator": "sr", "factor": "2.5"}, 400, "factor must be a whole number"),
        (lambda folder: bytes(400_000), {}, 413, "is over the upload limit of 0.286 MiB"),
    ],
)
def test_bad_input_is_one_line_and_the_server_lives_on(client, photo_folder, make, fields, status, message):
    answer = _measure(client, make(photo_folder), **fields)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error and "\n" not in error
    assert client.get("/api/options").status_code == 200


def test_a_measurement_for_an_operator_the_model_does_not_serve_is_refused_on_the_page(client, photo_folder, tmp_path):
    blurred = tmp_path / "blur.safetensors"
    assert main(["measure", "--input", str(photo_folder / "photo.png"), "--output", str(blurred), "--operator", "blur"]) == 0
    case = client.post("/api/measurement", files={"measurement": ("blur.safetensors", blurred.read_bytes(), "application/octet-stream")}).json()
    answer = client.post("/api/restore", json={"id": case["id"], "method": "idm"})
    assert answer.status_code == 400 and "serves blur with noise_sigma in 0.005..0.015, not noise_sigma=0.0" in answer.json()["error"]
    garbage = client.post("/api/measurement", files={"measurement": ("x.safetensors", b"garbage", "application/octet-stream")})
    assert garbage.status_code == 400 and garbage.json()["error"].startswith("x.safetensors")


def test_unknown_cases_methods_and_examples_are_refused(client, photo_folder):
    assert client.post("/api/restore", json={"id": "nope", "method": "tv"}).status_code == 404
    case = _measure(client, (photo_folder / "photo.png").read_bytes()).json()
    assert "offers" in client.post("/api/restore", json={"id": case["id"], "method": "magic"}).json()["error"]
    assert client.get("/api/examples/nope.png").status_code == 404
    assert client.post("/api/measure", data={"operator": "cs"}).json()["error"].startswith("choose an image")


def test_options_carry_the_constructors_defaults_and_the_page_is_served(client):
    from reverse_anything.physics import operator_defaults

    options = client.get("/api/options").json()
    assert options["operators"]["cs"]["ratio"] == operator_defaults("cs")["ratio"]
    assert options["methods"] == ["pinv", "tv", "pnp", "idm"] and "astronaut.png" in options["examples"]
    page = client.get("/")
    assert page.status_code == 200 and "Reverse Anything" in page.text
    assert client.get("/static/app.js").status_code == 200
    example = client.post("/api/measure", data={"example": "camera.png", "operator": "sr", "factor": "4", "channel": "auto"}).json()
    assert example["channel"] == "y" and example["shape"] == [1, 256, 256]


def test_the_page_starts_each_operator_at_a_setting_a_shipped_model_serves(client, photo_folder, tmp_path):
    """The form's defaults are the demo's settings (blur sigma 2 with noise 0.01, bicubic SR x4, ...), so idm restores
    what the page offers as it comes, and scores what eval scores at the same flags."""
    options = client.get("/api/options").json()
    assert options["operators"]["blur"] == {"sigma": 2.0} and options["noise_sigma"]["blur"] == 0.01
    assert options["operators"]["sr"] == {"factor": 4} and options["noise_sigma"]["cs"] == 0.0
    assert options["operators"]["denoising"] == {} and options["noise_sigma"]["denoising"] == 0.0
    fields = {"operator": "sr", "factor": "4", "noise_sigma": "0", "channel": "y"}
    case = client.post("/api/measure", files={"image": ("photo.png", (photo_folder / "photo.png").read_bytes(), "image/png")}, data=fields).json()
    result = client.post("/api/restore", json={"id": case["id"], "method": "idm"}).json()
    assert result["model"] == "sr"  # the SR specialist, picked before any
    out = tmp_path / "sr.json"
    assert main(["eval", "--data", str(photo_folder), "--method", "idm", "--operator", "sr", "--factor", "4", "--sr-kernel", "bicubic",
                 "--channel", "y", "--quiet", "--json", str(out)]) == 0
    assert result["psnr"] == json.loads(out.read_text())["images"][0]["psnr"]


def test_serve_binds_to_localhost_by_default_and_takes_the_limits(monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, log_level: seen.update(app=app, host=host, port=port))
    assert main(["serve", "--max-upload-mb", "1", "--max-side", "300", "--threads", "1"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 7860
    assert "serving on http://127.0.0.1:7860" in capsys.readouterr().out
    tiny = TestClient(seen["app"]).get("/api/options").json()
    assert tiny["max_upload_bytes"] == 2**20 and tiny["max_side"] == 300
    assert main(["serve", "--max-upload-mb", "0"]) == 2 and "--max-upload-mb must be > 0" in capsys.readouterr().err
