"""Deep Image Prior (Ulyanov et al. 2018), the DGP paper's main comparison: an *untrained*
encoder-decoder with skip connections, fitted per image so that φ(net(noise)) matches the
observation. Its structure is the prior; fitted too long it reproduces the degradation, so it needs
early stopping.

Early stopping without a clean reference: ES-WMV (Wang et al. 2023) — the running variance of the
last ``window`` outputs falls while the net fits the image and rises when it starts fitting noise
and artefacts; each image keeps the output at its minimum-variance point and stops once that
minimum is ``patience`` steps old.

Batched: N images fit N networks at once (stacked parameters under ``vmap``); normalisation is
per image (instance norm, what DIP's batch norm computes at batch size 1), so a batch of one gives
the same numbers as the batched path up to float rounding.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..errors import GanpriorError
from ..losses import pixel_loss
from ..physics import Operator
from .base import Callback, Init, Result, SolverConfig
from .loop import run_steps
from .per_image import per_sample

if TYPE_CHECKING:
    from ..checkpoint import Prior


def _conv(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, padding_mode="reflect"),
        nn.GroupNorm(c_out, c_out),
        nn.LeakyReLU(0.2),
    )


class SkipNet(nn.Module):
    """DIP's "skip" architecture, narrowed for CPUs: noise (B, input_channels, H, W) -> image
    (B, channels, H, W) in [-1, 1]. ``depth`` levels of [stride-2 conv, conv] down and [conv,
    1×1 conv, bilinear ×2] up, with ``skip``-channel skip connections; H, W divisible by 2**depth."""

    def __init__(
        self, channels: int, input_channels: int = 32, width: int = 64, skip: int = 4, depth: int = 4
    ) -> None:
        super().__init__()
        self.input_channels = input_channels
        self.down = nn.ModuleList()
        self.skips = nn.ModuleList()
        self.up = nn.ModuleList()
        c = input_channels
        for _ in range(depth):
            self.skips.append(_conv(c, skip, kernel=1))
            self.down.append(nn.Sequential(_conv(c, width, 2), _conv(width, width)))
            c = width
        for _ in range(depth):
            self.up.append(nn.Sequential(_conv(width + skip, width), _conv(width, width, kernel=1)))
        self.out = nn.Conv2d(width, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for skip, down in zip(self.skips, self.down, strict=True):
            skips.append(skip(x))
            x = down(x)
        for up, s in zip(self.up, reversed(skips), strict=True):
            x = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = up(torch.cat([x, s], dim=1))
        return torch.tanh(self.out(x))


@dataclass
class DIPConfig(SolverConfig):
    """Adam ``lr``, at most ``steps`` iterations, network ``width`` (the paper's 128, narrowed for CPUs) and ``depth``,
    input perturbation ``input_noise`` (DIP's reg_noise_std), ES-WMV ``window`` and ``patience``
    (0 disables early stopping: the last output is kept), seed. One preset for every task."""

    lr: float = 0.01
    width: int = 32
    depth: int = 4
    input_noise: float = 1 / 30
    window: int = 50
    patience: int = 200


def dip(
    observation: Tensor,
    operator: Operator,
    channels: int,
    resolution: int,
    config: DIPConfig | None = None,
    callback: Callback | None = None,
) -> Result:
    """Restore N observations (N, C', H', W') in [-1, 1] to (N, ``channels``, ``resolution``²) images.

    ``Result.latent`` holds the fixed input noise (N, input_channels·H·W); ``extras["stopped_at"]``
    the iteration whose output each image kept (N,).
    """
    config = config or DIPConfig()
    started = time.perf_counter()
    n, device = observation.shape[0], observation.device
    rng = torch.Generator().manual_seed(config.seed)
    depth = max(1, min(config.depth, int(math.log2(resolution)) - 2))  # the bottleneck stays >= 4×4
    net = SkipNet(channels, width=config.width, depth=depth)
    # Every image starts from the same seeded network and input, so a result does not depend on
    # the image's place in the batch.
    params = {
        name: _reinit(p, rng).expand(n, *p.shape).clone().to(device).requires_grad_(True)
        for name, p in net.named_parameters()
    }
    net.to(device)
    run = per_sample(net, (0,))
    shape = (1, net.input_channels, resolution, resolution)
    noise = (torch.rand(shape, generator=rng) * 0.1).to(device).expand(n, -1, -1, -1)
    optimizer = torch.optim.Adam(params.values(), lr=config.lr)
    window: list[Tensor] = []
    best_var = torch.full((n,), float("inf"), device=device)
    best_step = torch.zeros(n, dtype=torch.long)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    kept = torch.zeros(n, channels, resolution, resolution, device=device)
    latest: list[Tensor] = []

    def loss(step: int) -> Tensor:
        jitter = torch.randn(shape, generator=rng).to(device) * config.input_noise
        image = run(params, noise + jitter)
        latest[:] = [image.detach()]
        return pixel_loss(operator(image), observation)

    def early_stop(step: int) -> bool:
        """ES-WMV: keep each image's output at its minimum running variance; stop when all are stale."""
        nonlocal window, best_var, done
        if not config.patience:
            return False
        window = [*window[-(config.window - 1) :], latest[0]]
        if len(window) < config.window:
            return False
        stacked = torch.stack(window)
        variance = (stacked - stacked.mean(0)).square().flatten(2).mean(2).mean(0)  # (N,)
        better = (variance < best_var) & ~done
        best_var = torch.where(better, variance, best_var)
        best_step[better.cpu()] = step
        kept[better] = window[-1][better]
        done |= (step - best_step >= config.patience).to(device)  # an image that stopped stays stopped
        return bool(done.all())

    history = run_steps(
        loss, [optimizer], config.steps, n, callback, stop=early_stop, estimate=lambda: run(params, noise)
    )
    if not config.patience:
        with torch.no_grad():
            kept = run(params, noise)
        best_step[:] = config.steps - 1
    return Result(
        kept,
        noise.flatten(1),
        None,
        history,
        time.perf_counter() - started,
        extras={"stopped_at": best_step},
    )


def _reinit(p: Tensor, rng: torch.Generator) -> Tensor:
    """A fresh seeded draw for parameter ``p``: uniform ±1/sqrt(fan_in) for weights (PyTorch's
    default scale), ones for norm scales, zeros for biases."""
    if p.dim() > 1:
        bound = 1 / p[0].numel() ** 0.5
        return (torch.rand(p.shape, generator=rng) * 2 - 1) * bound
    return torch.ones_like(p) if p.detach().eq(1).all() else torch.zeros_like(p)


def solve(
    prior: Prior,
    observation: Tensor,
    operator: Operator,
    config: DIPConfig,
    *,
    init: Init | None = None,
    callback: Callback | None = None,
) -> Result:
    """The registered method: DIP at the prior's resolution and channels (the GAN itself is not used)."""
    if init is not None:
        raise GanpriorError("dip fits an untrained network from noise: it takes no start latent")
    g = prior.generator
    return dip(observation, operator, g.channels, g.resolution, config, callback)
