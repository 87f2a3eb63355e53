"""Unsupervised pixel-wise anomaly detection with a GAN trained on normal images only.

Detectors turn N images (N, C, H, W) in [-1, 1] into anomaly maps (N, 1, H, W) (higher = more
anomalous): ``rgi``/``rrgi`` give |M| (``solvers.rgi``, anomaly preset: M starts at 0 and keeps
learning while R-RGI fine-tunes G), ``residual`` is the AnoGAN-style |x − G(z*)| of plain inversion.

Calibration, once per model and without labels, on normal images (``calibrate``):
- λ = 2 · q_λ, q_λ the ``lambda_quantile`` of the per-pixel squared residuals (summed over channels)
  of the method's fit with the mask held at 0 (G frozen for RGI, fine-tuned for R-RGI, whose mask
  learns only once G fine-tunes) — so M can only grow where a residual exceeds what normal images
  show (at least ``robust.MIN_RESIDUAL`` per channel);
- the pixel threshold = the ``threshold_quantile`` of the anomaly maps of normal images (a normal
  image gets about that fraction of flagged pixels); the image threshold likewise on image scores.

Metrics: pooled pixel AUROC, per-image mean AUROC (RGI's protocol), Dice/IoU of the binary masks at
the calibrated threshold, image-level AUROC.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from .checkpoint import Prior
from .errors import GanpriorError
from .physics import Operator
from .robust import MIN_RESIDUAL, model_lambda, residual_lambda, stored_calibration
from .solvers import Callback, InvertConfig, Result, invert
from .solvers.rgi import CONFIGS, RGIConfig, preset, rgi

DETECTORS = (*CONFIGS, "residual")
TOP_FRACTION = 0.01  # image score: mean of the top 1% of a map's pixels


# ---------------------------------------------------------------------------------------------- metrics
def auroc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (any shape; ties count half);
    NaN when only one class is present."""
    s, y = scores.flatten().double(), labels.flatten().bool()
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)
    average_rank = torch.cumsum(counts, 0).double() - (counts.double() - 1) / 2
    rank_sum = average_rank[inverse][y].sum().item()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def per_image_auroc(maps: Tensor, masks: Tensor) -> Tensor:
    """Pixel AUROC of every image (N,); NaN for images without (or entirely) anomalous pixels."""
    return torch.tensor([auroc(m, t) for m, t in zip(maps, masks, strict=True)])


def dice_iou(predicted: Tensor, truth: Tensor) -> tuple[Tensor, Tensor]:
    """Dice and IoU per image (N,) of binary masks (N, 1, H, W); 1 when both are empty."""
    p, t = predicted.flatten(1).float(), truth.flatten(1).float()
    inter, total = (p * t).sum(1), p.sum(1) + t.sum(1)
    union = total - inter
    dice = torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(inter))
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
    return dice, iou


def image_scores(maps: Tensor) -> Tensor:
    """Image-level anomaly score (N,): the mean of the top ``TOP_FRACTION`` of each map's pixels."""
    flat = maps.flatten(1)
    k = max(1, round(TOP_FRACTION * flat.shape[1]))
    return flat.topk(k, dim=1).values.mean(1)


# ---------------------------------------------------------------------------------------------- detectors
@dataclass
class Detection:
    """Anomaly maps (N, 1, H, W), image scores (N,), binary masks at the threshold (N, 1, H, W)
    (1 = anomalous), the reconstruction (N, C, H, W) and the solver's ``Result``."""

    maps: Tensor
    scores: Tensor
    masks: Tensor
    reconstruction: Tensor
    result: Result


def detector_config(
    method: str, lam: float, steps: int | None, seed: int, **overrides: Any
) -> InvertConfig | RGIConfig:
    """The settings of detector ``method``: its anomaly preset with λ ``lam``, ``steps`` (None:
    the preset's), ``seed`` and ``overrides`` (config fields by name)."""
    if method not in DETECTORS:
        raise GanpriorError(f"unknown detector {method!r}; choose one of {', '.join(DETECTORS)}")
    kind = InvertConfig if method == "residual" else CONFIGS[method]
    unknown = sorted(set(overrides) - {f.name for f in fields(kind)})
    if unknown:
        raise GanpriorError(f"detector {method} has no option {unknown[0]!r}")
    if method == "residual":
        config = InvertConfig(seed=seed)
        return replace(config, steps=steps or config.steps, **overrides)
    return preset(method, "anomaly", lam, steps, seed, **overrides)


