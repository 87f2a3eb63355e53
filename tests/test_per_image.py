"""Per-image parameter copies: the vmapped run (with its folded convolutions and matrix layout)
computes what N separate modules compute, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from ganprior.models import SNGANGenerator
from ganprior.solvers import folded
from ganprior.solvers.per_image import PerImageGenerator, per_sample


def same_with_gradients(ours, reference, *inputs: torch.Tensor) -> None:
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    copies = [x.clone().requires_grad_(True) for x in inputs]
    a, b = ours(*leaves), reference(*copies)
    assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    a.square().sum().backward()
    b.square().sum().backward()
    for x, y in zip(leaves, copies, strict=True):
        assert torch.allclose(x.grad, y.grad, atol=1e-4)


@pytest.mark.parametrize(("out", "kernel", "padding"), [(1, 3, 1), (3, 3, 0), (2, 1, 0), (3, 3, (1, 0))])
def test_folded_conv2d_matches_conv2d(out, kernel, padding):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 5, 7, 6), torch.randn(out, 5, kernel, kernel), torch.randn(out)
    same_with_gradients(
        lambda *a: folded.conv2d(*a, padding=padding), lambda *a: F.conv2d(*a, padding=padding), x, w, b
    )


@pytest.mark.parametrize(("side", "stride", "padding", "extra"), [(1, 1, 0, 0), (4, 2, 1, 0), (3, 2, 1, 1)])
def test_folded_conv_transpose2d_matches_conv_transpose2d(side, stride, padding, extra):
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 6, side, side), torch.randn(6, 4, 4, 4), torch.randn(4)
    args = (stride, padding, extra)
    same_with_gradients(
        lambda *a: folded.conv_transpose2d(*a, *args), lambda *a: F.conv_transpose2d(*a, *args), x, w, b
    )


def small_net() -> nn.Module:
    """Linear -> 4×4 map -> a wide and a narrow (3 output channels) convolution, eval batch norm."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 8 * 16),
        nn.Unflatten(1, (8, 4, 4)),
        nn.Conv2d(8, 9, 3, padding=1),
        nn.BatchNorm2d(9),
        nn.LeakyReLU(0.2),
        nn.Conv2d(9, 3, 3, padding=1),
    )
    return net.eval()


def test_per_sample_matches_separate_modules_in_values_and_gradients():
    net, n = small_net(), 3
    torch.manual_seed(1)
    stacked = {
        k: (p.detach() + 0.1 * torch.randn(n, *p.shape)).requires_grad_(True)
        for k, p in net.named_parameters()
    }
    x = torch.randn(n, 6)
    batched = per_sample(net, (0,))(stacked, x)
    (batched.square().sum()).backward()
    for i in range(n):
        own = {k: v.detach()[i].clone().requires_grad_(True) for k, v in stacked.items()}
        single = functional_call(net, own, (x[i : i + 1],))
        single.square().sum().backward()
        assert torch.allclose(batched[i : i + 1], single, atol=1e-5)
        for k, v in own.items():
            assert torch.allclose(stacked[k].grad[i], v.grad, atol=1e-4), k


def small_generator() -> SNGANGenerator:
    torch.manual_seed(2)
    g = SNGANGenerator(
        resolution=8, channels=1, latent_dim=4, num_classes=3, class_dim=2, width=8, min_width=4
    )
    return g.eval().requires_grad_(False)


def test_per_image_generator_keeps_module_shapes_and_loads_copies():
    g = small_generator()  # its Linear weights are stored as transposed leaves
    copies = PerImageGenerator(g, 2)
    shapes = {k: (2, *p.shape) for k, p in g.named_parameters()}
    assert {k: tuple(v.shape) for k, v in copies.state().items()} == shapes
    assert len(copies.parameters_list()) == len(shapes)
    with torch.no_grad():
        for leaf in copies.parameters_list():
            leaf[1].add_(0.01)
    restarted = PerImageGenerator(g, 2, copies.state(), trainable=False)
    assert all(torch.equal(restarted.state()[k], v) for k, v in copies.state().items())
    z, classes = torch.randn(2, g.latent_dim), torch.eye(3)[[0, 2]]
    with torch.no_grad():
        images = copies(z, classes)
        second = copies.load(1, small_generator())(z[1:], classes[1:])
        first = g(z[:1], classes[:1])
    assert torch.allclose(images[1:], second, atol=1e-5)
    assert torch.allclose(images[:1], first, atol=1e-5)
    assert not torch.allclose(images[1:], g(z[1:], classes[1:]), atol=1e-4)
