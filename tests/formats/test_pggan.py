"""PGGAN checkpoints in their native layouts reproduce the reference implementations' outputs
(tests/fixtures/*/golden.safetensors, made by mGANprior's and pytorch_GAN_zoo's own code), convert
losslessly, refuse broken files in one line, and run the methods."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganprior
from ganprior.checkpoint import load_prior, save_prior
from ganprior.errors import GanpriorError
from ganprior.formats import read_torch_file
from ganprior.formats.pggan import GAN_ZOO
from ganprior.physics import build_operator
from ganprior.solvers import METHODS
from ganprior.solvers.mgan import fuse

FIXTURES = Path(__file__).parent.parent / "fixtures"
MGANPRIOR = FIXTURES / "mganprior_pggan_64" / "pggan_tiny64_generator.pth"
ZOO = FIXTURES / "ganzoo_pgan_32" / "tinypgan32_s3_i96000.pt"
ZOO_LEGACY = FIXTURES / "ganzoo_pgan_32" / "legacy" / "tinypgan32_s3_i96000.pt"


def golden(path: Path) -> dict[str, torch.Tensor]:
    """The goldens of the fixture folder holding ``path`` (or its ``legacy/`` copy)."""
    folder = path.parent if (path.parent / "golden.safetensors").exists() else path.parent.parent
    return load_file(str(folder / "golden.safetensors"))


def assert_close(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    """The fixtures' tolerance: per tensor max |Δ| ≤ 1e-4 · max(1, max |golden|)."""
    for key, value in got.items():
        target = want[key]
        assert value.shape == target.shape, key
        error = (value - target).abs().max().item()
        assert error <= 1e-4 * max(1.0, target.abs().max().item()), f"{key}: max |Δ| {error:.3g}"


