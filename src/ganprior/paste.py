"""Results at the photo's own size: a restoration made on the model's square (``imageio.square_box``
of the photo, fitted to the model's resolution) put back into the photo's full-resolution frame.

- inpaint: the photo's own pixels wherever they are known, bit for bit; the hole from the
  restoration, upsampled (bicubic, antialiased) to the square's size in the photo, shifted near its
  edge by the photo's own offset from it (``blend_seam``) so the seam does not show;
- colorize: the photo's own luma at full resolution with the restoration's colour (upsampled);
- sr, hybrid: the frame is the low-resolution input enlarged by the factor (bicubic), the square
  inside it the restoration;
- denoise, reconstruct: the restoration upsampled into the square; outside the square (``--fit crop``
  leaves the long side's ends out) the photo as it was.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch import Tensor

from .imageio import open_image, pil_to_tensor, square_box
from .physics import Grayscale

if TYPE_CHECKING:
    from .pipeline import Restoration

SCALED_TASKS = ("sr", "hybrid")  # their input is the low-resolution observation
HOW = {
    "inpaint": "known pixels of the photo kept exactly; the hole from the restoration, upsampled, "
    "blended into the photo at its edge",
    "colorize": "the photo's luma at full resolution; the restoration's colour, upsampled",
    "sr": "the restoration in the fitted square of the input enlarged by the factor (bicubic elsewhere)",
    "hybrid": "the restoration in the fitted square of the input enlarged by the factor (bicubic elsewhere)",
}
DEFAULT_HOW = "the restoration upsampled into the fitted square; the photo elsewhere"


def resize(image: Tensor, height: int, width: int, mode: str = "bicubic") -> Tensor:
    """(C, h, w) in [-1, 1] -> (C, height, width): bicubic with antialiasing, clamped (``nearest``
    for masks)."""
    if image.shape[-2:] == (height, width):
        return image
    if mode == "nearest":
        return F.interpolate(image[None], size=(height, width), mode="nearest")[0]
    out = F.interpolate(
        image[None], size=(height, width), mode="bicubic", antialias=True, align_corners=False
    )
    return out[0].clamp(-1, 1)


def paste_square(
    frame: Tensor, image: Tensor, box: tuple[int, int, int, int], mode: str = "bicubic"
) -> Tensor:
    """``frame`` (C, H, W) with ``image`` (C, r, r) resized onto ``box`` (left, top, right, bottom),
    the part of the box inside the frame; a copy."""
    left, top, right, bottom = box
    up = resize(image, bottom - top, right - left, mode)
    out = frame.clone()
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, frame.shape[-1]), min(bottom, frame.shape[-2])
    out[:, y0:y1, x0:x1] = up[:, y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def blend_seam(restored: Tensor, photo: Tensor, known: Tensor, width: float) -> Tensor:
    """The photo (C, H, W) with its hole (``known`` (1, H, W), 1 = known) filled from ``restored``
    (C, H, W, the restoration upsampled to the photo), shifted by the photo's offset from the
    restoration on the known pixels nearby (a normalised Gaussian average over ``width`` px) fading to
    nothing within about ``width`` px of the hole's edge, so the seam does not show. Known pixels
    are exactly the photo's."""
    sigma = max(width / 2, 0.5)
    size = 2 * math.ceil(2 * sigma) + 1
    blur = partial(gaussian_blur2d, kernel_size=(size, size), sigma=(sigma, sigma), border_type="replicate")
    weight = blur(known[None])[0]
    offset = blur(((photo - restored) * known)[None])[0] / weight.clamp_min(1e-6)
    filled = (restored + (2 * weight).clamp(0, 1) * offset).clamp(-1, 1)
    return known * photo + (1 - known) * filled


def paste_back(
    path: str | Path,
    restored: Tensor,
    task: str,
    how: str = "crop",
    factor: int = 1,
    known: Tensor | None = None,
) -> tuple[Tensor, dict[str, object]]:
    """The restoration (C, r, r) in [-1, 1] of the photo at ``path`` put back into its frame:
    (C, H', W') and a description for the report. ``known``, 1 = known pixel (inpainting): the mask
    at the photo's size (1, H, W), or at the model's (1, r, r), then enlarged onto the square."""
    picture = open_image(path)
    width, height = picture.size
    channels = restored.shape[0]
    photo = pil_to_tensor(picture, 1 if task == "colorize" else channels)
    scale = factor if task in SCALED_TASKS else 1
    left, top, right, bottom = (v * scale for v in square_box((width, height), how))
    box = (left, top, right, bottom)
    photo = resize(photo, height * scale, width * scale)
    out = paste_square(photo.expand(channels, -1, -1), restored, box)
    if task == "colorize" and channels == 3:
        out = Grayscale().project(out[None], photo[None])[0]
    if task == "inpaint" and known is not None:
        if known.shape[-2:] != photo.shape[-2:]:
            known = paste_square(known.new_ones(1, *photo.shape[-2:]), known, box, "nearest")
        out = blend_seam(out, photo, known, 2 * (box[2] - box[0]) / restored.shape[-1])
    size = [width * scale, height * scale]
    return out, {"size": size, "fit": how, "square": list(box), "paste": HOW.get(task, DEFAULT_HOW)}


def in_frame(
    path: str | Path,
    part: Restoration,
    j: int,
    task: str,
    how: str = "crop",
    factor: int = 1,
    photo_known: Tensor | None = None,
) -> tuple[Tensor, dict[str, object]]:
    """Image ``j`` of a restoration ``part`` of photos (``path`` is its photo) put back at the photo's
    own size (``paste_back``), and how. The known pixels: ``photo_known`` (1, H, W) for a mask drawn
    at the photo's size, else those the solver left (mask-free methods: wherever it found no
    corruption) or the operator's (inpainting)."""
    known = photo_known
    if part.result.mask is not None:  # mask-free: keep the photo wherever no corruption was found
        known = 1 - part.result.mask[j].cpu()
    elif known is None and task == "inpaint":
        hole = part.operator.hole()
        known = None if hole is None else 1 - hole[min(j, len(hole) - 1)].cpu()
    return paste_back(path, part.restored[j].cpu(), task, how, factor, known)
