"""Images at the file edges: read (fit to a model), write PNGs and GIFs whole, and tile into grids.

Inside the library images are float32 (C, H, W) / (N, C, H, W) in [-1, 1]; uint8 HWC exists
only here. Fitting an image to a model = centre crop to a square, then resize (Lanczos,
antialiased) to the model's resolution, then convert to its channel count (ITU-R 601 luma for
gray, replication for gray -> RGB).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .errors import GanpriorError
from .files import atomic_write

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601: gray = their weighted sum of R, G, B
HIGH_DEPTH_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
ORIENTATION_TAG = 0x0112  # EXIF Orientation
DEFAULT_PIXEL_LIMIT = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS


def collect_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (sorted, non-recursive) into a list of image files."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise GanpriorError(f"folder {path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            paths += found
        elif path.is_file():
            paths.append(path)
        else:
            raise GanpriorError(f"input {path} does not exist")
    return paths


def pixel_limit() -> int:
    """The most pixels an input may have: ``$GANPRIOR_MAX_PIXELS``, else Pillow's
    decompression-bomb limit (about 89 million)."""
    raw = os.environ.get("GANPRIOR_MAX_PIXELS", "")
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    return int(Image.MAX_IMAGE_PIXELS or DEFAULT_PIXEL_LIMIT)


@contextmanager
def _opened(path: str | Path) -> Iterator[Image.Image]:
    """``Image.open`` (header only) with the pixel limit checked; errors as ``GanpriorError``."""
    limit = pixel_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # checked below, with a clear line
            try:
                image = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (UnidentifiedImageError, OSError) as exc:
        raise GanpriorError(f"cannot decode {path} as an image: {exc}") from exc
    with image:
        w, h = image.size
        if w * h > limit:
            raise GanpriorError(
                f"{path} is {w}×{h} = {w * h:,} pixels, above the limit of {limit:,} that guards against "
                "decompression bombs; shrink it, or raise the limit with GANPRIOR_MAX_PIXELS=N"
            )
        yield image


def open_image(path: str | Path) -> Image.Image:
    """An image file, decoded, turned upright by its EXIF orientation (as viewers show it), with
    16-bit, 32-bit and float gray scaled from their range to 8 bits (``as_8bit``);
    ``GanpriorError`` if it is not an image or has more pixels than ``pixel_limit()``."""
    with _opened(path) as image:
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError) as exc:
            raise GanpriorError(f"cannot decode {path} as an image: {exc}") from exc
        return as_8bit(upright, path)


def as_8bit(image: Image.Image, path: str | Path = "image") -> Image.Image:
    """A gray image of more than 8 bits ("I;16*", "I", "F") as "L", scaled by its range: unsigned
    16-bit by 65535; 32-bit integers by 255, 65535 or 2³²-1, the smallest that holds the values;
    floats in [0, 1] by 1 and in [0, 255] by 255 (others are refused). Other modes unchanged."""
    if image.mode not in HIGH_DEPTH_MODES:
        return image
    array = np.asarray(image, dtype=np.float64)
    if not np.isfinite(array).all():
        raise GanpriorError(f"{path} has NaN or infinite pixel values")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if image.mode.startswith("I;16"):
        scale = 65535.0
    elif image.mode == "I":
        scale = next((s for s in (255.0, 65535.0, 2.0**32 - 1) if high <= s), 2.0**32 - 1)
    elif low >= 0 and high <= 1:
        scale = 1.0
    elif low >= 0 and high <= 255:
        scale = 255.0
    else:
        raise GanpriorError(
            f"{path} holds floats in [{low:g}, {high:g}]; save it with values in [0, 1] or [0, 255]"
        )
    if low < 0:
        raise GanpriorError(f"{path} holds negative pixel values ({low:g}); save it as unsigned")
    return Image.fromarray(np.round(array / scale * 255).clip(0, 255).astype(np.uint8), mode="L")


def on_white(image: Image.Image) -> Image.Image:
    """A PIL image with transparency composited on white (RGBA); others unchanged."""
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return image


def pil_to_tensor(image: Image.Image, channels: int) -> Tensor:
    """PIL image -> (channels, H, W) in [-1, 1]; transparent pixels are put on white."""
    image = on_white(image).convert("L" if channels == 1 else "RGB")
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    tensor = torch.from_numpy(array.copy())
    return tensor[None] if channels == 1 else tensor.permute(2, 0, 1)


FITS = ("crop", "pad")


def square_box(size: tuple[int, int], how: str = "crop") -> tuple[int, int, int, int]:
    """The square (left, top, right, bottom) a (width, height) image is fitted through: the centred
    crop of its short side (``crop``), or the centred square of its long side that holds the whole
    image (``pad``; it reaches outside the image)."""
    if how not in FITS:
        raise GanpriorError(f"--fit must be one of {', '.join(FITS)}, not {how!r}")
    w, h = size
    side = min(w, h) if how == "crop" else max(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return left, top, left + side, top + side


def fit(
    image: Image.Image,
    resolution: int,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
    how: str = "crop",
) -> Image.Image:
    """The image's ``square_box`` (padding by repeating the edge pixels), resized to ``resolution``
    (Lanczos by default)."""
    left, top, right, bottom = square_box(image.size, how)
    if how == "crop":
        square = image.crop((left, top, right, bottom))
    else:
        image = image.convert("RGBA") if image.mode == "P" else image  # a palette has no edge to repeat
        array = np.asarray(image)
        w, h = image.size
        pad = [(-top, bottom - h), (-left, right - w)] + [(0, 0)] * (array.ndim - 2)
        square = Image.fromarray(np.pad(array, pad, mode="edge"), image.mode)
    if square.size[0] == resolution:
        return square
    return square.resize((resolution, resolution), resample)


def load_image(path: str | Path, resolution: int, channels: int, how: str = "crop") -> Tensor:
    """An image file fitted to a model (``fit``): (channels, resolution, resolution) in [-1, 1]."""
    return pil_to_tensor(fit(open_image(path), resolution, how=how), channels)


def load_images(paths: Sequence[str | Path], resolution: int, channels: int, how: str = "crop") -> Tensor:
    """Image files fitted to a model: (N, channels, resolution, resolution) in [-1, 1]."""
    return torch.stack([load_image(p, resolution, channels, how) for p in paths])


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file as viewers show it (after its EXIF orientation), without
    decoding its pixels."""
    with _opened(path) as image:
        w, h = image.size
        turned = image.getexif().get(ORIENTATION_TAG) in {5, 6, 7, 8}  # the four with a quarter turn
    return (h, w) if turned else (w, h)


