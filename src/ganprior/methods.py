"""Solvers by name for ``restore``/``bench``: each entry turns (prior, observation, operator) into a
``Result`` with the method's preset for the task.

An entry is ``solve(prior, observation, operator, task, steps, seed, callback) -> Result``; ``steps``
None means the preset's number. Methods of later modules register themselves here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from torch import Tensor

from .checkpoint import Prior
from .physics import Operator
from .solvers import Callback, InvertConfig, Result, invert

Solve = Callable[[Prior, Tensor, Operator, str, "int | None", int, "Callback | None"], Result]


def solve_invert(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    task: str,
    steps: int | None,
    seed: int,
    callback: Callback | None,
) -> Result:
    """Plain inversion with the default ``InvertConfig`` (the same preset for every task)."""
    config = InvertConfig(seed=seed)
    if steps is not None:
        config = replace(config, steps=steps)
    return invert(prior.generator, observation, operator, config, callback=callback)


METHODS: dict[str, Solve] = {"invert": solve_invert}
METHOD_HELP: dict[str, str] = {"invert": "plain GAN inversion of the latent, generator frozen (the baseline)"}

from .robust import solve_rgi, solve_rrgi  # noqa: E402  (robust imports this module's siblings only)

METHODS |= {"rgi": solve_rgi, "rrgi": solve_rrgi}
METHOD_HELP |= {
    "rgi": "mask-free inpainting: latent + sparse corruption mask (inpaint without --mask)",
    "rrgi": "RGI, then the generator is fine-tuned per image with the mask frozen",
}

from .solvers.dgp import solve_dgp  # noqa: E402

METHODS["dgp"] = solve_dgp
METHOD_HELP["dgp"] = (
    "Deep Generative Prior: fine-tune the generator per image, shallow to deep (D or VGG loss)"
)

from .solvers.mgan import solve_mgan  # noqa: E402

METHODS["mgan"] = solve_mgan
METHOD_HELP["mgan"] = "mGANprior: N latent codes fused at a middle stage with per-channel importance"

from .solvers.dip import solve_dip  # noqa: E402

METHODS["dip"] = solve_dip
METHOD_HELP["dip"] = (
    "Deep Image Prior: an untrained network fitted per image, early-stopped (no GAN; a baseline)"
)
