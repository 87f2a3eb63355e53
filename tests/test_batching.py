"""Batch sizes: ``auto`` and halving on out-of-memory change nothing but speed (the solver contract)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

import ganprior.batching as batching
import ganprior.pipeline as pipeline
from ganprior.checkpoint import Prior
from ganprior.errors import GanpriorError
from ganprior.solvers import METHODS
from tests.conftest import tiny_generator


def _prior_and_images(n: int = 5):
    g = tiny_generator()
    with torch.no_grad():
        images = g(torch.randn(n, g.latent_dim, generator=torch.Generator().manual_seed(1)))
    return Prior("tiny", g, None, {}), images


def test_a_batch_that_runs_out_of_memory_is_halved_and_gives_the_same_result(monkeypatch, caplog):
    prior, images = _prior_and_images()
    spec = METHODS["invert"]
    sizes = []

    def small_device(prior, observation, operator, config, **kwargs):
        sizes.append(len(observation))
        if len(observation) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return spec.solve(prior, observation, operator, config, **kwargs)

    monkeypatch.setitem(METHODS, "invert", dataclasses.replace(spec, solve=small_device))
    with caplog.at_level(logging.WARNING, logger="ganprior.batching"):
        halved = pipeline.restore(prior, images, "denoise", "invert", simulate=True, steps=4, batch_size=8)
    monkeypatch.setitem(METHODS, "invert", spec)
    pairs = pipeline.restore(prior, images, "denoise", "invert", simulate=True, steps=4, batch_size=2)
    assert sizes == [5, 4, 2, 2, 1]  # all 5 fail, then 4, then 2 at a time
    assert torch.equal(halved.restored, pairs.restored)
    assert "going on with 2" in caplog.text


def test_out_of_memory_at_batch_1_is_one_clear_line():
    with pytest.raises(GanpriorError, match="even with one image"):
        batching.halve(1, torch.OutOfMemoryError("out of memory"), torch.device("cuda"))
    assert not batching.is_out_of_memory(RuntimeError("shape mismatch"))


def test_auto_on_a_cpu_keeps_its_cores_busy():
    assert batching.auto_batch_size(lambda n: None, 40, torch.device("cpu")) == batching.CPU_BATCH
    assert batching.auto_batch_size(lambda n: None, 3, torch.device("cpu")) == 3


def test_auto_on_a_gpu_fits_the_free_memory(monkeypatch):
    """The CUDA branch, with the device's memory counters stood in for: 100 MiB per image measured
    by the probe, 1000 MiB free -> 8 images at the 0.8 safety margin."""
    mib = 2**20
    state = {"allocated": 10 * mib, "peak": 10 * mib}

    def probe(count):
        assert count == 1
        state["peak"] = state["allocated"] + 100 * mib

    for name, value in {
        "synchronize": lambda device=None: None,
        "reset_peak_memory_stats": lambda device=None: None,
        "memory_allocated": lambda device=None: state["allocated"],
        "max_memory_allocated": lambda device=None: state["peak"],
        "mem_get_info": lambda device=None: (1000 * mib, 8000 * mib),
    }.items():
        monkeypatch.setattr(torch.cuda, name, value)
    assert batching.auto_batch_size(probe, 64, torch.device("cuda")) == 8
    assert batching.auto_batch_size(probe, 5, torch.device("cuda")) == 5


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_takes_the_one_step_probe(method, monkeypatch):
    """``auto`` probes one image for one step (DGP: one per stage, so every layer is tuned once and
    the probe sees the deepest stage's memory): every method must run it."""
    prior, images = _prior_and_images(3)
    probed = []

    def probing(probe, count, device):
        probed.append(probe(1))
        return 2

    monkeypatch.setattr(pipeline, "auto_batch_size", probing)
    task = "inpaint" if METHODS[method].mask_free else "denoise"
    out = pipeline.restore(prior, images, task, method, simulate=True, steps=2, batch_size=None)
    assert probed[0].losses.shape[1] == 1 and probed[0].losses.shape[0] <= 5
    assert out.restored.shape == images.shape