MASK_FILLS = ("black", "white")


@dataclass(frozen=True)
class DrawnMask:
    """A mask as the user drew it, fitted to the model: ``known`` (1, resolution, resolution) in {0, 1}
    (1 = known pixel), the colour that marked the area to fill, the fraction of the drawing to fill,
    whether grey levels were thresholded at 50%, and, for a mask drawn at the photo's size, its known
    pixels there (1, H, W) (for pasting the result back into the photo)."""

    known: Tensor
    fill: str
    fill_fraction: float
    thresholded: bool
    known_at_photo_size: Tensor | None = None

    def warnings(self) -> list[str]:
        """One line per sign that the mask may not say what the user meant."""
        notes = []
        if self.fill_fraction > 0.5:
            other = "white" if self.fill == "black" else "black"
            notes.append(
                f"the mask fills {100 * self.fill_fraction:.0f}% of the image: is it inverted? "
                f"(--mask-fill {self.fill} reads {self.fill} as the area to fill; try --mask-fill {other})"
            )
        if self.thresholded:
            notes.append("the mask has grey levels: thresholded at 50%")
        return notes

    def describe(self) -> dict[str, object]:
        return {
            "fill": self.fill,
            "fill_fraction": round(self.fill_fraction, 4),
            "thresholded": self.thresholded,
        }


