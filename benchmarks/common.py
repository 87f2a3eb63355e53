"""What every benchmark suite shares: options, the ``Table`` and how tables are written, the ``Suite``
declaration, and the restoration rows most suites are made of.

A suite is a ``Suite``: ``run(options) -> list[Table]`` and the table names it writes, known before it
runs (the runner refuses to overwrite them without ``--overwrite``). Benchmarks measure; tests assert
behaviour. They use only ganprior's public API, and reach models, datasets, photographs, texture crops
and the PatchCore baseline through ``resources()`` (the real ones; the smoke test swaps in tiny stand-ins).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from ganprior import examples, zoo
from ganprior import texture_crops as crops
from ganprior.checkpoint import Prior
from ganprior.data import ImageSet, load_dataset
from ganprior.files import write_whole
from ganprior.metrics import median
from ganprior.patchcore import PatchCore
from ganprior.physics import make_mask
from ganprior.pipeline import restore
from ganprior.report import write_json

Photos = list[tuple[str, Image.Image]]


def default_patchcore(seed: int) -> PatchCore:
    """The PatchCore baseline as the anomaly suites run it (EfficientNet-Lite0 features)."""
    return PatchCore(seed=seed)


@dataclass(frozen=True)
class Resources:
    """What the suites measure on, each as the function they call (defaults: the real ones).

    model(name, device) -> Prior; model_cards() -> the zoo's cards; dataset(name, split, resolution,
    channels) -> ImageSet; lfw_faces(count) / color_faces() -> [(name, PIL image)]; texture_crops(name,
    split, size, count, seed) -> (N, 1, size, size) and defective_crops(name, split, size, defective,
    normal, seed) -> (images, masks), both in [-1, 1]; patchcore(seed) -> an unfitted PatchCore.
    """

    model: Callable[[str, str], Prior] = zoo.load
    model_cards: Callable[[], list[dict[str, Any]]] = zoo.model_cards
    dataset: Callable[[str, str, int, int], ImageSet] = load_dataset
    lfw_faces: Callable[[int], Photos] = examples.lfw_faces
    color_faces: Callable[[], Photos] = examples.color_faces
    texture_crops: Callable[..., Tensor] = crops.texture_crops
    defective_crops: Callable[..., tuple[Tensor, Tensor]] = crops.defective_crops
    patchcore: Callable[[int], PatchCore] = default_patchcore


RESOURCES = Resources()


def resources() -> Resources:
    """The resources the suites use now (``RESOURCES``; a test replaces it)."""
    return RESOURCES


@dataclass
class BenchOptions:
    """out: folder for the tables; quick: few images and steps (a smoke run, not for the README)."""

    out: Path
    device: str = "cpu"
    quick: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: ``run(options)`` computes its tables; ``tables`` names them (``NAME.md`` +
    ``NAME.json``) before anything runs, fixed or as a function of the options."""

    name: str
    run: Callable[[BenchOptions], list[Table]]
    tables: Sequence[str] | Callable[[BenchOptions], Sequence[str]]

    @property
    def help(self) -> str:
        """The first line of the run function's docstring."""
        return (self.run.__doc__ or "").strip().splitlines()[0]

    def table_names(self, options: BenchOptions) -> list[str]:
        return list(self.tables(options) if callable(self.tables) else self.tables)


@dataclass
class Table:
    """One result table: rows of {column: value}, with the protocol stated next to the numbers."""

    name: str
    title: str
    protocol: str
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        columns = list(dict.fromkeys(k for row in self.rows for k in row))
        lines = [
            f"# {self.title}",
            "",
            self.protocol,
            "",
            "| " + " | ".join(columns) + " |",
            "|" + "---|" * len(columns),
        ]
        lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in self.rows]
        lines += [
            "",
            f"Machine: {self.meta.get('machine', '?')}; command: `{self.meta.get('command', '?')}`.",
        ]
        return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if 0 < abs(value) < 1e-3:
            return f"{value:.1e}"
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"
    return str(value)


def write_tables(tables: Sequence[Table], out: Path, command: str) -> list[Path]:
    """Write ``NAME.md`` and ``NAME.json`` for every table (whole files)."""
    out.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    written = []
    for table in tables:
        table.meta = {"machine": machine, "command": command, **table.meta}
        md = out / f"{table.name}.md"
        write_whole(md, table.markdown())
        write_json(
            {"title": table.title, "protocol": table.protocol, "rows": table.rows, "meta": table.meta},
            out / f"{table.name}.json",
        )
        written.append(md)
    return written


def median_scores(scores: dict[str, Tensor]) -> dict[str, float]:
    """Per-image scores {name: (N,)} -> table columns {"name (median)": median}."""
    return {f"{k} (median)": median(v) for k, v in scores.items()}


def restoration_rows(
    prior: Prior,
    data: str,
    clean: Tensor,
    tasks: Sequence[str],
    methods: Sequence[str],
    steps: int | None = None,
    seed: int = 0,
    mask: Tensor | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Median PSNR/SSIM (full image, and hole-only for inpainting) and seconds per image for every
    task × method on ``clean`` images, each degraded with the seeded simulation of the task."""
    rows = []
    device = next(prior.generator.parameters()).device
    for task in tasks:
        for method in methods:
            progress(f"{prior.name} {data} {task} {method} ({len(clean)} images)")
            started = time.perf_counter()
            out = restore(
                prior,
                clean.to(device),
                task,
                method,
                simulate=True,
                mask=mask,
                steps=steps,
                seed=seed,
                batch_size=len(clean),
            )
            seconds = (time.perf_counter() - started) / len(clean)
            row: dict[str, Any] = {
                "model": prior.name,
                "data": data,
                "task": task,
                "method": method,
                "images": len(clean),
            }
            row |= median_scores(out.metrics)
            row["s/image"] = seconds
            rows.append(row)
    return rows


def free_form_mask(resolution: int, seed: int) -> Tensor:
    """The benchmarks' seeded free-form mask (1, H, W)."""
    return make_mask("strokes", resolution, torch.Generator().manual_seed(seed))


def test_split(dataset: str, resolution: int, channels: int) -> ImageSet:
    """The test split of a named dataset at ``resolution`` px with ``channels`` (the held-out images)."""
    return resources().dataset(dataset, "test", resolution, channels)
