"""The classic DCGAN generator (transposed convolutions + batch norm), as a staged generator.

Covers the ``face64`` (gan-face-generate) and ``eyes128`` (omniart-eye-generator) checkpoints:
one stage per ConvTranspose-BN-ReLU block, a last stage ConvTranspose-Tanh. A conditional
variant concatenates the one-hot class to z, as eyes128 does.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ..errors import GanpriorError
from .staged import StagedGenerator


def _block(c_in: int, c_out: int, first: bool, dropout: float) -> nn.Sequential:
    stride, pad = (1, 0) if first else (2, 1)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(c_in, c_out, 4, stride, pad, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    ]
    if first and dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class DCGANGenerator(StagedGenerator):
    """z (B, nz) [+ one-hot class] -> image (B, nc, res, res) in [-1, 1].

    Widths halve from ``ngf * 2**(n-2)`` at 4×4 down to ``ngf`` before the output layer, with
    ``n = log2(res) - 1`` stages in all. ``first_dropout`` reproduces eyes128's dropout after the
    first block (inactive in eval mode).
    """

    arch_name = "dcgan"

    def __init__(
        self,
        resolution: int = 64,
        nz: int = 100,
        ngf: int = 64,
        nc: int = 3,
        num_classes: int = 0,
        first_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n_up = int(math.log2(resolution)) - 2  # 4x4 -> res takes n_up doublings
        if 2 ** (n_up + 2) != resolution or n_up < 1:
            raise GanpriorError(f"resolution must be a power of two >= 8, got {resolution}")
        self.config = dict(
            resolution=resolution, nz=nz, ngf=ngf, nc=nc, num_classes=num_classes, first_dropout=first_dropout
        )
        self.latent_dim, self.num_classes = nz, num_classes
        self.resolution, self.channels = resolution, nc
        widths = [ngf * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 512, 256, 128, 64 for res 64
        stages = [_block(nz + num_classes, widths[0], True, first_dropout)]
        stages += [_block(a, b, False, 0.0) for a, b in itertools.pairwise(widths)]
        stages.append(nn.Sequential(nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()))
        self.stages = nn.ModuleList(stages)

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """(B, nz) [+ class] -> (B, nz + num_classes, 1, 1)."""
        onehot = self.class_vector(y, z.shape[0])
        h = z if onehot is None else torch.cat([z, onehot.to(z.dtype)], dim=1)
        return h.reshape(z.shape[0], -1, 1, 1)


def convert_sequential_dcgan(state: dict[str, Tensor], generator: DCGANGenerator) -> dict[str, Tensor]:
    """Map a ``main.<i>.*`` nn.Sequential DCGAN state dict onto ``generator``'s staged keys.

    The reference layouts are [ConvT, BN, ReLU, (Dropout)] per block and [ConvT, Tanh] at the end;
    both are walked in order, so any such checkpoint maps without hand-written tables.
    """
    source_layers = sorted({int(k.split(".")[1]) for k in state if k.startswith("main.")})
    target_layers = [
        f"stages.{s}.{j}"
        for s, stage in enumerate(generator.stages)
        for j, module in enumerate(stage)
        if isinstance(module, (nn.ConvTranspose2d, nn.BatchNorm2d))
    ]
    if len(source_layers) != len(target_layers):
        raise GanpriorError(
            f"checkpoint has {len(source_layers)} parametrised layers, the architecture {len(target_layers)}"
        )
    mapping = {f"main.{i}.": f"{t}." for i, t in zip(source_layers, target_layers, strict=True)}
    out = {}
    for key, value in state.items():
        prefix = key[: key.index(".", 5) + 1]
        out[mapping[prefix] + key[len(prefix) :]] = value
    return out
