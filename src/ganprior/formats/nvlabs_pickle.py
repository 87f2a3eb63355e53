"""NVlabs network pickles (StyleGAN2-ADA, StyleGAN3: ``torch_utils.persistence`` objects) read as data.

A network in such a pickle is ``_reconstruct_persistent_obj(meta)``, which in NVlabs' code EXECUTES
``meta['module_src']`` to rebuild the class. Under ``STUBS`` that global resolves to
``persistent_meta`` instead, which returns ``meta`` untouched ({type, version, module_src, class_name,
state}, the source never run), and ``dnnlib.util.EasyDict`` to ``dict``. A network's tensors are in
``state['_parameters' / '_buffers']``, recursively through ``state['_modules']``; its constructor
arguments in ``state['_init_kwargs']``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

from ..errors import GanpriorError


def persistent_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: ``meta``, untouched."""
    return meta


STUBS: dict[str, Any] = {
    "torch_utils.persistence._reconstruct_persistent_obj": persistent_meta,
    "dnnlib.util.EasyDict": dict,
}
"""The globals of an NVlabs pickle beyond tensors and numpy, each mapped to a data-only stand-in."""


def is_persistent(obj: Any) -> bool:
    """Whether ``obj`` is the ``meta`` of a persistent object (what ``persistent_meta`` returned)."""
    return (
        isinstance(obj, Mapping)
        and obj.get("type") == "class"
        and isinstance(obj.get("class_name"), str)
        and isinstance(obj.get("state"), Mapping)
    )


def flat_state(meta: Mapping[str, Any]) -> dict[str, Tensor]:
    """A persistent network's parameters and buffers as one state dict, names joined with '.'
    (``mapping.fc0.weight``, ``synthesis.b4.conv1.noise_const``, ...); ``None`` entries skipped."""
    out: dict[str, Tensor] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        state = node["state"]
        for group in ("_parameters", "_buffers"):
            for name, tensor in (state.get(group) or {}).items():
                if tensor is None:
                    continue
                if not isinstance(tensor, Tensor):
                    raise GanpriorError(
                        f"{prefix}{name} in {node['class_name']} is a {type(tensor).__name__}"
                    )
                out[f"{prefix}{name}"] = tensor.detach()
        for name, child in (state.get("_modules") or {}).items():
            if child is None:
                continue
            if not is_persistent(child):
                raise GanpriorError(f"the submodule {prefix}{name} of {node['class_name']} is not a network")
            walk(child, f"{prefix}{name}.")

    walk(meta, "")
    return out


def init_kwargs(meta: Mapping[str, Any]) -> Mapping[str, Any]:
    """The keyword arguments the network was constructed with (``{}`` when not stored)."""
    kwargs = meta["state"].get("_init_kwargs")
    return kwargs if isinstance(kwargs, Mapping) else {}
