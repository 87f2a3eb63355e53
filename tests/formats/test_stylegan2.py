"""StyleGAN2 in rosinality's layout: the native fixture file (tests/fixtures/rosinality_sg2_32, made by
rosinality's own code) reproduces every golden output through ``zoo.load``; the NVlabs key map,
save/load round trips, refusals, and the solvers on the tiny StyleGAN2."""

from __future__ import annotations

import argparse
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
from ganprior.errors import GanpriorError
from ganprior.formats import recognise
from ganprior.formats.base import read_torch_file
from ganprior.formats.stylegan2_nvlabs import build as build_nvlabs
from ganprior.formats.stylegan2_nvlabs import nvlabs_to_rosinality
from ganprior.physics import Corruption, build_operator, center_box
from ganprior.solvers import METHODS, search_latents

FIXTURE = Path(__file__).parents[1] / "fixtures" / "rosinality_sg2_32"
NATIVE = FIXTURE / "stylegan2-tiny32.pt"
GOLDEN = load_file(str(FIXTURE / "golden.safetensors"))
NOISE = [GOLDEN[f"in.noise_{i}"] for i in range(7)]


@pytest.fixture(scope="module")
def prior() -> Prior:
    return zoo.load(NATIVE)


@pytest.fixture
def generator(prior):
    """The loaded generator, its run-time options restored to the defaults after each test."""
    yield prior.generator
    prior.generator.configure(latent_space="w+", truncation=1.0, noise="fixed")


def max_error(name: str, value: Tensor) -> float:
    """max |value − golden|, asserted within the fixture README's tolerance 1e-4 · max(1, max|golden|)."""
    reference = GOLDEN[name]
    assert value.shape == reference.shape, name
    error = (value - reference).abs().max().item()
    assert error <= 1e-4 * max(1.0, reference.abs().max().item()), f"{name}: {error}"
    return error


def test_the_native_file_is_recognised_from_its_tensors_with_a_full_card(prior, tmp_path):
    renamed = tmp_path / "weights.bin"
    shutil.copy(NATIVE, renamed)
    card = zoo.load(renamed).card
    assert card | {"name": "x", "source": "x"} == prior.card | {"name": "x", "source": "x"}
    assert {k: card[k] for k in ("family", "layout", "resolution", "channels", "classes")} == {
        "family": "StyleGAN2",
        "layout": "rosinality",
        "resolution": 32,
        "channels": 3,
        "classes": [],
    }
    assert (card["w_dim"], card["n_latent"], card["latent_dim"], card["widths"]) == (
        32,
        8,
        256,
        [32, 32, 24, 16],
    )
    assert card["discriminator"] and card["latent_avg"] == "stored" and card["n_mlp"] == 2
    config = json.loads((FIXTURE / "config.json").read_text())
    assert card["parameters"] == config["derived_dims"]["G_state_dict_numel"] - sum(
        v.numel() for k, v in read_torch_file(NATIVE)["g_ema"].items() if "kernel" in k or "noises" in k
    )
    assert torch.equal(prior.generator.latent_avg, GOLDEN["in.latent_avg"])


def test_z_with_the_stored_noise_gives_the_mapping_styles_stage_outputs_and_image(generator):
    z = GOLDEN["in.z"]
    generator.configure(latent_space="z")
    captured: dict[str, Tensor] = {}
    hooks = []
    for k, stage in enumerate(generator.stages):
        hooks.append(stage.conv.register_forward_hook(lambda m, i, o, k=k: captured.update({f"feat_{k}": o})))
        hooks.append(
            stage.to_rgb.register_forward_hook(lambda m, i, o, k=k: captured.update({f"skip_{k}": o}))
        )
    with torch.no_grad():
        image = generator(z)
        max_error("a_buf.g.w", generator.mapping(z))
        max_error("a_buf.g.latent", generator.styles(z))
    for hook in hooks:
        hook.remove()
    max_error("a_buf.g.img", image)
    for k in range(generator.num_stages):
        max_error(f"a_buf.g.feat_{k}", captured[f"feat_{k}"])
        max_error(f"a_buf.g.skip_{k}", captured[f"skip_{k}"])


