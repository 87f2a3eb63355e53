"""A live ``ganprior ui`` server on 127.0.0.1 (a free port, on a thread of the test process), small
bundled models, and the page's JSON API as plain HTTP calls."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from PIL import Image


def require(module: str, what: str) -> None:
    """Skip where ``module`` is missing, but fail in CI (CI=true): CI must run these tests."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is missing: {what} (`make test` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)


require("starlette", "the ui extra, pip install -e '.[ui]'")

from ganprior import examples, zoo  # noqa: E402
from ganprior.imageio import to_uint8  # noqa: E402
from ganprior.pipeline import resolve_device  # noqa: E402
from ganprior.ui import samples  # noqa: E402
from ganprior.ui.params import Models  # noqa: E402
from ganprior.ui.server import Server  # noqa: E402


def tiny_faces() -> list[tuple[str, Image.Image]]:
    """Stand-ins for the example photographs (no wheel to fetch): two smooth 40×40 colour images."""
    yy, xx = np.mgrid[0:40, 0:40]
    return [
        (name, Image.fromarray(np.stack([xx * k, yy * 6, xx + yy], -1).clip(0, 255).astype(np.uint8)))
        for k, name in ((5, "astronaut"), (3, "grace_hopper"))
    ]


@pytest.fixture(scope="module")
def server():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(examples, "color_faces", tiny_faces)
        patch.setattr(examples, "lfw_faces", lambda count: [])
        samples._faces.cache_clear()
        running = Server(Models(resolve_device("cpu"), "emoji64"), "127.0.0.1", 0, workers=2).start()
        yield running
        running.stop()
        samples._faces.cache_clear()


def request(server: Server, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON answer or bytes) of GET ``path``, or POST with a JSON ``body``."""
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(server.url.rstrip("/") + path, data, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(call, timeout=60) as answer:
            status, raw, kind = answer.status, answer.read(), answer.headers.get("content-type", "")
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get("content-type", "")
    return status, json.loads(raw) if kind.startswith("application/json") else raw


def finish(server: Server, job: str, seconds: float = 60) -> dict[str, Any]:
    """The job's final status (done or failed), polled."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = request(server, f"/api/jobs/{job}")[1]
        if status["state"] in {"done", "failed"}:
            return status
        time.sleep(0.1)
    raise AssertionError(f"job {job} did not finish in {seconds} s")


def upload(path_or_bytes, name: str | None = None) -> dict[str, str]:
    raw = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    return {"name": name or path_or_bytes.name, "data": base64.b64encode(raw).decode()}


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(raw: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(raw)))


def prior_photo(model: str, seed: int, size: tuple[int, int]) -> np.ndarray:
    """A sample of ``model`` itself enlarged to ``size`` (width, height), as uint8: a photo the
    model can fit in a few steps."""
    prior = zoo.load(model)
    picture = Image.fromarray(to_uint8(examples.prior_samples(prior, 1, seed)[0]))
    return np.asarray(picture.resize(size, Image.Resampling.BICUBIC))
