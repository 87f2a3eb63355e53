"""Reading and writing priors: one safetensors file holds G, D (optional) and the model card.

Layout: tensors ``generator.<key>`` and ``discriminator.<key>``; metadata ``ganprior`` is a JSON
object ``{"generator": {"arch", "config"}, "discriminator": {...} | null, "card": {...}}``.
Nothing here executes code from a file: safetensors, or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from .errors import GanpriorError
from .files import save_tensors, tensor_metadata
from .models import StagedDiscriminator, StagedGenerator, build


@dataclass
class Prior:
    """A generator (and, when trained here, its discriminator) with the card that describes them."""

    name: str
    generator: StagedGenerator
    discriminator: StagedDiscriminator | None = None
    card: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> Prior:
        self.generator.to(device)
        if self.discriminator is not None:
            self.discriminator.to(device)
        return self

    def summary(self) -> dict[str, Any]:
        """What a user needs to know about the prior: family and layout (from its card), resolution,
        channels, latent size, classes, stages, whether it has a D, and parameter counts."""
        g, d = self.generator, self.discriminator
        return {
            "name": self.name,
            "family": self.card.get("family", g.arch_name),
            "layout": self.card.get("layout", "ganprior"),
            "architecture": g.arch_name,
            "resolution": g.resolution,
            "channels": g.channels,
            "latent_dim": g.latent_dim,
            "classes": g.num_classes,
            "stages": g.num_stages,
            "discriminator": d is not None,
            "generator_parameters": sum(p.numel() for p in g.parameters()),
            "discriminator_parameters": sum(p.numel() for p in d.parameters()) if d is not None else 0,
        }

    def configure(self, **options: Any) -> Prior:
        """Set the generator's run-time options (``StagedGenerator.runtime_options``: e.g. StyleGAN2's
        latent_space, truncation, noise; BigGAN-deep's truncation; None: unchanged) and note them on
        the card. An option the generator does not take is refused in one line."""
        asked = {k: v for k, v in options.items() if v is not None}
        g = self.generator
        missing = [k for k in asked if k not in g.runtime_options]
        if missing:
            takes = ", ".join(o.replace("_", "-") for o in g.runtime_options) or "none"
            family = self.card.get("family", g.arch_name)
            raise GanpriorError(
                f"{self.name} ({family}) takes no {missing[0].replace('_', '-')} option "
                f"(its run-time options: {takes})"
            )
        if asked:
            g.configure(**asked)
            self.card = {**self.card, **asked} | (
                {"latent_dim": g.latent_dim} if "latent_dim" in self.card else {}
            )
        return self

    def attach(self, discriminator: StagedDiscriminator, source: str) -> Prior:
        """This prior with ``discriminator`` (from file ``source``) on the generator's device, checked
        to take the generator's images: the same resolution, channels and classes."""
        g, d = self.generator, discriminator
        if (d.resolution, d.channels, d.num_classes) != (g.resolution, g.channels, g.num_classes):
            raise GanpriorError(
                f"{source} is a {d.resolution} px, {d.channels}-channel, {d.num_classes}-class "
                f"discriminator; the generator is {g.resolution} px, {g.channels}-channel with "
                f"{g.num_classes} classes"
            )
        self.discriminator = d.to(next(g.parameters()).device).eval().requires_grad_(False)
        self.card = {**self.card, "discriminator": True, "discriminator_source": source}
        return self

    def eval(self) -> Prior:
        self.generator.eval().requires_grad_(False)
        if self.discriminator is not None:
            self.discriminator.eval().requires_grad_(False)
        return self


def _spec(module: nn.Module) -> dict[str, Any]:
    return {"arch": module.arch_name, "config": module.config}


def save_prior(path: str | Path, prior: Prior) -> None:
    """Write ``prior`` to a safetensors file whole (temporary file, then rename)."""
    path = Path(path)
    tensors = {
        f"generator.{k}": v.detach().cpu().contiguous() for k, v in prior.generator.state_dict().items()
    }
    meta: dict[str, Any] = {"generator": _spec(prior.generator), "discriminator": None, "card": prior.card}
    if prior.discriminator is not None:
        tensors |= {
            f"discriminator.{k}": v.detach().cpu().contiguous()
            for k, v in prior.discriminator.state_dict().items()
        }
        meta["discriminator"] = _spec(prior.discriminator)
    save_tensors(path, tensors, {"ganprior": json.dumps(meta)})


def _load_into(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:3])}" if missing else "",
                f"unexpected {', '.join(unexpected[:3])}" if unexpected else "",
                ", ".join(
                    f"{k} is {tuple(state[k].shape)} not {tuple(expected[k].shape)}" for k in wrong[:3]
                ),
            )
            if part
        )
        raise GanpriorError(
            f"{source} does not fit architecture {module.arch_name!r} {module.config}: {detail}"
        )
    module.load_state_dict(state)


def _split(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_prior(
    path: str | Path, name: str | None = None, arch: str | None = None, config: dict[str, Any] | None = None
) -> Prior:
    """Load a prior from a ganprior safetensors file, or a user's bare generator checkpoint.

    A published layout (a torch file, or a raw pickle such as NVlabs' ``.pkl``, read without running
    anything) is recognised from its content. A bare checkpoint (``.safetensors`` without ganprior
    metadata, or ``.pt``/``.pth`` read with ``weights_only=True``) holds a generator state dict;
    ``arch`` and ``config`` say what to build.
    """
    path = Path(path)
    if not path.is_file():
        raise GanpriorError(f"checkpoint {path} does not exist")
    meta: dict[str, Any] | None = None
    if path.suffix == ".safetensors":
        try:
            meta = tensor_metadata(path, "ganprior")
            tensors = load_file(str(path))
        except (SafetensorError, OSError, RuntimeError, json.JSONDecodeError) as exc:
            raise GanpriorError(f"cannot read checkpoint {path}: {exc}") from exc
    else:
        from .formats import read_checkpoint, recognise

        loaded = read_checkpoint(path)
        native = recognise(loaded) if arch is None else None
        if native is not None:
            prior = native.build(loaded, path)
            prior.name = name or prior.name
            return prior.eval()
        tensors = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
        if not isinstance(tensors, dict):
            raise GanpriorError(f"{path} holds no state dict")
    if meta is None:
        if arch is None:
            raise GanpriorError(
                f"{path} is neither a ganprior file nor a known published layout "
                "(BigGAN, BigGAN-deep, PGGAN, StyleGAN2, StyleGAN2-ADA): for a bare state dict say which "
                "architecture it is (--arch, --arch-option)"
            )
        meta = {"generator": {"arch": arch, "config": config or {}}, "discriminator": None, "card": {}}
        if not any(k.startswith("generator.") for k in tensors):
            tensors = {f"generator.{k}": v for k, v in tensors.items()}
    generator = build(meta["generator"]["arch"], meta["generator"]["config"])
    _load_into(generator, _split(tensors, "generator."), str(path))
    discriminator = None
    if meta.get("discriminator"):
        discriminator = build(meta["discriminator"]["arch"], meta["discriminator"]["config"])
        _load_into(discriminator, _split(tensors, "discriminator."), str(path))
    card = dict(meta.get("card") or {})
    return Prior(name or card.get("name") or path.stem, generator, discriminator, card).eval()  # type: ignore[arg-type]
