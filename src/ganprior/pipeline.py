"""The Python API that ``ganprior restore`` and the benchmarks call: degrade (or take) the
observations, run a method in batches, project onto the observation, and measure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import metrics
from .checkpoint import Prior
from .errors import GanpriorError
from .physics import Corruption, Operator, build_operator, center_box
from .solvers import Callback, Result, SolverConfig, get_method
from .solvers.precision import check_precision, generator_precision


@dataclass
class Restoration:
    """Outputs for N images: observation (N, C', H', W'); raw generator output and restored
    (projected onto the observation) images (N, C, H, W) in [-1, 1]; the method's resolved config;
    per-image metrics when a clean reference was known."""

    observation: Tensor
    raw: Tensor
    restored: Tensor
    operator: Operator
    result: Result
    config: SolverConfig
    metrics: dict[str, Tensor] = field(default_factory=dict)


def measure(restored: Tensor, reference: Tensor, operator: Operator) -> dict[str, Tensor]:
    """PSNR/SSIM on the full image and, for inpainting, on the hole only (DGP's protocol)."""
    scores = {"psnr": metrics.psnr(restored, reference), "ssim": metrics.ssim(restored, reference)}
    hole = operator.hole()
    if hole is not None and hole.any():
        scores["psnr_hole"] = metrics.psnr(restored, reference, hole)
        scores["ssim_hole"] = metrics.ssim(restored, reference, hole)
    return scores


def resolve_device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanpriorError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise GanpriorError(f"unknown device {name!r}; use cpu or cuda") from exc


def restore(
    prior: Prior,
    images: Tensor,
    task: str,
    method: str = "invert",
    *,
    simulate: bool = False,
    reference: Tensor | None = None,
    mask: Tensor | None = None,
    factor: int = 4,
    sigma: float = 0.1,
    steps: int | None = None,
    seed: int = 0,
    batch_size: int = 16,
    callback: Callable[[int, int], Callback] | None = None,
    options: dict[str, object] | None = None,
    config: SolverConfig | None = None,
    precision: str = "fp32",
) -> Restoration:
    """Restore N images with ``method`` for ``task``.

    images: clean images (N, C, H, W) when ``simulate`` (they are degraded here, seeded, and serve
    as the reference), else observations already shaped as the task's operator outputs them.
    mask: (N or 1, 1, H, W) for inpainting. callback(batch_index, batch_count) -> a per-step Callback.
    config: the method's settings; by default its preset for the task (``Config.for_task``) with
    ``steps`` (None: the preset's), ``seed`` and ``options`` (``--method-option``, by field name).
    precision: ``fp32``, or ``bf16`` to run the generator under bf16 autocast with channels_last
    weights (``solvers.precision``); outputs and metrics stay float32.
    """
    check_precision(precision)
    spec = get_method(method)
    if spec.tasks is not None and task not in spec.tasks:
        what = "mask-free inpainting and reconstruction" if spec.mask_free else " and ".join(spec.tasks)
        raise GanpriorError(f"{method} does {what}: use --task {spec.tasks[0]}, not {task}")
    if config is None:
        overrides = {"seed": seed} | ({} if steps is None else {"steps": steps}) | (options or {})
        config = spec.config.for_task(task, prior, **overrides)
    g = prior.generator
    device = next(g.parameters()).device
    operator = build_operator(task, g.resolution, g.channels, mask=mask, factor=factor, sigma=sigma)
    if spec.mask_free and task == "inpaint":  # the solver finds the corrupted pixels itself
        operator = Corruption(mask if mask is not None or not simulate else center_box(g.resolution))
    operator = operator.to(device)
    images = images.to(device)
    if simulate:
        reference = images
        observation = operator.simulate(images, torch.Generator().manual_seed(seed))
    else:
        observation = operator.as_observation(images)
    n = observation.shape[0]
    starts = list(range(0, n, batch_size))
    results = []
    with generator_precision(g, precision):
        for b, start in enumerate(starts):
            index = list(range(start, min(start + batch_size, n)))
            step_callback = callback(b, len(starts)) if callback else None
            results.append(
                spec.solve(prior, observation[index], operator.select(index), config, callback=step_callback)
            )
    result = Result.concat(results)
    # a method that located the corrupted pixels itself keeps the observation everywhere else
    projector = operator.given_detection(result.mask) if result.mask is not None else operator
    restored = projector.project(result.image, observation).clamp(-1, 1)
    out = Restoration(observation, result.image, restored, operator, result, config)
    if reference is not None:
        out.metrics = measure(restored, reference.to(device), operator)
    return out
