"""Architectures by name, so a checkpoint's metadata (``arch`` + ``config``) can rebuild its modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..errors import GanpriorError
from .biggan import BigGANDiscriminator, BigGANGenerator
from .biggan_deep import BigGANDeepGenerator
from .dcgan import DCGANGenerator
from .sngan import SNGANDiscriminator, SNGANGenerator
from .staged import StagedDiscriminator, StagedGenerator, map_tensors

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "biggan": BigGANGenerator,
    "biggan-d": BigGANDiscriminator,
    "biggan-deep": BigGANDeepGenerator,
    "dcgan": DCGANGenerator,
    "sngan": SNGANGenerator,
    "sngan-d": SNGANDiscriminator,
}


def build(arch: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate architecture ``arch`` with keyword arguments ``config``."""
    if arch not in ARCHITECTURES:
        raise GanpriorError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    try:
        return ARCHITECTURES[arch](**config)
    except TypeError as exc:
        raise GanpriorError(f"bad options for architecture {arch!r}: {exc}") from exc


__all__ = [
    "ARCHITECTURES",
    "BigGANDeepGenerator",
    "BigGANDiscriminator",
    "BigGANGenerator",
    "DCGANGenerator",
    "SNGANDiscriminator",
    "SNGANGenerator",
    "StagedDiscriminator",
    "StagedGenerator",
    "build",
    "map_tensors",
]
