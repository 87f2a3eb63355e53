"""Synthetic defects: the mask is exactly the changed pixels, seeded."""

from __future__ import annotations

import pytest
import torch

from ganprior.physics import DEFECT_KINDS, paint_defects


@pytest.mark.parametrize("channels", [1, 3])
def test_defect_masks_are_exactly_the_changed_pixels(channels):
    images = torch.rand(10, channels, 32, 32, generator=torch.Generator().manual_seed(1)) * 0.4 - 0.2
    defective, masks = paint_defects(images, generator=torch.Generator().manual_seed(2))
    changed = (defective != images).any(1, keepdim=True).float()
    assert torch.equal(changed, masks)
    assert (masks.flatten(1).sum(1) > 0).all()  # every kind painted something
    again, _ = paint_defects(images, generator=torch.Generator().manual_seed(2))
    assert torch.equal(again, defective)
    assert len(DEFECT_KINDS) == 5
