"""Long work off the request thread: a small pool of worker threads runs jobs, each with its own id,
folder, progress, latest estimate and result, so that two browser tabs never see each other's outputs.

A job's work is a function ``work(job) -> result`` (a JSON-able dict for the page); it reports
progress through ``job.stage`` and the solver watcher ``job.watcher()``, and names the files a page
may download with ``job.offer``. A ``GanpriorError`` raised by the work becomes the job's one-line
error; finished jobs beyond ``keep`` are forgotten, oldest first, and their folders removed.
"""

from __future__ import annotations

import re
import secrets
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import GanpriorError
from ..imageio import encode_png, grid
from ..solvers import Watcher

PREVIEW_SECONDS = 0.4
"""The least time between two renderings of the current estimate (each is one forward pass)."""


class NoJob(GanpriorError):
    """A job id this server does not know (never made, or forgotten)."""


class Cancelled(Exception):
    """Raised at a solver's next step once its job is cancelled (the server is stopping)."""


def one_line(exc: BaseException, folder: Path) -> str:
    """The error's message as the page shows it: files in the job's folder by their own names."""
    return re.sub(re.escape(str(folder)) + r"/(?:[^/\s'\"]+/)*", "", str(exc)).strip()


@dataclass
class Job:
    """One request's work: ``state`` queued | running | done | failed; the current ``stage`` (a
    label) with its ``step`` of ``total``; the latest estimate as PNG bytes; the ``result`` or the
    ``error`` line; ``files`` (name -> path) the page may download; ``data``: what later requests
    of this job need (e.g. the anomaly maps, to re-threshold the CSV)."""

    id: str
    kind: str
    folder: Path
    state: str = "queued"
    stage_label: str = ""
    step: int = 0
    total: int = 0
    stage_started: float = 0.0
    created: float = field(default_factory=time.time)
    preview: bytes | None = None
    previews: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    files: dict[str, Path] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stage(self, label: str, total: int) -> None:
        """A new stage of ``total`` steps (a method's fit, an image batch's detection)."""
        with self.lock:
            self.stage_label, self.step, self.total, self.stage_started = label, 0, total, time.perf_counter()

    def advance(self) -> None:
        """One step done; raises ``Cancelled`` if the job was cancelled (so the solver stops)."""
        if self.cancelled:
            raise Cancelled
        with self.lock:
            self.step += 1

    def show(self, image: Tensor) -> None:
        """Keep the estimate ``image`` (N, C, H, W) in [-1, 1] as the job's preview (a grid if N > 1)."""
        picture = image[0] if len(image) == 1 else grid(image, min(len(image), 4))
        png = encode_png(picture.detach().cpu())
        with self.lock:
            self.preview, self.previews = png, self.previews + 1

    def watcher(self) -> Watcher:
        """A solver callback that advances the stage every step and shows the estimate now and then."""
        return _JobWatcher(self)

    def offer(self, path: Path) -> str:
        """Let the page download ``path`` (a file in the job's folder); returns its URL."""
        self.files[path.name] = path
        return f"/api/jobs/{self.id}/files/{path.name}"

    def status(self) -> dict[str, Any]:
        """What the page polls: state, stage, step of total, seconds left (estimated from the
        stage's pace so far), the preview's version, and the result or error once there."""
        with self.lock:
            elapsed = time.perf_counter() - self.stage_started if self.stage_started else 0.0
            left = elapsed / self.step * (self.total - self.step) if self.step and self.total else None
            return {
                "id": self.id,
                "kind": self.kind,
                "state": self.state,
                "stage": self.stage_label,
                "step": self.step,
                "total": self.total,
                "seconds_left": None if left is None else round(left, 1),
                "preview": f"/api/jobs/{self.id}/preview.png?v={self.previews}" if self.preview else None,
                "result": self.result,
                "error": self.error,
            }


class _JobWatcher(Watcher):
    def __init__(self, job: Job) -> None:
        self.job, self.last = job, 0.0

    def __call__(self, step: int, losses: Tensor) -> None:
        self.job.advance()

    def wants(self, step: int) -> bool:
        return time.perf_counter() - self.last >= PREVIEW_SECONDS

    def seen(self, step: int, image: Tensor) -> None:
        self.last = time.perf_counter()
        self.job.show(image)


class Jobs:
    """Jobs by id, run by ``workers`` threads in the order they came; each gets a new folder
    under ``root``; at most ``keep`` finished jobs are kept."""

    def __init__(self, root: Path, workers: int = 2, keep: int = 32) -> None:
        self.root, self.keep = Path(root), keep
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ganprior-job")
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def new(self, kind: str) -> Job:
        """A job with its own empty folder, not yet submitted (its inputs are written there first)."""
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        return Job(job_id, kind, folder)

    def discard(self, job: Job) -> None:
        """Forget a job that was never submitted (its request was refused), with its folder."""
        shutil.rmtree(job.folder, ignore_errors=True)

    def submit(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> Job:
        """Queue ``work(job)``; the oldest finished jobs past ``keep`` are forgotten."""
        with self.lock:
            self.jobs[job.id] = job
            finished = [j for j in self.jobs.values() if j.state in {"done", "failed"}]
            for old in sorted(finished, key=lambda j: j.created)[: max(0, len(finished) - self.keep)]:
                del self.jobs[old.id]
                shutil.rmtree(old.folder, ignore_errors=True)
        self.pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise NoJob(f"no job {job_id!r} (finished jobs are kept for a while only)")
        return job

    def _run(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> None:
        job.state = "running"
        try:
            result = work(job)
        except GanpriorError as exc:
            job.error, job.state = one_line(exc, job.folder), "failed"
        except Cancelled:
            job.error, job.state = "cancelled: the server is stopping", "failed"
        except Exception as exc:  # a bug: the page gets one line, the terminal the traceback
            traceback.print_exc()
            job.error, job.state = (
                f"internal error: {type(exc).__name__}: {one_line(exc, job.folder)}",
                "failed",
            )
        else:
            job.result, job.state = result, "done"

    def close(self) -> None:
        """Stop taking jobs, cancel the running ones (they end at their next step), remove every
        job folder."""
        with self.lock:
            for job in self.jobs.values():
                job.cancelled = True
        self.pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)
