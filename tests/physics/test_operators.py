"""Forward operators: shapes, exactness, projection, seeded simulation, composition, masks."""

from __future__ import annotations

import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.physics import (
    MASK_KINDS,
    TASKS,
    Compose,
    Downsample,
    Grayscale,
    Mask,
    Noise,
    build_operator,
    center_box,
    make_mask,
    observation_shape,
)

x = torch.rand(4, 3, 32, 32) * 2 - 1


def test_mask_hides_and_projection_restores_known_pixels():
    mask = center_box(32)[None]
    op = Mask(mask)
    y = op(x)
    assert torch.all(y[..., 12:20, 12:20] == 0) and torch.equal(y[..., :5, :], x[..., :5, :])
    estimate = torch.zeros_like(x)
    projected = op.project(estimate, y)
    assert torch.equal(projected * mask, x * mask) and torch.all(projected[..., 12:20, 12:20] == 0)


def test_downsample_is_antialiased_and_checks_the_factor():
    op = Downsample(4, 32)
    assert op(x).shape == (4, 3, 8, 8)
    constant = torch.full((1, 1, 32, 32), 0.3)
    assert torch.allclose(op(constant), torch.full((1, 1, 8, 8), 0.3), atol=1e-6)
    stripes = torch.tensor([1.0, -1.0]).repeat(16).expand(1, 1, 32, 32)
    assert op(stripes).abs().max() < 0.2  # a Nyquist pattern is filtered, not aliased
    with pytest.raises(GanpriorError, match="does not divide"):
        Downsample(3, 32)


def test_grayscale_uses_itu_601_and_keeps_luminance_on_projection():
    op = Grayscale()
    assert torch.allclose(op(x), 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:])
    gray = op(x)
    colour_guess = (x.flip(1) * 0.5).clamp(-1, 1)  # other colours, moderate saturation: inside the gamut
    projected = op.project(colour_guess, gray)
    off = (
        op(projected) - gray
    ).abs() > 1e-4  # luma from the observation, exactly, except where the gamut clips
    assert off.float().mean() < 0.01


def test_noise_is_seeded_and_identity_in_the_forward_map():
    op = Noise(0.1)
    assert torch.equal(op(x), x)
    a = op.simulate(x, torch.Generator().manual_seed(3))
    b = op.simulate(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert abs(float((a - x).std()) - 0.2) < 0.01  # σ = 0.1 in [0, 1] units = 0.2 in [-1, 1]


def test_compose_and_select():
    masks = torch.stack([make_mask("boxes", 32, torch.Generator().manual_seed(i)) for i in range(4)])
    op = Compose([Mask(masks), Grayscale(), Downsample(2)])
    assert op(x).shape == (4, 1, 16, 16)
    sub = op.select([2])
    assert torch.equal(sub(x[2:3]), op(x)[2:3])


@pytest.mark.parametrize("task", TASKS)
def test_every_task_builds_a_differentiable_operator(task):
    op = build_operator(task, 32, 3, factor=4)
    image = x.clone().requires_grad_(True)
    op(image).sum().backward()
    assert image.grad is not None
    channels, side = observation_shape(op, 32, 3)
    assert op(x).shape[1:] == (channels, side, side)


def test_colorize_needs_colour_and_mask_must_fit():
    with pytest.raises(GanpriorError, match="RGB"):
        build_operator("colorize", 32, 1)
    with pytest.raises(GanpriorError, match="mask"):
        build_operator("inpaint", 32, 3, mask=torch.ones(1, 16, 16))


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_generated_masks_are_binary_seeded_and_partial(kind):
    a = make_mask(kind, 64, torch.Generator().manual_seed(0))
    b = make_mask(kind, 64, torch.Generator().manual_seed(0))
    assert a.shape == (1, 64, 64) and torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and 0.02 < 1 - a.mean() < 0.9
