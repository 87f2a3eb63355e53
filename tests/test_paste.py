"""Pasting a restoration back into the photo: the seam at the hole's edge is blended away, the known
pixels stay the photo's own."""

from __future__ import annotations

import torch

from ganprior.paste import blend_seam


def test_the_seam_is_blended_inside_the_hole_only():
    yy, xx = torch.meshgrid(torch.linspace(-0.5, 0.5, 64), torch.linspace(-0.5, 0.5, 64), indexing="ij")
    photo = (xx + yy)[None].expand(3, -1, -1).clone()
    known = torch.ones(1, 64, 64)
    known[:, 20:44, 20:44] = 0
    restored = photo + 0.3  # the model's guess everywhere, 0.3 too bright
    out = blend_seam(restored, photo, known, width=4)
    assert torch.equal(out[:, known[0] > 0], photo[:, known[0] > 0])  # known pixels untouched
    edge = (out - photo)[:, 20, 25:39].abs().mean()  # the hole's first row, next to the photo
    deep = (out - restored)[:, 30:34, 30:34].abs().max()  # far inside: the restoration as it was
    assert edge < 0.1 and deep < 1e-3  # without the blend the edge would jump by 0.3
