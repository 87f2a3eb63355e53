"""NVlabs StyleGAN2-ADA network pickles (``ffhq.pkl``, ``metfaces.pkl``, ...) on the same architecture.

``nvlabs_to_rosinality`` takes the flat state dicts of ``G_ema`` (and ``D``), the tensors
``nvlabs_pickle.flat_state`` collects from the persistent objects' ``_parameters`` / ``_buffers``,
and returns the dict a rosinality file holds ({g_ema, latent_avg} + d). Only the default
architectures are mapped (G "skip", D "resnet", unconditional); any other key is refused by name.
``NVLABS`` recognises a pickle {G, D, G_ema, augment_pipe, training_set_kwargs} from its content,
checks the networks' classes and constructor arguments, and builds G from G_ema, and D, with the
networks' ``conv_clamp`` and D's minibatch-stddev group. They run in float32 (NVlabs runs the top
``num_fp16_res`` resolutions in float16 on a GPU unless ``force_fp32``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from torch import Tensor

from ..checkpoint import Prior
from ..errors import GanpriorError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from . import stylegan2
from .base import NativeFormat
from .nvlabs_pickle import STUBS, flat_state, init_kwargs, is_persistent

BLUR_UP_GAIN = 4
"""rosinality stores the upsampling blur kernels × up² (4); NVlabs' ``resample_filter`` sums to 1."""

Net = TypeVar("Net", StyleGAN2Generator, StyleGAN2Discriminator)
Renamer = Callable[[re.Match[str], Tensor], dict[str, Tensor]]


def _level(resolution: str) -> int:
    """b8 -> 0, b16 -> 1, …: the index of a block above 4×4 px."""
    return int(resolution).bit_length() - 4


def _same(t: Tensor) -> Tensor:
    return t


CONV_FIELDS: dict[str, tuple[str, Callable[[Tensor], Tensor]]] = {
    "weight": ("conv.weight", lambda t: t[None]),
    "bias": ("activate.bias", _same),
    "noise_strength": ("noise.weight", lambda t: t.reshape(1)),
    "affine.weight": ("conv.modulation.weight", _same),
    "affine.bias": ("conv.modulation.bias", _same),
}
"""A SynthesisLayer's tensors: NVlabs field -> (rosinality StyledConv field, reshape)."""
RGB_FIELDS: dict[str, tuple[str, Callable[[Tensor], Tensor]]] = {
    "weight": ("conv.weight", lambda t: t[None]),
    "bias": ("bias", lambda t: t.reshape(1, -1, 1, 1)),
    "affine.weight": ("conv.modulation.weight", _same),
    "affine.bias": ("conv.modulation.bias", _same),
}
"""A ToRGBLayer's tensors: NVlabs field -> (rosinality ToRGB field, reshape)."""


def _field(
    table: dict[str, tuple[str, Callable[[Tensor], Tensor]]], name: str, field: str, t: Tensor
) -> dict[str, Tensor]:
    suffix, reshape = table[field]
    return {f"{name}.{suffix}": reshape(t)}


def _noise(index: int, t: Tensor) -> dict[str, Tensor]:
    """noise_const (H, W) -> rosinality's buffer noises.noise_{index} (1, 1, H, W)."""
    return {f"noises.noise_{index}": t[None, None]}


_CONV = r"(weight|bias|noise_strength|affine\.weight|affine\.bias)"
_RGB = r"(weight|bias|affine\.weight|affine\.bias)"

GENERATOR_RULES: list[tuple[str, Renamer]] = [
    (r"mapping\.fc(\d+)\.(weight|bias)", lambda m, t: {f"style.{int(m[1]) + 1}.{m[2]}": t}),
    (r"mapping\.w_avg", lambda m, t: {"latent_avg": t}),
    (r"synthesis\.b4\.const", lambda m, t: {"input.input": t[None]}),
    (r"synthesis\.b4\.conv1\.noise_const", lambda m, t: _noise(0, t)),
    (rf"synthesis\.b4\.conv1\.{_CONV}", lambda m, t: _field(CONV_FIELDS, "conv1", m[1], t)),
    (rf"synthesis\.b4\.torgb\.{_RGB}", lambda m, t: _field(RGB_FIELDS, "to_rgb1", m[1], t)),
    (
        r"synthesis\.b(\d+)\.conv([01])\.noise_const",
        lambda m, t: _noise(2 * _level(m[1]) + int(m[2]) + 1, t),
    ),
    (
        rf"synthesis\.b(\d+)\.conv([01])\.{_CONV}",
        lambda m, t: _field(CONV_FIELDS, f"convs.{2 * _level(m[1]) + int(m[2])}", m[3], t),
    ),
    (
        rf"synthesis\.b(\d+)\.torgb\.{_RGB}",
        lambda m, t: _field(RGB_FIELDS, f"to_rgbs.{_level(m[1])}", m[2], t),
    ),
    (
        r"synthesis\.b(\d+)\.resample_filter",
        lambda m, t: (
            {}
            if m[1] == "4"
            else {
                f"convs.{2 * _level(m[1])}.conv.blur.kernel": t * BLUR_UP_GAIN,
                f"to_rgbs.{_level(m[1])}.upsample.kernel": t * BLUR_UP_GAIN,
            }
        ),
    ),
    (r"synthesis\.b\d+\.(conv[01]|torgb)\.resample_filter", lambda m, t: {}),  # copies of the block's
]


