"""Restoration tasks by name: task -> forward operator for a given model geometry."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import GanpriorError
from .compose import Compose
from .downsample import Downsample
from .grayscale import Grayscale
from .mask import Mask
from .masks import center_box
from .noise import Noise
from .operator import Operator

TASKS = ("reconstruct", "inpaint", "sr", "colorize", "denoise", "hybrid")
RESTORATION_TASKS = TASKS[1:]  # the ones with a degradation to undo
TASK_HELP = {
    "reconstruct": "invert a clean image (no degradation): the first step of editing",
    "inpaint": "fill a hole (--mask PNG, or a centred box of 1/3 the side)",
    "sr": "super-resolution by --factor (antialiased bicubic downsampling)",
    "colorize": "colour a grayscale image (ITU-R 601 luma); RGB models only",
    "denoise": "remove additive Gaussian noise of std --sigma (in [0, 1] units)",
    "hybrid": "inpainting + grayscale (RGB models) + downsampling, composed",
}


def build_operator(
    task: str,
    resolution: int,
    channels: int,
    mask: Tensor | None = None,
    factor: int = 4,
    sigma: float = 0.1,
) -> Operator:
    """The forward operator of ``task`` for a model of ``resolution`` and ``channels``.

    ``mask``: (N or 1, 1, H, W) or (1, H, W), 1 = known; defaults to DGP's centred box.
    """
    if task not in TASKS:
        raise GanpriorError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if mask is not None and mask.shape[-2:] != (resolution, resolution):
        raise GanpriorError(
            f"the mask is {mask.shape[-1]}×{mask.shape[-2]} but the model works at {resolution}×{resolution}"
        )
    if task == "reconstruct":
        return Operator()
    hole = Mask(mask if mask is not None else center_box(resolution))
    if task == "inpaint":
        return hole
    if task == "sr":
        return Downsample(factor, resolution)
    if task == "colorize":
        if channels != 3:
            raise GanpriorError(f"colorize needs an RGB model; this one has {channels} channel(s)")
        return Grayscale()
    if task == "denoise":
        return Noise(sigma)
    parts: list[Operator] = (
        [hole] + ([Grayscale()] if channels == 3 else []) + [Downsample(factor, resolution)]
    )
    return Compose(parts)


def observation_shape(operator: Operator, resolution: int, channels: int) -> tuple[int, int]:
    """(channels, side) of the observations of ``operator`` on a (channels, resolution²) model."""
    with torch.no_grad():
        probe = operator.select([0])(torch.zeros(1, channels, resolution, resolution))
    return probe.shape[1], probe.shape[-1]
