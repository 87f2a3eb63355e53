"""Deep Image Prior: fills a hole from the image's own structure, stops early on noise, batched exactly."""

from __future__ import annotations

from dataclasses import replace

import torch

from ganprior import metrics
from ganprior.physics import Mask, Noise, Operator, center_box
from ganprior.solvers.dip import DIPConfig, dip


def smooth(n: int = 2) -> torch.Tensor:
    """Smooth colour ramps (N, 3, 16, 16) in [-1, 1], a different slope per image."""
    u, v = torch.meshgrid(torch.linspace(-0.8, 0.8, 16), torch.linspace(-0.8, 0.8, 16), indexing="ij")
    images = [torch.stack([u * s, v * s, (u + v) / 2]) for s in (1.0, -0.6, 0.3)[:n]]
    return torch.stack(images)


def test_fills_a_hole_better_than_the_blank():
    x = smooth()
    mask = Mask(center_box(16, 0.25)[None])
    result = dip(mask(x), mask, 3, 16, DIPConfig(steps=150, width=16, patience=0))
    hole = 1 - mask.mask
    filled = metrics.psnr(mask.project(result.image, mask(x)), x, hole)
    blank = metrics.psnr(mask(x), x, hole)
    assert (filled > blank + 3).all(), (filled, blank)


def test_early_stopping_beats_fitting_the_noise():
    x = smooth(1)
    observation = Noise(0.15).simulate(x, torch.Generator().manual_seed(0))
    config = DIPConfig(steps=400, width=16, window=10, patience=60, input_noise=0)
    stopped = dip(observation, Operator(), 3, 16, config)
    overfitted = dip(observation, Operator(), 3, 16, replace(config, patience=0))
    assert int(stopped.extras["stopped_at"][0]) < 400 - 60 and len(stopped.losses) < 400
    assert metrics.psnr(stopped.image, x) > metrics.psnr(overfitted.image, x) + 1


def test_batched_equals_one_at_a_time():
    x = smooth(3)
    mask = Mask(torch.stack([center_box(16), center_box(16, 0.5), torch.ones(1, 16, 16)]))
    config = DIPConfig(steps=30, width=8, window=5, patience=10)
    observation = mask(x)
    batched = dip(observation, mask, 3, 16, config)
    for i in range(3):
        single = dip(observation[i : i + 1], mask.select([i]), 3, 16, config)
        assert torch.allclose(single.image, batched.image[i : i + 1], atol=1e-4)
