"""BigGAN checkpoints as published: ajbrock BigGAN-PyTorch / DGP (G and D), their TFHub conversion,
and huggingface's BigGAN-deep. Each is recognised from its keys and shapes, never its file name.

- ``G_ema_128.pth`` & co (BigGAN-PyTorch, DGP's ``pretrained/``): a state dict with ``shared.weight``,
  ``linear.weight``, ``blocks.{i}.0.conv1.u0``, ``output_layer.0.gain``. Widths, z chunk, class count,
  shared dim and attention blocks are read off the tensors. Files with ``sv0`` buffers are
  BigGAN-PyTorch / DGP ones (BN eps 1e-5, SN eps 1e-6); files without are ajbrock's TFHub
  conversions (``biggan-{128,256,512}.pth``: eps 1e-4 / 1e-4; the converter already reordered the
  conditional-BN columns to [shared(y) | z chunk]; sv0, a log, is filled with ones as the reference's
  non-strict load leaves it).
- The discriminator ``D_128.pth`` (``embed.*``, ``linear.*``, DBlocks) cannot make a prior alone. It is
  loaded WITH its generator: when a G file is named ``G…`` (``G_ema_128.pth``, ``G_256.pth``) and the
  same folder holds the file with the leading ``G`` / ``G_ema`` replaced by ``D`` (``D_128.pth``), that
  file is read and, if it is a BigGAN D of the same resolution and class count, becomes the prior's
  discriminator (the card says which file). Any other pairing: ``attach_discriminator(prior, path)``.
- ``pytorch_model.bin`` (huggingface BigGAN-deep): ``embeddings.weight``, ``generator.gen_z.weight_orig``,
  ``running_means`` (n_stats, C). Which layers upsample cannot be read from shapes: a ``config.json``
  beside the file (``BigGAN.from_pretrained``'s folder) gives them and ``eps``; without it, every second
  layer upsamples (layers 1, 3, 5, …), as in all three released models, and eps is 1e-4.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoint import Prior, _load_into
from ..errors import GanpriorError
from ..models import BigGANDeepGenerator, BigGANDiscriminator, BigGANGenerator
from .base import NativeFormat, read_torch_file

TFHUB_EPS = (1e-4, 1e-4)
PYTORCH_EPS = (1e-5, 1e-6)
"""(BN eps, SN eps) of the TFHub conversions and of BigGAN-PyTorch / DGP."""


def _has(obj: Mapping[str, Any], *keys: str) -> bool:
    return all(isinstance(obj.get(k), Tensor) for k in keys)


def is_biggan_g(obj: Mapping[str, Any]) -> bool:
    return _has(obj, "shared.weight", "linear.weight", "blocks.0.0.conv1.u0", "output_layer.0.gain")


def is_biggan_d(obj: Mapping[str, Any]) -> bool:
    return "shared.weight" not in obj and _has(
        obj, "embed.weight", "embed.u0", "linear.u0", "blocks.0.0.conv1.u0"
    )


def is_biggan_deep(obj: Mapping[str, Any]) -> bool:
    return _has(obj, "embeddings.weight", "generator.gen_z.weight_orig")


def is_tfhub(state: Mapping[str, Any]) -> bool:
    """A TFHub conversion: BigGAN-PyTorch keys without any ``sv0`` buffer."""
    return not any(k.endswith(".sv0") for k in state)


def _indices(state: Mapping[str, Any], prefix: str) -> list[int]:
    """Sorted distinct i of the keys ``{prefix}{i}.…``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pattern.match(k))})


def _shape(state: Mapping[str, Tensor], key: str, path: Path) -> torch.Size:
    if key not in state:
        raise GanpriorError(
            f"{path} looks like a BigGAN checkpoint but has no {key}: a damaged or edited file?"
        )
    return state[key].shape


