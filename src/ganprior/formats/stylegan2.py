"""StyleGAN2 in rosinality/stylegan2-pytorch's layout (the exchange format of e4e, pSp, PTI, ReStyle).

A file is a dict {g_ema, latent_avg} (+ g, d; training files add optimisers and arguments), or a
bare generator state dict; it is recognised from the generator's keys (``style.{i}.weight``,
``input.input``, ``conv1.conv.modulation.weight``, ``noises.noise_{i}``), and every width, the
resolution, w_dim and the mapping depth are read from the tensors' shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoint import Prior, _load_into
from ..errors import GanpriorError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from .base import NativeFormat

GENERATOR_KEYS = ("style.1.weight", "input.input", "conv1.conv.modulation.weight", "noises.noise_0")
LATENT_AVG_SAMPLES = 4096


def generator_state(obj: Mapping[str, Any]) -> Mapping[str, Tensor] | None:
    """The rosinality generator state dict in ``obj`` (its ``g_ema``, or ``obj`` itself), or None."""
    state = obj.get("g_ema", obj)
    if isinstance(state, Mapping) and all(isinstance(state.get(k), Tensor) for k in GENERATOR_KEYS):
        return state
    return None


def matches(obj: Mapping[str, Any]) -> bool:
    return generator_state(obj) is not None


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    """How many distinct indices ``pattern`` (a regex with one group) matches among the keys."""
    return len({m.group(1) for k in state if (m := re.fullmatch(pattern, k))})


def generator_config(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The ``StyleGAN2Generator`` options of a rosinality generator state dict, from its shapes."""
    levels = 1 + _count(state, r"to_rgbs\.(\d+)\..*")
    return {
        "resolution": 2 ** (levels + 1),
        "w_dim": state["style.1.weight"].shape[1],
        "n_mlp": _count(state, r"style\.(\d+)\.weight"),
        "widths": [state["input.input"].shape[1]]
        + [state[f"convs.{2 * k}.conv.weight"].shape[1] for k in range(levels - 1)],
        "channels": state["to_rgb1.conv.weight"].shape[1],
    }


def rosinality_to_ganprior(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """rosinality generator keys -> ``StyleGAN2Generator``'s: conv1 / to_rgb1 -> stage 0; convs.{2j},
    convs.{2j+1}, to_rgbs.{j} -> stage j+1's conv_up, conv, to_rgb; noises.noise_i -> the i-th conv's
    ``noise.fixed``; the mapping (``style.*``), ``input.input`` and ``latent_avg`` keep their names."""
    renames = [
        (r"conv1\.(.*)", lambda m: f"stages.0.conv.{m[1]}"),
        (r"to_rgb1\.(.*)", lambda m: f"stages.0.to_rgb.{m[1]}"),
        (
            r"convs\.(\d+)\.(.*)",
            lambda m: f"stages.{int(m[1]) // 2 + 1}.{('conv_up', 'conv')[int(m[1]) % 2]}.{m[2]}",
        ),
        (r"to_rgbs\.(\d+)\.(.*)", lambda m: f"stages.{int(m[1]) + 1}.to_rgb.{m[2]}"),
        (
            r"noises\.noise_(\d+)",
            lambda m: (
                "stages.0.conv.noise.fixed"
                if m[1] == "0"
                else f"stages.{(int(m[1]) + 1) // 2}.{('conv', 'conv_up')[int(m[1]) % 2]}.noise.fixed"
            ),
        ),
    ]
    out = {}
    for key, value in state.items():
        for pattern, rename in renames:
            if m := re.fullmatch(pattern, key):
                key = rename(m)
                break
        out[key] = value
    return out


def discriminator_config(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The ``StyleGAN2Discriminator`` options of a rosinality ``d`` state dict, from its shapes."""
    blocks = _count(state, r"convs\.(\d+)\.conv1\.0\.weight")
    return {
        "resolution": 4 * 2**blocks,
        "widths": [state["convs.0.0.weight"].shape[0]]
        + [state[f"convs.{i}.conv2.1.weight"].shape[0] for i in range(1, blocks + 1)],
        "channels": state["convs.0.0.weight"].shape[1],
    }


def _shape_error(path: Path, what: str, exc: Exception) -> GanpriorError:
    return GanpriorError(f"{path} looks like a rosinality StyleGAN2 file but its {what} is incomplete: {exc}")


def build(obj: Mapping[str, Any], path: Path) -> Prior:
    """The Prior of a rosinality file: G (default options of ``StyleGAN2Generator``), D when present."""
    state = generator_state(obj)
    assert state is not None
    try:
        generator = StyleGAN2Generator(**generator_config(state))
    except (KeyError, IndexError) as exc:
        raise _shape_error(path, "generator", exc) from exc
    latent_avg = obj.get("latent_avg") if state is not obj else None
    estimated = not isinstance(latent_avg, Tensor)
    stored = generator.latent_avg if estimated else latent_avg.reshape(-1)
    _load_into(generator, rosinality_to_ganprior(state) | {"latent_avg": stored}, str(path))
    if estimated:
        average = generator.mean_latent(LATENT_AVG_SAMPLES, torch.Generator().manual_seed(0))
        generator.latent_avg.copy_(average)
    discriminator = None
    if isinstance(obj.get("d"), Mapping):
        try:
            discriminator = StyleGAN2Discriminator(**discriminator_config(obj["d"]))
        except (KeyError, IndexError) as exc:
            raise _shape_error(path, "discriminator", exc) from exc
        _load_into(discriminator, dict(obj["d"]), str(path))
    card = {
        "name": path.stem,
        "family": "StyleGAN2",
        "layout": "rosinality",
        "resolution": generator.resolution,
        "channels": generator.channels,
        "latent_space": generator.latent_space,
        "latent_dim": generator.latent_dim,
        "w_dim": generator.w_dim,
        "n_latent": generator.n_latent,
        "n_mlp": generator.config["n_mlp"],
        "widths": generator.config["widths"],
        "classes": [],
        "discriminator": discriminator is not None,
        "parameters": sum(p.numel() for p in generator.parameters()),
        "latent_avg": f"estimated from {LATENT_AVG_SAMPLES} mapped z" if estimated else "stored",
        "source": str(path),
    }
    return Prior(path.stem, generator, discriminator, card)


ROSINALITY = NativeFormat("stylegan2-rosinality", "StyleGAN2", matches, build)
