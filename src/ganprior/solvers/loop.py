"""The one optimisation loop every solver runs.

A step evaluates the per-image losses (N,), clears the gradients, back-propagates their sum, lets
the solver adjust the gradients, steps every optimiser, records the losses and calls back (a
``Watcher`` callback also gets the current estimate when it asks, from the solver's ``estimate``).
Summing keeps N problems independent (each parameter only sees its own image's loss) and Adam's updates
are element-wise, so a batch of one gives the same numbers as the batched path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .base import Callback, Watcher


def run_steps(
    loss: Callable[[int], Tensor],
    optimizers: Sequence[torch.optim.Optimizer],
    steps: int,
    batch: int,
    callback: Callback | None = None,
    *,
    before_update: Callable[[int], None] | None = None,
    stop: Callable[[int], bool] | None = None,
    estimate: Callable[[], Tensor] | None = None,
    first_step: int = 0,
) -> Tensor:
    """Run up to ``steps`` steps; returns the loss history (steps run, N).

    loss(step) -> the ``batch`` per-image losses (N,) (it may also change learning rates or add
    parameter groups at the step); ``before_update(step)`` runs between the backward pass and the
    optimiser steps (e.g. to hold a parameter by dropping its gradient); ``stop(step)`` runs after
    the callback and ends the loop early when it returns True; ``estimate()`` renders the current
    image (N, C, H, W) for a ``Watcher`` callback that wants it (run without gradients). The callback
    and the watcher see step ``first_step + step`` (a solver running two loops counts on through both).
    """
    watcher = callback if isinstance(callback, Watcher) else None
    history = torch.zeros(steps, batch)
    for step in range(steps):
        value = loss(step)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        value.sum().backward()
        if before_update is not None:
            before_update(step)
        for optimizer in optimizers:
            optimizer.step()
        history[step] = value.detach().cpu()
        counted = first_step + step
        if callback is not None:
            callback(counted, history[step])
        if watcher is not None and estimate is not None and watcher.wants(counted):
            with torch.no_grad():
                watcher.seen(counted, estimate())
        if stop is not None and stop(step):
            return history[: step + 1]
    return history
