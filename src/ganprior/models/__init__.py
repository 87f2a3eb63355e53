"""Architectures by name, so a checkpoint's metadata (``arch`` + ``config``) can rebuild its modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..errors import GanpriorError
from .biggan import BigGANDiscriminator, BigGANGenerator
from .biggan_deep import BigGANDeepGenerator
from .dcgan import DCGANGenerator
from .pggan import PGGANDiscriminator, PGGANGenerator
from .sngan import SNGANDiscriminator, SNGANGenerator
from .staged import StagedDiscriminator, StagedGenerator, map_tensors
from .stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "biggan": BigGANGenerator,
    "biggan-d": BigGANDiscriminator,
    "biggan-deep": BigGANDeepGenerator,
    "dcgan": DCGANGenerator,
    "pggan": PGGANGenerator,
    "pggan-d": PGGANDiscriminator,
    "sngan": SNGANGenerator,
    "sngan-d": SNGANDiscriminator,
    "stylegan2": StyleGAN2Generator,
    "stylegan2-d": StyleGAN2Discriminator,
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
    "PGGANDiscriminator",
    "PGGANGenerator",
    "SNGANDiscriminator",
    "SNGANGenerator",
    "StagedDiscriminator",
    "StagedGenerator",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "build",
    "map_tensors",
]
