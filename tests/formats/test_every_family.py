"""Every family × every method, detector, edit and CLI command, on the native fixture files.

Each family's tiny checkpoint in ``tests/fixtures`` (the reference code's own file: BigGAN with its D
beside it, BigGAN-deep, two PGGAN layouts, StyleGAN2) is loaded through ``zoo.load`` and runs:
every registered method through ``ganprior.restore`` on two of its tasks (a few steps, a small
latent search), ``ganprior.calibrate`` + ``ganprior.detect`` with every detector, the DGP edit tools
(reconstruct, jitter, morph, and category transfer on the class-conditional families), mGANprior's
attribute directions, and
``ganprior inspect`` / ``convert``. A family without a discriminator takes DGP's VGG16 fallback,
here a cheap stand-in (``conftest.cheap_vgg_metric``) so that nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import pytest
import torch
from torch import Tensor

import ganprior
from conftest import cheap_vgg_metric
from ganprior import edit, features, semantic, zoo
from ganprior.anomaly import DETECTORS
from ganprior.checkpoint import Prior
from ganprior.errors import GanpriorError
from ganprior.physics import Operator
from ganprior.solvers import METHODS
from ganprior.solvers.mgan import mgan
from test_cli import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAMILIES = {
    "dgp_biggan_128": FIXTURES / "dgp_biggan_128" / "G_ema_128.pth",
    "hf_biggan_deep_128": FIXTURES / "hf_biggan_deep_128" / "biggan_deep" / "pytorch_model.bin",
    "mganprior_pggan_64": FIXTURES / "mganprior_pggan_64" / "pggan_tiny64_generator.pth",
    "ganzoo_pgan_32": FIXTURES / "ganzoo_pgan_32" / "tinypgan32_s3_i96000.pt",
    "rosinality_sg2_32": FIXTURES / "rosinality_sg2_32" / "stylegan2-tiny32.pt",
}
EXPECTED = {  # family, resolution, classes, D present: what each file is
    "dgp_biggan_128": ("BigGAN", 128, 10, True),
    "hf_biggan_deep_128": ("BigGAN-deep", 128, 10, False),
    "mganprior_pggan_64": ("PGGAN", 64, 0, False),
    "ganzoo_pgan_32": ("PGGAN", 32, 0, True),
    "rosinality_sg2_32": ("StyleGAN2", 32, 0, True),
}
STEPS = 2
RRGI_STEPS = 3  # R-RGI's inpainting preset fine-tunes G from 75% of the steps: step 2 of 3
SEARCH = {"init_samples": 2}
OPTIONS = {"mgan": SEARCH | {"codes": 2}, "dip": {"width": 8}}
"""Per method, beyond ``STEPS``: a 2-sample latent search (mGANprior: 2 codes; DIP: a narrow net); the task presets
otherwise (mGANprior's composition stage, DGP's schedule and feature network, RGI's λ)."""


@functools.cache
def load(family: str) -> Prior:
    """The family's native file through ``zoo.load`` (loaded once per test session)."""
    return zoo.load(FAMILIES[family])


@functools.cache
def clean_images(family: str) -> Tensor:
    """Two of the generator's own images (2, C, R, R) in [-1, 1] (classes 2 and 5 when conditional)."""
    g = load(family).generator
    labels = torch.tensor([2, 5]) if g.num_classes else None
    with torch.no_grad():
        return g(g.sample_latent(2, torch.Generator().manual_seed(1)), labels).clamp(-1, 1)


def own_weights(prior: Prior) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in prior.generator.named_parameters()}


@pytest.fixture(autouse=True)
def no_vgg_download(monkeypatch):
    monkeypatch.setattr(features, "vgg_metric", cheap_vgg_metric)


def test_every_fixture_file_is_what_it_says():
    for family, (name, resolution, classes, has_d) in EXPECTED.items():
        prior = load(family)
        assert prior.card["family"] == name, family
        g = prior.generator
        assert (g.resolution, g.num_classes, prior.discriminator is not None) == (resolution, classes, has_d)


def method_tasks(method: str) -> tuple[str, ...]:
    """Two tasks per method: mask-free inpainting and reconstruction (RGI, R-RGI), else inpaint and ×2 SR."""
    return METHODS[method].tasks or ("inpaint", "sr")


@pytest.mark.parametrize(
    ("method", "task"), [(m, t) for m in METHODS for t in method_tasks(m)], ids=lambda v: str(v)
)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_method_restores_on_every_family(family, method, task):
    prior, images = load(family), clean_images(family)
    before = own_weights(prior)
    out = ganprior.restore(
        prior,
        images,
        task,
        method,
        simulate=True,
        steps=RRGI_STEPS if method == "rrgi" else STEPS,
        factor=2,
        options=OPTIONS.get(method, SEARCH),
    )
    result = out.result
    assert out.restored.shape == out.raw.shape == images.shape
    assert torch.isfinite(out.raw).all() and torch.isfinite(out.restored).all()
    assert result.losses.shape[1] == 2 and len(result.losses) >= 1 and torch.isfinite(result.losses).all()
    assert torch.isfinite(out.metrics["psnr"]).all()
    if METHODS[method].mask_free:  # it found the corrupted pixels itself
        assert result.mask is not None and result.mask.shape == (2, 1, *images.shape[-2:])
    if method == "dgp":  # the checkpoint's D where it has one, else the VGG16 fallback (stand-in)
        assert result.extras["metric"] == ("discriminator" if prior.discriminator else "vgg16 stand-in")
    if METHODS[method].relaxed:  # each image's own copy of G moved; G itself did not
        assert result.generator_state is not None
        for i in range(2):
            assert any(not torch.equal(v[i], before[k]) for k, v in result.generator_state.items()), i
    after = own_weights(prior)
    assert all(torch.equal(after[k], v) for k, v in before.items())