def biggan_config(state: Mapping[str, Tensor], path: Path) -> dict[str, Any]:
    """``BigGANGenerator`` arguments read off a BigGAN-PyTorch / DGP / TFHub-converted G state dict."""
    blocks = _indices(state, "blocks.")
    widths = [_shape(state, "blocks.0.0.conv1.weight", path)[1]]
    widths += [_shape(state, f"blocks.{i}.0.conv1.weight", path)[0] for i in blocks]
    num_classes, shared_dim = _shape(state, "shared.weight", path)
    out, z_chunk = _shape(state, "linear.weight", path)
    cond = _shape(state, "blocks.0.0.bn1.gain.weight", path)[1]
    if cond != shared_dim + z_chunk:
        raise GanpriorError(
            f"{path}: conditional BN takes {cond} inputs, not shared ({shared_dim}) + z chunk ({z_chunk}): "
            "only the hierarchical-z BigGAN (as released) is supported"
        )
    bn_eps, sn_eps = TFHUB_EPS if is_tfhub(state) else PYTORCH_EPS
    return dict(
        widths=widths,
        attention=[i for i in blocks if f"blocks.{i}.1.gamma" in state],
        num_classes=num_classes,
        shared_dim=shared_dim,
        z_chunk=z_chunk,
        bottom=math.isqrt(out // widths[0]),
        bn_eps=bn_eps,
        sn_eps=sn_eps,
    )


def _biggan_key(key: str, blocks: int) -> str | None:
    """A BigGAN-PyTorch G key -> the ``BigGANGenerator`` key (None: DGP's unused instance norms)."""
    if key.startswith("linear."):
        return "stages.0." + key
    if m := re.match(r"blocks\.(\d+)\.([01])\.(.*)", key):
        if re.match(r"in[12]\.", m.group(3)):
            return None
        part = "block" if m.group(2) == "0" else "attention"
        return f"stages.{int(m.group(1)) + 1}.{part}.{m.group(3)}"
    if m := re.match(r"output_layer\.([02])\.(.*)", key):
        return f"stages.{blocks + 1}.{'bn' if m.group(1) == '0' else 'conv'}.{m.group(2)}"
    return key


def biggan_generator(state: Mapping[str, Tensor], path: Path) -> BigGANGenerator:
    """The generator of a BigGAN-PyTorch / DGP / TFHub-converted G state dict, weights loaded."""
    g = BigGANGenerator(**biggan_config(state, path))
    blocks = g.num_stages - 2
    mapped = {new: v for k, v in state.items() if (new := _biggan_key(k, blocks)) is not None}
    if is_tfhub(state):
        mapped |= {k: torch.ones(1) for k in g.state_dict() if k.endswith(".sv0")}
    _load_into(g, mapped, str(path))
    return g


def biggan_discriminator(state: Mapping[str, Tensor], path: Path) -> BigGANDiscriminator:
    """The discriminator of a BigGAN-PyTorch / DGP D state dict, weights loaded.

    Block i downsamples iff it has a shortcut conv (true of every BigGAN D arch: only the last,
    width-keeping block of the 64–512 px archs lacks both)."""
    specs = []
    for i in _indices(state, "blocks."):
        hidden, c_in = _shape(state, f"blocks.{i}.0.conv1.weight", path)[:2]
        c_out = _shape(state, f"blocks.{i}.0.conv2.weight", path)[0]
        specs.append([c_in, hidden, c_out, f"blocks.{i}.0.conv_sc.weight" in state])
    if _shape(state, "linear.weight", path)[0] != 1:
        raise GanpriorError(
            f"{path}: a BigGAN D with {state['linear.weight'].shape[0]} outputs; only 1 is supported"
        )
    d = BigGANDiscriminator(
        specs,
        attention=[i for i in range(len(specs)) if f"blocks.{i}.1.gamma" in state],
        num_classes=_shape(state, "embed.weight", path)[0],
        sn_eps=PYTORCH_EPS[1],
    )
    _load_into(d, dict(state), str(path))
    return d


def attach_discriminator(prior: Prior, path: str | Path) -> Prior:
    """``prior`` (a BigGAN) with the BigGAN D in ``path`` as its discriminator (checked to fit)."""
    path = Path(path)
    state = read_torch_file(path)
    if not isinstance(state, Mapping) or not is_biggan_d(state):
        raise GanpriorError(f"{path} is not a BigGAN discriminator (BigGAN-PyTorch / DGP D_*.pth layout)")
    return prior.attach(biggan_discriminator(state, path), str(path))


def _companion(path: Path) -> Path | None:
    """``D_128.pth`` beside ``G_ema_128.pth`` (or ``G_128.pth``), if that file exists."""
    name = re.sub(r"^G(_ema)?(?=[_.])", "D", path.name)
    candidate = path.with_name(name)
    return candidate if name != path.name and candidate.is_file() else None


def _card(prior_name: str, layout: str, g: Any, path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": prior_name,
        "family": "BigGAN-deep" if isinstance(g, BigGANDeepGenerator) else "BigGAN",
        "layout": layout,
        "resolution": g.resolution,
        "channels": g.channels,
        "latent_dim": g.latent_dim,
        "classes": g.num_classes,
        "discriminator": False,
        "parameters": sum(p.numel() for p in g.parameters()),
        "source": str(path),
        **extra,
    }


def build_biggan(state: Mapping[str, Tensor], path: Path) -> Prior:
    g = biggan_generator(state, path)
    layout = "TFHub conversion (ajbrock)" if is_tfhub(state) else "BigGAN-PyTorch / DGP"
    prior = Prior(path.stem, g, None, _card(path.stem, layout, g, path))
    companion = _companion(path)
    if companion is not None:
        try:
            attach_discriminator(prior, companion)
        except GanpriorError as exc:
            prior.card["discriminator_skipped"] = str(exc)
    return prior


def refuse_lone_discriminator(state: Mapping[str, Tensor], path: Path) -> Prior:
    raise GanpriorError(
        f"{path} is a BigGAN discriminator alone, which cannot make a prior: load its generator "
        "(e.g. G_ema_128.pth; a D_128.pth beside it is loaded with it) or use "
        "ganprior.formats.biggan.attach_discriminator(prior, path)"
    )


_HF_RENAMES = {
    "snconv1x1_theta": "theta",
    "snconv1x1_phi": "phi",
    "snconv1x1_g": "g",
    "snconv1x1_o_conv": "o",
}
_HF_SUFFIXES = {"weight_orig": "weight", "weight_u": "u", "weight_v": "v"}


def _deep_key(key: str, last: int) -> str:
    """A huggingface BigGAN key -> the ``BigGANDeepGenerator`` key."""
    parts = key.split(".")
    parts[-1] = _HF_SUFFIXES.get(parts[-1], parts[-1])
    parts = [_HF_RENAMES.get(p, p) for p in parts]
    if parts[0] != "generator":
        return ".".join(parts)
    if parts[1] == "gen_z":
        return ".".join(["stages", "0", *parts[1:]])
    if parts[1] == "layers":
        return ".".join(["stages", str(int(parts[2]) + 1), *parts[3:]])
    return ".".join(["stages", str(last), *parts[1:]])


def _hf_json(path: Path) -> dict[str, Any] | None:
    """The ``BigGANConfig`` json beside a ``pytorch_model.bin``, if there is one."""
    beside = path.with_name("config.json")
    if not beside.is_file():
        return None
    try:
        config = json.loads(beside.read_text())
    except (OSError, ValueError) as exc:
        raise GanpriorError(f"cannot read {beside}: {exc}") from exc
    return config if isinstance(config, dict) and "layers" in config else None


def biggan_deep_config(state: Mapping[str, Tensor], path: Path) -> dict[str, Any]:
    """``BigGANDeepGenerator`` arguments from the tensors (and ``config.json`` beside the file)."""
    z_dim, num_classes = _shape(state, "embeddings.weight", path)
    ch = _shape(state, "generator.conv_to_rgb.weight_orig", path)[1]
    entries = _indices(state, "generator.layers.")
    attention = [k for k in entries if f"generator.layers.{k}.gamma" in state]
    blocks = [k for k in entries if k not in attention]
    widths = [
        (
            _shape(state, f"generator.layers.{k}.conv_0.weight_orig", path)[1] // ch,
            _shape(state, f"generator.layers.{k}.conv_3.weight_orig", path)[0] // ch,
        )
        for k in blocks
    ]
    if len(attention) > 1:
        raise GanpriorError(f"{path}: {len(attention)} attention layers; BigGAN-deep has one")
    position = attention[0] if attention else len(blocks)
    side = _hf_json(path)
    ups = [bool(layer[0]) for layer in side["layers"]] if side else [i % 2 == 1 for i in range(len(blocks))]
    layers = [[up, a, b] for up, (a, b) in zip(ups, widths, strict=False)]
    if side and (
        [[bool(u), int(a), int(b)] for u, a, b in side["layers"]] != layers
        or len(layers) != len(blocks)
        or side.get("attention_layer_position", position) != position
    ):
        raise GanpriorError(f"{path} does not fit the layers or attention of {path.with_name('config.json')}")
    return dict(
        z_dim=z_dim,
        num_classes=num_classes,
        channel_width=ch,
        layers=layers,
        attention_layer_position=position,
        n_stats=_shape(state, "generator.bn.running_means", path)[0],
        eps=float(side.get("eps", 1e-4)) if side else 1e-4,
    )


def build_biggan_deep(state: Mapping[str, Tensor], path: Path) -> Prior:
    g = BigGANDeepGenerator(**biggan_deep_config(state, path))
    _load_into(g, {_deep_key(k, g.num_stages - 1): v for k, v in state.items()}, str(path))
    name = path.parent.name if path.stem == "pytorch_model" and path.parent.name else path.stem
    card = _card(name, "huggingface pytorch-pretrained-BigGAN", g, path, truncation=g.truncation)
    return Prior(name, g, None, card)


BIGGAN = NativeFormat("biggan", "BigGAN", is_biggan_g, build_biggan)
BIGGAN_D = NativeFormat("biggan-d", "BigGAN", is_biggan_d, refuse_lone_discriminator)
BIGGAN_DEEP = NativeFormat("biggan-deep", "BigGAN-deep", is_biggan_deep, build_biggan_deep)
