"""The in-memory form of a dataset split, and the seeded split rule."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor


@dataclass
class ImageSet:
    """Images (N, C, H, W) float32 in [-1, 1], labels (N,) int64 or None, class names, one id per image."""

    images: Tensor
    labels: Tensor | None
    class_names: list[str]
    ids: list[str]
    name: str = ""
    split: str = ""
    info: dict = field(default_factory=dict)

    def __iter__(self) -> Iterator:
        return iter((self.images, self.labels, self.class_names))

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def ids_digest(self) -> str:
        """sha256 of the sorted ids: one line that pins which images a model saw."""
        return hashlib.sha256("\n".join(sorted(self.ids)).encode()).hexdigest()


def seeded_test_mask(keys: list[str], fraction: float = 0.1, seed: int = 0) -> np.ndarray:
    """Boolean mask over ``keys``: True for the held-out items, at least ``ceil(fraction * n)`` of them.

    Items that share a key (e.g. an emoji and its skin-tone variants) always fall on the same side.
    Keys are taken in a seeded permutation of the *sorted* unique keys until enough items are held
    out, so the split depends only on the set of keys, not on the order the files were listed in.
    """
    unique = sorted(set(keys))
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    need, held = math.ceil(fraction * len(keys)), set()
    total = 0
    for i in np.random.default_rng(seed).permutation(len(unique)):
        if total >= need:
            break
        held.add(unique[i])
        total += counts[unique[i]]
    return np.array([k in held for k in keys], dtype=bool)
