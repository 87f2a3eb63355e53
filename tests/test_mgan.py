"""mGANprior on tiny random generators: exact reduction to plain inversion, the multi-code gain,
batch independence, masked loss, class-conditional generators and the restore entry point."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ganprior.checkpoint import Prior
from ganprior.cli import main
from ganprior.imageio import save_image
from ganprior.models import DCGANGenerator, SNGANGenerator
from ganprior.physics import Mask, Operator
from ganprior.pipeline import restore
from ganprior.semantic import brightness, change_rate, find_direction, fit_direction, move, size
from ganprior.solvers import InvertConfig, invert
from ganprior.solvers.mgan import TASK_PRESETS, MGANConfig, composition_stage, fuse, mgan


def tiny_dcgan(seed: int = 0) -> DCGANGenerator:
    """A 16×16 gray DCGAN whose random weights are large enough for its samples to differ (std ~0.4)."""
    torch.manual_seed(seed)
    g = DCGANGenerator(resolution=16, nz=8, ngf=8, nc=1).eval()
    for module in g.modules():
        if isinstance(module, nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, 0.2)
    return g


def test_one_code_with_alpha_fixed_to_one_is_plain_inversion() -> None:
    g = tiny_dcgan()
    target = g(torch.randn(3, 8)).detach()
    plain = invert(g, target, Operator(), InvertConfig(steps=15, init_samples=20))
    config = MGANConfig(steps=15, init_samples=20, codes=1, alpha_init=1.0, learn_alpha=False, layer=1)
    multi = mgan(g, target, Operator(), config)
    assert torch.equal(multi.image, plain.image)
    assert torch.equal(multi.latent[:, 0], plain.latent)
    assert torch.equal(multi.losses, plain.losses)


def test_identical_codes_with_unit_alpha_give_the_generator_output() -> None:
    g = tiny_dcgan()
    z = torch.randn(2, 8)
    codes = z[:, None].expand(-1, 4, -1)
    alpha = torch.ones(2, 4, 16)  # stage 1 of the tiny DCGAN takes 16 channels
    assert torch.allclose(fuse(g, codes, alpha, None, 1), g(z), atol=1e-6)


def test_many_codes_fit_an_out_of_range_image_better_than_one() -> None:
    g = tiny_dcgan()
    ramp = torch.linspace(-0.8, 0.8, 16)
    target = torch.stack([ramp[None, :] * ramp[:, None], ramp[None, :].expand(16, -1)])[:, None]
    config = MGANConfig(steps=80, init_samples=50, codes=8, layer=2)
    single = invert(g, target, Operator(), InvertConfig(steps=80, init_samples=50))
    multi = mgan(g, target, Operator(), config)
    assert (multi.losses[-1] < 0.5 * single.losses[-1]).all()


def test_a_batch_gives_the_same_numbers_as_one_image_at_a_time() -> None:
    g = tiny_dcgan()
    target = g(torch.randn(2, 8)).detach()
    config = MGANConfig(steps=10, init_samples=10, codes=3, layer=2)
    both = mgan(g, target, Operator(), config)
    alone = mgan(g, target[:1], Operator(), config)  # image 0 draws the same start codes
    assert torch.allclose(both.latent[:1], alone.latent, atol=1e-5)
    assert torch.allclose(both.losses[:, :1], alone.losses, rtol=1e-4, atol=1e-7)


def test_inpainting_ignores_the_hole() -> None:
    g = tiny_dcgan()
    clean = g(torch.randn(2, 8)).detach()
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 0
    operator = Mask(mask)
    config = MGANConfig(steps=10, init_samples=10, codes=4, layer=2)
    a = mgan(g, clean * mask, operator, config)
    b = mgan(g, clean * mask + (1 - mask) * torch.rand_like(clean), operator, config)
    assert torch.equal(a.image, b.image)


def test_class_conditional_generator_and_negative_stage() -> None:
    torch.manual_seed(0)
    g = SNGANGenerator(
        resolution=8, channels=3, latent_dim=6, num_classes=3, class_dim=4, width=8, min_width=8
    ).eval()
    target = g(torch.randn(2, 6), torch.tensor([0, 2])).detach()
    result = mgan(g, target, Operator(), MGANConfig(steps=5, init_samples=10, codes=2, layer=-1))
    assert composition_stage(g, -1) == g.num_stages - 1
    assert result.latent.shape == (2, 2, 6)
    assert result.extras["alpha"].shape == (2, 2, 8)
    assert result.classes is not None and result.classes.shape == (2, 3)
    with pytest.raises(ValueError):
        composition_stage(g, g.num_stages)


def test_restore_runs_mgan_for_every_task() -> None:
    g = DCGANGenerator(resolution=16, nz=8, ngf=8, nc=3).eval()
    prior = Prior("tiny", g)
    clean = g(torch.randn(2, 8)).detach()
    for task in ("inpaint", "colorize", "sr", "denoise"):
        out = restore(prior, clean, task, "mgan", simulate=True, steps=2, factor=2)
        assert out.restored.shape == clean.shape
        assert out.result.latent.shape == (2, TASK_PRESETS[task]["codes"], 8)


def test_fit_direction_recovers_a_planted_linear_attribute() -> None:
    rng = torch.Generator().manual_seed(0)
    z = torch.randn(600, 8, generator=rng)
    planted = torch.nn.functional.normalize(torch.randn(8, generator=rng), dim=0)
    direction = fit_direction(z, z @ planted + 0.1 * torch.randn(600, generator=rng))
    assert float(direction.normal @ planted) > 0.9
    assert direction.accuracy > 0.9


def test_measured_attributes_and_change_rate() -> None:
    dark, light = torch.full((1, 3, 8, 8), -0.8), torch.full((1, 3, 8, 8), 0.6)
    assert brightness(dark) < brightness(light)
    blob = torch.full((1, 1, 8, 8), -1.0)
    blob[..., 2:6, 2:6] = 1
    assert torch.isclose(size(blob), torch.tensor(16 / 64))
    scores = torch.tensor([[0.1, 0.2, 0.3], [0.5, 0.2, 0.1]])  # image 0 moves as asked, image 1 backwards
    assert change_rate(scores, [-1, 0, 1]) == 0.5


def test_moving_codes_along_a_brightness_direction_changes_brightness() -> None:
    g = tiny_dcgan()
    direction = find_direction(g, brightness, samples=400)
    target = g(torch.randn(3, 8, generator=torch.Generator().manual_seed(1))).detach()
    result = mgan(g, target, Operator(), MGANConfig(steps=10, init_samples=20, codes=3, layer=2))
    frames = move(g, result.latent, None, direction, [-2.0, 0.0, 2.0], result.extras["alpha"], 2)
    scores = brightness(frames.flatten(0, 1)).view(3, 3)
    assert change_rate(scores, [-2.0, 0.0, 2.0]) >= 5 / 6


def test_edit_direction_command(tiny_checkpoint, tmp_path) -> None:
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 16, 16) * 2 - 1, image)
    out = tmp_path / "out"
    common = ["--model", str(tiny_checkpoint), "--steps", "2", "--samples", "40", "--out", str(out)]
    assert main(["edit", "direction", str(image), "--attribute", "brightness", *common]) == 0
    assert (out / "direction.png").exists() and (out / "direction.json").exists()
    assert main(["edit", "direction", str(image), "--attribute", "class:1", *common, "--overwrite"]) == 2


def test_restore_command_takes_mgan_options(tiny_checkpoint, tmp_path) -> None:
    image = tmp_path / "in.png"
    save_image(torch.rand(3, 16, 16) * 2 - 1, image)
    common = [str(image), "--model", str(tiny_checkpoint), "--task", "denoise", "--simulate", "--steps", "2"]
    options = ["--method-option", "codes=3", "--method-option", "layer=1"]
    assert main(["restore", *common, "--method", "mgan", *options, "--out", str(tmp_path / "a")]) == 0
    report = json.loads((tmp_path / "a" / "in.json").read_text())
    assert report["settings"]["method_option"] == ["codes=3", "layer=1"]
    bad_stage = ["--method-option", "layer=9"]
    assert main(["restore", *common, "--method", "mgan", *bad_stage, "--out", str(tmp_path / "b")]) == 2
    unknown = ["--method-option", "colour=1"]
    assert main(["restore", *common, "--method", "mgan", *unknown, "--out", str(tmp_path / "c")]) == 2
    assert main(["restore", *common, "--method", "invert", *options, "--out", str(tmp_path / "d")]) == 2


def test_a_conditional_generator_gets_a_direction_over_latent_and_class() -> None:
    torch.manual_seed(0)
    g = SNGANGenerator(
        resolution=8, channels=1, latent_dim=6, num_classes=3, class_dim=4, width=8, min_width=8
    )
    g.eval()

    def is_class_2(images: torch.Tensor) -> torch.Tensor:  # a stand-in classifier: reads the label back
        return (
            (images - g(torch.zeros(len(images), 6), torch.full((len(images),), 2)))
            .abs()
            .mean((1, 2, 3))
            .neg()
        )

    direction = find_direction(g, is_class_2, samples=300)
    assert direction.normal.shape == (6 + 3,)
    assert int(direction.normal[6:].argmax()) == 2
    frames = move(g, torch.zeros(2, 6), torch.eye(3)[[0, 1]], direction, [0.0, 1.0])
    assert frames.shape == (2, 2, 1, 8, 8)


@pytest.mark.parametrize(("task", "side"), [("inpaint", 8), ("colorize", 8), ("sr", 16), ("edit", 16)])
def test_presets_on_a_larger_generator_compose_at_the_reference_feature_side(task: str, side: int) -> None:
    big = DCGANGenerator(resolution=128, nz=8, ngf=2, nc=1).eval()  # stages' inputs: 1, 4, 8, ..., 64 px
    prior = Prior("big", big, None, {"name": "big"})
    stage = MGANConfig.for_task(task, prior).layer
    z = torch.randn(1, 8)
    entering = big.synthesize(big.embed(z, None), 0, stage, big.stage_contexts(z, None))
    assert entering.shape[-1] == side
    small = Prior("small", tiny_dcgan(), None, {"name": "small"})  # the measured negative ℓ stay
    assert MGANConfig.for_task(task, small).layer == TASK_PRESETS[task]["layer"]
