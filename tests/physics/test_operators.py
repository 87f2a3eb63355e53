"""The operator contract, over every registered operator (``physics.OPERATORS``): shapes, select,
seeded simulate, differentiable, hole, project, as_observation; then each operator's own exactness."""

from __future__ import annotations

import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.physics import (
    OPERATORS,
    Compose,
    Corruption,
    Downsample,
    Grayscale,
    Mask,
    Noise,
    Operator,
    center_box,
    make_mask,
    observation_shape,
    stroke_corruption,
)

RESOLUTION, CHANNELS, BATCH = 32, 3, 3
x = torch.rand(BATCH, CHANNELS, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(0)) * 2 - 1
estimate = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _subclasses(cls: type) -> set[type]:
    return {c for sub in cls.__subclasses__() for c in {sub} | _subclasses(sub)}


@pytest.fixture(params=sorted(OPERATORS))
def op(request) -> Operator:
    return OPERATORS[request.param](RESOLUTION, CHANNELS, BATCH)


def test_every_operator_is_registered():
    library = {c for c in _subclasses(Operator) if c.__module__.startswith("ganprior.")} | {Operator}
    registered = {type(OPERATORS[name](RESOLUTION, CHANNELS, BATCH)) for name in OPERATORS}
    assert library <= registered, f"add {library - registered} to physics.registry.OPERATORS"


def test_shapes(op):
    y = op(x)
    assert y.dim() == 4 and y.shape[0] == BATCH and y.dtype == x.dtype
    assert op.simulate(x).shape == y.shape
    channels, side = observation_shape(op, RESOLUTION, CHANNELS)
    assert y.shape[1:] == (channels, side, side)
    assert op.describe()


def test_select_is_the_subset(op):
    index = [2, 0]
    sub = op.select(index)
    assert torch.equal(sub(x[index]), op(x)[index])
    y = op.simulate(x, torch.Generator().manual_seed(0))
    assert torch.equal(sub.project(estimate[index], y[index]), op.project(estimate, y)[index])
    hole, sub_hole = op.hole(), sub.hole()
    assert (hole is None) == (sub_hole is None)
    if hole is not None:
        assert torch.equal(sub_hole.expand(2, *hole.shape[1:]), hole.expand(BATCH, *hole.shape[1:])[index])


def test_simulate_is_seeded(op):
    a = op.simulate(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, op.simulate(x, torch.Generator().manual_seed(3)))
    b = op.simulate(x, torch.Generator().manual_seed(4))
    if torch.equal(a, op(x)):  # noiseless: every seed gives the forward map
        assert torch.equal(b, a)
    else:
        assert not torch.equal(b, a)


def test_differentiable(op):
    image = x.clone().requires_grad_(True)
    op(image).square().sum().backward()
    assert image.grad is not None and torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0


def test_hole_is_what_the_observation_does_not_depend_on(op):
    """None, or exactly the pixels whose values leave the (seeded) observation unchanged."""
    hole = op.hole()
    if hole is None:
        return
    assert hole.shape[1:] == (1, RESOLUTION, RESOLUTION) and hole.shape[0] in (1, BATCH)
    assert set(hole.unique().tolist()) <= {0.0, 1.0} and hole.any()
    image = x.clone().requires_grad_(True)
    weights = torch.rand(op(x).shape, generator=torch.Generator().manual_seed(5)) + 0.5
    (op.simulate(image, torch.Generator().manual_seed(0)) * weights).sum().backward()
    depends = (image.grad.abs().sum(1, keepdim=True) > 0).float()
    assert torch.equal(depends, 1 - hole.expand_as(depends))


def test_project_keeps_what_the_observation_fixes(op):
    y = op(x)
    assert torch.allclose(op.project(x, y), x, atol=1e-5)  # the truth is consistent with its observation
    before = (op(estimate) - y).abs().mean()
    after = (op(op.project(estimate, y)) - y).abs().mean()
    assert after <= before + 1e-6


def test_as_observation_keeps_an_operator_made_observation(op):
    y = op(x)
    assert torch.equal(op.as_observation(y), y)


def test_mask_hides_and_projection_restores_known_pixels():
    mask = center_box(32)[None]
    op = Mask(mask)
    y = op(x)
    assert torch.all(y[..., 12:20, 12:20] == 0) and torch.equal(y[..., :5, :], x[..., :5, :])
    projected = op.project(torch.zeros_like(x), y)
    assert torch.equal(projected * mask, x * mask) and torch.all(projected[..., 12:20, 12:20] == 0)
    assert torch.equal(op.hole(), 1 - mask) and torch.equal(op.as_observation(x), y)


def test_downsample_is_antialiased_and_checks_the_factor():
    op = Downsample(4, 32)
    assert op(x).shape == (BATCH, 3, 8, 8)
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
    assert abs(float((a - x).std()) - 0.2) < 0.01  # σ = 0.1 in [0, 1] units = 0.2 in [-1, 1]


def test_compose_and_select():
    masks = torch.stack([make_mask("boxes", 32, torch.Generator().manual_seed(i)) for i in range(BATCH)])
    op = Compose([Mask(masks), Grayscale(), Downsample(2)])
    assert op(x).shape == (BATCH, 1, 16, 16)
    assert torch.equal(op.select([2])(x[2:3]), op(x)[2:3])


def test_corruption_is_unknown_to_the_solver():
    mask = center_box(32)[None]
    op = Corruption(mask)
    y = op.simulate(x, torch.Generator().manual_seed(0))
    assert torch.equal(op(x), x) and torch.equal(op.project(estimate, y), estimate)
    assert torch.equal(y * mask, x * mask) and torch.equal(op.hole(), 1 - mask)
    assert ((y - x).abs() * (1 - mask)).sum() > 0  # the hole is painted over
    unknown = Corruption(None)
    assert unknown.hole() is None and torch.equal(unknown.simulate(x), x)
    assert unknown.select([1]) is unknown and "unknown places" in unknown.describe()


@pytest.mark.parametrize("fill", ["noise", "uniform", "patch"])
def test_stroke_corruption_fills_only_the_strokes(fill):
    clean = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    masks, observed = stroke_corruption(clean, seed=4, fill=fill)
    assert masks.shape == (3, 1, 32, 32) and 0.02 < (1 - masks).mean() < 0.5
    intact = masks.bool().expand_as(clean)
    assert torch.equal(observed[intact], clean[intact])
    hole = ~intact
    if fill == "uniform":
        assert observed[hole].min() >= -1 and observed[hole].max() <= 1 and observed[hole].std() > 0.5
    if fill == "patch":  # image i's strokes show image i-1's pixels there
        assert torch.equal(observed[hole], clean.roll(1, dims=0)[hole])
    again = stroke_corruption(clean, seed=4, fill=fill)
    assert torch.equal(again[1], observed)  # seeded


def test_stroke_corruption_refuses_an_unknown_fill_and_a_lone_patch_donor():
    with pytest.raises(GanpriorError, match="fill must be one of"):
        stroke_corruption(torch.zeros(2, 1, 16, 16), fill="blur")
    with pytest.raises(GanpriorError, match="at least two"):
        stroke_corruption(torch.zeros(1, 1, 16, 16), fill="patch")