def _run(
    prior: Prior,
    images: Tensor,
    method: str,
    lam: float,
    steps: int | None,
    seed: int,
    callback: Callback | None = None,
    **overrides: Any,
) -> Result:
    """The detector's solver on N images, calling ``callback`` per step; ``overrides``: its config
    fields beyond the preset."""
    config = detector_config(method, lam, steps, seed, **overrides)
    if isinstance(config, RGIConfig):
        return rgi(prior.generator, images, config, prior.discriminator, callback=callback)
    return invert(prior.generator, images, Operator(), config, callback=callback)


def anomaly_maps(
    prior: Prior,
    images: Tensor,
    method: str = "rrgi",
    lam: float | None = None,
    steps: int | None = None,
    seed: int = 0,
    *,
    options: dict[str, Any] | None = None,
    callback: Callback | None = None,
) -> tuple[Tensor, Result]:
    """Anomaly maps (N, 1, H, W) of ``method`` with λ (default: the model's calibrated one);
    ``options``: solver settings beyond the preset, by field name (e.g. ``init_samples``);
    ``callback``: the solver's, per step."""
    lam = model_lambda(prior, method) if lam is None and method in CONFIGS else (lam or 0.0)
    result = _run(prior, images, method, lam, steps, seed, callback, **(options or {}))
    if method == "residual":
        return (images - result.image).abs().mean(1, keepdim=True), result
    return result.extras["anomaly"], result


def detect(
    prior: Prior,
    images: Tensor,
    method: str = "rrgi",
    calibration: dict[str, Any] | None = None,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    *,
    options: dict[str, Any] | None = None,
    callback: Callable[[int, int], Callback] | None = None,
) -> Detection:
    """Anomaly maps, image scores and binary masks at the calibrated threshold (default: the
    calibration stored with the model; an uncalibrated model raises ``GanpriorError``), solving
    ``batch_size`` images at a time (default: all at once; each batch starts from ``seed``);
    ``options`` as for ``anomaly_maps``; callback(batch_index, batch_count) -> the batch's per-step
    ``Callback`` (as ``pipeline.restore`` takes it)."""
    calibration = calibration or stored_calibration(prior, method)
    if calibration is None:
        raise GanpriorError(
            f"model {prior.name} has no {method} calibration; calibrate it on normal images first "
            "(ganprior.anomaly.calibrate) or use a calibrated zoo model"
        )
    size = batch_size or len(images)
    count = math.ceil(len(images) / size)
    parts = [
        anomaly_maps(
            prior,
            images[i : i + size],
            method,
            calibration.get("lambda"),
            steps,
            seed,
            options=options,
            callback=callback(k, count) if callback else None,
        )
        for k, i in enumerate(range(0, len(images), size))
    ]
    maps, result = torch.cat([m for m, _ in parts]), Result.concat([r for _, r in parts])
    masks = (maps > calibration["threshold"]).float()
    return Detection(maps, image_scores(maps), masks, result.image, result)


def calibrate(
    prior: Prior,
    normal: Tensor,
    method: str = "rrgi",
    steps: int | None = None,
    seed: int = 0,
    lambda_quantile: float = 0.99,
    threshold_quantile: float = 0.999,
    thresholds: bool = True,
    *,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """λ and thresholds of ``method`` from normal images (N, C, H, W) alone (see the module doc).

    λ comes from the first half of the images, the thresholds from the second half; with
    ``thresholds`` False (mask-free inpainting needs λ only) all images serve λ. ``options`` as for
    ``anomaly_maps``.
    """
    options = options or {}
    half = normal.shape[0] // 2 if thresholds else normal.shape[0]
    if half < 1:
        raise GanpriorError("calibration needs at least 2 normal images")
    fit_set, threshold_set = normal[:half], normal[half:]
    out: dict[str, Any] = {"steps": steps, "normal_images": normal.shape[0]}
    if method in CONFIGS:
        # the method's own fit with the mask held at 0: G frozen (rgi) or fine-tuned (rrgi)
        fit = _run(prior, fit_set, method, 0.0, steps, seed, **(options | {"lr_mask": 0.0}))
        squared = (fit_set - fit.image).square().sum(1)
        floor = residual_lambda(normal.shape[1], MIN_RESIDUAL)
        quantile = float(torch.quantile(squared.flatten(), lambda_quantile))
        out |= {"lambda": max(2 * quantile, floor), "lambda_quantile": lambda_quantile}
    if thresholds:
        maps, _ = anomaly_maps(prior, threshold_set, method, out.get("lambda"), steps, seed, options=options)
        out |= {
            "threshold": float(torch.quantile(maps.flatten(), threshold_quantile)),
            "image_threshold": float(image_scores(maps).max()),
            "threshold_quantile": threshold_quantile,
        }
    return out
