"""Published checkpoint formats (BigGAN, BigGAN-deep, PGGAN, StyleGAN2, ...): recognise a file's family
and layout from its keys and shapes, never its name, and build a ``Prior`` from it.

A format is one module here exposing a ``NativeFormat``, listed once in ``registry.FORMATS``.
"""

from .base import NativeFormat, read_checkpoint, read_torch_file
from .registry import FORMATS, recognise

__all__ = ["FORMATS", "NativeFormat", "read_checkpoint", "read_torch_file", "recognise"]
