"""Smoke run of every registered benchmark suite in quick mode on tiny stand-ins (seconds each).

The suites reach models, datasets, photographs, texture crops and PatchCore through
``benchmarks.common.RESOURCES``; here it holds tiny random stand-ins: for every zoo model a tiny
generator (+ discriminator where the real model has one) with the real card (channels, classes, stored
calibration; 64 px models at 16 or 32 px), random images for datasets and photos, and a cheap random
feature network for PatchCore. The one feature network the library builds itself (VGG16, DGP's features for a
prior without a discriminator) is replaced by a cheap one as well. The shipped classifiers are real.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

import benchmarks.common
from benchmarks.__main__ import run
from benchmarks.common import BenchOptions, Resources
from benchmarks.suites import SUITES
from conftest import CheapFeatures, cheap_vgg_metric, tiny_generator
from ganprior import features, sources, zoo
from ganprior.checkpoint import Prior
from ganprior.data import ImageSet
from ganprior.models import SNGANDiscriminator
from ganprior.patchcore import PatchCore
from ganprior.physics import DEFECT_KINDS, paint_defects

# The suites take their images at the model's resolution, so the 64 px models' stand-ins can be smaller
# (DIP, the costliest row, runs at the image size); the 32 px ones stay (texture crops are 32 px).
RESOLUTION = {"face64": 16, "emoji64": 32}
CARDS = {
    card["name"]: card | {"resolution": RESOLUTION.get(card["name"], card["resolution"])}
    for card in zoo.model_cards()
}


def tiny_model(name: str, device: str = "cpu") -> Prior:
    """A tiny random prior shaped like zoo model ``name`` by its stand-in card (resolution, channels,
    classes, stored calibration; a discriminator where the real model has one)."""
    card = dict(CARDS[name])
    res, channels, classes = card["resolution"], card["channels"], len(card.get("classes") or [])
    g = tiny_generator(len(name), res, channels, classes)
    d = None
    if card["discriminator"]:
        d = SNGANDiscriminator(res, channels, classes, width=8, max_width=16).eval().requires_grad_(False)
    return Prior(name, g, d, card).to(device)


def _random(shape: tuple[int, ...], seed: int) -> Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def tiny_dataset(name: str, split: str, resolution: int, channels: int) -> ImageSet:
    """24 random images (N, C, res, res) in [-1, 1] with random labels of 10 classes."""
    images = _random((24, channels, resolution, resolution), len(name))
    labels = torch.randint(10, (24,), generator=torch.Generator().manual_seed(1))
    return ImageSet(
        images, labels, [f"class {k}" for k in range(10)], [f"{i}" for i in range(24)], name, split
    )


def _photo(seed: int, side: int, mode: str) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def tiny_lfw(count: int = 16) -> list[tuple[str, Image.Image]]:
    return [(f"lfw{i:03d}", _photo(i, 25, "L")) for i in range(min(count, 100))]


def tiny_color_faces() -> list[tuple[str, Image.Image]]:
    return [(name, _photo(k, 40, "RGB")) for k, name in enumerate(("astronaut", "grace_hopper"))]


def tiny_crops(name: str, split: str, size: int, count: int, seed: int = 0) -> Tensor:
    return _random((count, 1, size, size), seed + len(name) + len(split))


def tiny_defective(
    name: str, split: str, size: int, defective: int, normal: int, seed: int = 0
) -> tuple[Tensor, Tensor]:
    crops = tiny_crops(name, split, size, defective + normal, seed)
    painted, masks = paint_defects(crops[:defective], DEFECT_KINDS, torch.Generator().manual_seed(seed))
    clean = crops[defective:]
    return torch.cat([painted, clean]), torch.cat([masks, torch.zeros_like(clean)])


def tiny_patchcore(seed: int) -> PatchCore:
    return PatchCore(input_size=32, bank_size=2000, seed=seed, net=CheapFeatures())


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a suite reached a real model or a download past benchmarks.common.RESOURCES")


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> Resources:
    """``RESOURCES`` and the library's VGG16 swapped for the stand-ins; a zoo model, a registry download
    or a cached registry file reached any other way fails the test."""
    tiny = Resources(
        model=tiny_model,
        model_cards=lambda: list(CARDS.values()),
        dataset=tiny_dataset,
        lfw_faces=tiny_lfw,
        color_faces=tiny_color_faces,
        texture_crops=tiny_crops,
        defective_crops=tiny_defective,
        patchcore=tiny_patchcore,
    )
    monkeypatch.setattr(benchmarks.common, "RESOURCES", tiny)
    monkeypatch.setattr(features, "vgg_metric", cheap_vgg_metric)
    monkeypatch.setattr(zoo, "load", _refuse)
    monkeypatch.setattr(sources.Package, "fetch", _refuse)
    return tiny


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return []


@pytest.mark.parametrize("name", list(SUITES))
def test_suite_quick_run_writes_its_tables(name: str, stand_ins: Resources, tmp_path) -> None:
    suite = SUITES[name]
    declared = suite.table_names(BenchOptions(out=tmp_path, quick=True))
    written = run([name, "--quick", "--out", str(tmp_path)])
    assert declared and [p.stem for p in written] == declared
    for table in declared:
        assert (tmp_path / f"{table}.md").read_text().startswith("# ")
        data = json.loads((tmp_path / f"{table}.json").read_text())
        assert data["rows"], f"{table} has no rows"
        numbers = _numbers(data["rows"])
        assert numbers, f"{table} has no numbers"
        bad = [x for x in numbers if not math.isfinite(x)]
        assert not bad, f"{table}: non-finite numbers {bad}"


def test_documented_benchmark_commands_name_registered_suites() -> None:
    """Every ``python -m benchmarks NAME`` in the README, the Makefile and the benchmark notes (and every
    ``A | B`` alternative after it) names a suite."""
    root = Path(__file__).parent.parent
    texts = [root / "README.md", root / "Makefile", *sorted((root / "benchmarks").glob("*.md"))]
    named = []
    for path in texts:
        text = " ".join(path.read_text().split())  # commands broken over lines join up again
        for match in re.finditer(r"-m benchmarks ((?:[a-z][a-z0-9-]*(?: \| )?)+)", text):
            named += [(path.name, name) for name in match.group(1).split(" | ") if name]
    assert named
    assert [(f, n) for f, n in named if n not in SUITES] == []


def test_the_suite_list_speaks_to_users():
    """`python -m benchmarks --help` says what each suite measures, not which issue asked for it."""
    import re
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "core-generated" in proc.stdout
    assert not re.search(r"\bissue\b", proc.stdout, re.IGNORECASE)
