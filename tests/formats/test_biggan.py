"""BigGAN (ajbrock / DGP G and D, TFHub conversion) and BigGAN-deep (huggingface): the native files
load through ``zoo.load`` from their tensors alone and reproduce the reference's outputs
(``tests/fixtures/*/golden.safetensors``: per tensor max|Δ| ≤ 1e-4 · max(1, max|golden|), the
fixtures' README), round-trip through ganprior files, and run the methods."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import Tensor

from ganprior import zoo
from ganprior.checkpoint import Prior, load_prior, save_prior
from ganprior.edit import Reconstruction, morph, transfer
from ganprior.errors import GanpriorError
from ganprior.formats.biggan import attach_discriminator
from ganprior.models import BigGANDeepGenerator, BigGANGenerator
from ganprior.models import biggan as biggan_models
from ganprior.models import biggan_deep as deep_models
from ganprior.physics import Corruption, Operator, build_operator, center_box
from ganprior.solvers import METHODS, Result
from ganprior.solvers.dgp import DGPConfig, parameter_groups
from ganprior.solvers.dgp import solve as dgp_solve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DGP = FIXTURES / "dgp_biggan_128"
HF = FIXTURES / "hf_biggan_deep_128"


def assert_golden(name: str, out: Tensor, golden: dict[str, Tensor]) -> None:
    ref = golden[name]
    err = (out.reshape(ref.shape) - ref).abs().max().item()
    assert err <= 1e-4 * max(1.0, ref.abs().max().item()), f"{name}: max |diff| {err:.3g}"


@pytest.fixture(scope="module")
def biggan() -> Prior:
    return zoo.load(DGP / "G_ema_128.pth")


@pytest.fixture(scope="module")
def deep() -> Prior:
    return zoo.load(HF / "biggan_deep" / "pytorch_model.bin")


def biggan_outputs(prior: Prior, golden: dict[str, Tensor]) -> dict[str, Tensor]:
    """What the reference's calls (config.json → calls) give, computed with our modules."""
    g, d = prior.generator, prior.discriminator
    z, y, x = golden["in.z"], golden["in.y"], golden["in.d_x"]
    out = {"g.shared_y": g.class_embedding(y, 2), "g.img": g(z, y)}
    h, contexts = g.embed(z, y), g.stage_contexts(z, y)
    for k in range(g.num_stages - 1):
        h = g.synthesize(h, k, k + 1, contexts)
        out[f"g.feat_{k}"] = h
    out["d.logit"], out["d.logit_proj"] = d(x), d(x, golden["in.d_y"])
    out |= {f"d.out_{k}": f for k, f in enumerate(d.features(x))}
    raw = []
    hook = d.blocks[-1][-1].register_forward_hook(lambda m, i, o: raw.append(o))
    d.features(x)
    hook.remove()
    out["d.last_block_before_inplace_relu"] = raw[0]
    return out


def test_dgp_biggan_reproduces_every_golden(biggan):
    golden = load_file(DGP / "golden.safetensors")
    assert biggan.discriminator is not None
    with torch.no_grad():
        out = biggan_outputs(biggan, golden)
    assert set(out) == {k for k in golden if not k.startswith("in.")}
    for name, value in out.items():
        assert_golden(name, value, golden)


def test_biggan_card_and_stages_follow_dgp(biggan):
    g = biggan.generator
    card = biggan.card
    assert (card["family"], card["layout"], card["resolution"], card["latent_dim"]) == (
        "BigGAN",
        "BigGAN-PyTorch / DGP",
        128,
        24,
    )
    assert (
        card["classes"] == 10 and card["discriminator"] and card["discriminator_source"].endswith("D_128.pth")
    )
    groups = parameter_groups(g)  # DGP's get_params(0 … blocks + 1)
    assert len(groups) == 7 and "shared.weight" in groups[0] and "stages.0.linear.weight" in groups[0]
    assert any(".attention." in name for name in groups[3]) and all(
        n.startswith("stages.6.") for n in groups[6]
    )


