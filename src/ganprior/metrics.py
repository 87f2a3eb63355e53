"""PSNR and SSIM per image, on the full image or on a region (e.g. the inpainting hole).

Images are (N, C, H, W) in [-1, 1]; both metrics are computed on [0, 1] intensities (data range 1).
SSIM follows Wang et al. 2004 with an 11-tap Gaussian window (σ = 1.5) and population
covariances, computed on the pixels whose window lies inside the image: the same numbers as
``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`` — written here because neither skimage nor
kornia takes a region and a batch.
"""

from __future__ import annotations

import math
import statistics

import torch
from torch import Tensor, nn

_SSIM_SIGMA, _SSIM_RADIUS = 1.5, 5  # radius = int(3.5 * sigma + 0.5), as scipy's gaussian_filter truncates
_C1, _C2 = 0.01**2, 0.03**2


def _unit(x: Tensor) -> Tensor:
    return (x.float().clamp(-1, 1) + 1) / 2


def _region(region: Tensor | None, like: Tensor) -> Tensor:
    """(N or 1, 1, H, W) weights broadcast to ``like``'s (N, C, H, W); all ones if None."""
    if region is None:
        return torch.ones_like(like)
    return region.to(like).expand_as(like) if region.dim() == 4 else region.to(like)[None].expand_as(like)


def mse(x: Tensor, y: Tensor, region: Tensor | None = None) -> Tensor:
    """Mean squared error in [0, 1] units over ``region`` (1 = counted), per image, (N,)."""
    weights = _region(region, x)
    err = (_unit(x) - _unit(y)).square() * weights
    return err.flatten(1).sum(1) / weights.flatten(1).sum(1).clamp_min(1)


def psnr(x: Tensor, y: Tensor, region: Tensor | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB (data range 1), per image, (N,); capped at 100 dB for identical images."""
    return (10 * torch.log10(1 / mse(x, y, region).clamp_min(1e-10))).clamp_max(100.0)


def reference_psnr(x: Tensor, clean: Tensor) -> Tensor:
    """RGI's PSNR (its ``utils/eval_inpainting.py``), per image, (N,): both images min-max normalised
    to [0, 1] on their own, then 10 log10(max² / MSE) with the normalised clean image's max (1).
    The reference scores the raw generator output this way, not a composite with the observation."""

    def normalised(t: Tensor) -> Tensor:
        flat = t.float().flatten(1)
        low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
        return (flat - low) / (high - low + 1e-10)

    reference = normalised(clean)
    error = (normalised(x) - reference).square().mean(1).clamp_min(1e-10)
    return (10 * torch.log10(reference.amax(1).square() / error)).clamp_max(100.0)


def _gaussian_window(channels: int, device: torch.device) -> Tensor:
    offsets = torch.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=torch.float64)
    kernel = torch.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    kernel = (kernel / kernel.sum()).float().to(device)
    return (kernel[:, None] * kernel[None, :]).expand(channels, 1, -1, -1).contiguous()


def ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """SSIM at every pixel whose window fits inside the image: (N, C, H - 10, W - 10)."""
    x, y = _unit(x).double(), _unit(y).double()
    window = _gaussian_window(x.shape[1], x.device).double()

    def blur(t: Tensor) -> Tensor:
        return nn.functional.conv2d(t, window, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    den = (mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)
    return (num / den).float()


def ssim(x: Tensor, y: Tensor, region: Tensor | None = None) -> Tensor:
    """Mean SSIM per image over ``region`` (restricted to windows inside the image), (N,)."""
    values = ssim_map(x, y)
    r = _SSIM_RADIUS
    weights = _region(region, x)[..., r:-r, r:-r]
    total = weights.flatten(1).sum(1)
    out = (values * weights).flatten(1).sum(1) / total.clamp_min(1)
    return torch.where(total > 0, out, torch.full_like(out, math.nan))


def median(values: Tensor) -> float:
    """The median of per-image values (N,) as a float; the mean of the two middle ones for even N.
    NaN values (e.g. a hole SSIM without a window inside the image) are left out; NaN if all are."""
    known = [v for v in values.tolist() if not math.isnan(v)]
    return float(statistics.median(known)) if known else math.nan
