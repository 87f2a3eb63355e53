"""What every solver returns, and the progress callback it calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from torch import Tensor

Callback = Callable[[int, Tensor], None]
"""Called after every step with (step index, per-image loss (N,))."""


@dataclass
class Result:
    """A solver's output for N images.

    image: raw generator output (N, C, H, W) in [-1, 1];
    latent: the latent(s) found, (N, latent_dim) — or (N, codes, latent_dim) for multi-code methods;
    classes: the class vectors used, (N, num_classes), or None for unconditional generators;
    losses: per-image loss history (steps, N);
    seconds: wall time of the solve;
    mask: a learned corruption mask (N, 1, H, W), for methods that estimate one;
    generator_state: per-image fine-tuned generator parameters {name: (N, ...)}, for relaxed methods;
    extras: anything method-specific (e.g. mGANprior's channel importance).
    """

    image: Tensor
    latent: Tensor
    classes: Tensor | None
    losses: Tensor
    seconds: float
    mask: Tensor | None = None
    generator_state: dict[str, Tensor] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


ConfigT = TypeVar("ConfigT")


def with_options(config: ConfigT, options: Mapping[str, object]) -> ConfigT:
    """``config`` (a dataclass) with the fields in ``options`` replaced (``--method-option``); an
    unknown name raises ``ValueError`` listing the options (all fields but steps and seed)."""
    names = [f.name for f in fields(config)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(names))
    if unknown:
        known = ", ".join(n for n in names if n not in ("steps", "seed"))
        raise ValueError(f"no option {unknown[0]!r}; the options: {known}")
    return replace(config, **options)  # type: ignore[type-var]
