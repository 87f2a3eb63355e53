"""The model options of every command (``commands.common``): a generator's run-time options
(--latent-space, --truncation, --noise) reach it and a converted file, a generator without one
refuses it in one line, and --discriminator gives a generator a D from another file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganprior
from ganprior import edit
from ganprior.errors import GanpriorError
from test_cli import run

FIXTURES = Path(__file__).parent / "fixtures"
STYLEGAN2 = FIXTURES / "rosinality_sg2_32" / "stylegan2-tiny32.pt"
BIGGAN_DEEP = FIXTURES / "hf_biggan_deep_128" / "biggan_deep" / "pytorch_model.bin"
BIGGAN, BIGGAN_D = FIXTURES / "dgp_biggan_128" / "G_ema_128.pth", FIXTURES / "dgp_biggan_128" / "D_128.pth"
PGGAN = FIXTURES / "mganprior_pggan_64" / "pggan_tiny64_generator.pth"


def inspected(args, capsys) -> dict:
    """``ganprior inspect ARGS --json``: the summary and card."""
    code, stdout, err = run(["inspect", *args, "--json"], capsys)
    assert code == 0, err
    return json.loads(stdout)


@pytest.mark.parametrize(("space", "latent_dim"), [("z", 32), ("w", 32), ("w+", 256)])
def test_latent_space_sets_what_the_solvers_optimise(space, latent_dim, capsys):
    shown = inspected([STYLEGAN2, "--latent-space", space], capsys)
    assert shown["summary"]["latent_dim"] == shown["card"]["latent_dim"] == latent_dim
    assert shown["card"]["latent_space"] == space


def test_truncation_and_noise_reach_the_generator_and_a_converted_file(tmp_path, capsys):
    options = ["--latent-space", "z", "--truncation", "0.7", "--noise", "random"]
    card = inspected([STYLEGAN2, *options], capsys)["card"]
    assert (card["truncation"], card["noise"]) == (0.7, "random")
    out = tmp_path / "sg2.safetensors"
    assert run(["convert", STYLEGAN2, out, *options[:4]], capsys)[0] == 0  # noise stays fixed
    converted, native = ganprior.load(out).generator, ganprior.load(STYLEGAN2).generator
    native.configure(latent_space="z", truncation=0.7)
    assert (converted.latent_space, converted.truncation, converted.noise) == ("z", 0.7, "fixed")
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(converted(z), native(z))
    deep = inspected([BIGGAN_DEEP, "--truncation", "0.9"], capsys)["card"]
    assert deep["truncation"] == 0.9


@pytest.mark.parametrize(
    ("model", "option", "expected"),
    [
        (BIGGAN, ["--latent-space", "w"], "takes no latent-space option (its run-time options: none)"),
        (PGGAN, ["--noise", "random"], "takes no noise option (its run-time options: none)"),
        (BIGGAN_DEEP, ["--noise", "fixed"], "takes no noise option (its run-time options: truncation)"),
        (BIGGAN_DEEP, ["--truncation", "1.5"], "truncation must be in (0, 1], got 1.5"),
        (None, ["--truncation", "0.5"], "takes no truncation option"),
        (None, ["--discriminator", BIGGAN_D], "is a 128 px, 3-channel, 10-class discriminator"),
        (BIGGAN_DEEP, ["--discriminator", PGGAN], "holds no discriminator"),
    ],
    ids=["biggan-latent", "pggan-noise", "deep-noise", "deep-psi", "dcgan-psi", "d-mismatch", "no-d"],
)
def test_family_options_a_generator_lacks_are_one_line(model, option, expected, tiny_checkpoint, capsys):
    code, _, err = run(["inspect", model or tiny_checkpoint, *option], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_discriminator_attaches_a_d_to_a_generator_without_one(tmp_path, capsys):
    shown = inspected([BIGGAN_DEEP, "--discriminator", BIGGAN_D], capsys)
    assert shown["summary"]["discriminator"] and shown["card"]["discriminator_source"] == str(BIGGAN_D)
    out = tmp_path / "deep_with_d.safetensors"
    assert run(["convert", BIGGAN_DEEP, out, "--discriminator", BIGGAN], capsys)[0] == 0  # D beside the G
    borrowed, own = ganprior.load(out).discriminator, ganprior.load(BIGGAN).discriminator
    x, y = (
        torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)) * 2 - 1,
        torch.tensor([1, 4]),
    )
    with torch.no_grad():
        assert torch.equal(borrowed(x, y), own(x, y))


def test_a_reconstruction_in_one_latent_space_is_refused_in_another(tmp_path):
    prior = ganprior.load(STYLEGAN2)  # W+
    with torch.no_grad():
        images = prior.generator(prior.generator.sample_latent(1, torch.Generator().manual_seed(0)))
    rec = edit.Reconstruction({}, torch.zeros(1, 256), None, images)
    path = rec.save(tmp_path / "a.safetensors", prior, images[0], {"method": "invert"})
    assert edit.Reconstruction.load([path], prior)[0].latent.shape == (1, 256)
    with pytest.raises(GanpriorError, match=r"latent of size 256, the model's is 32: .* --latent-space"):
        edit.Reconstruction.load([path], prior.configure(latent_space="w"))
