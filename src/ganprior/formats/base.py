"""What a native checkpoint format provides, and reading a torch file without running any code."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Prior
from ..errors import GanpriorError


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
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable pickle"
        raise GanpriorError(f"cannot read {path} safely: {reason}") from exc
    except Exception as exc:  # any parse failure means a damaged or foreign file
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else ""
        raise GanpriorError(
            f"cannot read {path} as a torch checkpoint ({type(exc).__name__}: {first}): a truncated or "
            "corrupted download, or not a checkpoint? compare its size and sha256 with the original"
        ) from exc
