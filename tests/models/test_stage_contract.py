"""The stage contract: stages with their own conditioning (BigGAN's per-block z chunk, StyleGAN2's
per-layer style) and a carried skip image pass through every solver untouched, and the existing
architectures give exactly what running their stages one after another gives."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from conftest import tiny_generator
from ganprior.checkpoint import Prior
from ganprior.models import SNGANDiscriminator, SNGANGenerator, StagedGenerator
from ganprior.physics import build_operator
from ganprior.solvers import METHODS
from ganprior.solvers.invert import InvertConfig, invert
from ganprior.solvers.mgan import MGANConfig, mgan


class ModulatedStage(nn.Module):
    """(features, skip image) + a per-stage code -> both at twice the size; the last one -> image."""

    def __init__(self, c_in: int, c_out: int, code: int, last: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.style = nn.Linear(code, c_out)
        self.to_rgb = nn.Conv2d(c_out, 3, 1)
        self.last = last

    def forward(self, h: tuple[Tensor, Tensor], code: Tensor) -> tuple[Tensor, Tensor] | Tensor:
        features, skip = (nn.functional.interpolate(t, scale_factor=2) for t in h)
        features = torch.relu(self.conv(features)) * (1 + self.style(code)[..., None, None])
        skip = skip + self.to_rgb(features)
        return torch.tanh(skip) if self.last else (features, skip)


class ContextualGenerator(StagedGenerator):
    """A StyleGAN/BigGAN-shaped toy: z = [base | code per stage]; 2×2 -> 16×16 RGB in three stages."""

    arch_name = "contextual-toy"

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim, self.num_classes, self.resolution, self.channels = 10, 0, 16, 3
        self.config = {}
        self.base = nn.Linear(4, 8 * 2 * 2)
        self.stages = nn.ModuleList(
            [ModulatedStage(8, 8, 2), ModulatedStage(8, 8, 2), ModulatedStage(8, 8, 2, last=True)]
        )

    def embed(self, z: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features = self.base(z[:, :4]).reshape(-1, 8, 2, 2)
        return features, torch.zeros(z.shape[0], 3, 2, 2, device=z.device)

    def stage_contexts(self, z: Tensor, y: Tensor | None = None) -> list[Tensor]:
        return [z[:, 4 + 2 * i : 6 + 2 * i] for i in range(3)]


@pytest.fixture(scope="module")
def contextual() -> Prior:
    torch.manual_seed(0)
    g = ContextualGenerator().eval().requires_grad_(False)
    d = SNGANDiscriminator(resolution=16, channels=3, width=8, max_width=16).eval().requires_grad_(False)
    return Prior("contextual", g, d)


def test_any_split_with_contexts_gives_the_same_image(contextual):
    g = contextual.generator
    z = torch.randn(4, g.latent_dim)
    contexts = g.stage_contexts(z)
    for split in range(g.num_stages + 1):
        middle = g.synthesize(g.embed(z), 0, split, contexts)
        assert torch.equal(g.synthesize(middle, split, contexts=contexts), g(z))


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_runs_on_a_generator_with_per_stage_contexts(name, contextual):
    g = contextual.generator
    task = (METHODS[name].tasks or ("sr",))[0]
    config = METHODS[name].config
    short = {"steps": 4} | ({"init_samples": 4} if "init_samples" in config.__dataclass_fields__ else {})
    operator = build_operator(task, 16, 3, factor=2)
    with torch.no_grad():
        observation = operator(g(torch.randn(2, g.latent_dim)))
    result = METHODS[name].solve(
        contextual, observation, operator, config.for_task(task, contextual, **short)
    )
    assert result.image.shape == (2, 3, 16, 16) and torch.isfinite(result.image).all()


def test_one_code_with_unit_importance_is_plain_inversion_with_contexts(contextual):
    g = contextual.generator
    with torch.no_grad():
        x = g(torch.randn(2, g.latent_dim))
    start = torch.randn(2, g.latent_dim)
    op = build_operator("sr", 16, 3, factor=2)
    single = MGANConfig(steps=5, codes=1, layer=1, alpha_init=1.0, learn_alpha=False)
    multi = mgan(g, op(x), op, single, init=(start[:, None], None))
    plain = invert(g, op(x), op, InvertConfig(steps=5), init=(start, None))
    assert torch.allclose(multi.image, plain.image, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        tiny_generator,
        lambda: SNGANGenerator(resolution=16, channels=3, latent_dim=8, width=16, min_width=8).eval(),
    ],
)
def test_existing_architectures_equal_their_stages_run_in_order(make):
    g = make()
    z = torch.randn(3, g.latent_dim)
    h = g.embed(z)
    for stage in g.stages:
        h = stage(h)
    assert g.stage_contexts(z) is None and torch.equal(g(z), h)


def test_the_latent_prior_hooks_default_to_a_standard_normal():
    """``latent_start`` and ``latent_nll`` of an N(0, I) latent: what the solvers computed themselves
    before the hooks existed (z · std, mean(z² / 2)), to the bit."""
    g = tiny_generator()
    z = g.sample_latent(5, torch.Generator().manual_seed(4))
    assert torch.equal(g.latent_start(5, 0.5, torch.Generator().manual_seed(4)), z * 0.5)
    assert torch.equal(g.latent_start(5, 1.0, torch.Generator().manual_seed(4)), z)
    assert torch.equal(g.latent_nll(z), (z.square() / 2).flatten(1).mean(1))
    codes = z.reshape(5, 1, -1).expand(5, 3, -1)
    assert torch.allclose(g.latent_nll(codes), g.latent_nll(z))  # the mean over the codes too
