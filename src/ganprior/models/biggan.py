"""BigGAN as ajbrock's BigGAN-PyTorch and DGP define it (Brock et al. 2019): G and D.

Generator (``biggan``): hierarchical z. z (B, latent_dim) is split into ``num_blocks + 1`` chunks of
``z_chunk``; chunk 0 goes through ``linear`` to (B, widths[0], 4, 4), block i is conditioned on
cat(shared(y), chunk i+1). Class information enters only through ``shared`` (an embedding without
spectral norm), so soft class vectors (B, num_classes) work: shared(y) = y @ shared.weight. Each
block: class-conditional BN (stored mean/var; gain 1 + SN-Linear(c), bias SN-Linear(c)), ReLU,
nearest ×2, 3×3 conv, conditional BN, ReLU, 3×3 conv, plus a 1×1 conv shortcut of the upsampled
input; optionally followed by self-attention. Output: BN, ReLU, 3×3 conv to RGB, tanh -> [-1, 1].
Stages follow DGP's optimiser groups in depth order: [linear], [block 0 (+ its attention)], …,
[output layer]; ``shared`` lies outside the stages, in group 0 with ``linear``.

Discriminator (``biggan-d``): "wide" residual DBlocks (ReLU pre-activation from block 1 on, average
pooling), attention after chosen blocks, global sum pooling of ReLU(h), ``linear`` + the class
projection ⟨embed(y), h⟩. ``features`` is DGP's list: every block's (and attention's) output, then
the pooled vector; as in DGP, whose D_activation is an in-place ReLU, the last block's entry is
returned after that ReLU.

Spectral norm is ajbrock's: buffers ``u0`` (1, out) and ``sv0`` (1,); W / σ with one power
iteration from the stored u0 (v = n(u0 W), u = n(v Wᵀ), σ = v Wᵀ uᵀ, u and v without gradient);
u0 and sv0 are only written in training mode (sv0 is a log, never read).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import GanpriorError
from .staged import StagedDiscriminator, StagedGenerator


def embed_classes(weight: Tensor, y: Tensor) -> Tensor:
    """Rows of an embedding table (K, D) for labels (B,), their mixture for class vectors (B, K)."""
    return F.embedding(y.long(), weight) if y.dim() == 1 else y.to(weight.dtype) @ weight


class AjbrockSN:
    """Mixin: ajbrock's spectral norm of ``self.weight`` (out, ...) with buffers ``u0``, ``sv0``."""

    weight: Tensor
    u0: Tensor
    sv0: Tensor
    training: bool
    register_buffer: Callable[..., None]

    def _init_sn(self, outputs: int, eps: float) -> None:
        self.sn_eps = eps
        self.register_buffer("u0", torch.randn(1, outputs))
        self.register_buffer("sv0", torch.ones(1))

    def sn_weight(self) -> Tensor:
        """``weight / σ``; in training mode u0 and sv0 are updated in place."""
        mat = self.weight.reshape(self.weight.shape[0], -1)
        v = F.normalize(torch.matmul(self.u0, mat.detach()), eps=self.sn_eps)
        wv = torch.matmul(v, mat.t())  # (1, out); the reference computes it twice, once without gradient
        u = F.normalize(wv.detach(), eps=self.sn_eps)
        sigma = torch.squeeze(torch.matmul(wv, u.t()))
        if self.training:
            with torch.no_grad():
                self.u0.copy_(u)
                self.sv0.copy_(sigma)
        return self.weight / sigma


class SNConv2d(nn.Conv2d, AjbrockSN):
    """Conv2d (k×k, 'same' padding) with ajbrock's spectral norm."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, bias: bool = True, eps: float = 1e-6) -> None:
        nn.Conv2d.__init__(self, c_in, c_out, kernel, padding=kernel // 2, bias=bias)
        self._init_sn(c_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.sn_weight(), self.bias, self.stride, self.padding)


class SNLinear(nn.Linear, AjbrockSN):
    """Linear with ajbrock's spectral norm."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True, eps: float = 1e-6) -> None:
        nn.Linear.__init__(self, d_in, d_out, bias=bias)
        self._init_sn(d_out, eps)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.sn_weight(), self.bias)


class SNEmbedding(nn.Embedding, AjbrockSN):
    """Class embedding (num_classes, dim) with ajbrock's spectral norm over its rows (D's projection)."""

    def __init__(self, num_classes: int, dim: int, eps: float = 1e-6) -> None:
        nn.Embedding.__init__(self, num_classes, dim)
        self._init_sn(num_classes, eps)

    def forward(self, y: Tensor) -> Tensor:
        """Labels (B,) or class vectors (B, num_classes) -> (B, dim)."""
        return embed_classes(self.sn_weight(), y)


