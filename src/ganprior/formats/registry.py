"""Every supported native checkpoint layout, tried in order; one line per format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import biggan, pggan, stylegan2, stylegan2_nvlabs
from .base import NativeFormat

FORMATS: list[NativeFormat] = [
    pggan.MGANPRIOR,
    pggan.INTERFACEGAN,
    pggan.GENFORCE,
    pggan.GAN_ZOO,
    stylegan2.ROSINALITY,
    stylegan2_nvlabs.NVLABS,
    biggan.BIGGAN,
    biggan.BIGGAN_D,
    biggan.BIGGAN_DEEP,
]


def recognise(obj: Any) -> NativeFormat | None:
    """The format whose keys and shapes ``obj`` (a loaded checkpoint) has, or None."""
    if not isinstance(obj, Mapping):
        return None
    return next((fmt for fmt in FORMATS if fmt.matches(obj)), None)
