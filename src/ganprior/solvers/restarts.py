"""Restarts: one solve of K·N images (K starts per image, restart-major: the rows r·N … r·N + N − 1
are restart r) and the choice of one restart per image by a label-free score."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import GanpriorError
from .base import Callback, Init, Result, Watcher


def check_restarts(restarts: int) -> None:
    """Refuse a number of restarts below 1 (``GanpriorError``)."""
    if restarts < 1:
        raise GanpriorError(f"restarts must be at least 1, not {restarts}")


def repeat_images(images: Tensor, restarts: int) -> Tensor:
    """(N, …) -> (K·N, …): the N images once per restart, restart-major."""
    return images.repeat(restarts, *([1] * (images.dim() - 1)))


def stack_starts(starts: list[Init]) -> Init:
    """K starts of N images each -> one start of K·N images, restart-major."""
    labels = [y for _, y in starts]
    return torch.cat([z for z, _ in starts]), None if labels[0] is None else torch.cat(labels)  # type: ignore[arg-type]


def restart_starts(init: Init | None, search: Callable[[int], Init], seed: int, restarts: int) -> Init:
    """The starts of K restarts, stacked restart-major: restart r's is ``search(seed + r)``, restart
    0's ``init`` when given."""
    return stack_starts([init if r == 0 and init is not None else search(seed + r) for r in range(restarts)])


class FirstRestart(Watcher):
    """The view of a K·N-image solve that ``callback`` gets: the N images of the first restart (its
    per-image losses, and its estimates when ``callback`` is a ``Watcher``), so that a progress bar
    or a live preview sees the N images it was made for."""

    def __init__(self, callback: Callback, n: int) -> None:
        self.callback, self.n = callback, n

    def __call__(self, step: int, losses: Tensor) -> None:
        self.callback(step, losses[: self.n])

    def wants(self, step: int) -> bool:
        return isinstance(self.callback, Watcher) and self.callback.wants(step)

    def seen(self, step: int, image: Tensor) -> None:
        if isinstance(self.callback, Watcher):
            self.callback.seen(step, image[: self.n])


def first_restart(callback: Callback | None, n: int) -> Callback | None:
    """``callback`` seeing only the first restart of a K·N-image solve (None stays None)."""
    return None if callback is None else FirstRestart(callback, n)


def choose(runs: Result, scores: Tensor) -> Result:
    """Per image the restart with the lowest score: ``runs`` of K·N images (restart-major) and
    ``scores`` (N, K) -> a Result of N images, with ``extras["restart"]`` the chosen restart (N,)
    and ``extras["restart_scores"]`` the scores (N, K)."""
    n = scores.shape[0]
    chosen = scores.argmin(1)
    picked = runs.take(chosen.cpu() * n + torch.arange(n))
    picked.extras |= {"restart": chosen, "restart_scores": scores}
    return picked
