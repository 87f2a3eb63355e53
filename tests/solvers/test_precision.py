"""bf16 autocast + channels_last around a solve (``solvers.precision``, ``restore(precision=...)``)."""

from __future__ import annotations

import pytest
import torch

from ganprior.checkpoint import Prior
from ganprior.errors import GanpriorError
from ganprior.pipeline import restore
from ganprior.solvers import precision
from ganprior.solvers.precision import generator_precision

NATIVE_BF16 = precision.native_bf16  # the real test, before the fixture replaces it


@pytest.fixture(autouse=True)
def native(monkeypatch):
    """These tests check bf16's numbers, not its speed: they run where the CPU only emulates it too."""
    monkeypatch.setattr(precision, "native_bf16", lambda device: True)


def _conv_weights(g: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in g.parameters() if p.dim() == 4]


def test_bf16_runs_the_generator_in_bf16_and_returns_float32(tiny):
    z = torch.randn(3, tiny.latent_dim)
    with torch.no_grad():
        reference = tiny(z)
        with generator_precision(tiny, "bf16"):
            assert all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(tiny))
            low = tiny(z)
        after = tiny(z)
    assert low.dtype == torch.float32
    assert 0 < (low - reference).abs().max() < 0.05  # bf16 arithmetic: close, not equal
    assert torch.equal(after, reference)  # leaving it restores the fp32 generator exactly
    assert all(w.is_contiguous() for w in _conv_weights(tiny))


def test_autocast_without_channels_last_keeps_the_layout(tiny):
    with generator_precision(tiny, "bf16", channels_last=False):
        assert all(w.is_contiguous() for w in _conv_weights(tiny))
        assert tiny(torch.randn(2, tiny.latent_dim)).dtype == torch.float32


def test_fp32_changes_nothing_and_unknown_precisions_are_refused(tiny):
    with generator_precision(tiny, "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(GanpriorError, match="precision"), generator_precision(tiny, "fp16"):
        pass
    with pytest.raises(GanpriorError, match="precision"):
        restore(Prior("tiny", tiny), torch.zeros(1, 3, 16, 16), "inpaint", simulate=True, precision="half")


@pytest.mark.parametrize("method", ["invert", "dgp", "rrgi"])
def test_restore_in_bf16_stays_close_to_fp32(tiny, method):
    """The plain path, and the per-image generator copies under vmap (DGP, R-RGI) with batch norm."""
    prior = Prior("tiny", tiny)
    clean = tiny(torch.randn(2, tiny.latent_dim)).detach()
    options = {"init_samples": 4} | ({"warmup": 1} if method == "rrgi" else {})
    runs = {
        p: restore(prior, clean, "inpaint", method, simulate=True, steps=4, options=options, precision=p)
        for p in ("fp32", "bf16")
    }
    assert runs["bf16"].restored.dtype == torch.float32
    assert (runs["bf16"].metrics["psnr"] - runs["fp32"].metrics["psnr"]).abs().max() < 1.0


def test_bf16_is_refused_where_the_device_only_emulates_it(tiny, monkeypatch):
    monkeypatch.setattr(precision, "native_bf16", lambda device: False)
    clean = torch.zeros(1, 3, 16, 16)
    with pytest.raises(GanpriorError, match=r"no native bfloat16.*use fp32"):
        restore(Prior("tiny", tiny), clean, "inpaint", simulate=True, steps=1, precision="bf16")
    restore(Prior("tiny", tiny), clean, "inpaint", simulate=True, steps=1, options={"init_samples": 2})


def test_native_bf16_answers_for_this_machine():
    assert NATIVE_BF16(torch.device("cpu")) == torch.ops.mkldnn._is_mkldnn_bf16_supported()
