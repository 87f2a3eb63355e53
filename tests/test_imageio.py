"""The one image grid and PNG writer, and the one transparency rule."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ganprior.imageio import grid, load_image, load_mask, on_white, save_gif, save_image


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


def _draw(tmp_path, name, array):
    path = tmp_path / name
    Image.fromarray(array).save(path)
    return path


def test_a_lama_style_mask_reads_right_with_mask_fill_white(tmp_path):
    """White = fill (LaMa, OpenCV, diffusers) gives the same known region as black = fill drawn the
    other way round; the default reads black as the area to fill."""
    lama = np.zeros((40, 48), np.uint8)
    lama[10:20, 12:30] = 255
    ours = 255 - lama
    white = load_mask(_draw(tmp_path, "lama.png", lama), 16, (48, 40), fill="white")
    black = load_mask(_draw(tmp_path, "ours.png", ours), 16, (48, 40))
    assert torch.equal(white.known, black.known) and 0 < white.known.mean() < 1
    assert white.warnings() == [] and abs(white.fill_fraction - 180 / 1920) < 1e-6


def test_an_inverted_or_grey_mask_is_warned_about(tmp_path):
    lama = np.zeros((40, 48), np.uint8)
    lama[10:20, 12:30] = 255  # a LaMa mask read with the default convention: 90% would be filled
    inverted = load_mask(_draw(tmp_path, "lama.png", lama), 16, (48, 40))
    assert inverted.fill_fraction > 0.5 and "inverted" in inverted.warnings()[0]
    grey = lama.copy()
    grey[0, 0] = 100
    soft = load_mask(_draw(tmp_path, "grey.png", 255 - grey), 16, (48, 40))
    assert soft.thresholded and any("thresholded" in w for w in soft.warnings())


def test_a_mask_at_the_model_resolution_is_accepted(tmp_path):
    small = np.full((16, 16), 255, np.uint8)
    small[4:8, 4:8] = 0
    mask = load_mask(_draw(tmp_path, "m.png", small), 16, (48, 40))
    assert mask.known.shape == (1, 16, 16) and mask.known[0, 4:8, 4:8].sum() == 0 and mask.known.sum() == 240
