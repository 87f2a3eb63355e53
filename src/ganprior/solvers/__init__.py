"""Solvers: one module per method. Each takes (generator, observation, operator, config, init,
callback) and returns a ``Result``; all work on a batch of N different images at once."""

from .base import Callback, Result
from .init import search_latents
from .invert import InvertConfig, invert

__all__ = ["Callback", "InvertConfig", "Result", "invert", "search_latents"]
