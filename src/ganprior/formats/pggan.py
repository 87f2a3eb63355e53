"""PGGAN checkpoints in four published layouts, recognised from their keys.

- mGANprior (genforce/mganprior ``pggan_*_generator.pth``): ``lod``, ``layer{k}.conv.weight``,
  ``layer{k}.wscale.bias``, a ToRGB ``output{b}.*`` per resolution (only the last is used at lod 0).
- InterFaceGAN (``pggan_celebahq.pth``, an nn.Sequential): 1-indexed ``layer1…layerN`` with the same
  ``conv`` / ``wscale`` keys and only the final ``output_{R}x{R}.*``.
- genforce (``{generator, discriminator, generator_smooth}`` or a bare generator): ``layer{i}.weight``,
  ``layer{i}.bias``, ``output{i}.*``, ``lod``; weight scale applied at run time, bias unscaled (the
  mGANprior arithmetic). The smoothed generator is used; genforce's discriminator is not loaded.
- pytorch_GAN_zoo: ``{config, netG, netD, avgG}`` with ``formatLayer.module.*``, ``groupScale0.0``,
  ``scaleLayers.{s}.{0,1}``, ``toRGBLayers.{s}`` (G) and ``fromRGBLayers``, ``groupScaleZero``,
  ``decisionLayer`` (D); ``config`` is a pickled ``BaseConfig`` read as plain data. avgG is the
  generator (what RGI uses), netD the discriminator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
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


def _indices(state: Mapping[str, Any], pattern: str, first: int = 0) -> list[int]:
    """The integers k of the keys that match ``pattern`` (a regex with one group), which must run
    ``first``, ``first`` + 1, ... without gaps."""
    found = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(pattern, str(key))))
    if found != list(range(first, first + len(found))):
        raise GanpriorError(f"PGGAN checkpoint: layers {found} of {pattern!r} are not numbered {first}, ...")
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


def _check_lod(state: Mapping[str, Any], path: Path) -> None:
    lod = float(state.get("lod", 0))
    if lod != 0:
        raise GanpriorError(f"{path}: lod is {lod}, not 0: only a fully grown PGGAN can be used as a prior")


def _conv_stack(layers: list[tuple[Tensor, Tensor]], source: str) -> PGGANGenerator:
    """The mGANprior-arithmetic generator from [(weight, bias)] of layer0 … layerN-1 and the last ToRGB."""
    convs = layers[:-1]
    if len(convs) < 4 or len(convs) % 2:
        raise GanpriorError(f"{source}: {len(convs)} conv layers; a PGGAN has two per resolution from 4×4")
    widths = [convs[2 * i][0].shape[0] for i in range(len(convs) // 2)]
    g = PGGANGenerator(widths, convs[0][0].shape[1], layers[-1][0].shape[0], "mganprior")
    state = {
        f"stages.{i}.layer.{name}": tensor
        for i, pair in enumerate(layers)
        for name, tensor in zip(("weight", "bias"), pair, strict=True)
    }
    _load_into(g, state, source)
    return g


def _mganprior_matches(obj: Mapping[str, Any]) -> bool:
    return {"lod", "layer0.conv.weight", "layer0.wscale.bias"} <= set(obj) and "output0.conv.weight" in obj


def _mganprior_build(obj: Mapping[str, Any], path: Path) -> Prior:
    if any(re.fullmatch(r"layer\d+\.weight", str(k)) for k in obj):
        raise GanpriorError(f"{path}: a fused-scale PGGAN (transposed-conv upsampling) is not supported")
    _check_lod(obj, path)
    layers = _indices(obj, r"layer(\d+)\.conv\.weight")
    last = _indices(obj, r"output(\d+)\.conv\.weight")[-1]
    names = [f"layer{k}" for k in layers] + [f"output{last}"]
    g = _conv_stack([(obj[f"{n}.conv.weight"], obj[f"{n}.wscale.bias"]) for n in names], str(path))
    return Prior(path.stem, g, None, _card("mganprior", g, None, path))


def _interfacegan_output(obj: Mapping[str, Any]) -> str | None:
    return next(
        (m.group(1) for k in obj if (m := re.fullmatch(r"(output_\d+x\d+)\.conv\.weight", str(k)))), None
    )


def _interfacegan_matches(obj: Mapping[str, Any]) -> bool:
    return (
        "layer1.conv.weight" in obj
        and "layer0.conv.weight" not in obj
        and _interfacegan_output(obj) is not None
    )


def _interfacegan_build(obj: Mapping[str, Any], path: Path) -> Prior:
    names = [f"layer{k}" for k in _indices(obj, r"layer(\d+)\.conv\.weight", first=1)]
    names.append(str(_interfacegan_output(obj)))
    g = _conv_stack([(obj[f"{n}.conv.weight"], obj[f"{n}.wscale.bias"]) for n in names], str(path))
    return Prior(path.stem, g, None, _card("interfacegan", g, None, path))


def _genforce_generator(obj: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """genforce's smoothed (EMA) generator when the file has one, else its generator (or the file)."""
    for key in ("generator_smooth", "generator", None):
        state = obj if key is None else obj.get(key)
        if isinstance(state, Mapping) and {"layer0.weight", "output0.weight"} <= set(state):
            return key or "generator", state
    return None


def _genforce_matches(obj: Mapping[str, Any]) -> bool:
    return _genforce_generator(obj) is not None


def _genforce_build(obj: Mapping[str, Any], path: Path) -> Prior:
    key, state = _genforce_generator(obj) or ("", {})
    _check_lod(state, path)
    layers = _indices(state, r"layer(\d+)\.weight")
    last = _indices(state, r"output(\d+)\.weight")[-1]
    names = [f"layer{k}" for k in layers] + [f"output{last}"]
    g = _conv_stack([(state[f"{n}.weight"], state[f"{n}.bias"]) for n in names], f"{path} ({key})")
    # genforce's PGGAN discriminator is not re-implemented here: the prior has none
    card = _card("genforce", g, None, path, generator=key, discriminator_in_file="discriminator" in obj)
    return Prior(path.stem, g, None, card)


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
    key, state = _zoo_generator(obj) or ("", {})
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


def _naming_missing_keys(layout: str, build: Callable[[Mapping[str, Any], Path], Prior]):
    """``build`` with a missing tensor reported as one line naming it, not a KeyError."""

    def checked(obj: Mapping[str, Any], path: Path) -> Prior:
        try:
            return build(obj, path)
        except KeyError as exc:
            raise GanpriorError(f"{path} looks like a {layout} PGGAN but has no {exc.args[0]!r}") from exc

    return checked


MGANPRIOR = NativeFormat(
    "pggan-mganprior", "PGGAN", _mganprior_matches, _naming_missing_keys("mGANprior", _mganprior_build)
)
INTERFACEGAN = NativeFormat(
    "pggan-interfacegan",
    "PGGAN",
    _interfacegan_matches,
    _naming_missing_keys("InterFaceGAN", _interfacegan_build),
)
GENFORCE = NativeFormat(
    "pggan-genforce", "PGGAN", _genforce_matches, _naming_missing_keys("genforce", _genforce_build)
)
GAN_ZOO = NativeFormat(
    "pggan-gan-zoo",
    "PGGAN",
    _zoo_matches,
    _naming_missing_keys("pytorch_GAN_zoo", _zoo_build),
    ZOO_CONFIG_CLASSES,
)
