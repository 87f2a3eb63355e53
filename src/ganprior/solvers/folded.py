"""Convolutions as a matmul and ``F.fold`` (col2im), for per-sample weights under ``vmap``.

Under ``vmap`` a convolution whose weights are batched (a filter bank per sample, ``per_image``)
runs as one grouped convolution, a group per sample. On a CPU two cases of it were slow; here they
are a matmul over the input channels to one map per filter tap and a fold that adds each tap at its
output position (the same sums in another order; under vmap the matmuls become bmm):
- few filters (fewer than ``NARROW``: a to-image layer), ``conv2d``;
- a transposed convolution on few input positions (at most ``FEW_POSITIONS``: a generator's first
  4×4 block), ``conv_transpose2d``.
Other convolutions keep ``F.conv2d`` / ``F.conv_transpose2d``, whose grouped kernels were faster
(at 8×8 inputs already). ``FoldedConvolutions`` swaps the functions in within a block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor
from torch.nn import functional as F
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

NARROW = 8
"""Convolutions with fewer filters (output channels) are folded."""
FEW_POSITIONS = 16
"""Transposed convolutions with at most this many input positions (H·W) are folded."""


def _folded(
    cols: Tensor, size: tuple[int, int], kernel: tuple[int, int], padding: Any, stride: Any, bias: Any
) -> Tensor:
    """Taps (B, out·kh·kw, L) added at their output positions (``F.fold``) -> (B, out, *size), + bias (out,)."""
    y = F.fold(cols, size, kernel, padding=padding, stride=stride)
    return y if bias is None else y + bias[:, None, None]


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """``F.conv2d``: input (B, C, H, W), weight (out, C, kh, kw) -> (B, out, H', W'); folded when
    out < NARROW, with stride, dilation and groups 1 and padding below the kernel size."""
    out, channels, kh, kw = weight.shape
    ph, pw = (kh, kw) if isinstance(padding, str) else _pair(padding)  # 'same'/'valid': plain
    unit = _pair(stride) == _pair(dilation) == (1, 1)
    if groups != 1 or out >= NARROW or not unit or ph >= kh or pw >= kw:
        return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    h, w = input.shape[-2:]
    taps = weight.flip(-2, -1).permute(0, 2, 3, 1).reshape(out * kh * kw, channels)
    size = (h + 2 * ph - kh + 1, w + 2 * pw - kw + 1)
    return _folded(taps @ input.flatten(-2), size, (kh, kw), (kh - 1 - ph, kw - 1 - pw), 1, bias)


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """``F.conv_transpose2d``: input (B, C, H, W), weight (C, out, kh, kw) -> (B, out, H', W');
    folded when H·W <= FEW_POSITIONS, with dilation and groups 1."""
    h, w = input.shape[-2:]
    if h * w > FEW_POSITIONS or groups != 1 or _pair(dilation) != (1, 1):
        return F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)
    (sh, sw), (ph, pw), (oh, ow) = _pair(stride), _pair(padding), _pair(output_padding)
    kh, kw = weight.shape[-2:]
    # (H·W, C) @ (C, out·kh·kw), transposed: the weight's gradient comes out in its own layout
    taps = (input.flatten(-2).mT @ weight.flatten(1)).mT
    size = ((h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow)
    return _folded(taps, size, (kh, kw), (ph, pw), (sh, sw), bias)


SWAPS: dict[Callable[..., Any], Callable[..., Tensor]] = {
    F.conv2d: conv2d,
    F.conv_transpose2d: conv_transpose2d,
}


class FoldedConvolutions(TorchFunctionMode):
    """Within the block, ``F.conv2d`` and ``F.conv_transpose2d`` run as this module's functions."""

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None
    ) -> Any:
        return SWAPS.get(func, func)(*args, **(kwargs or {}))
