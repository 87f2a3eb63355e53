"""Whole files: every file is written under a temporary name in its own folder, then renamed.

A reader never sees half a file, and a failed write leaves nothing behind (an existing file
stays as it was). The temporary name is unique per process and call, so concurrent writers of one
path never share it (the last rename wins, and each renamed file is whole). ``atomic_write`` serves writers that want a path (PIL, ``torch.save``,
safetensors); ``write_whole`` writes bytes or text; ``save_tensors`` writes a safetensors file and
``tensor_metadata`` reads the JSON value of one of its metadata keys.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield ``NAME.PID-RANDOM.part`` next to ``path`` (its folder is created) to write into; on
    success it replaces ``path`` in one rename, on any error it is removed and the error propagates."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        yield part
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_whole(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole; returns ``path``."""
    path = Path(path)
    with atomic_write(path) as part:
        if isinstance(data, str):
            part.write_text(data, encoding="utf-8")
        else:
            part.write_bytes(data)
    return path


def probe_writable(folder: str | Path, flag: str = "--out") -> Path:
    """Create ``folder`` and write (then remove) a small probe file in it, so that an unwritable or
    impossible output folder is found before any work; ``GanpriorError`` (naming ``flag``) if not."""
    from .errors import GanpriorError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_whole(folder / f".ganprior-probe-{os.getpid()}", b"probe").unlink()
    except OSError as exc:
        raise GanpriorError(
            f"{flag} {folder} is not writable ({exc.strerror or exc}); choose a folder you can write to"
        ) from exc
    return folder


def save_tensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """A safetensors file of ``tensors`` (contiguous, CPU) with string ``metadata``."""
    with atomic_write(path) as part:
        save_file(tensors, str(part), metadata=metadata)


def tensor_metadata(path: str | Path, key: str) -> Any:
    """The JSON value stored under ``key`` in a safetensors file's metadata, or None if absent."""
    with safe_open(str(path), "pt") as handle:
        raw = (handle.metadata() or {}).get(key)
    return json.loads(raw) if raw else None
