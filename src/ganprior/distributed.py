"""A folder's batches on a Ray cluster (``ganprior restore|detect --ray``): a pool of actors that each
load the prior once and keep it, one batch per task, the outputs sent back to the driver as each
batch finishes (the driver writes every file and the manifest, so the manifest has one writer).

A worker process that dies (killed, out of host memory, a lost node) is restarted by Ray, which
loads the prior again, and its batch is run again (``max_restarts`` / ``max_task_retries``); an
error raised by the work itself is not retried: ``on_error`` gets it with the batch and the other
batches go on. Ray is an optional extra (``pip install 'ganprior[ray]'``).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .errors import GanpriorError

LOCAL = "local"
"""``--ray`` without an address: start a Ray cluster on this machine for the run."""
RETRIES = 3
"""How often Ray restarts a dead worker and reruns its batch before the batch counts as failed."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise GanpriorError("--ray needs Ray: pip install 'ganprior[ray]'") from exc
    return ray


class Pool:
    """``workers`` Ray actors (default: one per GPU of the cluster, else one per CPU), each holding
    ``load()`` (the prior, loaded once per worker process), on the cluster at ``address`` (``local``:
    a new one on this machine, shut down by ``close``; ``auto``: the running one; ``HOST:PORT`` or
    ``ray://HOST:PORT``). A worker gets a GPU when the cluster has one per worker (fractions when
    workers outnumber GPUs), else an equal share of the CPUs, and runs torch with that many threads."""

    def __init__(self, address: str, load: Callable[[], Any], workers: int | None = None) -> None:
        ray = _ray()
        self._started = not ray.is_initialized()
        if self._started:
            local = address == LOCAL
            on_sigterm = signal.getsignal(signal.SIGTERM)  # ray.init replaces it with an exit of its own
            try:
                ray.init(
                    address=None if local else address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    **({"include_dashboard": False} if local else {}),
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise GanpriorError(
                    f"--ray {address}: cannot use this Ray cluster ({error_line(exc)})"
                ) from exc
            finally:
                if threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, on_sigterm)
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0.0), resources.get("CPU", 1.0)
        count = workers or int(gpus) or max(1, int(cpus))
        share = {"num_gpus": min(1.0, gpus / count)} if gpus else {"num_cpus": cpus / count}
        threads = max(1, int(cpus / count))
        actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, **share)(_Worker)
        self.actors = [actor.remote(load, threads) for _ in range(count)]

    def map(
        self,
        work: Callable[[Any, Any], Any],
        payloads: Sequence[Any],
        on_result: Callable[[int, Any], None],
        on_error: Callable[[int, BaseException], None],
    ) -> None:
        """``work(loaded, payload)`` for every payload on the workers, each worker taking the next
        payload when it is free; ``on_result(k, value)`` or ``on_error(k, exception)`` for payload k,
        in the driver, in the order they finish."""
        ray = _ray()
        queue = deque(enumerate(payloads))
        pending: dict[Any, tuple[Any, int]] = {}

        def submit(actor: Any) -> None:
            if queue:
                k, payload = queue.popleft()
                pending[actor.run.remote(work, payload)] = (actor, k)

        for actor in self.actors:
            submit(actor)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor, k = pending.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the work raised: not retried
                on_error(k, exc.cause if isinstance(exc.cause, BaseException) else exc)
            except ray.exceptions.RayActorError as exc:  # the worker died more than RETRIES times
                on_error(k, exc)
            else:
                on_result(k, value)
            submit(actor)

    def close(self) -> None:
        """Stop the workers (and the cluster, if this pool started it)."""
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        if self._started:
            ray.shutdown()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Worker:
    """One Ray actor: the loaded prior, kept for every batch it is given."""

    def __init__(self, load: Callable[[], Any], threads: int) -> None:
        torch.set_num_threads(threads)
        self.loaded = load()

    def run(self, work: Callable[[Any, Any], Any], payload: Any) -> Any:
        return work(self.loaded, payload)


def error_line(error: BaseException) -> str:
    """One line for an image that failed: the exception's type and the first line of its message."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__