def test_soft_class_vectors_mix_the_shared_embedding(biggan):
    g = biggan.generator
    z = torch.randn(2, g.latent_dim)
    labels = torch.tensor([1, 4])
    onehot = torch.nn.functional.one_hot(labels, 10).float()
    with torch.no_grad():
        assert torch.equal(g(z, onehot), g(z, labels))
        mix = 0.5 * onehot + 0.5 * torch.nn.functional.one_hot(torch.tensor([7, 2]), 10).float()
        contexts = g.stage_contexts(z, mix)
        expected = 0.5 * (g.shared.weight[[1, 4]] + g.shared.weight[[7, 2]])
        assert torch.allclose(contexts[1][:, : expected.shape[1]], expected, atol=1e-6)
        assert torch.equal(g(z, mix), g.synthesize(g.embed(z, mix), contexts=contexts))


def test_biggan_deep_reproduces_every_golden():
    golden = load_file(HF / "golden.safetensors")
    truncations = json.loads((HF / "config.json").read_text())["inputs"]["truncations"]
    prior = zoo.load(HF / "biggan_deep" / "pytorch_model.bin")
    g, c = prior.generator, golden["in.class_vector"]
    out = {}
    with torch.no_grad():
        for j, t in enumerate(truncations):
            g.truncation = t
            out[f"t{j}.g.img"] = g(golden[f"in.z_t{j}"], c)
        g.truncation = truncations[0]
        z = golden["in.z_t0"]
        out["t0.g.embed"] = g.embeddings(c)
        out["t0.g.gen_z_raw"] = g.stages[0].gen_z(g.embed(z, c))
        h, contexts = g.embed(z, c), g.stage_contexts(z, c)
        for k in range(g.num_stages - 1):
            h = g.synthesize(h, k, k + 1, contexts)
            out[f"t0.g.feat_{k}"] = h
        g.train()  # the reference's README quirk: train mode runs one power iteration per SN layer
        out["t0.g.img_train_mode_first_call"] = g(z, c)
    assert set(out) == {k for k in golden if not k.startswith("in.")}
    for name, value in out.items():
        assert_golden(name, value, golden)


def test_biggan_deep_card_truncation_and_prior(deep):
    g = deep.generator
    assert isinstance(g, BigGANDeepGenerator)
    assert (deep.card["family"], deep.card["resolution"], deep.card["classes"]) == ("BigGAN-deep", 128, 10)
    assert not deep.card["discriminator"] and deep.discriminator is None
    z, y = torch.randn(2, g.latent_dim) * 0.4, torch.tensor([0, 3])
    with torch.no_grad():
        before = g(z, y)
        g.truncation = 0.9
        assert g.config["truncation"] == 0.9 and not torch.allclose(g(z, y), before)
        g.truncation = 0.4
        assert torch.equal(g(z, y), before)
    with pytest.raises(ValueError, match="truncation"):
        g.truncation = 1.5
    sample = g.sample_latent(500, torch.Generator().manual_seed(0))
    assert sample.abs().max() <= 2 * 0.4 and sample.std() > 0.2


def test_biggan_deep_without_its_config_json_infers_the_same_model(tmp_path, deep):
    shutil.copy(HF / "biggan_deep" / "pytorch_model.bin", tmp_path / "pytorch_model.bin")
    alone = zoo.load(tmp_path / "pytorch_model.bin")
    assert alone.generator.config == deep.generator.config
    z, y = torch.randn(2, 16) * 0.4, torch.tensor([1, 2])
    with torch.no_grad():
        assert torch.equal(alone.generator(z, y), deep.generator(z, y))


def test_a_config_json_that_does_not_fit_is_refused(tmp_path):
    shutil.copy(HF / "biggan_deep" / "pytorch_model.bin", tmp_path / "pytorch_model.bin")
    config = json.loads((HF / "biggan_deep" / "config.json").read_text())
    config["layers"][0][2] = 8
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(GanpriorError, match="does not fit"):
        zoo.load(tmp_path / "pytorch_model.bin")


@pytest.mark.parametrize("which", ["biggan", "deep"])
def test_save_and_load_round_trip_gives_identical_outputs(tmp_path, which, request):
    prior = request.getfixturevalue(which)
    path = tmp_path / "converted.safetensors"
    save_prior(path, prior)
    loaded = load_prior(path)
    assert loaded.card == prior.card
    g = prior.generator
    z, y = torch.randn(3, g.latent_dim) * 0.5, torch.tensor([0, 5, 9])
    with torch.no_grad():
        assert torch.equal(loaded.generator(z, y), g(z, y))
        if prior.discriminator is not None:
            x = g(z, y)
            assert torch.equal(loaded.discriminator(x, y), prior.discriminator(x, y))
            assert all(
                torch.equal(a, b)
                for a, b in zip(
                    loaded.discriminator.features(x), prior.discriminator.features(x), strict=True
                )
            )