def test_the_carried_tuple_after_each_stage_is_features_and_skip_image(generator):
    z = GOLDEN["in.z"]
    generator.configure(latent_space="z")
    contexts = generator.stage_contexts(z)
    with torch.no_grad():
        h = generator.embed(z)
        for k in range(generator.num_stages - 1):
            h = generator.synthesize(h, k, k + 1, contexts)
            max_error(f"a_buf.g.feat_{k}", h[0])
            max_error(f"a_buf.g.skip_{k}", h[1])
        max_error("a_buf.g.img", generator.synthesize(h, generator.num_stages - 1, contexts=contexts))


def test_explicit_per_sample_noise(generator):
    generator.configure(latent_space="z")
    with torch.no_grad():
        max_error("a_explicit.g.img", generator.from_styles(generator.styles(GOLDEN["in.z"]), NOISE))


def test_w_plus_input_is_the_solvers_latent(generator):
    wplus = GOLDEN["b_wplus.in.wplus"]
    with torch.no_grad():
        mapped = torch.stack([generator.mapping(GOLDEN["in.wplus_z"][:, i]) for i in range(8)], 1)
        max_error("b_wplus.in.wplus", mapped)
        max_error("b_wplus.g.img", generator(wplus.flatten(1)))  # the default latent space is W+


def test_w_input_repeats_one_style_for_every_layer(generator):
    generator.configure(latent_space="w")
    with torch.no_grad():
        max_error("a_buf.g.img", generator(generator.mapping(GOLDEN["in.z"])))


def test_truncation_pulls_every_style_towards_w_avg(generator):
    generator.configure(latent_space="z", truncation=0.7)
    with torch.no_grad():
        max_error("c_trunc.g.latent", generator.styles(GOLDEN["in.z"]))
        max_error("c_trunc.g.img", generator(GOLDEN["in.z"]))


def test_style_mixing_is_a_w_plus_latent(generator):
    generator.configure(latent_space="z")
    with torch.no_grad():
        mixed = torch.cat(
            [generator.styles(GOLDEN["in.z"])[:, :3], generator.styles(GOLDEN["in.z2"])[:, 3:]], 1
        )
        max_error("d_mix.g.latent", mixed)
        max_error("d_mix.g.img", generator.from_styles(mixed))


def test_discriminator_logit_with_strided_minibatch_stddev_groups(prior):
    d = prior.discriminator
    with torch.no_grad():
        max_error("d.logit", d(GOLDEN["in.d_x"])[:, None])
        with pytest.raises(GanpriorError, match="divisible by 4"):
            d(GOLDEN["in.d_x"].repeat(2, 1, 1, 1)[:6])


def test_discriminator_features_see_each_image_alone(prior):
    d, x = prior.discriminator, GOLDEN["in.d_x"]
    with torch.no_grad():
        together = d.features(x)
        alone = [d.features(x[[i]]) for i in range(4)]
        small = d.features(x[:, :, ::2, ::2])
    assert [f.shape[1:] for f in together] == [
        (16, 32, 32),
        (24, 16, 16),
        (32, 8, 8),
        (32, 4, 4),
        (32, 4, 4),
        (32,),
    ]
    for layer, f in enumerate(together):
        assert torch.allclose(f, torch.cat([a[layer] for a in alone]), atol=1e-5)
    assert small[-1].shape == (4, 32)


