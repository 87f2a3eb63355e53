"""Peak memory of a call, measured in a fresh child process (one per measurement).

CPU: the kernel's high-water mark of the resident set (``VmHWM``) is reset to the current RSS
(``/proc/self/clear_refs`` ← 5) just before the call and read after it; the peak is VmHWM minus the
RSS before the call, so whatever was resident already (the interpreter, torch, the model's weights)
is not counted. tracemalloc would miss torch's allocations (they bypass Python's allocator), and a
process that ran other cells before would serve later peaks from memory it already holds, hence
the child. Where ``clear_refs`` cannot be written (not Linux), the child's ``ru_maxrss`` minus its
RSS before the call is used: the same figure unless building the inputs peaked higher.
CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was
allocated before (the caching allocator's reserve is not counted).

The child is forked on a CPU (cheap; it inherits the parent's state, e.g. the smoke test's stand-ins)
and spawned for CUDA (a forked child cannot use CUDA).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

MIB = 2**20


def _status_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_high_water() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_during(call: Callable[[], Any], device: str) -> tuple[Any, float]:
    """(``call()``, the extra memory it peaked at in MiB) in this process (see the module docstring)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        value = call()
        torch.cuda.synchronize()
        return value, (torch.cuda.max_memory_allocated() - before) / MIB
    before = _status_kib("VmRSS") or 0
    exact = _reset_high_water()
    value = call()
    peak = _status_kib("VmHWM") if exact else None
    peak = peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value, (peak - before) / 1024


def _child(function: Callable[..., Any], args: tuple, send: Connection) -> None:
    try:
        send.send(("ok", function(*args)))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


def in_child(function: Callable[..., Any], args: tuple, device: str) -> Any:
    """``function(*args)`` run in a fresh child process (forked on a CPU, spawned for CUDA); its value
    comes back pickled. An exception in the child, or its death (e.g. out of memory), raises here."""
    context = mp.get_context("spawn" if device.startswith("cuda") else "fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, args, send))
    process.start()
    send.close()
    try:
        status, value = receive.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the measuring process died (exit code {process.exitcode})") from None
    process.join()
    if status == "error":
        raise RuntimeError(f"the measuring process failed:\n{value}")
    return value
