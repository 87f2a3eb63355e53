"""Shared fixtures: tiny generators (fast on CPU), a cheap stand-in for VGG16 and an isolated output area."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from ganprior import features
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


class CheapFeatures(nn.Module):
    """Two random strided convolutions: images (N, C, H, W) -> maps at H/4 and H/8 (C averaged first
    unless ``channels`` are given)."""

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.channels = channels
        self.shallow, self.deep = nn.Conv2d(channels, 8, 4, 4), nn.Conv2d(8, 8, 2, 2)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.shape[1] != self.channels:
            x = x.mean(1, keepdim=True).expand(-1, self.channels, -1, -1)
        shallow = self.shallow(x).relu()
        return [shallow, self.deep(shallow).relu()]


def cheap_vgg_metric(device: torch.device | str = "cpu", blocks: int = 4) -> features.FeatureMetric:
    """A stand-in for ``features.vgg_metric`` (same signature): no download, milliseconds per call."""
    return features.FeatureMetric(CheapFeatures(3).to(device), 3, 8, "mse", "vgg16 stand-in")
