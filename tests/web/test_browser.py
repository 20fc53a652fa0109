"""The web page in a real headless Chromium (Debian's, driven by Playwright): upload, restore, scores, errors.

Skipped where Playwright or Chromium is missing (``.ci/run`` installs both). With
``REVERSE_ANYTHING_WEB_SCREENSHOT=docs/web.png`` the screenshot test also saves the page with a result there.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reverse_anything.cli import main

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (test extra)")
uvicorn = pytest.importorskip("uvicorn", reason="the web extra is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
# Chromium as root on a machine without network: no sandbox, and none of its background connections
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SCREENSHOT = os.environ.get("REVERSE_ANYTHING_WEB_SCREENSHOT")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app served by uvicorn on a free localhost port, in a thread of this process."""
    from reverse_anything.web import create_app

    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        tab.goto(server)
        tab.wait_for_selector("#example option", state="attached")
        yield tab
        browser.close()


def _restore(page, methods: tuple[str, ...], timeout_s: float = 300) -> None:
    for box in page.query_selector_all("#methods input"):
        box.set_checked(box.get_attribute("value") in methods)
    page.click("#run")
    page.wait_for_selector(f'figure[data-method="{methods[-1]}"]', timeout=timeout_s * 1000)
    page.wait_for_function("[...document.images].every((image) => image.complete && image.naturalWidth > 0)")


def test_upload_restore_with_tv_and_idm_shows_the_scores_eval_computes(page, photo_folder, tmp_path):
    page.set_input_files("#image", str(photo_folder / "photo.png"))
    page.select_option("#operator", "cs")
    page.fill("#ratio", "0.3")
    _restore(page, ("tv", "idm"))
    assert page.is_hidden("#error")
    names = [figure.get_attribute("data-name") for figure in page.query_selector_all("#results figure")]
    assert names == ["A†y (the measurement)", "tv", "idm (cs-0.3)", "ground truth"]
    for method in ("tv", "idm"):
        out = tmp_path / f"{method}.json"
        assert main(["eval", "--data", str(photo_folder), "--method", method, "--operator", "cs", "--ratio", "0.3",
                     "--channel", "rgb", "--quiet", "--json", str(out)]) == 0
        expected = json.loads(out.read_text())["images"][0]["psnr"]
        figure = page.query_selector(f'figure[data-method="{method}"]')
        assert float(figure.get_attribute("data-psnr")) == expected
        assert f"PSNR {expected:.2f} dB" in figure.inner_text()
        assert figure.query_selector("img").evaluate("image => image.naturalWidth") == 64
    assert "done: 2 method(s)" in page.inner_text("#status-text")


def test_a_corrupt_upload_shows_one_line_and_the_page_keeps_working(page, photo_folder, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes((photo_folder / "photo.png").read_bytes()[:200])
    page.set_input_files("#image", str(broken))
    page.click("#run")
    page.wait_for_selector("#error:not([hidden])")
    assert "broken.png" in page.inner_text("#error") and "\n" not in page.inner_text("#error").strip()
    page.set_input_files("#image", str(photo_folder / "photo.png"))
    _restore(page, ("pinv",))
    assert page.is_hidden("#error") and page.query_selector('figure[data-method="pinv"]') is not None


@pytest.mark.skipif(not SCREENSHOT, reason="set REVERSE_ANYTHING_WEB_SCREENSHOT=docs/web.png to save the screenshot")
def test_screenshot_of_a_restoration(page):
    page.set_input_files("#image", [])
    page.select_option("#example", "astronaut.png")
    page.select_option("#operator", "cs")
    page.fill("#ratio", "0.3")
    _restore(page, ("pinv", "tv", "idm"))
    from PIL import Image

    Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    with Image.open(SCREENSHOT) as shot:  # a 256-colour palette keeps the repository's picture small
        shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(SCREENSHOT, optimize=True)
