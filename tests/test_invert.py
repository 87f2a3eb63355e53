"""Plain inversion: recovers a planted latent, is batched exactly, seeded, and reports progress."""

from __future__ import annotations

import torch

from conftest import tiny_generator
from ganprior import metrics
from ganprior.physics import Downsample, Mask, Operator, center_box
from ganprior.solvers import InvertConfig, invert, search_latents

CONFIG = InvertConfig(steps=150, lr=0.05, init_samples=200, latent_weight=0.0)


def planted(g, n: int = 4, seed: int = 7):
    z = torch.randn(n, g.latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return z, g(z)


def test_recovers_images_of_the_generator(tiny):
    _, x = planted(tiny)
    result = invert(tiny, x, Operator(), CONFIG)
    assert metrics.psnr(result.image, x).median() > 30
    assert result.image.shape == x.shape and result.losses.shape == (CONFIG.steps, 4)
    assert torch.all(result.losses[-1] < result.losses[0])


def test_fits_through_a_degradation(tiny):
    _, x = planted(tiny, seed=11)
    mask = Mask(center_box(16)[None])
    result = invert(tiny, mask(x), mask, CONFIG)
    start = invert(tiny, mask(x), mask, InvertConfig(steps=0, init_samples=200))
    assert (metrics.psnr(result.image, x) > metrics.psnr(start.image, x)).all()  # the hole improves too


def test_batched_equals_one_at_a_time(tiny):
    _, x = planted(tiny, n=3, seed=5)
    op = Downsample(2)
    config = InvertConfig(steps=40, init_samples=50)
    batched = invert(tiny, op(x), op, config)
    for i in range(3):
        single = invert(tiny, op(x[i : i + 1]), op.select([i]), config)
        assert torch.allclose(single.latent, batched.latent[i : i + 1], atol=1e-4)
        assert torch.allclose(single.image, batched.image[i : i + 1], atol=1e-4)


def test_seeded_and_deterministic(tiny):
    _, x = planted(tiny, n=2)
    a = invert(tiny, x, Operator(), InvertConfig(steps=10, seed=3))
    b = invert(tiny, x, Operator(), InvertConfig(steps=10, seed=3))
    c = invert(tiny, x, Operator(), InvertConfig(steps=10, seed=4))
    assert torch.equal(a.latent, b.latent) and not torch.equal(a.latent, c.latent)


def test_callback_sees_every_step(tiny):
    _, x = planted(tiny, n=2)
    seen = []
    invert(
        tiny,
        x,
        Operator(),
        InvertConfig(steps=7, init_samples=5),
        callback=lambda s, loss: seen.append((s, loss.shape)),
    )
    assert seen == [(s, torch.Size([2])) for s in range(7)]


def test_search_picks_the_closest_sample(tiny):
    """The best of K samples is at least as close as any single random draw, per image."""
    _, x = planted(tiny, n=3)
    rng = torch.Generator().manual_seed(0)
    z, labels = search_latents(tiny, x, Operator(), 300, rng)
    assert labels is None
    with torch.no_grad():
        best = (tiny(z) - x).square().flatten(1).mean(1)
        random = (tiny(torch.randn(300, 8))[:, None] - x[None]).square().flatten(2).mean(2)
    assert torch.all(best <= random.min(0).values + 0.05)


def test_conditional_search_returns_classes():
    g = tiny_generator(num_classes=3)
    z, y = torch.randn(2, 8), torch.tensor([0, 2])
    with torch.no_grad():
        x = g(z, y)
    result = invert(g, x, Operator(), InvertConfig(steps=5, init_samples=60))
    assert result.classes is not None and result.classes.shape == (2, 3)


def test_restarts_keep_per_image_the_best_fit_through_the_operator(tiny):
    from dataclasses import replace

    from ganprior.losses import pixel_loss

    _, x = planted(tiny, n=4, seed=19)
    mask = Mask(center_box(16)[None])
    config = InvertConfig(steps=30, init_samples=1, latent_weight=0.0, restarts=3)  # random starts
    best = invert(tiny, mask(x), mask, config)
    runs = [invert(tiny, mask(x), mask, replace(config, restarts=1, seed=r)) for r in range(3)]
    fit = torch.stack([pixel_loss(mask(run.image), mask(x)) for run in runs], 1)
    assert torch.equal(best.extras["restart"], fit.argmin(1))
    for i, r in enumerate(best.extras["restart"].tolist()):
        assert torch.allclose(best.image[i], runs[r].image[i], atol=1e-4)
    assert metrics.psnr(best.image, x).mean() > metrics.psnr(runs[0].image, x).mean()
