"""The Python API that ``ganprior restore`` and the benchmarks call: degrade (or take) the
observations, run a method in batches, project onto the observation, and measure."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from . import metrics
from .batching import auto_batch_size, halve, is_out_of_memory
from .checkpoint import Prior
from .errors import GanpriorError
from .imageio import DrawnMask, image_size, load_images, load_mask
from .physics import Corruption, Operator, build_operator, center_box, observation_shape
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

    def to(self, device: torch.device | str, generator_state: bool = True) -> Restoration:
        """These outputs on ``device``, without the per-image generator copies unless
        ``generator_state`` (``Result.to``)."""
        return Restoration(
            self.observation.to(device),
            self.raw.to(device),
            self.restored.to(device),
            self.operator.to(device),
            self.result.to(device, generator_state),
            self.config,
            {k: v.to(device) for k, v in self.metrics.items()},
        )


def measure(restored: Tensor, reference: Tensor, operator: Operator) -> dict[str, Tensor]:
    """PSNR/SSIM on the full image and, for inpainting, on the hole only (DGP's protocol)."""
    scores = {"psnr": metrics.psnr(restored, reference), "ssim": metrics.ssim(restored, reference)}
    hole = operator.hole()
    if hole is not None and hole.any():
        scores["psnr_hole"] = metrics.psnr(restored, reference, hole)
        scores["ssim_hole"] = metrics.ssim(restored, reference, hole)
    return scores


DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(name: str) -> torch.device:
    """``name`` as a device that works here: cpu, cuda[:N] or mps, probed with a tiny computation
    before any model is moved to it (``GanpriorError`` otherwise)."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise GanpriorError("--device cuda was asked for but PyTorch sees no CUDA GPU; use --device cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise GanpriorError(f"unknown device {name!r}; use cpu or cuda") from exc
    if device.type not in DEVICE_TYPES:
        raise GanpriorError(f"device {name!r} cannot run a model; use {' or '.join(DEVICE_TYPES)}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GanpriorError(
            "--device mps was asked for but PyTorch has no MPS backend here; use --device cpu"
        )
    try:
        (torch.ones(1, device=device) + 1).cpu()
    except (RuntimeError, AssertionError) as exc:
        first = str(exc).strip().splitlines()[0].split(". ")[0] if str(exc).strip() else type(exc).__name__
        raise GanpriorError(f"device {name!r} is not usable here ({first}); use --device cpu") from exc
    return device


def drawn_mask(
    mask: str | Path, photos: Sequence[str | Path], resolution: int, task: str, fill: str, how: str = "crop"
) -> DrawnMask:
    """The mask file drawn for ``photos`` (all of one size), fitted to the model like them
    (``imageio.load_mask``); ``GanpriorError`` for a task without a hole or photos of several sizes."""
    if task not in {"inpaint", "hybrid"}:
        raise GanpriorError(f"--mask is for inpaint and hybrid, not {task}")
    sizes = {image_size(p) for p in photos}
    if len(sizes) > 1:
        raise GanpriorError(
            "one --mask needs inputs of one size; these differ: " + ", ".join(f"{w}×{h}" for w, h in sizes)
        )
    return load_mask(mask, resolution, sizes.pop(), fill, how)


def load_observations(
    photos: Sequence[str | Path],
    prior: Prior,
    task: str,
    mask: Tensor | None = None,
    factor: int = 4,
    sigma: float = 0.1,
    how: str = "crop",
) -> Tensor:
    """Photo files taken as ``task``'s observations: fitted (``how``) to ``observation_size``,
    (N, C', H', W')."""
    channels, side = observation_size(prior, task, mask, factor, sigma)
    return load_images(photos, side, channels, how)


def observation_size(
    prior: Prior, task: str, mask: Tensor | None = None, factor: int = 4, sigma: float = 0.1
) -> tuple[int, int]:
    """(channels, side) of ``task``'s observations on the prior: what its operator outputs (sr:
    resolution / factor; colorize: gray); ``GanpriorError`` for a task the prior cannot take."""
    g = prior.generator
    operator = build_operator(task, g.resolution, g.channels, mask=mask, factor=factor, sigma=sigma)
    return observation_shape(operator, g.resolution, g.channels)


def resolve_config(
    prior: Prior,
    task: str,
    method: str,
    steps: int | None = None,
    seed: int = 0,
    options: dict[str, object] | None = None,
) -> SolverConfig:
    """``method``'s settings for ``task`` on ``prior``: its preset (``Config.for_task``) with ``steps``
    (None: the preset's), ``seed`` and ``options`` (``--method-option``, by field name) applied."""
    spec = get_method(method)
    if spec.tasks is not None and task not in spec.tasks:
        what = "mask-free inpainting and reconstruction" if spec.mask_free else " and ".join(spec.tasks)
        raise GanpriorError(f"{method} does {what}: use --task {spec.tasks[0]}, not {task}")
    overrides = {"seed": seed} | ({} if steps is None else {"steps": steps}) | (options or {})
    return spec.config.for_task(task, prior, **overrides)


@dataclass
class Observed:
    """What a method solves for N images: the observations (N, C', H', W'), their operator and,
    when known, the clean references (N, C, H, W) to measure against."""

    observation: Tensor
    operator: Operator
    reference: Tensor | None = None

    def select(self, index: Sequence[int]) -> Observed:
        """These images only (a resumed run, one batch of a distributed one)."""
        index = list(index)
        reference = None if self.reference is None else self.reference[index]
        return Observed(self.observation[index], self.operator.select(index), reference)

    def to(self, device: torch.device | str) -> Observed:
        reference = None if self.reference is None else self.reference.to(device)
        return Observed(self.observation.to(device), self.operator.to(device), reference)


def observe(
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
    seed: int = 0,
) -> Observed:
    """``task``'s observations of N images on ``prior``'s device: ``images`` degraded here (seeded by
    ``seed``, all N at once, so an image's draw does not depend on which images are solved) when
    ``simulate`` (they are then the reference), else taken as observations already shaped as the
    task's operator outputs them (see ``restore``)."""
    g = prior.generator
    device = next(g.parameters()).device
    operator = build_operator(task, g.resolution, g.channels, mask=mask, factor=factor, sigma=sigma)
    if get_method(method).mask_free and task == "inpaint":  # the solver finds the corrupted pixels itself
        operator = Corruption(mask if mask is not None or not simulate else center_box(g.resolution))
    operator = operator.to(device)
    images = images.to(device)
    if simulate:
        return Observed(operator.simulate(images, torch.Generator().manual_seed(seed)), operator, images)
    return Observed(operator.as_observation(images), operator, reference)


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
    batch_size: int | None = 16,
    callback: Callable[[int, int], Callback] | None = None,
    on_batch: Callable[[list[int], Restoration], None] | None = None,
    options: dict[str, object] | None = None,
    config: SolverConfig | None = None,
    only: list[int] | None = None,
    precision: str = "fp32",
) -> Restoration:
    """Restore N images with ``method`` for ``task``.

    images: clean images (N, C, H, W) when ``simulate`` (they are degraded here, seeded, and serve
    as the reference), else observations already shaped as the task's operator outputs them.
    mask: (N or 1, 1, H, W) for inpainting. batch_size, callback, on_batch, precision: as for
    ``solve``. config: the method's settings; by default its preset for the task
    (``Config.for_task``) with ``steps`` (None: the preset's), ``seed`` and ``options``
    (``--method-option``, by field name).
    only: restore just these images of the N (a resumed run): every observation is still simulated
    so that the seeded draws do not move, and the outputs (and ``on_batch``'s indices) are theirs.
    """
    config = config or resolve_config(prior, task, method, steps, seed, options)
    observed = observe(
        prior,
        images,
        task,
        method,
        simulate=simulate,
        reference=reference,
        mask=mask,
        factor=factor,
        sigma=sigma,
        seed=seed,
    )
    if only is not None:
        observed = observed.select(only)
    return solve(prior, observed, method, config, batch_size, callback, on_batch, precision)


def solve(
    prior: Prior,
    observed: Observed,
    method: str,
    config: SolverConfig,
    batch_size: int | None = 16,
    callback: Callable[[int, int], Callback] | None = None,
    on_batch: Callable[[list[int], Restoration], None] | None = None,
    precision: str = "fp32",
) -> Restoration:
    """Solve the N ``observed`` images with ``method`` (settings ``config``), ``batch_size`` at once
    (None: the largest that fits the device, ``batching.auto_batch_size``; a batch that runs out of
    memory is halved and solved again), and project the results onto the observations.

    callback(batch_index, batch_count) -> a per-step Callback; on_batch(indices, restoration of
    those images) is called as each batch finishes (to write results while the rest still runs).
    precision: ``fp32``, or ``bf16`` to run the generator under bf16 autocast with channels_last
    weights (``solvers.precision``; refused on a device without native bf16); outputs and metrics
    stay float32.
    """
    g = prior.generator
    device = next(g.parameters()).device
    check_precision(precision, device)
    spec = get_method(method)
    observed = observed.to(device)
    observation, operator, reference = observed.observation, observed.operator, observed.reference
    n = observation.shape[0]

    def probe(count: int) -> Result:
        index = list(range(count))
        return spec.solve(prior, observation[index], operator.select(index), replace(config, steps=1))

    results: list[Result] = []
    with generator_precision(g, precision):
        size = batch_size or auto_batch_size(probe, n, device)
        start = 0
        while start < n:
            index = list(range(start, min(start + size, n)))
            step_callback = (
                callback(len(results), len(results) + math.ceil((n - start) / size)) if callback else None
            )
            part = operator.select(index)
            try:
                results.append(spec.solve(prior, observation[index], part, config, callback=step_callback))
            except RuntimeError as exc:  # torch.OutOfMemoryError is one
                if not is_out_of_memory(exc):
                    raise
                size = halve(size, exc, device)
                continue
            if on_batch is not None:
                batch_reference = None if reference is None else reference[index]
                on_batch(index, _finish(observation[index], results[-1], part, config, batch_reference))
            start += len(index)
    return _finish(observation, Result.concat(results), operator, config, reference)


def solve_batch(
    prior: Prior,
    observed: Observed,
    method: str,
    config: SolverConfig,
    batch_size: int | None = 16,
    precision: str = "fp32",
    generator_state: bool = False,
) -> Restoration:
    """``solve`` for one batch of a distributed run (``distributed.Pool``): its outputs on the CPU,
    to be sent to the driver, without the per-image generator copies unless ``generator_state``."""
    return solve(prior, observed, method, config, batch_size, precision=precision).to("cpu", generator_state)


def _finish(
    observation: Tensor, result: Result, operator: Operator, config: SolverConfig, reference: Tensor | None
) -> Restoration:
    """A solver's result projected onto the observation, measured against ``reference`` if known."""
    # a method that located the corrupted pixels itself keeps the observation everywhere else
    projector = operator.given_detection(result.mask) if result.mask is not None else operator
    restored = projector.project(result.image, observation).clamp(-1, 1)
    out = Restoration(observation, result.image, restored, operator, result, config)
    if reference is not None:
        out.metrics = measure(restored, reference.to(restored.device), operator)
    return out
