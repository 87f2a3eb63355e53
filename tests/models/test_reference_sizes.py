"""The published architectures' sizes, built on the meta device (no memory, no time)."""

from __future__ import annotations

import pytest
import torch

from ganprior.models import pggan, stylegan2


def _millions(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def test_stylegan2_config_f_at_1024_has_the_published_parameter_counts():
    with torch.device("meta"):
        g, d = stylegan2.reference_generator(1024), stylegan2.reference_discriminator(1024)
    assert round(_millions(g), 2) == 30.37 and round(_millions(d), 2) == 29.01
    assert g.resolution == d.resolution == 1024 and g.latent_dim == 18 * 512


def test_pggan_at_1024_has_the_published_parameter_counts():
    with torch.device("meta"):
        g, d = pggan.reference_generator(1024), pggan.reference_discriminator(1024)
    assert round(_millions(g), 1) == round(_millions(d), 1) == 23.1
    assert pggan.reference_widths(256) == [512, 512, 512, 512, 256, 128, 64]


def test_pggan_reference_widths_need_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        pggan.reference_widths(96)
