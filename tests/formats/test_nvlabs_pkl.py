"""NVlabs StyleGAN2-ADA network pickles: a pickle made here the way NVlabs' ``torch_utils.persistence``
makes them, from the rosinality fixture's tensors under NVlabs' names, loads through ``zoo.load`` and
reproduces the fixture's goldens; the module source stored in it (which would create a marker file)
never runs; hostile, unsupported and truncated pickles are refused with one line."""

from __future__ import annotations

import io
import json
import pickle
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from ganprior import zoo
from ganprior.checkpoint import save_prior
from ganprior.cli import main
from ganprior.errors import GanpriorError
from ganprior.formats.base import read_torch_file

from .test_safe_pickle import ExecPayload, ShellPayload
from .test_stylegan2 import GOLDEN, NATIVE, max_error, nvlabs_names

BUFFERS = {"w_avg", "resample_filter", "noise_const"}
"""The tensors NVlabs' networks register as buffers; every other one is a Parameter."""
G_CLASSES = [
    (r"", "Generator"),
    (r"mapping", "MappingNetwork"),
    (r"synthesis", "SynthesisNetwork"),
    (r"synthesis\.b\d+", "SynthesisBlock"),
    (r".*\.conv[01]", "SynthesisLayer"),
    (r".*\.torgb", "ToRGBLayer"),
    (r".*\.(fc\d+|affine)", "FullyConnectedLayer"),
]
D_CLASSES = [
    (r"", "Discriminator"),
    (r"b4", "DiscriminatorEpilogue"),
    (r"b\d+", "DiscriminatorBlock"),
    (r"b4\.mbstd", "MinibatchStdLayer"),
    (r"b4\.(fc|out)", "FullyConnectedLayer"),
    (r".*", "Conv2dLayer"),
]
"""networks.py's class of each submodule, by its dotted path in G / D."""


class EasyDict(dict):
    """dnnlib.util.EasyDict, pickled under that name while the fake module exists."""


EasyDict.__module__ = "dnnlib.util"


def _reconstruct_persistent_obj(meta: dict) -> dict:
    """What NVlabs' version does first: execute the module source stored in the pickle."""
    exec(meta["module_src"], {})
    return meta


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


@contextmanager
def nvlabs_modules() -> Iterator[None]:
    """``torch_utils.persistence`` and ``dnnlib.util`` importable (for pickling) inside the block only."""
    persistence, util = ModuleType("torch_utils.persistence"), ModuleType("dnnlib.util")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    fakes = {"torch_utils": ModuleType("torch_utils"), "torch_utils.persistence": persistence}
    fakes |= {"dnnlib": ModuleType("dnnlib"), "dnnlib.util": util}
    sys.modules.update(fakes)
    try:
        yield
    finally:
        for name in fakes:
            del sys.modules[name]


class Persistent(nn.Module):
    """A torch module pickled as NVlabs' ``persistent_class`` decorator pickles one:
    ``_reconstruct_persistent_obj(meta)``, meta = {type, version, module_src, class_name, state}."""

    class_name = ""
    module_src = ""

    def __reduce__(self) -> tuple[Any, tuple[dict]]:
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.module_src,
            "class_name": self.class_name,
            "state": dict(self.__dict__),
        }
        return _reconstruct_persistent_obj, (meta,)


def network(
    state: Mapping[str, Tensor], classes: list[tuple[str, str]], source: str, module: str, **kwargs: Any
) -> Persistent:
    """A tree of persistent modules holding the flat NVlabs ``state`` (parameters and buffers by
    name), each node of its networks.py class, the root constructed with ``kwargs``."""

    def node(path: str) -> Persistent:
        kind = next(name for pattern, name in classes if re.fullmatch(pattern, path))
        cls = type(kind, (Persistent,), {"class_name": f"{module}.{kind}", "module_src": source})
        made = cls()
        made.act_gain = np.sqrt(2)  # NVlabs' layers keep numpy float64 gains
        return made

    root = node("")
    root._init_args, root._init_kwargs = (), dict(kwargs)
    for key, tensor in state.items():
        *parents, leaf = key.split(".")
        parent = root
        for depth, name in enumerate(parents):
            if name not in parent._modules:
                parent.add_module(name, node(".".join(parents[: depth + 1])))
            parent = parent._modules[name]
        if leaf in BUFFERS:
            parent.register_buffer(leaf, tensor.clone())
        else:
            parent.register_parameter(leaf, nn.Parameter(tensor.clone(), requires_grad=False))
    return root