def _discriminator_rules(top: int) -> list[tuple[str, Renamer]]:
    """D names for a ``top``-px discriminator: block b{R} is rosinality's ResBlock convs.{log2(top/R)+1}."""

    def block(resolution: str) -> int:
        return top.bit_length() - int(resolution).bit_length() + 1

    return [
        (rf"b{top}\.fromrgb\.weight", lambda m, t: {"convs.0.0.weight": t}),
        (rf"b{top}\.fromrgb\.bias", lambda m, t: {"convs.0.1.bias": t}),
        (r"b(\d+)\.conv0\.weight", lambda m, t: {f"convs.{block(m[1])}.conv1.0.weight": t}),
        (r"b(\d+)\.conv0\.bias", lambda m, t: {f"convs.{block(m[1])}.conv1.1.bias": t}),
        (r"b(\d+)\.conv1\.weight", lambda m, t: {f"convs.{block(m[1])}.conv2.1.weight": t}),
        (r"b(\d+)\.conv1\.bias", lambda m, t: {f"convs.{block(m[1])}.conv2.2.bias": t}),
        (r"b(\d+)\.skip\.weight", lambda m, t: {f"convs.{block(m[1])}.skip.1.weight": t}),
        (
            r"b(\d+)\.resample_filter",
            lambda m, t: {f"convs.{block(m[1])}.conv2.0.kernel": t, f"convs.{block(m[1])}.skip.0.kernel": t},
        ),
        (r"b\d+\.(fromrgb|conv[01]|skip)\.resample_filter", lambda m, t: {}),  # copies of the block's
        (r"b4\.conv\.(weight|bias)", lambda m, t: {f"final_conv.{0 if m[1] == 'weight' else 1}.{m[1]}": t}),
        (r"b4\.fc\.(weight|bias)", lambda m, t: {f"final_linear.0.{m[1]}": t}),
        (r"b4\.out\.(weight|bias)", lambda m, t: {f"final_linear.1.{m[1]}": t}),
    ]


def _rename(state: Mapping[str, Tensor], rules: list[tuple[str, Renamer]], what: str) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, tensor in state.items():
        rule = next(((m, f) for p, f in rules if (m := re.fullmatch(p, key))), None)
        if rule is None:
            raise GanpriorError(
                f"NVlabs {what} key {key!r} is not mapped (only unconditional StyleGAN2-ADA with the "
                "default 'skip' generator and 'resnet' discriminator is supported)"
            )
        out |= rule[1](rule[0], tensor)
    return out


def nvlabs_to_rosinality(
    g_state: Mapping[str, Tensor], d_state: Mapping[str, Tensor] | None = None
) -> dict[str, dict[str, Tensor] | Tensor]:
    """Flat ``G_ema`` (``mapping.*``, ``synthesis.*``) [and ``D``] state dicts -> {g_ema, latent_avg[, d]}
    in rosinality's names and shapes (conv weights gain a leading 1, noise_const (H, W) -> (1, 1, H, W),
    ToRGB biases -> (1, C, 1, 1), upsampling blur kernels × 4)."""
    g_ema = _rename(g_state, GENERATOR_RULES, "generator")
    out: dict[str, dict[str, Tensor] | Tensor] = (
        {"latent_avg": g_ema.pop("latent_avg")} if "latent_avg" in g_ema else {}
    )
    out["g_ema"] = g_ema
    if d_state is not None:
        top = max((int(m[1]) for k in d_state if (m := re.match(r"b(\d+)\.", k))), default=4)
        out["d"] = _rename(d_state, _discriminator_rules(top), "discriminator")
    return out


def build(g_state: Mapping[str, Tensor], d_state: Mapping[str, Tensor] | None, path: Path) -> Prior:
    """The Prior of an NVlabs StyleGAN2-ADA network pickle, from the tensors of its G_ema [and D]."""
    prior = stylegan2.build(nvlabs_to_rosinality(g_state, d_state), path)
    prior.card["layout"] = "nvlabs-stylegan2-ada"
    return prior


NETWORK_MODULES = ("training.networks", "training.networks_stylegan2")
"""Where StyleGAN2-ADA's classes live: the stylegan2-ada-pytorch repository, and stylegan3's copy."""
DEFAULT_ARCHITECTURE = {"Generator": "skip", "Discriminator": "resnet"}
MBSTD_GROUP = 4
"""NVlabs' and rosinality's default minibatch-stddev group (``epilogue_kwargs.mbstd_group_size``)."""