class SelfAttention(nn.Module):
    """SA-GAN attention as BigGAN uses it: x + γ · o(g · softmax(θᵀ φ)ᵀ), φ and g max-pooled 2×2.

    (B, C, H, W) -> (B, C, H, W); θ, φ: C/8 channels, g: C/2, o: C/2 -> C, all 1×1 without bias,
    made by ``conv(c_in, c_out)``; γ has shape ``gamma_shape`` (ajbrock: a scalar, HF: (1,)).
    """

    def __init__(
        self, channels: int, conv: Callable[[int, int], nn.Module], gamma_shape: Sequence[int] = ()
    ) -> None:
        super().__init__()
        self.ch = channels
        self.theta = conv(channels, channels // 8)
        self.phi = conv(channels, channels // 8)
        self.g = conv(channels, channels // 2)
        self.o = conv(channels // 2, channels)
        self.gamma = nn.Parameter(torch.zeros(tuple(gamma_shape)))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        theta = self.theta(x).reshape(b, self.ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), [2, 2]).reshape(b, self.ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), [2, 2]).reshape(b, self.ch // 2, h * w // 4)
        beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)
        o = self.o(torch.bmm(g, beta.transpose(1, 2)).reshape(b, self.ch // 2, h, w))
        return self.gamma * o + x


class ConditionalBN(nn.Module):
    """Class-conditional BN: BN(x; stored_mean, stored_var) · (1 + gain(c)) + bias(c).

    x (B, C, H, W), c (B, cond_dim); gain and bias are SN-Linear without bias.
    """

    def __init__(self, channels: int, cond_dim: int, eps: float, sn_eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.gain = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.bias = SNLinear(cond_dim, channels, bias=False, eps=sn_eps)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        gain = (1 + self.gain(c)).reshape(c.shape[0], -1, 1, 1)
        bias = self.bias(c).reshape(c.shape[0], -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, 0.1, self.eps)
        return out * gain + bias


class PlainBN(nn.Module):
    """BN with learned ``gain`` / ``bias`` and stored statistics (the output layer's)."""

    def __init__(self, channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.batch_norm(
            x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training, 0.1, self.eps
        )


class GBlock(nn.Module):
    """(B, c_in, H, W) + condition (B, cond_dim) -> (B, c_out, 2H, 2W)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, bn_eps: float, sn_eps: float) -> None:
        super().__init__()
        self.bn1 = ConditionalBN(c_in, cond_dim, bn_eps, sn_eps)
        self.conv1 = SNConv2d(c_in, c_out, eps=sn_eps)
        self.bn2 = ConditionalBN(c_out, cond_dim, bn_eps, sn_eps)
        self.conv2 = SNConv2d(c_out, c_out, eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, 1, eps=sn_eps)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2)
        x = F.interpolate(x, scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.conv_sc(x)


class InputStage(nn.Module):
    """Stage 0: z chunk 0 (B, z_chunk) -> (B, width, bottom, bottom)."""

    def __init__(self, z_chunk: int, width: int, bottom: int, sn_eps: float) -> None:
        super().__init__()
        self.bottom = bottom
        self.linear = SNLinear(z_chunk, width * bottom * bottom, eps=sn_eps)

    def forward(self, z: Tensor) -> Tensor:
        return self.linear(z).reshape(z.shape[0], -1, self.bottom, self.bottom)


class BlockStage(nn.Module):
    """One DGP group: a GBlock and its attention (if any); (h, condition) -> h at twice the size."""

    def __init__(self, block: GBlock, attention: SelfAttention | None) -> None:
        super().__init__()
        self.block = block
        self.attention = attention

    def forward(self, h: Tensor, c: Tensor) -> Tensor:
        h = self.block(h, c)
        return h if self.attention is None else self.attention(h)


class OutputStage(nn.Module):
    """BN, ReLU, 3×3 conv to RGB, tanh: (B, C, H, W) -> (B, 3, H, W) in [-1, 1]."""

    def __init__(self, width: int, bn_eps: float, sn_eps: float) -> None:
        super().__init__()
        self.bn = PlainBN(width, bn_eps)
        self.conv = SNConv2d(width, 3, eps=sn_eps)

    def forward(self, h: Tensor) -> Tensor:
        return torch.tanh(self.conv(F.relu(self.bn(h))))


def _attention_conv(sn_eps: float) -> Callable[[int, int], nn.Module]:
    return lambda c_in, c_out: SNConv2d(c_in, c_out, 1, bias=False, eps=sn_eps)


class BigGANGenerator(StagedGenerator):
    """z (B, latent_dim) + class (B,) labels or (B, num_classes) vectors -> (B, 3, res, res) in [-1, 1].

    ``widths``: channels entering block 0, then each block's output (len = blocks + 1);
    ``attention``: indices of the blocks followed by self-attention; ``z_chunk``: the size of each
    of the blocks + 1 z chunks (latent_dim = z_chunk · (blocks + 1)); resolution = bottom · 2^blocks.
    ``bn_eps`` / ``sn_eps``: 1e-5 / 1e-6 for BigGAN-PyTorch and DGP files, 1e-4 / 1e-4 for TFHub ones.
    """

    arch_name = "biggan"

    def __init__(
        self,
        widths: Sequence[int] = (1536, 1536, 768, 384, 192, 96),
        attention: Sequence[int] = (3,),
        num_classes: int = 1000,
        shared_dim: int = 128,
        z_chunk: int = 20,
        bottom: int = 4,
        bn_eps: float = 1e-5,
        sn_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        widths, attention = [int(w) for w in widths], sorted(int(a) for a in attention)
        blocks = len(widths) - 1
        if blocks < 1 or any(not 0 <= a < blocks for a in attention):
            raise GanpriorError(f"need at least one block and attention indices below {blocks}")
        self.config = dict(
            widths=widths,
            attention=attention,
            num_classes=num_classes,
            shared_dim=shared_dim,
            z_chunk=z_chunk,
            bottom=bottom,
            bn_eps=bn_eps,
            sn_eps=sn_eps,
        )
        self.z_chunk = z_chunk
        self.latent_dim = z_chunk * (blocks + 1)
        self.num_classes, self.channels = num_classes, 3
        self.resolution = bottom * 2**blocks
        self.shared = nn.Embedding(num_classes, shared_dim)
        cond = shared_dim + z_chunk
        stages: list[nn.Module] = [InputStage(z_chunk, widths[0], bottom, sn_eps)]
        for i in range(blocks):
            block = GBlock(widths[i], widths[i + 1], cond, bn_eps, sn_eps)
            attn = SelfAttention(widths[i + 1], _attention_conv(sn_eps)) if i in attention else None
            stages.append(BlockStage(block, attn))
        stages.append(OutputStage(widths[-1], bn_eps, sn_eps))
        self.stages = nn.ModuleList(stages)

    def class_embedding(self, y: Tensor | None, batch: int) -> Tensor:
        """shared(y): labels (B,) or soft class vectors (B, num_classes) -> (B, shared_dim)."""
        if y is None:
            raise GanpriorError("BigGAN is class-conditional: pass class labels y")
        return embed_classes(self.shared.weight, y if y.dim() == 1 else self.class_vector(y, batch))

    def embed(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z (B, latent_dim) -> its first chunk (B, z_chunk), the input of ``linear``."""
        return z[:, : self.z_chunk]

    def stage_contexts(self, z: Tensor, y: Tensor | None = None) -> list[Tensor | None]:
        """[None, cat(shared(y), chunk 1), …, cat(shared(y), chunk blocks), None]."""
        shared = self.class_embedding(y, z.shape[0]).to(z.dtype)
        chunks = torch.split(z, self.z_chunk, 1)[1 : self.num_stages - 1]
        return [None, *(torch.cat([shared, c], 1) for c in chunks), None]


class DBlock(nn.Module):
    """D's residual block: (B, c_in, H, W) -> (B, c_out, H/2, W/2) when ``downsample`` (else H, W).

    ``hidden`` is conv1's width (c_out in the "wide" D); ReLU pre-activation when ``preact``.
    """

    def __init__(
        self, c_in: int, hidden: int, c_out: int, downsample: bool, preact: bool, sn_eps: float
    ) -> None:
        super().__init__()
        self.preact, self.downsample = preact, downsample
        self.conv1 = SNConv2d(c_in, hidden, eps=sn_eps)
        self.conv2 = SNConv2d(hidden, c_out, eps=sn_eps)
        self.conv_sc = SNConv2d(c_in, c_out, 1, eps=sn_eps) if c_in != c_out or downsample else None

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def _shortcut(self, x: Tensor) -> Tensor:
        if self.conv_sc is None:
            return self._pool(x)
        return self._pool(self.conv_sc(x)) if self.preact else self.conv_sc(self._pool(x))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preact else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        return h + self._shortcut(x)


class BigGANDiscriminator(StagedDiscriminator):
    """image (B, 3, res, res) in [-1, 1] [+ class] -> logit (B,); ``features`` gives DGP's list.

    ``blocks``: per block [c_in, hidden, c_out, downsample]; ``attention``: indices of the blocks
    followed by self-attention; resolution = 4 · 2^(downsampling blocks), as in the 64–512 px archs.
    """

    arch_name = "biggan-d"

    def __init__(
        self,
        blocks: Sequence[Sequence[Any]],
        attention: Sequence[int] = (),
        num_classes: int = 1000,
        sn_eps: float = 1e-6,
    ) -> None:
        super().__init__()
        specs = [[int(a), int(h), int(o), bool(d)] for a, h, o, d in blocks]
        attention = sorted(int(a) for a in attention)
        self.config = dict(blocks=specs, attention=attention, num_classes=num_classes, sn_eps=sn_eps)
        self.num_classes, self.channels = num_classes, specs[0][0]
        self.resolution = 4 * 2 ** sum(d for *_, d in specs)
        self.blocks = nn.ModuleList()
        for i, (c_in, hidden, c_out, down) in enumerate(specs):
            layers: list[nn.Module] = [DBlock(c_in, hidden, c_out, down, i > 0, sn_eps)]
            if i in attention:
                layers.append(SelfAttention(c_out, _attention_conv(sn_eps)))
            self.blocks.append(nn.ModuleList(layers))
        width = specs[-1][2]
        self.linear = SNLinear(width, 1, eps=sn_eps)
        self.embed = SNEmbedding(num_classes, width, eps=sn_eps)

    def features(self, x: Tensor, y: Tensor | None = None) -> list[Tensor]:
        """Every block's (and attention's) output in depth order — the last one after ReLU, as DGP's
        in-place ReLU leaves it — then the pooled vector Σ_hw ReLU(h) (B, C)."""
        feats = []
        h = x
        for layers in self.blocks:
            for layer in layers:
                h = layer(h)
                feats.append(h)
        feats[-1] = F.relu(h)
        feats.append(torch.sum(feats[-1], [2, 3]))
        return feats

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Logit (B,); with ``y`` (labels (B,) or class vectors (B, K)) the projection is added."""
        pooled = self.features(x)[-1]
        out = self.linear(pooled)
        if y is not None:
            out = out + torch.sum(self.embed(y) * pooled, 1, keepdim=True)
        return out.squeeze(1)


G_WIDTHS = {128: (16, 16, 8, 4, 2, 1), 256: (16, 16, 8, 8, 4, 2, 1), 512: (16, 16, 8, 8, 4, 2, 1, 1)}
"""Width multipliers of the published G archs (ajbrock's G_arch): into block 0, then each block's output.
BigGAN-deep's layer pairs use the same ones."""
D_WIDTHS = {128: (1, 2, 4, 8, 16, 16), 256: (1, 2, 4, 8, 8, 16, 16), 512: (1, 1, 2, 4, 8, 8, 16, 16)}
"""Output width multipliers of the published D archs' blocks (ajbrock's D_arch); all but the last downsample."""


def reference_generator(
    resolution: int = 128,
    ch: int = 96,
    dim_z: int = 120,
    attention: int = 64,
    num_classes: int = 1000,
    shared_dim: int = 128,
) -> BigGANGenerator:
    """A randomly initialised G of the published architecture (``G_ch`` ``ch``, self-attention at
    ``attention`` px, z chunk dim_z // (blocks + 1) as BigGAN-PyTorch's hier reset)."""
    widths = [ch * m for m in G_WIDTHS[resolution]]
    blocks = len(widths) - 1
    return BigGANGenerator(
        widths,
        [i for i in range(blocks) if 8 * 2**i == attention],
        num_classes,
        shared_dim,
        dim_z // (blocks + 1),
    )


def reference_discriminator(
    resolution: int = 128, ch: int = 96, attention: int = 64, num_classes: int = 1000
) -> BigGANDiscriminator:
    """A randomly initialised "wide" D of the published architecture (``D_ch`` ``ch``, attention
    after the block whose output is ``attention`` px)."""
    outs = [ch * m for m in D_WIDTHS[resolution]]
    ins = [3, *outs[:-1]]
    sizes = [resolution // 2 ** (i + 1) for i in range(len(outs) - 1)] + [4]
    specs = [[a, b, b, i < len(outs) - 1] for i, (a, b) in enumerate(zip(ins, outs, strict=True))]
    return BigGANDiscriminator(specs, [i for i, r in enumerate(sizes) if r == attention], num_classes)
