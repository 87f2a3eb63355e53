"""DGP: per-image generator fine-tuning fits what inversion cannot, unfreezes shallow to deep,
is batched exactly (within float tolerance), and runs from the CLI."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_generator
from ganprior import metrics
from ganprior.checkpoint import Prior
from ganprior.features import FeatureMetric, VGG16Features, discriminator_metric
from ganprior.models import SNGANDiscriminator
from ganprior.physics import Downsample, Mask, Operator, center_box
from ganprior.schedule import REFERENCE, Schedule, map_depth, preset
from ganprior.solvers import InvertConfig, invert, search_latents
from ganprior.solvers.dgp import DGPConfig, dgp, parameter_groups, render

FAST = DGPConfig(init_samples=20)


def metric_for(channels: int = 3) -> FeatureMetric:
    torch.manual_seed(3)
    d = (
        SNGANDiscriminator(resolution=16, channels=channels, width=8, max_width=16)
        .eval()
        .requires_grad_(False)
    )
    return discriminator_metric(Prior("tiny", tiny_generator(), d))


def schedule(iterations: int = 60, depth: int | None = None, lr_g: float = 1e-2) -> Schedule:
    return Schedule.from_lists(
        iterations=[iterations // 2] * 2, lr_z=[5e-2, 1e-2], lr_g=lr_g, depth=depth, w_mse=1.0, w_nll=0.0
    )


def out_of_range(g, n: int = 2) -> torch.Tensor:
    """Generator samples with a bright diagonal stripe no latent of ``g`` explains."""
    with torch.no_grad():
        x = g(torch.randn(n, g.latent_dim, generator=torch.Generator().manual_seed(1)))
    stripe = torch.eye(16).bool()[None, None].expand_as(x)
    return torch.where(stripe, torch.ones_like(x), x)


def test_parameter_groups_cover_the_generator_in_depth_order(tiny):
    groups = parameter_groups(tiny)
    assert len(groups) == tiny.num_stages
    assert sorted(n for g in groups for n in g) == sorted(n for n, _ in tiny.named_parameters())
    assert all(name.startswith(f"stages.{i}.") for i, g in enumerate(groups) for name in g)


def test_presets_scale_the_reference_depths():
    sr = preset("sr", groups=5, iterations_scale=0.1)
    assert [s.depth for s in sr.stages] == [1, 2, 3, 4, 5]  # shallow to deep, all at the end
    assert sr.iterations == 100 and sr.stages[0].lr_g == REFERENCE["sr"].stages[0].lr_g
    assert all(s.depth is None for s in preset("inpaint", 5).stages)  # the reference trains all at once
    assert map_depth(0, 5) == 0 and map_depth(None, 5) is None
    assert preset("sr", 5).with_total(50).iterations == 50
    with pytest.raises(ValueError, match="entries"):
        Schedule.from_lists(iterations=[1, 2], lr_z=[1, 2, 3], lr_g=0)


def test_fits_an_out_of_range_image_better_than_inversion(tiny):
    target = out_of_range(tiny)
    op = Operator()
    relaxed = dgp(tiny, target, op, schedule(), metric_for(), FAST)
    frozen = invert(tiny, target, op, InvertConfig(steps=60, lr=5e-2, init_samples=20, latent_weight=0))
    gain = metrics.psnr(relaxed.image, target) - metrics.psnr(frozen.image, target)
    assert (gain > 3).all(), gain
    assert relaxed.generator_state is not None
    assert relaxed.generator_state["stages.0.0.weight"].shape[0] == 2  # one generator copy per image
    assert torch.allclose(render(tiny, relaxed.generator_state, relaxed.latent), relaxed.image, atol=1e-5)


def test_progressive_stage_trains_only_the_shallow_groups(tiny):
    target = out_of_range(tiny, n=1)
    result = dgp(tiny, target, Operator(), schedule(iterations=10, depth=1), metric_for(), FAST)
    groups = parameter_groups(tiny)
    original = dict(tiny.named_parameters())
    changed = {n: not torch.equal(result.generator_state[n][0], original[n]) for n in original}
    assert all(changed[n] for n in groups[0])
    assert not any(changed[n] for g in groups[1:] for n in g)


def test_frozen_schedule_keeps_the_generator(tiny):
    target = out_of_range(tiny, n=1)
    result = dgp(tiny, target, Operator(), schedule(iterations=10, depth=0), metric_for(), FAST)
    assert result.generator_state is None
    assert torch.allclose(tiny(result.latent), result.image, atol=1e-6)


def test_batched_equals_one_at_a_time(tiny):
    target = out_of_range(tiny, n=3)
    mask = Mask(torch.stack([center_box(16), center_box(16, 0.5), torch.ones(1, 16, 16)]))
    observation = mask(target)
    run = schedule(iterations=20)
    batched = dgp(tiny, observation, mask, run, metric_for(), FAST)
    for i in range(3):
        single = dgp(tiny, observation[i : i + 1], mask.select([i]), run, metric_for(), FAST)
        # vmap runs the N copies as grouped convolutions: the same maths, another summation order
        assert torch.allclose(single.image, batched.image[i : i + 1], atol=2e-3)
        assert torch.allclose(single.latent, batched.latent[i : i + 1], atol=2e-3)


def test_latent_search_picks_the_class_with_the_latent():
    g = tiny_generator(seed=2, num_classes=4)
    metric = metric_for()
    rng = torch.Generator().manual_seed(0)
    z = g.sample_latent(3, rng)
    labels = torch.tensor([0, 1, 3])
    with torch.no_grad():
        x = g(z, labels)
    op = Downsample(2)
    found_z, found_y = search_latents(
        g, op(x), op, 300, torch.Generator().manual_seed(5), metric, layers=3, chunk=50
    )
    assert found_y is not None and found_y.shape == (3,)
    with torch.no_grad():
        searched = metric.distance(metric.features(op(g(found_z, found_y))), metric.features(op(x)), 3)
        random = metric.distance(metric.features(op(g(z[[1, 2, 0]], labels))), metric.features(op(x)), 3)
    assert (searched < random).all()


def test_conditional_dgp_keeps_its_class_and_tunes():
    g = tiny_generator(seed=2, num_classes=4)
    with torch.no_grad():
        x = g(torch.randn(2, 8), torch.tensor([1, 2]))
    result = dgp(g, x, Operator(), schedule(iterations=10), metric_for(), FAST)
    assert result.classes is not None and result.classes.shape == (2, 4)
    assert torch.allclose(result.classes.sum(1), torch.ones(2))


def test_vgg_features_take_gray_and_small_images(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = {}
    c_in = 3
    for b, count in enumerate((2, 2), start=1):
        for i in range(count):
            c_out = 4 * b
            state[f"block{b}.{i}.weight"] = torch.randn(c_out, c_in, 3, 3) * 0.1
            state[f"block{b}.{i}.bias"] = torch.zeros(c_out)
            c_in = c_out
    save_file(state, str(tmp_path / "vgg.safetensors"))
    net = VGG16Features(blocks=2, weights=tmp_path / "vgg.safetensors")
    metric = FeatureMetric(net, 3, 8, "mse", "vgg")
    feats = metric.features(torch.zeros(2, 1, 4, 4))  # gray, 4 px: repeated and enlarged to 8 px
    assert [f.shape for f in feats] == [(2, 4, 8, 8), (2, 8, 4, 4)]
    same = metric.distance(feats, feats)
    assert torch.equal(same, torch.zeros(2))
