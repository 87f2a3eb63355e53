"""The solver contract: what every method takes (``SolverConfig``), returns (``Result``) and calls
back with, and the signature every registered method is called by (``Solve``).

Every method is ``solve(prior, observation, operator, config, *, init=None, callback=None) ->
Result`` (``solvers.registry``); a callback that is a ``Watcher`` also sees the current estimate
now and then. Its config is a dataclass derived from ``SolverConfig``: it has a
``steps`` and a ``seed`` field, carries the method's per-task presets (``Config.for_task``), and
takes ``--method-option`` overrides through one path (``for_task(..., **overrides)``), with string
values parsed by the field's type. ``asdict(config)`` is the resolved setting a run reproduces from.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import torch
from torch import Tensor

from ..errors import GanpriorError

if TYPE_CHECKING:
    from ..checkpoint import Prior
    from ..physics import Operator

Callback = Callable[[int, Tensor], None]
"""Called after every step with (step index, per-image loss (N,))."""


class Watcher:
    """A ``Callback`` that also watches the estimate: called (step, losses) after every step like
    any callback; after a step where ``wants(step)`` is true, ``seen(step, image)`` gets the
    solver's current estimate (N, C, H, W) in [-1, 1], the generator's output (before the
    operator) with the parameters of that step, rendered for it alone."""

    def __call__(self, step: int, losses: Tensor) -> None:
        """After every step: its per-image losses (N,)."""

    def wants(self, step: int) -> bool:
        """Whether to render the estimate after ``step`` (a forward pass: ask only now and then)."""
        return False

    def seen(self, step: int, image: Tensor) -> None:
        """The current estimate after ``step``: (N, C, H, W) in [-1, 1]."""


Init = tuple[Tensor, "Tensor | None"]
"""A solver's start: latent(s) (N, latent_dim) — (N, codes, latent_dim) for mGANprior — and class
labels (N,) or class vectors (N, num_classes), None for an unconditional generator."""


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

    @classmethod
    def concat(cls, results: Sequence[Result]) -> Result:
        """One Result from per-batch Results (images along dim 0, loss histories along dim 1)."""
        if len(results) == 1:
            return results[0]

        def cat(values: list[Tensor | None], dim: int = 0) -> Tensor | None:
            return None if values[0] is None else torch.cat(values, dim=dim)  # type: ignore[arg-type]

        first = results[0]
        state = None
        if first.generator_state is not None:
            state = {k: torch.cat([r.generator_state[k] for r in results]) for k in first.generator_state}  # type: ignore[index]
        return cls(
            image=torch.cat([r.image for r in results]),
            latent=torch.cat([r.latent for r in results]),
            classes=cat([r.classes for r in results]),
            losses=torch.cat([r.losses for r in results], dim=1),
            seconds=sum(r.seconds for r in results),
            mask=cat([r.mask for r in results]),
            generator_state=state,
            extras={
                k: cat([r.extras[k] for r in results]) if isinstance(v, Tensor) else v
                for k, v in first.extras.items()
            },
        )

    def take(self, index: Tensor) -> Result:
        """The results of the images at ``index`` (M,) (indices into the N images), in that order."""

        def pick(value: Any) -> Any:
            return value[index] if isinstance(value, Tensor) else value

        state = (
            None if self.generator_state is None else {k: v[index] for k, v in self.generator_state.items()}
        )
        return dataclasses.replace(
            self,
            image=self.image[index],
            latent=self.latent[index],
            classes=pick(self.classes),
            losses=self.losses[:, index],
            mask=pick(self.mask),
            generator_state=state,
            extras={k: pick(v) for k, v in self.extras.items()},
        )

    def to(self, device: torch.device | str, generator_state: bool = True) -> Result:
        """This result with its tensors on ``device`` (a worker's result sent to the driver), without
        the per-image generator copies unless ``generator_state``."""

        def move(value: Any) -> Any:
            return value.to(device) if isinstance(value, Tensor) else value

        state = None
        if generator_state and self.generator_state is not None:
            state = {k: v.to(device) for k, v in self.generator_state.items()}
        return dataclasses.replace(
            self,
            image=self.image.to(device),
            latent=self.latent.to(device),
            classes=move(self.classes),
            losses=self.losses.to(device),
            mask=move(self.mask),
            generator_state=state,
            extras={k: move(v) for k, v in self.extras.items()},
        )


ConfigT = TypeVar("ConfigT", bound="SolverConfig")


@dataclass
class SolverConfig:
    """Settings every method has: ``steps`` (optimisation steps) and ``seed`` (of its random
    starts). Subclasses add their own fields (all with defaults) and override ``task_preset``."""

    steps: int = 600
    seed: int = 0

    def total_steps(self) -> int:
        """The steps a solve reports to its callback, e.g. for a progress bar: ``steps``, more for a
        method that runs a second loop."""
        return self.steps

    @classmethod
    def task_preset(cls, task: str, prior: Prior, steps: int | None) -> dict[str, Any]:
        """The fields that differ from the defaults for ``task`` on ``prior`` when the run takes
        ``steps`` steps (None: the preset's own number); none by default."""
        return {}

    @classmethod
    def for_task(cls: type[ConfigT], task: str, prior: Prior, **overrides: object) -> ConfigT:
        """The method's preset for ``task`` on ``prior`` with ``overrides`` applied (``--method-option``;
        strings are parsed by the field's type). An unknown field or a bad value raises ``GanpriorError``."""
        parsed = cls.parse_overrides(overrides)
        settings = cls.task_preset(task, prior, parsed.get("steps")) | parsed  # type: ignore[arg-type]
        return cls(**settings)

    @classmethod
    def parse_overrides(cls, overrides: dict[str, object]) -> dict[str, object]:
        """``overrides`` {field: value} with values parsed by the field's type (no prior needed, so
        the CLI checks ``--method-option`` before loading anything); an unknown field or a value
        of the wrong type raises ``GanpriorError``."""
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        parsed = {}
        for key, value in overrides.items():
            if key not in names:
                raise GanpriorError(f"no option {key!r}; the options: {', '.join(names)}")
            parsed[key] = parse_value(key, value, hints[key])
        return parsed

    def to_dict(self) -> dict[str, Any]:
        """The resolved settings {field: value}, for reports (``for_task(task, prior, **d)`` rebuilds them)."""
        return dataclasses.asdict(self)


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_value(name: str, value: object, kind: Any) -> object:
    """``value`` for a field of type ``kind`` (int, float, bool, str, or one of them | None): strings
    are parsed ("none" -> None for optional fields), numbers checked; a mismatch raises ``GanpriorError``."""
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    options = typing.get_args(kind) if union else (kind,)
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        if type(None) in options:
            return None
        raise GanpriorError(f"option {name} cannot be none")
    for option in options:
        if option is type(None):
            continue
        parsed = _parse_as(value, option)
        if parsed is not _INVALID:
            return parsed
    expected = " or ".join(o.__name__ for o in options if o is not type(None))
    raise GanpriorError(f"option {name}={value!r} is not a valid {expected}")


_INVALID = object()


def _parse_as(value: object, kind: type) -> object:
    """``value`` as ``kind``, or ``_INVALID``."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        return _BOOLEANS.get(str(value).lower(), _INVALID)
    if isinstance(value, bool):
        return _INVALID
    if kind is int:
        if isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError:
            return _INVALID
    if kind is float:
        try:
            number = float(value) if isinstance(value, (int, float)) else float(str(value))
        except ValueError:
            return _INVALID
        return number if math.isfinite(number) else _INVALID
    return str(value) if kind is str else _INVALID


class Solve(Protocol):
    """The one way every method is called; see the module docstring."""

    def __call__(
        self,
        prior: Prior,
        observation: Tensor,
        operator: Operator,
        config: Any,
        *,
        init: Init | None = None,
        callback: Callback | None = None,
    ) -> Result: ...
