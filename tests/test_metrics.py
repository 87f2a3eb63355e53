"""PSNR/SSIM agree with scikit-image; region metrics count only the region."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ganprior import metrics


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return ((t + 1) / 2).permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("channels", [1, 3])
def test_against_scikit_image(channels):
    torch.manual_seed(channels)
    x = torch.rand(3, channels, 40, 36) * 2 - 1
    y = (x + 0.2 * torch.randn_like(x)).clamp(-1, 1)
    ours_psnr, ours_ssim = metrics.psnr(x, y), metrics.ssim(x, y)
    for i in range(3):
        a, b = as_numpy(x[i]), as_numpy(y[i])
        ref_ssim = structural_similarity(
            a,
            b,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert ours_psnr[i].item() == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-3)
        assert ours_ssim[i].item() == pytest.approx(ref_ssim, abs=1e-5)


def test_region_only_counts_the_region():
    x = torch.zeros(1, 3, 32, 32)
    y = x.clone()
    y[..., :16] = 1.0  # error only on the left half
    left = torch.zeros(1, 1, 32, 32)
    left[..., :16] = 1
    assert metrics.psnr(x, y, 1 - left).item() == 100.0  # right half identical
    assert metrics.psnr(x, y, left).item() == pytest.approx(10 * np.log10(1 / 0.25), abs=1e-4)
    assert metrics.ssim(x, y, 1 - left).item() > metrics.ssim(x, y, left).item()


def test_median_leaves_out_nan_values():
    assert metrics.median(torch.tensor([3.0, float("nan"), 1.0, 2.0])) == 2.0
    assert metrics.median(torch.tensor([4.0, float("nan"), 1.0])) == 2.5
    assert math.isnan(metrics.median(torch.tensor([float("nan")])))


def test_reference_psnr_normalises_each_image_as_rgis_evaluation():
    rng = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 8, 8, generator=rng) * 2 - 1
    assert torch.equal(metrics.reference_psnr(clean, clean), torch.full((2,), 100.0))
    # min-max normalisation: an output off by gain and offset scores as if it were exact
    assert torch.allclose(metrics.reference_psnr(0.5 * clean + 0.2, clean), torch.full((2,), 100.0))
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=rng)
    by_hand = []
    for x, y in zip(noisy.numpy(), clean.numpy(), strict=True):  # the reference's formula, in numpy
        sx, sy = (x - x.min()) / (x.max() - x.min()), (y - y.min()) / (y.max() - y.min())
        by_hand.append(10 * math.log10(sy.max() ** 2 / np.mean((sx - sy) ** 2)))
    assert np.allclose(metrics.reference_psnr(noisy, clean).numpy(), by_hand, atol=1e-3)
