"""The page's files: sent as ``{"name": ..., "data": base64 or a data URL}`` in a JSON body, written
into a job's folder under their own (sanitised) names, zips unpacked to their images. Anything
wrong with an upload is a ``GanpriorError`` the page shows as it is. Small images go back to the
page inline, as data URLs (``image_url``)."""

from __future__ import annotations

import base64
import binascii
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from ..errors import GanpriorError
from ..files import write_whole
from ..imageio import IMAGE_SUFFIXES, as_rgb, encode_png
from ..report import output_stems

MAX_ZIP_BYTES = 512 * 2**20  # the most a zip may unpack to
MAX_ZIP_IMAGES = 2000


def safe_name(name: str, default: str = "upload.png") -> str:
    """A file name without folders or characters a path could trip on (``a/../b c.png`` -> ``b_c.png``)."""
    base = re.sub(r"[^\w.\-]+", "_", Path(str(name).replace("\\", "/")).name).lstrip(".")
    return base or default


def decode(upload: Any, what: str) -> tuple[str, bytes]:
    """An upload ``{"name", "data"}`` -> (its safe file name, its bytes)."""
    if not isinstance(upload, dict) or not isinstance(upload.get("data"), str):
        raise GanpriorError(f"{what}: expected a file (name and base64 data)")
    name = safe_name(upload.get("name") or "")
    data = upload["data"]
    if data.startswith("data:"):
        data = data.partition(",")[2]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise GanpriorError(f"{what} {name}: the upload is not base64 data ({exc})") from exc
    if not raw:
        raise GanpriorError(f"{what} {name} is empty")
    return name, raw


def save(upload: Any, folder: Path, what: str) -> Path:
    """Write one upload into ``folder`` under its own name."""
    name, raw = decode(upload, what)
    return write_whole(folder / name, raw)


def save_images(uploads: Sequence[Any], folder: Path, what: str = "image") -> list[Path]:
    """Write image uploads and the images inside zip uploads into ``folder``, with unique names,
    in the order given (a zip's in its sorted member order); ``GanpriorError`` if there is none."""
    if not isinstance(uploads, list) or not uploads:
        raise GanpriorError(f"no {what} given: upload an image or a zip of images")
    named: list[tuple[str, bytes]] = []
    for upload in uploads:
        name, raw = decode(upload, what)
        named += _unzip(name, raw, folder) if name.lower().endswith(".zip") else [(name, raw)]
    stems, _ = output_stems([n for n, _ in named])
    return [
        write_whole(folder / f"{stem}{Path(name).suffix.lower()}", raw)
        for stem, (name, raw) in zip(stems, named, strict=True)
    ]


def _unzip(name: str, raw: bytes, folder: Path) -> list[tuple[str, bytes]]:
    """The images in zip ``name`` (by suffix, any folder depth): (file name, bytes) each."""
    path = write_whole(folder / name, raw)
    try:
        with zipfile.ZipFile(path) as archive:
            members = sorted(
                (
                    m
                    for m in archive.infolist()
                    if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_SUFFIXES
                ),
                key=lambda m: m.filename,
            )
            if not members:
                raise GanpriorError(f"{name} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            if len(members) > MAX_ZIP_IMAGES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise GanpriorError(
                    f"{name} holds {len(members)} images, {sum(m.file_size for m in members) / 2**20:.0f} MB "
                    f"unpacked; the page takes at most {MAX_ZIP_IMAGES} images and {MAX_ZIP_BYTES // 2**20} MB"
                )
            return [(safe_name(m.filename), archive.read(m)) for m in members]
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:  # damaged, odd, encrypted
        raise GanpriorError(f"{name} is not a readable zip file ({exc})") from exc
    finally:
        path.unlink(missing_ok=True)


def image_url(image: Tensor) -> str:
    """(C, H, W) in [-1, 1] as a PNG data URL (gray as RGB), for the page to show inline."""
    png = encode_png(as_rgb(image[None].detach().cpu())[0])
    return "data:image/png;base64," + base64.b64encode(png).decode()
