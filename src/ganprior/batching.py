"""How many images to solve at once: the largest batch that fits the device (``--batch-size auto``),
and halving the batch when a device runs out of memory instead of failing.

Every method gives each image the same result whatever the batch (the solver contract), so the batch
size only trades memory for speed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from .errors import GanpriorError

CPU_BATCH = 16
"""``auto`` on a CPU: enough images to keep its cores busy (memory is rarely what limits a CPU run)."""
SAFETY = 0.8
"""``auto`` on a GPU plans with this fraction of the free memory."""

log = logging.getLogger(__name__)


def auto_batch_size(probe: Callable[[int], object], count: int, device: torch.device) -> int:
    """The batch for ``count`` images on ``device``: on CUDA, ``SAFETY`` × the free memory over the
    peak memory of ``probe(1)`` (one image, one step), else ``CPU_BATCH``; at most ``count``."""
    if device.type != "cuda":
        return max(1, min(count, CPU_BATCH))
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    probe(1)
    per_image = max(torch.cuda.max_memory_allocated(device) - base, 1)
    free, _ = torch.cuda.mem_get_info(device)
    size = max(1, min(count, int(SAFETY * free / per_image)))
    log.warning(
        "--batch-size auto: %d image(s) at once (%.0f MiB per image, %.0f MiB free)",
        size,
        per_image / 2**20,
        free / 2**20,
    )
    return size


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a device running out of memory (CUDA's, or an allocator's RuntimeError)."""
    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def halve(size: int, error: BaseException, device: torch.device) -> int:
    """The batch to go on with after ``error`` at ``size``; batch 1 out of memory is the user's to fix."""
    if size == 1:
        raise GanpriorError(
            f"out of memory on {device} even with one image at a time: use a smaller model, "
            "--precision bf16 or another device"
        ) from error
    if device.type == "cuda":
        torch.cuda.empty_cache()
    log.warning("out of memory with %d images at once on %s: going on with %d", size, device, size // 2)
    return size // 2


def batches(count: int, size: int) -> list[list[int]]:
    """Indices 0 … count − 1 cut into consecutive batches of ``size`` (the last one shorter)."""
    return [list(range(k, min(k + size, count))) for k in range(0, count, size)]