def test_random_noise_mode_draws_fresh_noise(generator):
    generator.configure(noise="random")
    latent = generator.sample_latent(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.equal(generator(latent), generator(latent))
    generator.configure(noise="fixed")
    with torch.no_grad():
        assert torch.equal(generator(latent), generator(latent))


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_sample_latent_per_latent_space(generator, space):
    generator.configure(latent_space=space)
    latent = generator.sample_latent(3, torch.Generator().manual_seed(1))
    assert latent.shape == (3, generator.latent_dim) == (3, 256 if space == "w+" else 32)
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(generator.styles(latent), generator.configure(latent_space="z").styles(z))


def test_a_latent_search_in_w_plus_starts_around_w_avg_not_zero(generator):
    centre = generator.latent_avg.repeat(8)  # w_avg for each of the 8 layers
    starts = generator.latent_start(256, 0.5, torch.Generator().manual_seed(0))
    w = generator.sample_latent(256, torch.Generator().manual_seed(0))
    assert torch.allclose(starts, centre + 0.5 * (w - centre))  # truncated towards w_avg by the factor
    assert (starts.mean(0) - centre).norm() < 0.1 * centre.norm()  # they lie around w_avg ...
    assert (starts - centre).norm(dim=1).mean() < (0.5 * w - centre).norm(dim=1).mean()  # ... unlike w · std
    operator = build_operator("sr", 32, 3, factor=2)
    with torch.no_grad():
        observation = operator(generator(w[:2]))
    found, _ = search_latents(generator, observation, operator, 16, torch.Generator().manual_seed(1), std=0.5)
    candidates = generator.latent_start(16, 0.5, torch.Generator().manual_seed(1))
    assert all(any(torch.equal(f, c) for c in candidates) for f in found)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_the_latent_nll_is_zero_at_w_avg_and_half_the_mean_square_distance(generator, space):
    generator.configure(latent_space=space)
    centre = generator.latent_avg.repeat(8 if space == "w+" else 1)
    assert torch.equal(generator.latent_nll(centre[None]), torch.zeros(1))
    latent = generator.sample_latent(3, torch.Generator().manual_seed(2))
    expected = ((latent - centre) ** 2 / 2).mean(1)
    assert torch.allclose(generator.latent_nll(latent), expected) and (expected > 0).all()
    codes = torch.stack([latent, centre.expand(3, -1)], 1)  # mGANprior's (N, codes, latent_dim)
    assert torch.allclose(generator.latent_nll(codes), expected / 2)


def test_in_z_the_latent_prior_stays_standard_normal(generator):
    generator.configure(latent_space="z")
    z = torch.randn(3, 32, generator=torch.Generator().manual_seed(3))
    assert torch.equal(generator.latent_nll(z), (z.square() / 2).mean(1))
    assert torch.equal(generator.latent_start(3, 0.5, torch.Generator().manual_seed(3)), z * 0.5)


def test_bad_options_are_refused_in_one_line(generator):
    with pytest.raises(GanpriorError, match="latent_space must be one of"):
        generator.configure(latent_space="s")
    with pytest.raises(GanpriorError, match="noise must be one of"):
        generator.configure(noise="some")


def test_save_and_load_prior_round_trip_gives_identical_outputs(prior, generator, tmp_path):
    generator.configure(latent_space="z", truncation=0.7)
    path = tmp_path / "sg2.safetensors"
    save_prior(path, prior)
    again = load_prior(path)
    assert again.generator.config == generator.config and again.card == prior.card
    assert again.generator.config["latent_space"] == "z" and again.generator.truncation == 0.7
    with torch.no_grad():
        assert torch.equal(again.generator(GOLDEN["in.z"]), generator(GOLDEN["in.z"]))
        assert torch.equal(again.discriminator(GOLDEN["in.d_x"]), prior.discriminator(GOLDEN["in.d_x"]))


def test_a_bare_generator_state_dict_loads_and_estimates_w_avg(tmp_path):
    path = tmp_path / "g_only.pt"
    torch.save(read_torch_file(NATIVE)["g_ema"], path)
    loaded = zoo.load(path)
    assert loaded.discriminator is None and not loaded.card["discriminator"]
    assert loaded.card["latent_avg"].startswith("estimated")
    assert (loaded.generator.latent_avg - GOLDEN["in.latent_avg"]).abs().max() < 0.2  # 4096 samples
    loaded.generator.configure(latent_space="z")
    with torch.no_grad():
        max_error("a_buf.g.img", loaded.generator(GOLDEN["in.z"]))


def test_a_training_checkpoint_with_optimisers_and_arguments_loads(tmp_path):
    obj = read_torch_file(NATIVE)
    optimiser = {  # what Adam.state_dict() holds
        "state": {0: {"step": torch.tensor(1.0), "exp_avg": torch.zeros(3), "exp_avg_sq": torch.zeros(3)}},
        "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "params": [0]}],
    }
    path = tmp_path / "550000.pt"
    torch.save(
        obj | {"g": obj["g_ema"], "d_optim": optimiser, "args": argparse.Namespace(size=32)},
        path,
    )
    loaded = zoo.load(path)
    assert loaded.card["discriminator"]
    with torch.no_grad():
        max_error("b_wplus.g.img", loaded.generator(GOLDEN["b_wplus.in.wplus"].flatten(1)))


def test_a_truncated_download_gives_one_clear_line(tmp_path):
    cut = tmp_path / "stylegan2-tiny32.pt"
    cut.write_bytes(NATIVE.read_bytes()[: NATIVE.stat().st_size // 2])
    with pytest.raises(GanpriorError) as error:
        zoo.load(cut)
    assert "\n" not in str(error.value) and "truncated" in str(error.value)


def test_a_file_missing_a_layer_names_it(tmp_path):
    obj = read_torch_file(NATIVE)
    del obj["g_ema"]["convs.3.conv.modulation.weight"]
    path = tmp_path / "broken.pt"
    torch.save(obj, path)
    with pytest.raises(GanpriorError, match=r"missing stages\.2\.conv\.conv\.modulation\.weight") as error:
        zoo.load(path)
    assert "\n" not in str(error.value)


def nvlabs_names(obj: dict) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The fixture's tensors under StyleGAN2-ADA's names (networks.py): G_ema and D state dicts."""
    g, d = obj["g_ema"], obj["d"]
    ng: dict[str, Tensor] = {"mapping.w_avg": obj["latent_avg"], "synthesis.b4.const": g["input.input"][0]}
    for i in (1, 2):
        ng[f"mapping.fc{i - 1}.weight"], ng[f"mapping.fc{i - 1}.bias"] = (
            g[f"style.{i}.weight"],
            g[f"style.{i}.bias"],
        )

    def conv(nv: str, ros: str, noise: str) -> None:
        ng[f"{nv}.weight"] = g[f"{ros}.conv.weight"][0]
        ng[f"{nv}.affine.weight"] = g[f"{ros}.conv.modulation.weight"]
        ng[f"{nv}.affine.bias"] = g[f"{ros}.conv.modulation.bias"]
        ng[f"{nv}.noise_strength"] = g[f"{ros}.noise.weight"][0]
        ng[f"{nv}.bias"] = g[f"{ros}.activate.bias"]
        ng[f"{nv}.noise_const"] = g[noise][0, 0]
        ng[f"{nv}.resample_filter"] = torch.ones(4, 4) / 16  # every SynthesisLayer keeps a copy

    def torgb(nv: str, ros: str) -> None:
        ng[f"{nv}.torgb.weight"] = g[f"{ros}.conv.weight"][0]
        ng[f"{nv}.torgb.affine.weight"] = g[f"{ros}.conv.modulation.weight"]
        ng[f"{nv}.torgb.affine.bias"] = g[f"{ros}.conv.modulation.bias"]
        ng[f"{nv}.torgb.bias"] = g[f"{ros}.bias"].flatten()

    conv("synthesis.b4.conv1", "conv1", "noises.noise_0")
    torgb("synthesis.b4", "to_rgb1")
    ng["synthesis.b4.resample_filter"] = g["convs.0.conv.blur.kernel"] / 4
    for j, res in enumerate((8, 16, 32)):
        conv(f"synthesis.b{res}.conv0", f"convs.{2 * j}", f"noises.noise_{2 * j + 1}")
        conv(f"synthesis.b{res}.conv1", f"convs.{2 * j + 1}", f"noises.noise_{2 * j + 2}")
        torgb(f"synthesis.b{res}", f"to_rgbs.{j}")
        ng[f"synthesis.b{res}.resample_filter"] = g[f"convs.{2 * j}.conv.blur.kernel"] / 4
    nd = {"b32.fromrgb.weight": d["convs.0.0.weight"], "b32.fromrgb.bias": d["convs.0.1.bias"]}
    for j, res in enumerate((32, 16, 8), start=1):
        nd[f"b{res}.conv0.weight"], nd[f"b{res}.conv0.bias"] = (
            d[f"convs.{j}.conv1.0.weight"],
            d[f"convs.{j}.conv1.1.bias"],
        )
        nd[f"b{res}.conv1.weight"], nd[f"b{res}.conv1.bias"] = (
            d[f"convs.{j}.conv2.1.weight"],
            d[f"convs.{j}.conv2.2.bias"],
        )
        nd[f"b{res}.skip.weight"] = d[f"convs.{j}.skip.1.weight"]
        nd[f"b{res}.resample_filter"] = d[f"convs.{j}.conv2.0.kernel"]
    nd |= {"b4.conv.weight": d["final_conv.0.weight"], "b4.conv.bias": d["final_conv.1.bias"]}
    nd |= {
        f"b4.{nv}.{f}": d[f"final_linear.{i}.{f}"]
        for i, nv in enumerate(("fc", "out"))
        for f in ("weight", "bias")
    }
    return ng, nd


def test_nvlabs_names_map_back_to_the_rosinality_file_exactly():
    obj = read_torch_file(NATIVE)
    mapped = nvlabs_to_rosinality(*nvlabs_names(obj))
    assert set(mapped) == set(obj)
    for part in ("g_ema", "d"):
        assert set(mapped[part]) == set(obj[part]), part
        for k, v in obj[part].items():
            assert mapped[part][k].shape == v.shape and torch.equal(mapped[part][k], v), k
    assert torch.equal(mapped["latent_avg"], obj["latent_avg"])
    assert recognise(mapped) is not None


def test_an_nvlabs_network_runs_on_the_same_architecture():
    prior = build_nvlabs(*nvlabs_names(read_torch_file(NATIVE)), Path("ffhq.pkl"))
    assert prior.card["layout"] == "nvlabs-stylegan2-ada" and prior.card["discriminator"]
    with torch.no_grad():
        max_error("b_wplus.g.img", prior.eval().generator(GOLDEN["b_wplus.in.wplus"].flatten(1)))
        max_error("d.logit", prior.discriminator(GOLDEN["in.d_x"])[:, None])


def test_an_unmapped_nvlabs_key_is_refused_by_name():
    g, _ = nvlabs_names(read_torch_file(NATIVE))
    with pytest.raises(GanpriorError, match=re.escape("'mapping.embed.weight' is not mapped")):
        nvlabs_to_rosinality(g | {"mapping.embed.weight": torch.zeros(32, 10)})


SHORT_RUNS = {
    "mgan": {"codes": 3, "layer": 2},
    "dgp": {"metric": "discriminator"},
    "rrgi": {"fit_fraction": None},
}
"""Beyond a few steps and a small latent search: mGANprior composes 3 codes at stage 2 (the 8×8
features), DGP matches the StyleGAN2 discriminator's features; R-RGI fits with one λ: with the
preset's two λ, 4 steps end on Adam's first fine-tuning step, which follows the sign of near-zero
generator gradients, so float noise between batch sizes moves the image by ~3e-4 (at 8 steps
batched and single agree to 1e-5; tests/test_rgi.py checks two λ batched)."""


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_runs_on_the_tiny_stylegan2_in_w_plus(name, prior):
    g, method = prior.generator, METHODS[name]
    with torch.no_grad():
        clean = g(g.sample_latent(2, torch.Generator().manual_seed(7)))
    task = (method.tasks or ("sr",))[0]
    if method.mask_free:
        operator = Corruption(center_box(g.resolution))
    else:
        operator = build_operator(task, g.resolution, g.channels, factor=2)
    observation = operator.simulate(clean, torch.Generator().manual_seed(3))
    search = {"init_samples": 4} if "init_samples" in method.config.__dataclass_fields__ else {}
    config = method.config.for_task(task, prior, steps=4, **search, **SHORT_RUNS.get(name, {}))
    result = method.solve(prior, observation, operator, config)
    assert result.image.shape == (2, 3, 32, 32) and torch.isfinite(result.image).all()
    assert result.losses.shape[1] == 2 and len(result.losses) >= 4 and torch.isfinite(result.losses).all()
    if name == "mgan":  # composed at stage 2: the 8×8 features of stage 1 (32 channels)
        assert result.extras["alpha"].shape == (2, 3, 32) and result.latent.shape == (2, 3, 256)
    if name == "dgp":  # the generator copies were tuned
        tuned = result.generator_state["stages.1.conv.conv.weight"]
        assert not torch.equal(tuned[0], g.stages[1].conv.conv.weight)
    if name != "mgan":  # batched == one at a time (mGANprior draws its extra codes for the whole batch)
        single = method.solve(prior, observation[[1]], operator.select([1]), config)
        assert torch.allclose(single.image[0], result.image[1], atol=1e-4)


@pytest.mark.parametrize("space", ["z", "w"])
def test_inversion_and_mgan_in_z_and_w(generator, prior, space):
    generator.configure(latent_space=space)
    with torch.no_grad():
        clean = generator(generator.sample_latent(2, torch.Generator().manual_seed(7)))
    operator = build_operator("sr", 32, 3, factor=2)
    observation = operator.simulate(clean, torch.Generator().manual_seed(3))
    for name in ("invert", "mgan"):
        config = METHODS[name].config.for_task(
            "sr", prior, steps=4, init_samples=4, **SHORT_RUNS.get(name, {})
        )
        result = METHODS[name].solve(prior, observation, operator, config)
        assert result.latent.shape[-1] == 32 and torch.isfinite(result.image).all()
