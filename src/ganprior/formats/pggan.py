"""PGGAN checkpoints: mGANprior's state dict and pytorch_GAN_zoo's (RGI's) ``.pt``, read from their keys.

- mGANprior (genforce/mganprior ``pggan_*_generator.pth``): ``lod``, ``layer{k}.conv.weight``,
  ``layer{k}.wscale.bias``, a ToRGB ``output{b}.*`` per resolution (only the last is used at lod 0).
- pytorch_GAN_zoo: ``{config, netG, netD, avgG}`` with ``formatLayer.module.*``, ``groupScale0.0``,
  ``scaleLayers.{s}.{0,1}``, ``toRGBLayers.{s}`` (G) and ``fromRGBLayers``, ``groupScaleZero``,
  ``decisionLayer`` (D); ``config`` is a pickled ``BaseConfig`` read as plain data. avgG is the
  generator (what RGI uses), netD the discriminator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ..checkpoint import Prior, _load_into
from ..errors import GanpriorError
from ..models.pggan import LEAK, PGGANDiscriminator, PGGANGenerator
from .base import NativeFormat

ZOO_CONFIG_CLASSES = (
    "models.utils.config.BaseConfig",
    "utils.pytorch_GAN_zoo.models.utils.config.BaseConfig",
    "pytorch_GAN_zoo.models.utils.config.BaseConfig",
)
"""Where pytorch_GAN_zoo's config class lives: the standalone zoo, RGI's vendored copy, a package."""


def _indices(state: Mapping[str, Any], pattern: str) -> list[int]:
    """The integers k of the keys that match ``pattern`` (a regex with one group), sorted."""
    found = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(pattern, str(key))))
    if found != list(range(len(found))):
        raise GanpriorError(f"PGGAN checkpoint: layers {found} of {pattern!r} are not numbered 0, 1, ...")
    return found


def _card(layout: str, g: nn.Module, d: nn.Module | None, path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": path.stem,
        "family": "PGGAN",
        "layout": layout,
        "resolution": g.resolution,
        "channels": g.channels,
        "latent_dim": g.latent_dim,
        "classes": [],
        "discriminator": d is not None,
        "source": str(path),
        **extra,
    }


def _mganprior_matches(obj: Mapping[str, Any]) -> bool:
    return {"lod", "layer0.conv.weight", "layer0.wscale.bias"} <= set(obj) and "output0.conv.weight" in obj


def _mganprior_build(obj: Mapping[str, Any], path: Path) -> Prior:
    if any(re.fullmatch(r"layer\d+\.weight", str(k)) for k in obj):
        raise GanpriorError(f"{path}: a fused-scale PGGAN (transposed-conv upsampling) is not supported")
    lod = float(obj["lod"])
    if lod != 0:
        raise GanpriorError(f"{path}: lod is {lod}, not 0: only a fully grown PGGAN can be used as a prior")
    layers = _indices(obj, r"layer(\d+)\.conv\.weight")
    outputs = _indices(obj, r"output(\d+)\.conv\.weight")
    if len(layers) != 2 * len(outputs):
        raise GanpriorError(
            f"{path}: {len(layers)} conv layers but {len(outputs)} ToRGB layers (expected 2:1)"
        )
    widths = [obj[f"layer{2 * i}.conv.weight"].shape[0] for i in range(len(outputs))]
    rgb = obj[f"output{outputs[-1]}.conv.weight"]
    g = PGGANGenerator(widths, obj["layer0.conv.weight"].shape[1], rgb.shape[0], "mganprior")
    sources = [f"layer{k}" for k in layers] + [f"output{outputs[-1]}"]
    state = {
        f"stages.{i}.layer.{param}": obj[f"{src}.{key}"]
        for i, src in enumerate(sources)
        for param, key in (("weight", "conv.weight"), ("bias", "wscale.bias"))
    }
    _load_into(g, state, str(path))
    return Prior(path.stem, g, None, _card("mganprior", g, None, path))


def _zoo_generator(obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Tensor]] | None:
    for key in ("avgG", "netG"):
        state = obj.get(key)
        if isinstance(state, Mapping) and "formatLayer.module.weight" in state:
            return key, state
    return None


def _zoo_matches(obj: Mapping[str, Any]) -> bool:
    return _zoo_generator(obj) is not None


def _zoo_config(obj: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The pickled model config as a dict (empty when absent), refusing settings not reproduced here."""
    config = obj.get("config")
    values = dict(config) if isinstance(config, Mapping) else dict(vars(config)) if config is not None else {}
    checks = {
        "alpha": (0.0, "only a fully grown model (alpha 0) can be used as a prior"),
        "equalizedlR": (True, "only equalised-learning-rate models are supported"),
        "perChannelNormalization": (True, "only pixel-normalised generators are supported"),
        "leakyReluLeak": (LEAK, f"only LeakyReLU slope {LEAK} is supported"),
    }
    for name, (want, why) in checks.items():
        if name in values and values[name] != want:
            raise GanpriorError(f"{path}: config {name} is {values[name]!r}: {why}")
    return values


