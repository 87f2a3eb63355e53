"""The one image grid and PNG writer, and the one transparency rule."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganprior.imageio import grid, load_image, on_white, save_gif, save_image


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


def test_save_gif_bounces_between_the_end_frames(tmp_path):
    frames = torch.linspace(-1, 1, 4).view(4, 1, 1, 1).expand(4, 3, 8, 8)
    path = save_gif(frames, tmp_path / "a.gif")
    with Image.open(path) as gif:
        assert gif.n_frames == 6  # 0 1 2 3 2 1, then it loops
        levels = []
        for i in range(gif.n_frames):
            gif.seek(i)
            levels.append(int(np.asarray(gif.convert("L"))[0, 0]))
    assert levels == levels[:4] + levels[2:0:-1] and levels[0] < levels[3]
    assert not list(tmp_path.glob("*.part"))