def defective(images: Tensor) -> Tensor:
    """The images with a bright square in the middle of the second one."""
    side = images.shape[-1]
    out = images.clone()
    out[1, :, side // 4 : side // 2, side // 4 : side // 2] = 1.0
    return out


@pytest.mark.parametrize("method", DETECTORS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_calibrate_and_detect_on_every_family(family, method):
    prior, images = load(family), clean_images(family)
    calibration = ganprior.calibrate(prior, images, method, steps=STEPS, options=SEARCH)
    assert calibration["threshold"] >= 0 and (method == "residual" or calibration["lambda"] > 0)
    found = ganprior.detect(prior, defective(images), method, calibration, steps=STEPS, options=SEARCH)
    side = images.shape[-1]
    assert found.maps.shape == found.masks.shape == (2, 1, side, side) and torch.isfinite(found.maps).all()
    assert set(found.masks.unique().tolist()) <= {0.0, 1.0}
    assert found.scores.shape == (2,) and torch.isfinite(found.scores).all()
    assert found.reconstruction.shape == images.shape and torch.isfinite(found.reconstruction).all()


def test_an_unknown_detector_option_is_one_line():
    with pytest.raises(GanpriorError, match="detector rgi has no option 'codes'"):
        ganprior.detect(
            load("ganzoo_pgan_32"),
            clean_images("ganzoo_pgan_32"),
            "rgi",
            {"threshold": 0.5},
            options={"codes": 2},
        )


@pytest.mark.parametrize("family", list(FAMILIES))
def test_edit_tools_on_every_family(family):
    prior, images = load(family), clean_images(family)
    g = prior.generator
    rec = edit.reconstruct(prior, images, steps=STEPS, options=SEARCH)
    assert rec.image.shape == images.shape and torch.isfinite(rec.image).all()
    assert (rec.classes is not None) == bool(g.num_classes)
    shape = images.shape[1:]
    jittered = edit.jitter(prior, rec, [0.0, 0.5], count=2)
    assert jittered.shape == (2, 2, 2, *shape) and torch.isfinite(jittered).all()
    assert torch.allclose(jittered[:, 0, 0], rec.image, atol=1e-4)  # σ = 0 renders the reconstruction
    assert not torch.allclose(jittered[:, 1, 0], jittered[:, 1, 1])
    frames = edit.morph(prior, rec, frames=3)
    assert frames.shape == (3, *shape) and torch.allclose(frames[[0, 2]], rec.image, atol=1e-4)
    if g.num_classes:
        moved = edit.transfer(prior, rec, [0, 9])
        assert moved.shape == (2, 2, *shape) and not torch.allclose(moved[:, 0], moved[:, 1])
    else:
        with pytest.raises(GanpriorError, match="needs a class-conditional model"):
            edit.transfer(prior, rec, [0])


@pytest.mark.parametrize("family", list(FAMILIES))
def test_attribute_directions_on_every_family(family):
    prior, images = load(family), clean_images(family)
    config = dataclasses.replace(semantic.reconstruct_config(prior, STEPS), **OPTIONS["mgan"])
    rec = mgan(prior.generator, images, Operator(), config)  # the edit preset, a small search
    edited = semantic.edit_attribute(prior, rec, semantic.brightness, [-2.0, 0.0, 2.0], samples=40)
    assert edited.frames.shape == (2, 3, *images.shape[1:]) and torch.isfinite(edited.frames).all()
    assert torch.allclose(edited.frames[:, 1], rec.image, atol=1e-4)  # strength 0: the reconstruction
    assert not torch.allclose(edited.frames[:, 0], edited.frames[:, 2])  # the codes moved


@pytest.mark.parametrize("family", list(FAMILIES))
def test_inspect_prints_what_each_native_file_holds(family, capsys):
    code, stdout, err = run(["inspect", FAMILIES[family]], capsys)
    assert code == 0, err
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in stdout.splitlines())
    name, resolution, classes, has_d = EXPECTED[family]
    g = load(family).generator
    assert (fields["family"], fields["resolution"], fields["classes"]) == (
        name,
        str(resolution),
        str(classes),
    )
    assert fields["discriminator"] == ("yes" if has_d else "no")
    assert fields["latent dim"] == f"{g.latent_dim:,}" and fields["stages"] == str(g.num_stages)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_convert_gives_identical_generator_and_discriminator(family, tmp_path, capsys):
    out = tmp_path / f"{family}.safetensors"
    code, _, err = run(["convert", FAMILIES[family], out], capsys)
    assert code == 0, err
    native, converted = load(family), zoo.load(out)
    assert converted.card["converted_from"]["file"] == FAMILIES[family].name
    g = native.generator
    z = g.sample_latent(2, torch.Generator().manual_seed(5))
    labels = torch.tensor([1, 7]) if g.num_classes else None
    with torch.no_grad():
        assert torch.equal(converted.generator(z, labels), g(z, labels))
        assert (converted.discriminator is None) == (native.discriminator is None)
        if native.discriminator is not None:
            x = clean_images(family)
            assert torch.equal(converted.discriminator(x, labels), native.discriminator(x, labels))