def nvlabs_pickle(
    marker: Path,
    protocol: int = 4,
    g_class: str = "training.networks.Generator",
    g_kwargs: Mapping[str, Any] | None = None,
    d_kwargs: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The fixture as an NVlabs network pickle {G, D, G_ema, augment_pipe, training_set_kwargs} whose
    stored module source would create ``marker``; ``extra`` entries come last."""
    source = f"open({str(marker)!r}, 'w').write('the module source ran')"
    g_state, d_state = nvlabs_names(read_torch_file(NATIVE))
    with nvlabs_modules():
        synthesis = EasyDict(channel_base=1024, channel_max=32, num_fp16_res=0, conv_clamp=None)
        g_options = {"z_dim": 32, "w_dim": 32, "c_dim": 0, "img_resolution": 32, "img_channels": 3}
        g_options |= {"mapping_kwargs": EasyDict(num_layers=2), "synthesis_kwargs": synthesis}
        g_options |= dict(g_kwargs or {})
        generator_module, generator_name = g_class.rsplit(".", 1)
        g_classes = [(p, generator_name if p == "" else n) for p, n in G_CLASSES]
        d_options = {"c_dim": 0, "img_resolution": 32, "img_channels": 3, "architecture": "resnet"}
        d_options |= {"epilogue_kwargs": EasyDict(mbstd_group_size=4)} | dict(d_kwargs or {})
        d = network(d_state, D_CLASSES, source, "training.networks", **d_options)
        d._modules["b4"].add_module(
            "mbstd", network({}, [(r"", "MinibatchStdLayer")], source, "training.networks")
        )
        augment = network({"p": torch.zeros([])}, [(r"", "AugmentPipe")], source, "training.augment", xflip=1)
        data = {
            "G": network(g_state, g_classes, source, generator_module, **g_options),
            "D": d,
            "G_ema": network(g_state, g_classes, source, generator_module, **g_options),
            "augment_pipe": augment,
            "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset", resolution=32),
        } | dict(extra or {})
        return pickle.dumps(data, protocol=protocol)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_stored_module_source_is_live_for_a_plain_unpickler(marker):
    data = nvlabs_pickle(marker)
    with pytest.raises(ModuleNotFoundError, match="torch_utils"):
        pickle.loads(data)  # the fake NVlabs modules are gone once the pickle is written
    with nvlabs_modules():
        pickle.loads(data)
    assert marker.read_text() == "the module source ran"  # what NVlabs' own unpickling would do


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_the_pickle_reproduces_the_fixture_and_never_runs_its_source(marker, tmp_path, protocol):
    data = nvlabs_pickle(marker, protocol)
    if protocol == 3:  # as the published files were written (Python 3.7, numpy 1.x names)
        data, numpy2 = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"), data
        assert data != numpy2
    prior = zoo.load(write(tmp_path / "ffhq.pkl", data))
    assert not marker.exists()
    g = prior.generator
    with torch.no_grad():
        max_error("b_wplus.g.img", g(GOLDEN["b_wplus.in.wplus"].flatten(1)))
        max_error("d.logit", prior.discriminator(GOLDEN["in.d_x"])[:, None])
        g.configure(latent_space="z")
        max_error("a_buf.g.w", g.mapping(GOLDEN["in.z"]))
        max_error("a_buf.g.img", g(GOLDEN["in.z"]))
        g.configure(truncation=0.7)
        max_error("c_trunc.g.img", g(GOLDEN["in.z"]))
    assert torch.equal(g.latent_avg, GOLDEN["in.latent_avg"])


def test_the_card_is_the_rosinality_one_with_the_nvlabs_layout(marker, tmp_path):
    card = zoo.load(write(tmp_path / "weights.bin", nvlabs_pickle(marker))).card  # any file name
    native = zoo.load(NATIVE).card
    nvlabs = {"layout", "name", "source", "nvlabs_class", "conv_clamp", "num_fp16_res"}
    assert {k: v for k, v in card.items() if k not in nvlabs} == {
        k: v for k, v in native.items() if k not in nvlabs
    }
    assert card["layout"] == "nvlabs-stylegan2-ada" and card["nvlabs_class"] == "training.networks.Generator"
    assert (card["conv_clamp"], card["num_fp16_res"], card["latent_avg"]) == (None, 0, "stored")


def test_the_discriminator_keeps_the_pickles_minibatch_stddev_group(marker, tmp_path):
    data = nvlabs_pickle(marker, d_kwargs={"epilogue_kwargs": EasyDict(mbstd_group_size=2)})
    prior = zoo.load(write(tmp_path / "ffhq.pkl", data))
    assert prior.discriminator.config["stddev_group"] == 2
    x = GOLDEN["in.d_x"]
    with torch.no_grad():  # strided groups of 2: images 0 and 2 together, 1 and 3
        assert torch.allclose(prior.discriminator(x)[[0, 2]], prior.discriminator(x[[0, 2]]), atol=1e-6)
        assert not torch.allclose(prior.discriminator(x)[:, None], GOLDEN["d.logit"], atol=1e-3)


def clamped(limit: float) -> dict[str, dict[str, Any]]:
    """Options of a pickle trained as StyleGAN2-ADA's configurations are (``conv_clamp``, fp16)."""
    synthesis = EasyDict(channel_base=1024, channel_max=32, num_fp16_res=4, conv_clamp=limit)
    return {"g_kwargs": {"synthesis_kwargs": synthesis}, "d_kwargs": {"conv_clamp": limit, "num_fp16_res": 4}}


def test_the_conv_clamp_of_the_published_configurations_is_kept(marker, tmp_path):
    prior = zoo.load(write(tmp_path / "metfaces.pkl", nvlabs_pickle(marker, **clamped(256))))
    assert prior.generator.config["conv_clamp"] == prior.discriminator.config["conv_clamp"] == 256
    assert (prior.card["conv_clamp"], prior.card["num_fp16_res"]) == (256, 4)
    with torch.no_grad():  # the fixture's activations stay far inside ±256
        max_error("b_wplus.g.img", prior.generator(GOLDEN["b_wplus.in.wplus"].flatten(1)))
        max_error("d.logit", prior.discriminator(GOLDEN["in.d_x"])[:, None])


def test_a_tight_conv_clamp_bounds_every_conv_output(marker, tmp_path):
    limit = 0.05
    prior = zoo.load(write(tmp_path / "tight.pkl", nvlabs_pickle(marker, **clamped(limit))))
    g, d = prior.generator, prior.discriminator
    convs: list[Tensor] = []
    hooks = [
        stage.get_submodule(name).register_forward_hook(lambda m, i, o: convs.append(o))
        for stage in g.stages
        for name in ("conv_up", "conv")
        if hasattr(stage, name)
    ]
    rgb = g.stages[0].to_rgb.register_forward_hook(lambda m, i, o: convs.append(o))  # no skip added yet
    with torch.no_grad():
        image = g(GOLDEN["b_wplus.in.wplus"].flatten(1))
        features = d.features(GOLDEN["in.d_x"])
        logit = d(GOLDEN["in.d_x"])
    for hook in [*hooks, rgb]:
        hook.remove()
    assert len(convs) == 2 * g.num_stages and all(c.abs().max() <= limit for c in convs)
    assert image.abs().max() <= g.num_stages * limit  # the sum of clamped ToRGB outputs, blurred
    assert not torch.allclose(image, GOLDEN["b_wplus.g.img"], atol=1e-3)
    assert features[0].abs().max() <= limit and features[-2].abs().max() <= limit  # from-RGB, final conv
    assert not torch.allclose(logit[:, None], GOLDEN["d.logit"], atol=1e-3)


def test_a_torch_file_named_pkl_is_still_read_as_one(tmp_path):
    for legacy in (False, True):
        path = tmp_path / f"rosinality{int(legacy)}.pkl"
        torch.save(read_torch_file(NATIVE), path, _use_new_zipfile_serialization=not legacy)
        assert zoo.load(path).card["layout"] == "rosinality"


def hostile_storage(marker: Path) -> object:
    """A pickled 'storage' whose bytes are a torch file that runs ``touch marker`` when torch.load'ed
    without weights_only (as the stock ``torch.storage._load_from_bytes`` does)."""
    inner = io.BytesIO()
    torch.save(ShellPayload(marker), inner, _use_new_zipfile_serialization=False)

    class Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (inner.getvalue(),)

    return Storage()


HOSTILE = {
    "os.system": (ShellPayload, r"(posix|nt)\.system"),
    "builtins.exec": (ExecPayload, r"builtins\.exec"),
    "_load_from_bytes": (hostile_storage, r"(posix|nt)\.system \(inside a pickled storage\)"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_hostile_pickle_is_refused_naming_the_global_before_anything_runs(
    kind, marker, tmp_path, monkeypatch
):
    payload, name = HOSTILE[kind]
    source_ran = tmp_path / "source-ran"
    data = nvlabs_pickle(source_ran, extra={"payload": payload(marker)})  # the payload comes last
    with nvlabs_modules():
        pickle.loads(data)
    assert marker.exists() and source_ran.exists()  # both are live for a plain unpickler
    marker.unlink()
    source_ran.unlink()
    rebuilt: list[tuple] = []
    original = torch._utils._rebuild_tensor_v2
    monkeypatch.setattr(torch._utils, "_rebuild_tensor_v2", lambda *a: rebuilt.append(a) or original(*a))
    with pytest.raises(GanpriorError, match=name) as error:
        zoo.load(write(tmp_path / "ffhq.pkl", data))
    assert "\n" not in str(error.value) and "nothing from the file was run" in str(error.value)
    assert not marker.exists() and not source_ran.exists()
    if kind != "_load_from_bytes":  # refused by the opcode scan: not even a tensor was built first
        assert rebuilt == []


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"g_kwargs": {"c_dim": 10}}, r"G_ema is class-conditional \(c_dim=10\)"),
        ({"g_class": "training.networks_stylegan3.Generator"}, r"G_ema is a StyleGAN3 network"),
        (
            {"g_kwargs": {"synthesis_kwargs": EasyDict(architecture="resnet")}},
            r"G_ema has the 'resnet' architecture; only StyleGAN2-ADA's default 'skip'",
        ),
        ({"d_kwargs": {"architecture": "orig"}}, r"D has the 'orig' architecture"),
        ({"g_kwargs": {"img_resolution": 64}}, r"G_ema says img_resolution 64 but its tensors make 32 px"),
        ({"g_class": "training.networks.Discriminator"}, r"G_ema is a training\.networks\.Discriminator"),
    ],
    ids=["conditional", "stylegan3", "g-architecture", "d-architecture", "resolution", "class"],
)
def test_an_unsupported_network_is_refused_with_one_line_naming_why(options, reason, marker, tmp_path):
    with pytest.raises(GanpriorError, match=reason) as error:
        zoo.load(write(tmp_path / "net.pkl", nvlabs_pickle(marker, **options)))
    assert "\n" not in str(error.value) and not marker.exists()


