"""Defect-free random crops of scikit-image's real textures (brick, grass, gravel), with a fixed split.

The split follows the ``textures`` dataset: the bottom 20% of each 512-pixel texture (whole rows of
``size``-pixel tiles) is held out for testing, the rest is for training; a crop never straddles the
boundary. Training crops feed ``ganprior train --data FOLDER``; test crops are the normal images
of the anomaly benchmark.

    python -m ganprior.texture_crops brick --out crops/brick --count 4000
    python -m ganprior.texture_crops brick --split test --defects truth/ --count 8 --out crops/test
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .data.sets import SKIMAGE_TEXTURES, texture_sources
from .imageio import save_image
from .physics import DEFECT_KINDS, paint_defects

TEXTURES = tuple(SKIMAGE_TEXTURES)


def split_row(height: int, size: int) -> int:
    """First pixel row of the test region (the ``textures`` dataset's bottom 20% of tile rows)."""
    rows = height // size
    return (rows - max(1, math.ceil(0.2 * rows))) * size


def texture_crops(name: str, split: str, size: int, count: int, seed: int = 0) -> Tensor:
    """``count`` seeded random ``size``² gray crops of texture ``name`` from ``split`` (train | test):
    (count, 1, size, size) in [-1, 1]."""
    pixels = texture_sources()[name][..., 0].astype(np.float32) / 127.5 - 1
    boundary = split_row(pixels.shape[0], size)
    top_lo, top_hi = (0, boundary - size) if split == "train" else (boundary, pixels.shape[0] - size)
    rng = np.random.default_rng(seed)
    tops = rng.integers(top_lo, top_hi + 1, count)
    lefts = rng.integers(0, pixels.shape[1] - size + 1, count)
    crops = np.stack([pixels[t : t + size, s : s + size] for t, s in zip(tops, lefts, strict=True)])
    return torch.from_numpy(crops)[:, None]


def defective_crops(
    name: str, split: str, size: int, defective: int, normal: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """``defective`` seeded crops with one synthetic defect each (``DEFECT_KINDS`` in turn) followed by
    ``normal`` clean ones: images (N, 1, size, size) in [-1, 1] and exact masks (N, 1, size, size), 1 = defect."""
    crops = texture_crops(name, split, size, defective + normal, seed)
    painted, masks = paint_defects(crops[:defective], DEFECT_KINDS, torch.Generator().manual_seed(seed))
    clean = crops[defective:]
    return torch.cat([painted, clean]), torch.cat([masks, torch.zeros_like(clean)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="write crops of a texture as PNGs (training data, or test crops with defects)"
    )
    parser.add_argument("texture", choices=TEXTURES)
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--defects",
        metavar="TRUTH_DIR",
        help="paint one synthetic defect on the first half of the crops (kinds in turn); their exact masks go to TRUTH_DIR",
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    defective = args.count // 2 if args.defects else 0
    crops, masks = defective_crops(
        args.texture, args.split, args.size, defective, args.count - defective, args.seed
    )
    for i, mask in enumerate(masks[:defective]):
        save_image(mask * 2 - 1, Path(args.defects) / f"{args.texture}{i:05d}.png")
    for i, crop in enumerate(crops):
        save_image(crop, out / f"{args.texture}{i:05d}.png")
    print(
        f"{args.count} {args.split} crops -> {out}"
        + (f", defect masks -> {args.defects}" if args.defects else "")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
