"""Every supported native checkpoint layout, tried in order; one line per format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import NativeFormat
from .biggan import BIGGAN, BIGGAN_D, BIGGAN_DEEP

FORMATS: list[NativeFormat] = [
    BIGGAN,
    BIGGAN_D,
    BIGGAN_DEEP,
]


def recognise(obj: Any) -> NativeFormat | None:
    """The format whose keys and shapes ``obj`` (a loaded checkpoint) has, or None."""
    if not isinstance(obj, Mapping):
        return None
    return next((fmt for fmt in FORMATS if fmt.matches(obj)), None)
