"""Generated inpainting masks: binary, seeded, partial."""

from __future__ import annotations

import pytest
import torch

from ganprior.physics import MASK_KINDS, make_mask


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_generated_masks_are_binary_seeded_and_partial(kind):
    a = make_mask(kind, 64, torch.Generator().manual_seed(0))
    b = make_mask(kind, 64, torch.Generator().manual_seed(0))
    assert a.shape == (1, 64, 64) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and 0.02 < 1 - a.mean() < 0.9
