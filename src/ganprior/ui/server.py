"""The app: one static page and a JSON API over the jobs, served by uvicorn on 127.0.0.1 unless told.

Routes: ``GET /`` the page; ``GET /api/config`` models, tasks, methods, detectors, examples;
``GET /api/examples/NAME`` an example PNG; ``POST /api/restore`` / ``detect`` / ``edit`` /
``estimate`` a job (``{"job": id}``, or HTTP 400 with ``{"error": line}`` for a bad upload or
setting); ``GET /api/jobs/ID`` its status; ``.../preview.png`` its current estimate;
``.../files/NAME`` a file it wrote; ``.../report.csv?threshold=T`` a detection's CSV at T.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import GanpriorError
from ..physics import TASK_HELP
from ..pipeline import resolve_device
from ..solvers import METHODS
from . import detect, edit, restore, samples
from .jobs import Job, Jobs, NoJob, one_line
from .params import Models

STATIC = Path(__file__).parent / "static"
MAX_BODY = 256 * 2**20  # the largest request: uploads travel as base64 inside JSON
Prepare = Callable[[Any, Job, Models], Callable[[Job], dict[str, Any]]]
KINDS: dict[str, Prepare] = {
    "restore": restore.prepare,
    "estimate": restore.prepare_estimate,
    "detect": detect.prepare,
    "edit": edit.prepare,
}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(models: Models, workers: int = 2) -> Starlette:
    """The app over ``models``, its jobs run by ``workers`` threads in a temporary folder that is
    removed when the app shuts down."""
    jobs = Jobs(Path(tempfile.mkdtemp(prefix="ganprior-ui-")), workers)

    async def config(request: Request) -> JSONResponse:
        cards = await run_in_threadpool(models.cards)
        return JSONResponse(
            {
                "default_model": models.default,
                "models": [
                    {
                        "name": c["name"],
                        "resolution": c.get("resolution"),
                        "channels": c.get("channels"),
                        "classes": c.get("classes") or [],
                        "detectors": detect.calibrated(c),
                        "attributes": edit.attributes(c),
                    }
                    for c in cards
                ],
                "tasks": {t: h for t, h in TASK_HELP.items() if t != "reconstruct"},
                "methods": [
                    {"name": m.name, "help": m.help, "mask_free": m.mask_free, "tasks": m.tasks}
                    for m in METHODS.values()
                ],
                "examples": samples.catalog(),
            }
        )

    async def example(request: Request) -> Response:
        try:
            png = await run_in_threadpool(samples.png, request.path_params["name"])
        except GanpriorError as exc:
            return _error(str(exc), 404)
        return Response(png, media_type="image/png")

    async def submit(request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        if kind not in KINDS:
            return _error(f"no such job kind {kind!r}", 404)
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return _error(f"the upload is over {MAX_BODY // 2**20} MB; send fewer or smaller files", 413)
        try:
            body = await request.json()
        except ValueError:
            return _error("the request body is not JSON")
        job = jobs.new(kind)
        try:
            work = await run_in_threadpool(KINDS[kind], body, job, models)
        except GanpriorError as exc:
            jobs.discard(job)
            return _error(one_line(exc, job.folder))
        jobs.submit(job, work)
        return JSONResponse({"job": job.id})

    def _job(request: Request) -> Job:
        return jobs.get(request.path_params["id"])

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(_job(request).status())

    async def preview(request: Request) -> Response:
        png = _job(request).preview
        return Response(png, media_type="image/png") if png else _error("no estimate yet", 404)

    async def files(request: Request) -> Response:
        job, name = _job(request), request.path_params["name"]
        path = job.files.get(name)
        if path is None:
            return _error(f"job {job.id} has no file {name!r}", 404)
        download = {"filename": name} if request.query_params.get("download") else {}
        return FileResponse(path, **download)

    async def report_csv(request: Request) -> Response:
        job = _job(request)
        text = detect.csv(job, request.query_params.get("threshold"))
        headers = {"content-disposition": 'attachment; filename="report.csv"'}
        return Response(text, media_type="text/csv", headers=headers)

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        return _error(str(exc), 404 if isinstance(exc, NoJob) else 400)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        await run_in_threadpool(jobs.close)

    routes = [
        Route("/", page),
        Route("/api/config", config),
        Route("/api/examples/{name}", example),
        Route("/api/jobs/{id}", status),
        Route("/api/jobs/{id}/preview.png", preview),
        Route("/api/jobs/{id}/files/{name}", files),
        Route("/api/jobs/{id}/report.csv", report_csv),
        Route("/api/{kind}", submit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes, exception_handlers={GanpriorError: refused}, lifespan=lifespan)
    app.state.jobs = jobs
    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: a free port), IPv6 for an IPv6 address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise GanpriorError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port"
        ) from exc


class Server:
    """The app served by uvicorn on a socket of its own: ``run()`` here, or ``start()`` on a thread
    (tests) and ``stop()``. ``url``: where the page is."""

    def __init__(self, models: Models, host: str = "127.0.0.1", port: int = 0, workers: int = 2) -> None:
        self.socket = listen(host, port)
        bound_host, bound_port = self.socket.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}/"
        self.app = create_app(models, workers)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.uvicorn = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def start(self) -> Server:
        self.thread = threading.Thread(target=self.run, name="ganprior-ui", daemon=True)
        self.thread.start()
        while not self.uvicorn.started and self.thread.is_alive():
            self.thread.join(0.02)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self.thread is not None:
            self.thread.join(30)
        self.socket.close()


def serve(model: str, host: str, port: int, device: str = "cpu", workers: int = 2) -> int:
    """``ganprior ui``: serve the page until interrupted."""
    models = Models(resolve_device(device), model)
    models.cards()  # an unknown model or an unreadable file fails here, in one line
    server = Server(models, host, port, workers)
    if not ipaddress.ip_address(server.socket.getsockname()[0]).is_loopback:
        print(
            f"ganprior ui: warning: listening on {host}: anyone who can reach this machine can use the app "
            "and see its uploads",
            file=sys.stderr,
        )
    print(f"ganprior ui: open {server.url} (Ctrl-C stops)", flush=True)
    server.run()
    return 0
