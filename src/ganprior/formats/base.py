"""What a native checkpoint format provides, and reading a torch file without running any code."""

from __future__ import annotations

import argparse
import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Prior
from ..errors import GanpriorError

SAFE_GLOBALS: list[type] = [argparse.Namespace]
"""Plain-data classes a checkpoint may name besides tensors: rosinality's training files store their
command-line arguments (unpickling one sets attributes, it runs nothing)."""


@dataclass(frozen=True)
class NativeFormat:
    """One published on-disk layout.

    ``matches(obj)`` says, from the loaded object's keys and shapes alone, whether it is this layout;
    ``build(obj, path)`` returns the ``Prior`` (G, D when the file has one, and a card with at least
    ``family``, ``layout``, ``resolution``, ``channels``, ``latent_dim``, ``classes``, ``source``).
    """

    name: str
    family: str
    matches: Callable[[Mapping[str, Any]], bool]
    build: Callable[[Mapping[str, Any], Path], Prior]


def read_torch_file(path: Path) -> Any:
    """The object stored in a torch file (zip or legacy format), read with ``weights_only=True``.

    Raises ``GanpriorError`` with one line: a truncated or corrupted download, or the global a
    pickle asks for that is not allowed (nothing from the file is executed).
    """
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable pickle"
        raise GanpriorError(f"cannot read {path} safely: {reason}") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanpriorError(
            f"cannot read {path}: {first} (a truncated or corrupted download? compare its size and sha256)"
        ) from exc
