"""The web page's server: a small Starlette app over :mod:`reverse_anything.web.cases`.

Every bad input is answered with ``{"error": "<one line>"}`` and a 4xx status, which the page shows as it is;
the server keeps running. Restorations run one at a time in a worker thread, so the page stays responsive.
"""
from __future__ import annotations

import io
import logging
import threading
from pathlib import Path
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from torch import Tensor

from ..data import example_images, quantize
from ..messages import one_line
from .cases import Case, Cases, Limits, case_from_image, case_from_measurement, measurement_bytes, page_options, restore_case

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
LOG = logging.getLogger("reverse_anything.web")


class TooLarge(ValueError):
    """An upload over the configured limit (HTTP 413)."""


def _png(image: Tensor) -> bytes:
    array = quantize(image.cpu())
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _examples() -> dict[str, Path]:
    """The shipped example images by file name."""
    return {path.name: path for path in example_images()}


def _error(error: Exception, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": one_line(error)}, status_code=status)


async def _upload(form: Any, key: str, limits: Limits) -> tuple[bytes, str] | None:
    """The bytes and file name of upload ``key`` (``None`` if absent), refused over the size limit."""
    upload = form.get(key)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise TooLarge(f"{upload.filename} is over the upload limit of {limits.max_upload_bytes / 2**20:.3g} MiB (serve --max-upload-mb)")
    return data, upload.filename


def _case_document(key: str, case: Case) -> dict[str, Any]:
    base = f"/api/cases/{key}"
    return {"id": key, **case.describe(), "pinv": f"{base}/pinv.png", "truth": f"{base}/truth.png" if case.truth is not None else None,
            "measurement": f"{base}/measurement.safetensors"}


def create_app(limits: Limits | None = None, capacity: int = 16) -> Starlette:
    """The app; its state (the kept cases, loaded models, the limits) belongs to it alone."""
    limits = limits or Limits()
    cases = Cases(capacity)
    work = threading.Lock()  # one restoration at a time: they are CPU-bound and share loaded models

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                length = int(request.headers.get("content-length") or 0)
                if length > limits.max_upload_bytes + 2**16:  # form overhead aside
                    raise TooLarge(f"the upload ({length / 2**20:.3g} MiB) is over the upload limit of {limits.max_upload_bytes / 2**20:.3g} MiB (serve --max-upload-mb)")
                return await handler(request)
            except TooLarge as error:
                return _error(error, 413)
            except KeyError as error:
                return _error(ValueError(error.args[0] if error.args else "not found"), 404)
            except (ValueError, OSError) as error:
                return _error(error)
            except Exception as error:  # a bug: say so in one line, keep serving
                LOG.exception("internal error")
                return _error(RuntimeError(f"internal error: {one_line(error, with_type=True)}"), 500)
        return endpoint

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def options(request: Request) -> Response:
        return JSONResponse(page_options(limits))

    async def example(request: Request) -> Response:
        found = _examples()
        name = request.path_params["name"]
        if name not in found:
            raise KeyError(f"no example {name!r}")
        return FileResponse(found[name], media_type="image/png")

    async def measure(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=20)
        upload = await _upload(form, "image", limits)
        if upload is None:
            name = str(form.get("example") or "")
            found = _examples()
            if name not in found:
                raise ValueError("choose an image to upload or one of the examples")
            upload = (found[name].read_bytes(), name)
        operator = str(form.get("operator") or "cs")
        params = {key: form.get(key) for key in ("ratio", "keep_ratio", "sigma", "factor", "acceleration")}
        case = await run_in_threadpool(case_from_image, upload[0], upload[1], operator, params, str(form.get("channel") or "auto"),
                                       form.get("noise_sigma") or 0.0, limits)
        return JSONResponse(_case_document(cases.add(case), case))

    async def measurement(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=4)
        upload = await _upload(form, "measurement", limits)
        if upload is None:
            raise ValueError("choose a measurement file (.safetensors, written by 'reverse-anything measure')")
        case = await run_in_threadpool(case_from_measurement, *upload)
        return JSONResponse(_case_document(cases.add(case), case))

    async def restore(request: Request) -> Response:
        body = await request.json()
        case = cases.get(str(body.get("id")))
        method = str(body.get("method"))

        def run():
            with work:
                return restore_case(cases, case, method)

        result = await run_in_threadpool(run)
        key = body.get("id")
        return JSONResponse({"method": method, "psnr": result.psnr, "ssim": result.ssim, "seconds": result.seconds,
                             "model": result.model, "image": f"/api/cases/{key}/{method}.png"})

    async def picture(request: Request) -> Response:
        case = cases.get(request.path_params["key"])
        kind = request.path_params["kind"]
        if kind == "truth" and case.truth is not None:
            image = case.truth
        elif kind == "pinv":
            image = case.pinv
        elif kind in case.results:
            image = case.results[kind].image
        else:
            raise KeyError(f"no {kind} image for this case")
        stem = Path(case.source).stem or "image"
        headers = {"Content-Disposition": f'attachment; filename="{stem}-{kind}.png"'} if "download" in request.query_params else {}
        return Response(await run_in_threadpool(_png, image), media_type="image/png", headers=headers)

    async def measurement_file(request: Request) -> Response:
        case = cases.get(request.path_params["key"])
        stem = Path(case.source).stem or "measurement"
        return Response(await run_in_threadpool(measurement_bytes, case), media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{stem}-measurement.safetensors"'})

    routes = [
        Route("/", guarded(index)),
        Route("/api/options", guarded(options)),
        Route("/api/examples/{name}", guarded(example)),
        Route("/api/measure", guarded(measure), methods=["POST"]),
        Route("/api/measurement", guarded(measurement), methods=["POST"]),
        Route("/api/restore", guarded(restore), methods=["POST"]),
        Route("/api/cases/{key}/measurement.safetensors", guarded(measurement_file)),
        Route("/api/cases/{key}/{kind}.png", guarded(picture)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes)