def test_a_truncated_pickle_gives_one_clear_line(marker, tmp_path):
    data = nvlabs_pickle(marker)
    with pytest.raises(GanpriorError) as error:
        zoo.load(write(tmp_path / "ffhq.pkl", data[: len(data) // 2]))
    assert "\n" not in str(error.value) and "truncated" in str(error.value) and not marker.exists()


def test_a_converted_pickle_loads_with_identical_outputs(marker, tmp_path):
    prior = zoo.load(write(tmp_path / "ffhq.pkl", nvlabs_pickle(marker)))
    save_prior(tmp_path / "ffhq.safetensors", prior)
    again = zoo.load(tmp_path / "ffhq.safetensors")
    assert again.card == prior.card
    with torch.no_grad():
        latent = GOLDEN["b_wplus.in.wplus"].flatten(1)
        assert torch.equal(again.generator(latent), prior.generator(latent))


def test_inspect_and_convert_read_the_pickle_and_refuse_a_hostile_one(marker, tmp_path, capsys):
    path = write(tmp_path / "ffhq.pkl", nvlabs_pickle(marker))
    assert main(["inspect", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["summary"]["layout"] == "nvlabs-stylegan2-ada" and shown["summary"]["resolution"] == 32
    assert main(["convert", str(path), str(tmp_path / "ffhq.safetensors")]) == 0
    assert zoo.load(tmp_path / "ffhq.safetensors").card["layout"] == "nvlabs-stylegan2-ada"
    evil = write(tmp_path / "evil.pkl", nvlabs_pickle(marker, extra={"payload": ShellPayload(marker)}))
    capsys.readouterr()
    assert main(["inspect", str(evil)]) == 2
    assert re.search(r"(posix|nt)\.system", capsys.readouterr().err) and not marker.exists()
