"""The precision a solve runs the generator in: fp32 (the default) or bf16 autocast with channels_last.

``generator_precision(generator, "bf16")`` is the one switch (``pipeline.restore(precision=...)``
uses it; API users wrap a solver call in it): inside it, every op that autocast lowers (convolutions,
matmuls) runs in bfloat16 on the generator's device, the generator's 4-D weights are stored
channels_last (the layout oneDNN's bf16 convolutions run fastest in), and the last stage's output is
cast back to float32, so images, losses, metrics and everything after the generator see float32 as
before. Batch norm takes its input in float32 (under ``vmap`` with per-image weights, as DGP and
R-RGI run it, it refuses a bf16 input with float32 statistics). On leaving it the weights are contiguous again (same values; nothing else changes). The
optimised variables (latents, masks, per-image weights) stay float32: only the arithmetic is bf16.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from ..errors import GanpriorError
from ..models import StagedGenerator, map_tensors

PRECISIONS = ("fp32", "bf16")


def _to_float32(module: nn.Module, inputs: Any, output: Any) -> Any:
    return map_tensors(lambda t: t.float() if t.is_floating_point() else t, output)


class _NormInFloat32(TorchFunctionMode):
    """Within the block, ``F.batch_norm`` casts a reduced-precision input to float32."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func is F.batch_norm and args and args[0].dtype == torch.bfloat16:
            args = (args[0].float(), *args[1:])
        return func(*args, **(kwargs or {}))


def check_precision(precision: str, device: torch.device | None = None) -> str:
    """``precision`` if it is one of ``PRECISIONS`` and, given the ``device`` it will run on, that
    device computes it natively (``native_bf16``); else a ``GanpriorError``."""
    if precision not in PRECISIONS:
        raise GanpriorError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16" and device is not None and not native_bf16(device):
        what = (
            f"this CPU ({torch.backends.cpu.get_cpu_capability()})" if device.type == "cpu" else str(device)
        )
        raise GanpriorError(
            f"--precision bf16: {what} has no native bfloat16 arithmetic (a CPU needs AVX512-BF16 or AMX), "
            "where bf16 runs tens of times slower than fp32; use fp32"
        )
    return precision


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, a CPU with
    AVX512-BF16 or AMX (oneDNN's own test). Without it autocast emulates bf16: an AVX2 CPU ran face64
    inversion 49× slower per step than in fp32 (``python -m benchmarks precision-cpu``)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return True


@contextmanager
def generator_precision(
    generator: StagedGenerator, precision: str = "fp32", channels_last: bool = True
) -> Iterator[None]:
    """Run the block with ``generator`` in ``precision`` (see the module docstring); ``fp32`` changes
    nothing. ``channels_last`` False keeps the weights' layout (autocast only)."""
    if check_precision(precision) == "fp32":
        yield
        return
    device = next(generator.parameters()).device.type
    hook = generator.stages[-1].register_forward_hook(_to_float32)
    if channels_last:
        generator.to(memory_format=torch.channels_last)
    try:
        with torch.autocast(device, dtype=torch.bfloat16), _NormInFloat32():
            yield
    finally:
        hook.remove()
        if channels_last:
            generator.to(memory_format=torch.contiguous_format)
