"""Every method, registered once: name, one-line help, its config class, its ``solve`` and its flags.

Adding a method: write ``solvers/NAME.py`` with a ``SolverConfig`` subclass (its ``task_preset``) and
``solve(prior, observation, operator, config, *, init=None, callback=None) -> Result``, then add one
``Method`` line below. The CLI, the pipeline and the contract tests (tests/solvers/test_contract.py)
pick it up.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GanpriorError
from . import dgp, dip, mgan, rgi
from .base import Solve, SolverConfig
from .invert import InvertConfig
from .invert import solve as solve_invert


@dataclass(frozen=True)
class Method:
    """A registered method. ``mask_free``: inpainting without being told where (the solver finds
    the corrupted pixels and returns them as ``Result.mask``); ``tasks``: the tasks it takes (None:
    every restoration task); ``relaxed``: it fine-tunes the generator per image."""

    name: str
    help: str
    config: type[SolverConfig]
    solve: Solve
    mask_free: bool = False
    tasks: tuple[str, ...] | None = None
    relaxed: bool = False


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "invert",
            "plain GAN inversion of the latent, generator frozen (the baseline)",
            InvertConfig,
            solve_invert,
        ),
        Method(
            "mgan",
            "mGANprior: N latent codes fused at a middle stage with per-channel importance",
            mgan.MGANConfig,
            mgan.solve,
        ),
        Method(
            "dgp",
            "Deep Generative Prior: fine-tune the generator per image, shallow to deep (D or VGG loss)",
            dgp.DGPConfig,
            dgp.solve,
            relaxed=True,
        ),
        Method(
            "rgi",
            "mask-free inpainting: latent + sparse corruption mask (inpaint without --mask)",
            rgi.RGIConfig,
            rgi.solve,
            mask_free=True,
            tasks=("inpaint", "reconstruct"),
        ),
        Method(
            "rrgi",
            "RGI, then the generator is fine-tuned per image with the mask frozen",
            rgi.RRGIConfig,
            rgi.solve,
            mask_free=True,
            tasks=("inpaint", "reconstruct"),
            relaxed=True,
        ),
        Method(
            "dip",
            "Deep Image Prior: an untrained network fitted per image, early-stopped (no GAN; a baseline)",
            dip.DIPConfig,
            dip.solve,
        ),
    )
}


def get_method(name: str) -> Method:
    """The registered method ``name``; an unknown one raises ``GanpriorError`` listing them."""
    if name not in METHODS:
        raise GanpriorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]