def test_the_layout_is_read_from_tensors_not_names(tmp_path, biggan):
    shutil.copy(DGP / "G_ema_128.pth", tmp_path / "weights.bin")
    renamed = zoo.load(str(tmp_path / "weights.bin"))
    assert isinstance(renamed.generator, BigGANGenerator) and renamed.discriminator is None
    z = torch.randn(2, 24)
    with torch.no_grad():
        assert torch.equal(
            renamed.generator(z, torch.tensor([1, 2])), biggan.generator(z, torch.tensor([1, 2]))
        )
    paired = attach_discriminator(renamed, DGP / "D_128.pth")
    assert paired.discriminator is not None and paired.card["discriminator"]


def test_a_discriminator_alone_or_mismatched_is_explained(tmp_path, biggan):
    with pytest.raises(GanpriorError, match="discriminator alone"):
        zoo.load(DGP / "D_128.pth")
    state = torch.load(DGP / "D_128.pth", weights_only=True)
    state["embed.weight"], state["embed.u0"] = torch.randn(7, 64), torch.randn(1, 7)
    shutil.copy(DGP / "G_ema_128.pth", tmp_path / "G_ema_128.pth")
    torch.save(state, tmp_path / "D_128.pth")
    prior = zoo.load(tmp_path / "G_ema_128.pth")
    assert prior.discriminator is None and "7-class" in prior.card["discriminator_skipped"]


def test_a_tfhub_conversion_is_the_same_architecture_with_its_eps(tmp_path, biggan):
    state = torch.load(DGP / "G_ema_128.pth", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.endswith(".sv0")}, tmp_path / "biggan-128.pth")
    tfhub = zoo.load(tmp_path / "biggan-128.pth")
    g = tfhub.generator
    assert tfhub.card["layout"] == "TFHub conversion (ajbrock)"
    assert (g.config["bn_eps"], g.config["sn_eps"]) == (1e-4, 1e-4)
    assert g.config["widths"] == biggan.generator.config["widths"]
    z, y = torch.randn(2, 24), torch.tensor([3, 4])
    with torch.no_grad():
        diff = (g(z, y) - biggan.generator(z, y)).abs().max()
    assert 0 < diff < 0.05  # only the BN eps differs