def load_mask(
    path: str | Path,
    resolution: int,
    image_size: tuple[int, int] | None = None,
    fill: str = "black",
    how: str = "crop",
) -> DrawnMask:
    """A mask PNG drawn on the input photo (at its size, ``image_size`` (width, height)) or at the
    model's resolution, fitted like the photo (centre crop, nearest resize). ``fill``: the colour
    that marks the area to fill (black: ganprior's and DGP's convention, white = known; white: the
    convention of LaMa, OpenCV's inpaint and diffusers). Grey levels are thresholded at 50%. A mask
    that marks every pixel one way (after fitting) is refused."""
    if fill not in MASK_FILLS:
        raise GanpriorError(f"--mask-fill must be one of {', '.join(MASK_FILLS)}, not {fill!r}")
    image = open_image(path).convert("L")
    sizes = {(resolution, resolution)} | ({tuple(image_size)} if image_size is not None else set())
    if image_size is not None and image.size not in sizes:
        raise GanpriorError(
            f"mask {path} is {image.size[0]}×{image.size[1]} but the image is {image_size[0]}×{image_size[1]} "
            f"(and the model works at {resolution}×{resolution}); draw the mask at one of those sizes"
        )
    drawn = np.asarray(image, dtype=np.float32) / 255.0
    to_fill = drawn <= 0.5 if fill == "black" else drawn > 0.5
    thresholded = bool(((drawn > 0) & (drawn < 1)).any())
    at_photo_size = image_size is not None and image.size == tuple(image_size)
    if at_photo_size or image.size != (resolution, resolution):
        fitted = np.asarray(fit(image, resolution, Image.Resampling.NEAREST, how), dtype=np.float32) / 255.0
    else:
        fitted = drawn  # drawn at the model's resolution: already fitted
    known = fitted > 0.5 if fill == "black" else fitted <= 0.5
    if not known.any() or known.all():
        what = "fill: no pixel is known" if not known.any() else "keep: there is no hole to fill"
        raise GanpriorError(f"mask {path} marks every pixel to {what} (--mask-fill {fill})")
    return DrawnMask(
        torch.from_numpy(known.astype(np.float32))[None],
        fill,
        float(to_fill.mean()),
        thresholded,
        torch.from_numpy((~to_fill).astype(np.float32))[None] if at_photo_size else None,
    )


def to_uint8(image: Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> uint8 (H, W, C), or (H, W) for one channel."""
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


def to_picture(image: Tensor, scale: int = 1) -> Image.Image:
    """(C, H, W) in [-1, 1] -> a PIL image (gray for one channel), enlarged ``scale``× (nearest)."""
    picture = Image.fromarray(to_uint8(image))
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def encode_png(image: Tensor, scale: int = 1) -> bytes:
    """(C, H, W) in [-1, 1] as the bytes of a PNG file (``to_picture``)."""
    buffer = io.BytesIO()
    to_picture(image, scale).save(buffer, format="PNG")
    return buffer.getvalue()


def save_image(image: Tensor, path: str | Path, scale: int = 1) -> Path:
    """Write (C, H, W) in [-1, 1] as a PNG (gray for one channel), enlarged ``scale``× (nearest), whole."""
    path = Path(path)
    with atomic_write(path) as part:
        to_picture(image, scale).save(part, format="PNG")
    return path


def save_gif(frames: Tensor, path: str | Path, frame_ms: int = 120, bounce: bool = True) -> Path:
    """Write frames (N, C, H, W) in [-1, 1] as a looping GIF, whole; ``bounce`` plays them back and
    forth (A -> B -> A) without repeating the end frames."""
    pictures = [Image.fromarray(to_uint8(f)) for f in as_rgb(frames)]
    tail = pictures[1:] + (pictures[-2:0:-1] if bounce else [])
    with atomic_write(path) as part:
        pictures[0].save(part, format="GIF", save_all=True, append_images=tail, duration=frame_ms, loop=0)
    return Path(path)


def as_rgb(image: Tensor) -> Tensor:
    """(N, 1|3, H, W) -> (N, 3, H, W)."""
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


def upscale_to(image: Tensor, resolution: int) -> Tensor:
    """(N, C, h, w) -> (N, C, resolution, resolution) by nearest neighbour (for showing small observations)."""
    if image.shape[-1] == resolution:
        return image
    return torch.nn.functional.interpolate(image, size=(resolution, resolution), mode="nearest")


def grid(
    images: Sequence[Tensor] | Tensor, columns: int, pad: int = 2, fill: float = 1.0, rgb: bool = True
) -> Tensor:
    """Tile (N, C, H, W) images into one (C', H', W') picture, row-major, ``pad`` pixels of ``fill``
    around each; C' = 3 (gray ones become RGB) unless ``rgb`` is False, which keeps C."""
    batch = torch.stack(list(images)) if not isinstance(images, Tensor) else images
    batch = (as_rgb(batch) if rgb else batch).detach().cpu()
    n, c, h, w = batch.shape
    rows = (n + columns - 1) // columns
    canvas = torch.full((c, rows * (h + pad) + pad, columns * (w + pad) + pad), fill)
    for i, image in enumerate(batch):
        r, k = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        canvas[:, top : top + h, left : left + w] = image
    return canvas
