"""Solvers: one module per method, all called one way (``base.Solve``) through the registry
(``registry.METHODS``); all work on a batch of N different images at once."""

from .base import Callback, Init, Result, SolverConfig, Watcher
from .init import search_latents
from .invert import InvertConfig, invert
from .registry import METHODS, Method, get_method

__all__ = [
    "METHODS",
    "Callback",
    "Init",
    "InvertConfig",
    "Method",
    "Result",
    "SolverConfig",
    "Watcher",
    "get_method",
    "invert",
    "search_latents",
]
