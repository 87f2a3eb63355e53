"""The one way to sample a prior: seeded, reproducible, classes drawn after the latents."""

from __future__ import annotations

import torch

from conftest import tiny_generator
from ganprior.models.sampling import sample_prior


def test_the_same_seed_gives_the_same_images_and_another_seed_others():
    g = tiny_generator(num_classes=3)
    a, b, c = sample_prior(g, 5, 7), sample_prior(g, 5, 7), sample_prior(g, 5, 8)
    assert torch.equal(a.images, b.images) and torch.equal(a.classes, b.classes)
    assert not torch.equal(a.latents, c.latents)
    assert a.images.shape == (5, 3, 16, 16) and a.classes.shape == (5,)


def test_draw_order_chunks_and_given_classes():
    g = tiny_generator(num_classes=3)
    rng = torch.Generator().manual_seed(1)
    z, y = g.sample_latent(6, rng), g.sample_classes(6, rng)
    sample = sample_prior(g, 6, 1, chunk=4)
    assert torch.equal(sample.latents, z) and torch.equal(sample.classes, y)
    assert torch.allclose(sample.images, g(z, y), atol=1e-6)
    labels = torch.tensor([2, 2, 1, 0, 0, 1])
    given = sample_prior(g, 6, 1, classes=labels)
    assert torch.equal(given.latents, z) and torch.equal(given.classes, labels)


def test_a_generator_stream_continues_and_unconditional_has_no_classes():
    g = tiny_generator()
    rng = torch.Generator().manual_seed(3)
    first, second = sample_prior(g, 2, rng), sample_prior(g, 2, rng)
    both = sample_prior(g, 4, torch.Generator().manual_seed(3))
    assert first.classes is None
    assert torch.equal(torch.cat([first.latents, second.latents]), both.latents)