def test_a_truncated_native_file_is_one_clear_line(tmp_path):
    data = (DGP / "G_ema_128.pth").read_bytes()
    (tmp_path / "G_ema_128.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(GanpriorError) as info:
        zoo.load(tmp_path / "G_ema_128.pth")
    assert (
        "\n" not in str(info.value) and "G_ema_128.pth" in str(info.value) and "truncated" in str(info.value)
    )


def test_a_file_with_missing_tensors_names_them(tmp_path):
    state = torch.load(DGP / "G_ema_128.pth", weights_only=True)
    del state["blocks.1.0.conv2.weight"]
    torch.save(state, tmp_path / "G.pth")
    with pytest.raises(GanpriorError, match=re.escape("missing stages.2.block.conv2.weight")):
        zoo.load(tmp_path / "G.pth")
    del state["blocks.0.0.bn1.gain.weight"]
    torch.save(state, tmp_path / "G.pth")
    with pytest.raises(GanpriorError, match=re.escape("has no blocks.0.0.bn1.gain.weight")):
        zoo.load(tmp_path / "G.pth")


def run_method(name: str, prior: Prior, **options) -> Result:
    """``name`` for a few steps on two observations of the prior's own images (×4 SR, or RGI's
    mask-free corruption); the result's shapes checked."""
    g = prior.generator
    with torch.no_grad():
        clean = g(g.sample_latent(2, torch.Generator().manual_seed(1)), torch.tensor([2, 5]))
    if METHODS[name].mask_free:
        operator, task = Corruption(center_box(g.resolution)), "inpaint"
    else:
        operator, task = build_operator("sr", g.resolution, g.channels, factor=4), "sr"
    observation = operator.simulate(clean, torch.Generator().manual_seed(2))
    config = METHODS[name].config.for_task(task, prior, steps=3, init_samples=2, **options)
    result = METHODS[name].solve(prior, observation, operator, config)
    assert result.image.shape == (2, 3, 128, 128) and torch.isfinite(result.image).all()
    assert result.losses.shape[1] == 2 and result.losses.shape[0] >= 3
    return result


GAN_METHODS = {
    "invert": {},
    "mgan": {"codes": 3, "layer": 3, "feature_weight": 0.0},
    "dgp": {"metric": "discriminator"},
    "rgi": {},
    "rrgi": {"warmup": 1},
}
"""Every GAN-prior method, with options that keep it offline (no VGG) and short."""


@pytest.mark.parametrize("name", list(GAN_METHODS))
@pytest.mark.parametrize("family", ["biggan", "deep"])
def test_every_gan_method_runs_on_both_families(name, family, biggan, deep):
    """BigGAN-deep has no released D: the relaxed methods borrow the BigGAN one (same size, classes)."""
    prior = biggan if family == "biggan" else Prior("deep+d", deep.generator, biggan.discriminator, {})
    result = run_method(name, prior, **GAN_METHODS[name])
    if METHODS[name].relaxed:  # the per-image copies moved away from the generator's own weights
        own = dict(prior.generator.named_parameters())
        assert result.generator_state is not None
        assert any(not torch.equal(v[i], own[k]) for k, v in result.generator_state.items() for i in range(2))


def test_the_published_architectures_rebuild_the_fixtures_configs(biggan, deep):
    """The fixtures were built by the references' own constructors (config.json → constructor)."""
    kwargs = json.loads((DGP / "config.json").read_text())["constructor"]["kwargs"]
    g = biggan_models.reference_generator(
        128, kwargs["G_ch"], kwargs["dim_z"], int(kwargs["G_attn"]), kwargs["n_classes"], kwargs["shared_dim"]
    )
    d = biggan_models.reference_discriminator(128, kwargs["D_ch"], int(kwargs["D_attn"]), kwargs["n_classes"])
    assert g.config == biggan.generator.config and d.config == biggan.discriminator.config
    hf = json.loads((HF / "biggan_deep" / "config.json").read_text())
    deep_g = deep_models.reference_generator(128, hf["channel_width"], hf["z_dim"], hf["num_classes"])
    assert deep_g.config == deep.generator.config
    for resolution in (256, 512):
        assert biggan_models.reference_generator(resolution, ch=8).resolution == resolution
        assert biggan_models.reference_discriminator(resolution, ch=8).resolution == resolution
        assert deep_models.reference_generator(resolution, ch=8).resolution == resolution


def test_dgp_manipulation_morphs_and_transfers_classes_on_biggan(biggan):
    g = biggan.generator
    with torch.no_grad():
        images = g(g.sample_latent(2, torch.Generator().manual_seed(4)), torch.tensor([1, 8]))
    config = DGPConfig(steps=3, schedule="manipulate", init_samples=2)  # edit.reconstruct, shorter
    result = dgp_solve(biggan, images, Operator(), config)
    rec = Reconstruction(result.generator_state, result.latent, result.classes, result.image)
    assert rec.classes is not None and rec.classes.shape == (2, 10)
    frames = morph(biggan, rec, frames=3)  # soft class vectors in the middle frame
    assert frames.shape == (3, 3, 128, 128)
    assert torch.allclose(frames[[0, 2]], rec.image, atol=1e-5)
    moved = transfer(biggan, rec, [0, 9])
    assert moved.shape == (2, 2, 3, 128, 128) and not torch.allclose(moved[:, 0], moved[:, 1])


@pytest.mark.parametrize("layer", [biggan_models.SNLinear(6, 4), deep_models.SNLinear(6, 4)])
def test_spectral_norm_vectors_move_only_in_training_mode(layer):
    x = torch.randn(3, 6)
    stored = {k: b.clone() for k, b in layer.named_buffers()}
    layer.eval()
    first = layer(x)
    assert all(torch.equal(b, stored[k]) for k, b in layer.named_buffers()) and torch.equal(layer(x), first)
    layer.train()
    layer(x)
    key = "u0" if "u0" in stored else "u"  # ajbrock's / torch's name
    u = dict(layer.named_buffers())[key]
    assert not torch.equal(u, stored[key]) and torch.allclose(u.norm(), torch.tensor(1.0))
