"""What a native checkpoint format provides, and reading a torch file or a raw pickle without running
any code."""

from __future__ import annotations

import argparse
import pickle
import pickletools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import Prior
from ..errors import GanpriorError
from .safe_pickle import PLAIN_PICKLE, Policy, load_pickle, load_torch, stub_classes

SAFE_GLOBALS: list[type] = [argparse.Namespace]
"""Plain-data classes a checkpoint may name besides tensors: rosinality's training files store their
command-line arguments (unpickling one sets attributes, it runs nothing)."""


@dataclass(frozen=True)
class NativeFormat:
    """One published on-disk layout.

    ``matches(obj)`` says, from the loaded object's keys and shapes alone, whether it is this layout;
    ``build(obj, path)`` returns the ``Prior`` (G, D when the file has one, and a card with at least
    ``family``, ``layout``, ``resolution``, ``channels``, ``latent_dim``, ``classes``, ``source``).
    ``pickled_classes``: the ``"module.Class"`` names its files pickle as plain data (a training
    config): ``read_torch_file`` reads them into ``safe_pickle.PickledObject`` stand-ins.
    ``pickle_stubs``: the globals its raw pickles name beyond tensors and numpy, each mapped to a
    data-only stand-in (``read_checkpoint`` uses them).
    """

    name: str
    family: str
    matches: Callable[[Mapping[str, Any]], bool]
    build: Callable[[Mapping[str, Any], Path], Prior]
    pickled_classes: tuple[str, ...] = ()
    pickle_stubs: Mapping[str, Any] = field(default_factory=dict)


def data_classes_policy() -> Policy:
    """The tensor globals plus every registered format's ``pickled_classes`` as data-only stubs."""
    from .registry import FORMATS

    return Policy().with_stubs(stub_classes(name for fmt in FORMATS for name in fmt.pickled_classes))


def pickle_policy() -> Policy:
    """What a raw pickle may name: ``PLAIN_PICKLE`` plus every registered format's ``pickle_stubs``."""
    from .registry import FORMATS

    stubs: dict[str, Any] = {}
    for fmt in FORMATS:
        stubs |= fmt.pickle_stubs
    return PLAIN_PICKLE.with_stubs(stubs)


def is_raw_pickle(path: Path) -> bool:
    """Whether the file is a plain ``pickle.dump`` (an NVlabs network pickle), told from its first bytes:
    a torch file is a zip archive, or (legacy) begins with a pickle of torch's magic number."""
    with open(path, "rb") as file:
        head = file.read(2)  # PROTO n: zip archives, tar files and protocol 0/1 pickles start otherwise
        if len(head) < 2 or head[0] != 0x80 or not 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
            return False
        file.seek(0)
        try:
            first = next(op for op in pickletools.genops(file) if op[0].name not in {"PROTO", "FRAME"})
        except (ValueError, StopIteration):
            return False
    return first[1] != torch.serialization.MAGIC_NUMBER


def read_checkpoint(path: Path) -> Any:
    """The object stored in a checkpoint file, nothing from it run: a raw pickle (``.pkl``, whatever its
    name) through the restricted unpickler under ``pickle_policy``, anything else ``read_torch_file``."""
    if is_raw_pickle(path):
        return load_pickle(path, pickle_policy())
    return read_torch_file(path)


def read_torch_file(path: Path) -> Any:
    """The object stored in a torch file (zip or legacy format), read with ``weights_only=True``, or
    where that refuses a global, with the restricted unpickler (``data_classes_policy``).

    Raises ``GanpriorError`` with one line: a truncated or corrupted download, or the global a
    pickle asks for that is not allowed (nothing from the file is executed).
    """
    try:
        try:
            with torch.serialization.safe_globals(SAFE_GLOBALS):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            return load_torch(path, data_classes_policy())
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable pickle"
        raise GanpriorError(f"cannot read {path} safely: {reason}") from exc
    except GanpriorError:
        raise
    except Exception as exc:  # any other parse failure means a damaged or foreign file
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else ""
        raise GanpriorError(
            f"cannot read {path} as a torch checkpoint ({type(exc).__name__}: {first}): a truncated or "
            "corrupted download, or not a checkpoint? compare its size and sha256 with the original"
        ) from exc