def _zoo_d(state: Mapping[str, Tensor], path: Path) -> PGGANDiscriminator:
    scales = len(_indices(state, r"scaleLayers\.(\d+)\.0\.module\.weight"))
    first = state["groupScaleZero.0.module.weight"]
    widths = [first.shape[0]] + [state[f"scaleLayers.{s}.0.module.weight"].shape[0] for s in range(scales)]
    rgb = state[f"fromRGBLayers.{scales}.module.weight"]
    d = PGGANDiscriminator(
        widths, rgb.shape[1], first.shape[1] == widths[0] + 1, state["decisionLayer.module.weight"].shape[0]
    )
    sources = {"from_rgb": f"fromRGBLayers.{scales}", "conv4": "groupScaleZero.0"}
    sources |= {"dense": "groupScaleZero.1", "decision": "decisionLayer"}
    for i, s in enumerate(reversed(range(scales))):
        sources |= {f"convs.{2 * i + j}": f"scaleLayers.{s}.{j}" for j in (0, 1)}
    _load_into(d, _mapped(state, sources), f"{path} (netD)")
    return d


def _mapped(state: Mapping[str, Tensor], sources: Mapping[str, str]) -> dict[str, Tensor]:
    """{our module: their module} -> our state dict from their ``<module>.module.{weight,bias}``."""
    return {
        f"{ours}.{param}": state[f"{theirs}.module.{param}"]
        for ours, theirs in sources.items()
        for param in ("weight", "bias")
    }


def _zoo_build(obj: Mapping[str, Any], path: Path) -> Prior:
    config = _zoo_config(obj, path)
    found = _zoo_generator(obj)
    assert found is not None
    key, state = found
    scales = len(_indices(state, r"scaleLayers\.(\d+)\.0\.module\.weight"))
    dense = state["formatLayer.module.weight"]
    widths = [dense.shape[0] // 16] + [
        state[f"scaleLayers.{s}.0.module.weight"].shape[0] for s in range(scales)
    ]
    rgb = state[f"toRGBLayers.{scales}.module.weight"]
    g = PGGANGenerator(widths, dense.shape[1], rgb.shape[0], "gan_zoo")
    sources = {"stages.0.layer": "formatLayer", "stages.1.layer": "groupScale0.0"}
    sources |= {
        f"stages.{2 + 2 * s + j}.layer": f"scaleLayers.{s}.{j}" for s in range(scales) for j in (0, 1)
    }
    sources[f"stages.{g.num_stages - 1}.layer"] = f"toRGBLayers.{scales}"
    _load_into(g, _mapped(state, sources), f"{path} ({key})")
    d = _zoo_d(obj["netD"], path) if isinstance(obj.get("netD"), Mapping) else None
    extra = {"generator": key} | ({"loss": config["lossCriterion"]} if "lossCriterion" in config else {})
    return Prior(path.stem, g, d, _card("pytorch_gan_zoo", g, d, path, **extra))


MGANPRIOR = NativeFormat("pggan-mganprior", "PGGAN", _mganprior_matches, _mganprior_build)
GAN_ZOO = NativeFormat("pggan-gan-zoo", "PGGAN", _zoo_matches, _zoo_build, ZOO_CONFIG_CLASSES)
