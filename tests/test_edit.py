"""Editing through DGP reconstructions: jitter, morphing and category transfer, library and CLI."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganprior import edit
from ganprior.checkpoint import Prior, load_prior, save_prior
from ganprior.cli import main
from ganprior.errors import GanpriorError
from ganprior.imageio import save_image
from ganprior.models import SNGANDiscriminator, SNGANGenerator


def tiny_prior(num_classes: int = 3) -> Prior:
    torch.manual_seed(0)
    g = SNGANGenerator(16, 3, latent_dim=8, num_classes=num_classes, class_dim=4, width=16, min_width=8)
    d = SNGANDiscriminator(16, 3, num_classes=num_classes, width=8, max_width=16)
    card = {"name": "tiny", "classes": [f"c{i}" for i in range(num_classes)]}
    return Prior("tiny", g.eval(), d.eval(), card).eval()


@pytest.fixture
def reconstruction():
    prior = tiny_prior()
    with torch.no_grad():
        images = prior.generator(torch.randn(2, 8), torch.tensor([0, 2]))
    return prior, edit.reconstruct(prior, images, steps=6)


def test_jitter_sigma_zero_is_the_reconstruction(reconstruction):
    prior, rec = reconstruction
    out = edit.jitter(prior, rec, [0.0, 0.5], count=3)
    assert out.shape == (2, 2, 3, 3, 16, 16)
    assert torch.allclose(out[:, 0], rec.image[:, None].expand_as(out[:, 0]), atol=1e-5)
    assert (out[:, 1] - rec.image[:, None]).abs().mean() > 1e-3  # σ > 0 moves the image


def test_morph_ends_are_the_two_reconstructions(reconstruction):
    prior, rec = reconstruction
    frames = edit.morph(prior, rec, frames=5)
    assert frames.shape == (5, 3, 16, 16)
    assert torch.allclose(frames[0], rec.image[0], atol=1e-5)
    assert torch.allclose(frames[-1], rec.image[1], atol=1e-5)
    assert not torch.allclose(frames[2], frames[0], atol=1e-3)


def test_transfer_to_the_own_class_is_the_reconstruction(reconstruction):
    prior, rec = reconstruction
    out = edit.transfer(prior, rec, [0, 1, 2])
    assert out.shape == (2, 3, 3, 16, 16)
    own = rec.classes.argmax(1)
    for i in range(2):
        assert torch.allclose(out[i, own[i]], rec.image[i], atol=1e-5)
    with pytest.raises(GanpriorError, match="does not exist"):
        edit.transfer(prior, rec, [5])
    with pytest.raises(GanpriorError, match="class-conditional"):
        edit.transfer(tiny_prior(0), rec, [0])


def test_cli_writes_the_galleries(tmp_path):
    prior = tiny_prior()
    model = tmp_path / "tiny.safetensors"
    save_prior(model, prior)
    with torch.no_grad():
        images = prior.generator(torch.randn(2, 8), torch.tensor([1, 2]))
    paths = [save_image(img, tmp_path / f"in{i}.png") for i, img in enumerate(images)]
    common = ["--model", str(model), "--steps", "3"]
    assert (
        main(["edit", "jitter", str(paths[0]), *common, "--samples", "2", "--out", str(tmp_path / "j")]) == 0
    )
    assert Image.open(tmp_path / "j" / "jitter_000.png").size[0] > 16 * 4
    assert (
        main(["edit", "morph", *map(str, paths), *common, "--frames", "4", "--out", str(tmp_path / "m")]) == 0
    )
    assert Image.open(tmp_path / "m" / "morph.gif").n_frames >= 4
    assert (tmp_path / "m" / "morph.png").exists()
    assert main(["edit", "transfer", str(paths[1]), *common, "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "transfer.png").exists()
    assert main(["edit", "morph", *map(str, paths), *common, "--out", str(tmp_path / "m")]) == 2  # not empty


def test_a_saved_reconstruction_edits_like_a_fresh_fit(tmp_path):
    """`restore --task reconstruct --method dgp` then `edit ... NAME_latent.safetensors` gives the
    same reconstruction (latent, class, tuned weights) as `edit` fitting the image itself."""
    prior = tiny_prior()
    model = tmp_path / "tiny.safetensors"
    save_prior(model, prior)
    with torch.no_grad():
        images = prior.generator(torch.randn(2, 8), torch.tensor([1, 2]))
    paths = [str(save_image(img, tmp_path / f"in{i}.png")) for i, img in enumerate(images)]
    common = ["--model", str(model), "--steps", "4"]
    assert (
        main(
            [
                "restore",
                *paths,
                "--task",
                "reconstruct",
                "--method",
                "dgp",
                *common,
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    saved = [str(tmp_path / "r" / f"in{i}_latent.safetensors") for i in range(2)]
    loaded = load_prior(model)  # the prior as the CLI loads it
    rec, inputs = edit.Reconstruction.load(saved, loaded)
    fresh = edit.reconstruct(loaded, inputs, steps=4)
    assert torch.equal(rec.latent, fresh.latent) and torch.equal(rec.classes, fresh.classes)
    assert rec.state.keys() == fresh.state.keys()
    assert all(torch.equal(rec.state[k], fresh.state[k]) for k in rec.state)
    assert main(["edit", "morph", *saved, *common, "--frames", "3", "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "morph.gif").exists()
    assert main(["edit", "jitter", saved[0], paths[0], *common, "--out", str(tmp_path / "x")]) == 2  # mixed


def test_a_reconstruction_is_refused_by_another_model_or_when_multi_code(tmp_path):
    prior = tiny_prior()
    with torch.no_grad():
        images = prior.generator(torch.randn(1, 8), torch.tensor([1]))
    rec = edit.Reconstruction({}, torch.zeros(1, 8), None, images)
    path = rec.save(tmp_path / "a.safetensors", prior, images[0], {"method": "invert"})
    other = tiny_prior(num_classes=2)
    with pytest.raises(GanpriorError, match="made with model"):
        edit.Reconstruction.load([path], Prior("other", other.generator, None, {}))
    multi = edit.Reconstruction({}, torch.zeros(1, 4, 8), None, images)
    path = multi.save(tmp_path / "b.safetensors", prior, images[0], {"method": "mgan"})
    with pytest.raises(GanpriorError, match="multi-code"):
        edit.Reconstruction.load([path], prior)