def stage_outputs(g, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """g.feat_k for every stage but the last, whose output is g.img."""
    h, out = g.embed(z), {}
    for i in range(g.num_stages):
        h = g.stages[i](h)
        out[f"g.feat_{i}"] = h
    out["g.img"] = out.pop(f"g.feat_{g.num_stages - 1}")
    return out


def test_mganprior_layout_reproduces_the_reference():
    want = golden(MGANPRIOR)
    prior = ganprior.load(MGANPRIOR)
    g = prior.generator
    assert prior.discriminator is None
    assert {k: prior.card[k] for k in ("family", "layout", "resolution", "channels", "latent_dim")} == {
        "family": "PGGAN",
        "layout": "mganprior",
        "resolution": 64,
        "channels": 3,
        "latent_dim": 32,
    }
    assert g.num_stages == 11  # [layer0 … layer9, output4], mGANprior's Sequential
    with torch.no_grad():
        got = stage_outputs(g, want["in.z"])
        assert torch.equal(g(want["in.z"]), got["g.img"])
        got["mz.img"] = fuse(g, want["in.mz_z"], want["in.mz_alpha"], None, 4)
        got["mz.fused_feature"] = (
            (g.synthesize(g.embed(want["in.mz_z"].flatten(0, 1)), 0, 4).unflatten(0, (2, 3)))
            * want["in.mz_alpha"][..., None, None]
        ).mean(1)
    assert_close(got, want)


def interfacegan_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mGANprior's keys as InterFaceGAN's nn.Sequential names them: layer{k+1}, the last ToRGB only."""
    out = {}
    for key, value in state.items():
        if key.startswith("layer"):
            index, rest = key[5:].split(".", 1)
            out[f"layer{int(index) + 1}.{rest}"] = value
        elif key.startswith("output4."):
            out[key.replace("output4", "output_64x64")] = value
    return out


def genforce_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mGANprior's keys as genforce names them: layer{i}.weight / layer{i}.bias, lod a buffer."""
    return {
        k.replace(".conv.weight", ".weight").replace(".wscale.bias", ".bias"): v for k, v in state.items()
    }


def test_interfacegan_and_genforce_layouts_give_the_same_network(tmp_path):
    """Both ports compute what mGANprior's does (same blocks; genforce folds the scale into the
    weight): the mGANprior goldens hold for the same tensors under their key names."""
    want = golden(MGANPRIOR)
    state = torch.load(MGANPRIOR, weights_only=True)
    torch.save(interfacegan_layout(state), tmp_path / "pggan_celebahq.pth")
    decoy = {k: torch.zeros_like(v) for k, v in genforce_layout(state).items()}
    torch.save({"generator": decoy, "generator_smooth": genforce_layout(state)}, tmp_path / "genforce.pth")
    for name, layout in (("pggan_celebahq.pth", "interfacegan"), ("genforce.pth", "genforce")):
        prior = ganprior.load(tmp_path / name)
        assert prior.card["layout"] == layout and prior.card["resolution"] == 64
        with torch.no_grad():
            assert_close(stage_outputs(prior.generator, want["in.z"]), want)
    assert prior.card["generator"] == "generator_smooth"


@pytest.mark.parametrize("path", [ZOO, ZOO_LEGACY], ids=["zipfile", "legacy"])
def test_gan_zoo_layout_reproduces_the_reference(path):
    want = golden(path)
    prior = ganprior.load(path)
    g, d = prior.generator, prior.discriminator
    assert prior.card["layout"] == "pytorch_gan_zoo" and prior.card["generator"] == "avgG"
    assert prior.card["discriminator"] is True and prior.card["resolution"] == 32
    with torch.no_grad():
        got = stage_outputs(g, want["in.z"])
        got["g.norm_z"] = g.stages[0].norm(want["in.z"])
        features = d.features(want["in.d_x"])  # batch 8: two minibatch-stddev groups of 4
        got |= {f"d.out_{i}": f for i, f in enumerate(features)}
        got["d.feature"] = features[-1]
        got["d.logit"] = d(want["in.d_x"])[:, None]
    assert_close(got, want)
    # RGI's generator is avgG, which this fixture makes differ from netG
    assert (got["g.img"] - want["g.img_netG"]).abs().max() > 0.1


def test_layouts_are_recognised_from_the_tensors_not_the_name(tmp_path):
    swapped = tmp_path / MGANPRIOR.name
    shutil.copy(ZOO, swapped)
    assert ganprior.load(swapped).card["layout"] == "pytorch_gan_zoo"
    other = tmp_path / "weights.pt"
    shutil.copy(MGANPRIOR, other)
    assert ganprior.load(other).card["layout"] == "mganprior"


@pytest.mark.parametrize("path", [MGANPRIOR, ZOO])
def test_converted_copy_gives_identical_outputs(path, tmp_path):
    prior = ganprior.load(path)
    save_prior(tmp_path / "converted.safetensors", prior)
    again = load_prior(tmp_path / "converted.safetensors")
    assert again.card == prior.card
    z = torch.randn(3, prior.generator.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(again.generator(z), prior.generator(z))
        if prior.discriminator is not None:
            x = prior.generator(z)
            assert torch.equal(again.discriminator(x), prior.discriminator(x))


@pytest.mark.parametrize("path", [MGANPRIOR, ZOO, ZOO_LEGACY], ids=["mganprior", "zipfile", "legacy"])
@pytest.mark.parametrize("keep", [3, 700, 0.67], ids=["header", "pickle", "tensors"])
def test_a_truncated_download_is_one_clear_line(path, keep, tmp_path):
    data = path.read_bytes()
    cut = tmp_path / path.name
    cut.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(GanpriorError) as info:
        ganprior.load(cut)
    assert "\n" not in str(info.value) and str(cut) in str(info.value)


def test_a_missing_tensor_is_named():
    loaded = read_torch_file(ZOO)
    del loaded["netD"]["decisionLayer.module.weight"]
    with pytest.raises(GanpriorError, match=r"has no 'decisionLayer\.module\.weight'"):
        GAN_ZOO.build(loaded, ZOO)


def test_a_zoo_model_still_growing_is_refused(tmp_path):
    loaded = read_torch_file(ZOO)
    loaded["config"].alpha = 0.5
    with pytest.raises(GanpriorError, match=r"alpha is 0\.5"):
        GAN_ZOO.build(loaded, ZOO)


def test_a_partial_model_or_a_growing_one_is_refused(tmp_path):
    state = torch.load(MGANPRIOR, weights_only=True)
    del state["layer3.conv.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(GanpriorError, match="not numbered"):
        ganprior.load(tmp_path / "partial.pth")
    state = torch.load(MGANPRIOR, weights_only=True)
    state["lod"] = torch.tensor(1.0)
    torch.save(state, tmp_path / "growing.pth")
    with pytest.raises(GanpriorError, match=r"lod is 1\.0"):
        ganprior.load(tmp_path / "growing.pth")


@pytest.mark.parametrize(
    ("path", "method", "options"),
    [
        (MGANPRIOR, "invert", {}),
        (MGANPRIOR, "mgan", {"codes": 3, "layer": 4}),
        (ZOO, "mgan", {"codes": 2, "layer": 6}),
        (ZOO, "dgp", {"metric": "discriminator"}),
    ],
)
def test_methods_run_on_the_tiny_pggans(path, method, options):
    prior = ganprior.load(path)
    g = prior.generator
    with torch.no_grad():
        clean = g(g.sample_latent(2, torch.Generator().manual_seed(7))).clamp(-1, 1)
    operator = build_operator("sr", g.resolution, g.channels, factor=2)
    observation = operator.simulate(clean, torch.Generator().manual_seed(3))
    config = METHODS[method].config
    short = {"steps": 3} | ({"init_samples": 4} if "init_samples" in config.__dataclass_fields__ else {})
    result = METHODS[method].solve(
        prior, observation, operator, config.for_task("sr", prior, **short, **options)
    )
    assert result.image.shape == clean.shape and torch.isfinite(result.image).all()
    assert result.losses.shape[1] == 2 and torch.isfinite(result.losses).all()
    if method == "dgp":  # DGP's feature loss on the checkpoint's own discriminator
        assert result.extras["metric"] == "discriminator" and result.generator_state is not None


def test_dgp_on_a_minibatch_stddev_discriminator_treats_each_image_alone():
    """The zoo's D mixes the batch (minibatch stddev); DGP's features take each image alone, so a
    batch gives what one image at a time gives (the references' batch-1 protocol)."""
    prior = ganprior.load(ZOO)
    g = prior.generator
    with torch.no_grad():
        clean = g(g.sample_latent(2, torch.Generator().manual_seed(7))).clamp(-1, 1)
    operator = build_operator("inpaint", g.resolution, g.channels)
    observation = operator.simulate(clean, torch.Generator().manual_seed(3))
    config = METHODS["dgp"].config.for_task("inpaint", prior, steps=3, init_samples=4, metric="discriminator")
    solve = METHODS["dgp"].solve
    batched = solve(prior, observation, operator, config).image
    single = torch.cat([solve(prior, observation[[i]], operator.select([i]), config).image for i in range(2)])
    assert torch.allclose(batched, single, atol=1e-4)
