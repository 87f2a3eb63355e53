"""Shared fixtures: tiny generators (fast on CPU) and an isolated output area."""

from __future__ import annotations

import pytest
import torch

from ganprior.checkpoint import Prior, save_prior
from ganprior.models import DCGANGenerator


def tiny_generator(
    seed: int = 0, resolution: int = 16, channels: int = 3, num_classes: int = 0
) -> DCGANGenerator:
    """A randomly initialised 16×16 DCGAN with running BN statistics that are not the identity."""
    torch.manual_seed(seed)
    g = DCGANGenerator(resolution=resolution, nz=8, ngf=8, nc=channels, num_classes=num_classes)
    g.train()
    with torch.no_grad():
        for _ in range(5):  # populate the BN running statistics, as a trained model has them
            g(torch.randn(64, 8), torch.randint(num_classes, (64,)) if num_classes else None)
    return g.eval().requires_grad_(False)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, above all on a shared machine (no barrier waits)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny() -> DCGANGenerator:
    return tiny_generator()


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A ganprior safetensors file holding a tiny 16×16 RGB generator."""
    path = tmp_path / "tiny.safetensors"
    save_prior(path, Prior("tiny", tiny_generator(), None, {"name": "tiny", "resolution": 16, "channels": 3}))
    return path
