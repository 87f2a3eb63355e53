"""Writing results: a new output folder, per-image PNGs, comparison strips, anomaly overlays, JSON and
CSV reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from .errors import GanpriorError
from .files import probe_writable, write_whole
from .imageio import as_rgb, save_image, to_uint8, upscale_to


def prepare_output_dir(path: str | Path, overwrite: bool, inputs: Sequence[str | Path] = ()) -> Path:
    """Create ``path`` and prove it writable (a probe file, written and removed) before any work.

    Refused: a non-empty existing folder unless ``overwrite`` (files are then replaced one by one),
    and, even with it, a folder that is or holds any of ``inputs`` (files or folders the run
    reads): an input is never replaced."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GanpriorError(f"--out {path} is a file; give a folder")
    here = path.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if source == here or here in source.parents:
            raise GanpriorError(
                f"--out {path} holds the input {item}; write the results into another folder "
                "(an input is never replaced, even with --overwrite)"
            )
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise GanpriorError(
            f"--out {path} already exists and is not empty; choose a new folder or pass --overwrite"
        )
    return probe_writable(path)


def output_stems(paths: Sequence[str | Path]) -> tuple[list[str], list[str]]:
    """One output name stem per input, unique: the file's stem, and for the second, third ... input
    with a stem already taken (case-insensitively), ``STEM-2``, ``STEM-3`` ... in input order.
    Returns the stems and a line per renamed input (``a/face.jpg -> face-2``)."""
    taken: set[str] = set()
    stems, renamed = [], []
    for item in paths:
        stem, k = Path(item).stem, 1
        name = stem
        while name.lower() in taken:
            k += 1
            name = f"{stem}-{k}"
        taken.add(name.lower())
        stems.append(name)
        if name != stem:
            renamed.append(f"{item} -> {name}")
    return stems, renamed


def write_json(data: Any, path: str | Path) -> Path:
    """Write JSON whole (temporary file, then rename)."""
    return write_whole(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """``rows`` (dicts with the same keys, in order) as a CSV table with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write ``rows`` as a CSV table (``csv_text``), whole."""
    return write_whole(path, csv_text(rows))


def heat_overlay(image: Tensor, anomaly: Tensor, threshold: float) -> Tensor:
    """(C, H, W) image in [-1, 1] and its anomaly map (1, H, W) -> (3, H, W): the map in red over the
    gray image, full red at twice the threshold."""
    gray = as_rgb(image[None])[0].mean(0, keepdim=True).expand(3, -1, -1)
    heat = (anomaly / (2 * threshold)).clamp(0, 1) if threshold > 0 else (anomaly > 0).float()
    red = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1)
    return (1 - 0.7 * heat) * gray + 0.7 * heat * red


def detection_rows(
    names: Sequence[str | Path],
    stems: Sequence[str],
    scores: Tensor,
    masks: Tensor,
    image_threshold: float,
) -> list[dict[str, Any]]:
    """One CSV row per image of a detection: its name, image score (N,), the fraction of its
    pixels flagged in ``masks`` (N, 1, H, W), whether the score passes ``image_threshold``, and the
    names of its heatmap and mask PNGs (``write_detection``)."""
    return [
        {
            "image": str(name),
            "score": round(float(scores[i]), 6),
            "flagged_fraction": round(float(masks[i].mean()), 6),
            "anomalous": bool(scores[i] > image_threshold),
            "heatmap": f"{stem}_heatmap.png",
            "mask": f"{stem}_mask.png",
        }
        for i, (name, stem) in enumerate(zip(names, stems, strict=True))
    ]


def write_detection(
    out: Path,
    names: Sequence[str | Path],
    stems: Sequence[str],
    images: Tensor,
    maps: Tensor,
    scores: Tensor,
    calibration: dict[str, Any],
) -> list[dict[str, Any]]:
    """Per image (N, C, H, W) and anomaly map (N, 1, H, W), at the calibrated threshold:
    STEM_heatmap.png (image | anomaly overlay | mask) and STEM_mask.png (white = anomalous);
    returns their report.csv rows (``detection_rows``)."""
    threshold = calibration["threshold"]
    masks = (maps > threshold).float()
    for i, stem in enumerate(stems):
        strip = captioned_strip(
            [
                as_rgb(images[i][None])[0],
                heat_overlay(images[i], maps[i], threshold),
                as_rgb(masks[i][None] * 2 - 1)[0],
            ],
            ["image", "anomaly", "mask"],
            scale=max(1, 128 // images.shape[-1]),
        )
        save_image(strip, out / f"{stem}_heatmap.png")
        save_image(masks[i] * 2 - 1, out / f"{stem}_mask.png")
    return detection_rows(names, stems, scores, masks, calibration["image_threshold"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def captioned_strip(images: Sequence[Tensor], captions: Sequence[str], scale: int = 2) -> Tensor:
    """Images (C, H, W) of one size side by side, enlarged ``scale``×, with a caption above each: (3, H', W')."""
    pad, caption_h = 4, 14
    tiles = [as_rgb(upscale_to(img[None], img.shape[-1] * scale))[0] for img in images]
    h, w = tiles[0].shape[-2:]
    canvas = Image.new("RGB", (len(tiles) * (w + pad) + pad, h + caption_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
        left = pad + i * (w + pad)
        canvas.paste(Image.fromarray(to_uint8(tile)), (left, caption_h + pad))
        draw.text((left, 2), caption[: max(4, w // 6)], fill="black")
    array = np.asarray(canvas, dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def loss_curve(history: Tensor, points: int = 200) -> list[float]:
    """One image's loss history (steps,), subsampled to at most ``points`` values."""
    stride = max(1, len(history) // points)
    return [round(float(v), 6) for v in history[::stride]]


def save_restoration_outputs(
    out: Path,
    stem: str,
    observation: Tensor,
    raw: Tensor,
    restored: Tensor,
    reference: Tensor | None,
    report: dict[str, Any],
    full: Tensor | None = None,
) -> dict[str, str]:
    """Write one image's PNGs (observation, raw, restored, side-by-side) and its JSON report;
    ``full``: the restoration at the photo's own size, written as the restored PNG instead."""
    side = restored.shape[-1]
    files = {
        "observation": save_image(observation, out / f"{stem}_observation.png"),
        "raw": save_image(raw, out / f"{stem}_raw.png"),
        "restored": save_image(restored if full is None else full, out / f"{stem}_restored.png"),
    }
    shown = [upscale_to(observation[None], side)[0], raw, restored]
    captions = ["observation", "generator", "restored"]
    if reference is not None:
        shown.append(reference)
        captions.append("reference")
    files["compare"] = save_image(captioned_strip(shown, captions), out / f"{stem}_compare.png")
    names = {k: v.name for k, v in files.items()}
    write_json({**report, "files": names}, out / f"{stem}.json")
    return names
