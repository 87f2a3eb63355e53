"""The one image grid and PNG writer, and the one transparency rule."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganprior.imageio import grid, load_image, on_white, save_image


def test_grid_tiles_row_major_with_padding():
    images = torch.stack([torch.full((1, 2, 3), v) for v in (-1.0, 0.0, 0.5)])
    picture = grid(images, columns=2, pad=1, fill=1.0, rgb=False)
    assert picture.shape == (1, 2 * 3 + 1, 2 * 4 + 1)
    assert picture[0, 1, 1] == -1 and picture[0, 1, 5] == 0 and picture[0, 4, 1] == 0.5
    assert picture[0, 4, 5] == 1  # the empty cell is fill
    assert grid(images, columns=2).shape[0] == 3  # gray becomes RGB by default


def test_save_image_keeps_gray_gray_and_enlarges_by_nearest(tmp_path):
    image = torch.tensor([[[-1.0, 1.0], [0.0, 1.0]]])
    path = save_image(image, tmp_path / "g.png", scale=2)
    with Image.open(path) as png:
        assert png.mode == "L" and png.size == (4, 4)
        pixels = np.asarray(png)
    assert pixels.tolist() == [[0, 0, 255, 255], [0, 0, 255, 255], [128, 128, 255, 255], [128, 128, 255, 255]]
    assert [p.name for p in tmp_path.iterdir()] == ["g.png"]


def test_transparent_pixels_go_on_white(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert on_white(rgba).getpixel((0, 0)) == (255, 255, 255, 255)
    opaque = Image.new("RGB", (4, 4), (10, 20, 30))
    assert on_white(opaque) is opaque
    rgba.save(tmp_path / "t.png")
    assert torch.equal(load_image(tmp_path / "t.png", 4, 3), torch.ones(3, 4, 4))