def matches(obj: Mapping[str, Any]) -> bool:
    """An NVlabs network pickle: its ``G_ema`` is a persistent object (StyleGAN3's too: ``build``
    then says why it cannot run it)."""
    return is_persistent(obj.get("G_ema"))


def _checked(meta: Mapping[str, Any], role: str, kind: str, path: Path) -> Mapping[str, Any]:
    """``meta``'s constructor arguments, once its class is StyleGAN2-ADA's ``kind`` with the default
    architecture and no classes; otherwise one line saying why not."""
    name = meta["class_name"]
    if "stylegan3" in name:
        raise GanpriorError(
            f"{path}: {role} is a StyleGAN3 network ({name}); only StyleGAN2-ADA is supported"
        )
    if name not in {f"{module}.{kind}" for module in NETWORK_MODULES}:
        raise GanpriorError(f"{path}: {role} is a {name}, not a StyleGAN2-ADA {kind}")
    kwargs = init_kwargs(meta)
    if kwargs.get("c_dim"):
        raise GanpriorError(
            f"{path}: {role} is class-conditional (c_dim={kwargs['c_dim']}); only unconditional "
            "StyleGAN2-ADA networks are supported"
        )
    options = (kwargs.get("synthesis_kwargs") or {}) if kind == "Generator" else kwargs
    architecture = options.get("architecture", DEFAULT_ARCHITECTURE[kind])
    if architecture != DEFAULT_ARCHITECTURE[kind]:
        raise GanpriorError(
            f"{path}: {role} has the {architecture!r} architecture; only StyleGAN2-ADA's default "
            f"{DEFAULT_ARCHITECTURE[kind]!r} {kind.lower()} is supported"
        )
    return kwargs


def _mbstd_group(d_kwargs: Mapping[str, Any], path: Path) -> int:
    """D's minibatch-stddev group size, refusing what rosinality's layer cannot compute."""
    epilogue = d_kwargs.get("epilogue_kwargs") or {}
    group, channels = epilogue.get("mbstd_group_size", MBSTD_GROUP), epilogue.get("mbstd_num_channels", 1)
    if not isinstance(group, int) or channels != 1:
        raise GanpriorError(
            f"{path}: D's minibatch stddev (group {group}, {channels} channels) is not supported; "
            "only an integer group with 1 channel"
        )
    return group


def _same_resolution(kwargs: Mapping[str, Any], resolution: int, role: str, path: Path) -> None:
    stated = kwargs.get("img_resolution", resolution)
    if stated != resolution:
        raise GanpriorError(
            f"{path}: {role} says img_resolution {stated} but its tensors make {resolution} px"
        )


def _with_options(net: Net, **options: Any) -> Net:
    """``net`` rebuilt with some constructor ``options`` changed, with the same weights."""
    if all(net.config.get(k) == v for k, v in options.items()):
        return net
    again = type(net)(**net.config | options)
    again.load_state_dict(net.state_dict())
    return again


def _clamp(kwargs: Mapping[str, Any]) -> float | None:
    clamp = kwargs.get("conv_clamp")
    return None if clamp is None else float(clamp)


def build_pickle(obj: Mapping[str, Any], path: Path) -> Prior:
    """The Prior of an NVlabs StyleGAN2-ADA pickle: G from ``G_ema`` (``G`` and ``augment_pipe`` are
    not used), D when the pickle has one, both checked against their ``_init_kwargs``."""
    g_kwargs = _checked(obj["G_ema"], "G_ema", "Generator", path)
    z_dim, w_dim = g_kwargs.get("z_dim"), g_kwargs.get("w_dim")
    if z_dim is not None and w_dim is not None and z_dim != w_dim:
        raise GanpriorError(f"{path}: G_ema has z_dim {z_dim} != w_dim {w_dim}, which is not supported")
    d_meta = obj.get("D")
    d_kwargs = _checked(d_meta, "D", "Discriminator", path) if is_persistent(d_meta) else None
    prior = build(flat_state(obj["G_ema"]), flat_state(d_meta) if d_kwargs is not None else None, path)
    _same_resolution(g_kwargs, prior.generator.resolution, "G_ema", path)
    synthesis = g_kwargs.get("synthesis_kwargs") or {}
    prior.generator = _with_options(prior.generator, conv_clamp=_clamp(synthesis))
    if d_kwargs is not None and prior.discriminator is not None:
        _same_resolution(d_kwargs, prior.discriminator.resolution, "D", path)
        prior.discriminator = _with_options(
            prior.discriminator, stddev_group=_mbstd_group(d_kwargs, path), conv_clamp=_clamp(d_kwargs)
        )
    prior.card |= {
        "nvlabs_class": obj["G_ema"]["class_name"],
        "conv_clamp": _clamp(synthesis),
        "num_fp16_res": int(synthesis.get("num_fp16_res", 0)),
    }
    return prior


NVLABS = NativeFormat("stylegan2-ada-nvlabs", "StyleGAN2", matches, build_pickle, pickle_stubs=STUBS)
