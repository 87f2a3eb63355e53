"""Stage-wise optimisation schedules (DGP's per-stage lists) and the per-task presets.

A ``Schedule`` is a tuple of ``Stage``s run in order. Each stage says how many iterations to run,
the Adam learning rates of the latent and of the generator, the loss weights, and how deep the
generator is trainable: ``depth`` groups of its parameters, shallowest first (``None`` = all,
0 = frozen). Progressive fine-tuning is a schedule whose depth grows stage by stage.

The presets mirror the DGP reference's run scripts (see METHODS.md §1) on BigGAN; ``preset``
maps their trainable depth (2..6 of BigGAN's 7 groups) onto a generator with ``groups`` groups
and scales the iteration counts, so a small model on a CPU can run them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from .errors import GanpriorError


@dataclass(frozen=True)
class Stage:
    """One stage: ``iterations`` Adam steps with learning rates ``lr_z`` (latent) and ``lr_g``
    (generator group i gets ``lr_g * lr_ratio**i``), ``depth`` trainable generator groups
    (None = all, 0 = none), and loss weights: feature matching, MSE, latent prior."""

    iterations: int
    lr_z: float
    lr_g: float
    depth: int | None = None
    w_feature: float = 1.0
    w_mse: float = 0.0
    w_nll: float = 0.02
    lr_ratio: float = 1.0


@dataclass(frozen=True)
class Schedule:
    """Stages in order, plus the latent initialisation's standard deviation (DGP's ``sample_std``)."""

    stages: tuple[Stage, ...]
    init_std: float = 1.0

    @classmethod
    def from_lists(cls, init_std: float = 1.0, **lists: Any) -> Schedule:
        """Build from per-stage lists (the reference's command-line form); scalars apply to every stage.

        ``Schedule.from_lists(iterations=[200] * 5, lr_z=[2e-3, 1e-3, ...], lr_g=5e-5, depth=[1, 2, ...])``
        """
        count = max(len(v) for v in lists.values() if isinstance(v, (list, tuple)))
        columns = {k: list(v) if isinstance(v, (list, tuple)) else [v] * count for k, v in lists.items()}
        wrong = {k: len(v) for k, v in columns.items() if len(v) != count}
        if wrong:
            raise GanpriorError(f"every per-stage list needs {count} entries; got {wrong}")
        return cls(tuple(Stage(**{k: v[i] for k, v in columns.items()}) for i in range(count)), init_std)

    @property
    def iterations(self) -> int:
        return sum(s.iterations for s in self.stages)

    def each(self, **changes: Any) -> Schedule:
        """The same schedule with ``changes`` applied to every stage (e.g. ``depth=None``)."""
        return replace(self, stages=tuple(replace(s, **changes) for s in self.stages))

    def scaled(self, factor: float) -> Schedule:
        """Every stage's iterations × ``factor`` (at least one per stage)."""
        return replace(
            self,
            stages=tuple(replace(s, iterations=max(1, round(s.iterations * factor))) for s in self.stages),
        )

    def with_total(self, total: int) -> Schedule:
        """Stage lengths rescaled to sum to about ``total`` iterations, keeping their proportions."""
        return self.scaled(total / self.iterations)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per stage, for reports and benchmark tables."""
        return [vars(s) | {"stage": i} for i, s in enumerate(self.stages)]


REFERENCE_GROUPS = 7
"""Trainable groups of the reference's BigGAN-128 generator (embedding + blocks + output)."""

_LR_G_SR = [5e-5, 5e-5, 2e-5, 1e-5, 1e-5]
_LR_Z_SR = [2e-3, 1e-3, 2e-5, 1e-5, 1e-5]
_PROGRESSIVE = [2, 3, 4, 5, 6]  # the reference's ft_num, of REFERENCE_GROUPS


def _sr_stages(
    depth: int | list[int] | None, w_feature: float | list[float], w_mse: float | list[float]
) -> Schedule:
    """The reference's five 200-iteration stages at its SR learning rates, with these depths and weights."""
    return Schedule.from_lists(
        iterations=[200] * 5, lr_z=_LR_Z_SR, lr_g=_LR_G_SR, depth=depth, w_feature=w_feature, w_mse=w_mse
    )


REFERENCE: dict[str, Schedule] = {
    "colorize": Schedule.from_lists(
        init_std=0.5,
        iterations=[200, 200, 300, 400, 300],
        lr_z=[2e-3, 1e-3, 5e-4, 5e-5, 2e-5],
        lr_g=[5e-5, 5e-5, 5e-5, 5e-5, 2e-5],
        depth=_PROGRESSIVE,
        w_feature=1.0,
        w_mse=0.0,
    ),
    "sr": _sr_stages(_PROGRESSIVE, w_feature=1.0, w_mse=1.0),
    "sr-mse": _sr_stages(_PROGRESSIVE, w_feature=[1, 1, 1, 0.5, 0.1], w_mse=[10, 10, 10, 50, 100]),
    "inpaint": _sr_stages(None, w_feature=[1, 1, 1, 1, 0.5], w_mse=[1, 1, 1, 1, 10]),
    "manipulate": Schedule.from_lists(
        iterations=[125, 125, 100], lr_z=[1e-1, 1e-2, 2e-4], lr_g=[2e-7, 2e-5, 2e-6], depth=None, w_nll=0.2
    ),
}
# No reference script exists for these two: denoising uses the D-biased SR schedule; the hybrid
# task (hole + gray + ×4) the SR schedule with the inpainting preset's MSE weights.
REFERENCE["denoise"] = REFERENCE["sr"]
REFERENCE["reconstruct"] = REFERENCE["manipulate"]  # DGP reconstructs an image this way before editing it
REFERENCE["manipulate-pixel"] = REFERENCE["manipulate"].each(w_mse=1.0, w_nll=0.02)
"""The manipulation schedule for a prior without a discriminator (VGG16 features): on 64-px images the
VGG term is too weak against the reference's w_nll 0.2, which pulls z to 0 (face64, 2 photos + 2 of
its samples: 11.7 / 17.2 / 18.1 / 28.9 dB, |z| down to 0.14 of an expected 10); with pixel MSE
(w 1) and w_nll 0.02: 24.6 / 20.5 / 30.9 / 33.1 dB, |z| 6–10."""
REFERENCE["hybrid"] = replace(
    REFERENCE["sr"],
    stages=tuple(
        replace(s, w_mse=i.w_mse)
        for s, i in zip(REFERENCE["sr"].stages, REFERENCE["inpaint"].stages, strict=True)
    ),
)


def map_depth(depth: int | None, groups: int) -> int | None:
    """The reference's trainable depth (of ``REFERENCE_GROUPS``) on a generator with ``groups`` groups.

    Depth d of 7 becomes ceil((d - 1) / 5 × groups): the reference's progression 2..6 becomes
    1/5, 2/5, ..., all of our groups, so the last stage always trains the whole generator.
    """
    if depth is None or depth == 0:
        return depth
    return max(1, min(groups, math.ceil((depth - 1) / (REFERENCE_GROUPS - 2) * groups)))


def preset(
    task: str, groups: int, iterations_scale: float = 1.0, lr_z_scale: float = 1.0, lr_g_scale: float = 1.0
) -> Schedule:
    """The reference schedule of ``task`` for a generator with ``groups`` parameter groups, iterations
    × ``iterations_scale``, latent / generator learning rates × ``lr_z_scale`` / ``lr_g_scale``."""
    if task not in REFERENCE:
        raise GanpriorError(f"no DGP schedule for task {task!r}; known: {', '.join(REFERENCE)}")
    base = REFERENCE[task].scaled(iterations_scale)
    return replace(
        base,
        stages=tuple(
            replace(s, depth=map_depth(s.depth, groups), lr_z=s.lr_z * lr_z_scale, lr_g=s.lr_g * lr_g_scale)
            for s in base.stages
        ),
    )
