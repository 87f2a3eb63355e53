"""Checkpoints: exact round trips, code-free loading, clear errors for the wrong shape."""

from __future__ import annotations

import pytest
import torch

from conftest import tiny_generator
from ganprior import zoo
from ganprior.checkpoint import Prior, load_prior, save_prior
from ganprior.errors import GanpriorError


def test_round_trip_gives_identical_outputs(tmp_path, tiny):
    path = tmp_path / "g.safetensors"
    save_prior(path, Prior("tiny", tiny, None, {"note": "x"}))
    loaded = load_prior(path)
    z = torch.randn(4, 8)
    assert torch.equal(loaded.generator(z), tiny(z))
    assert loaded.card == {"note": "x"} and loaded.name == "g"


def test_bare_state_dict_needs_an_architecture(tmp_path, tiny):
    path = tmp_path / "bare.pt"
    torch.save(tiny.state_dict(), path)
    with pytest.raises(GanpriorError, match="--arch"):
        zoo.load(path)
    loaded = zoo.load(path, arch="dcgan", config={"resolution": 16, "nz": 8, "ngf": 8, "nc": 3})
    z = torch.randn(2, 8)
    assert torch.equal(loaded.generator(z), tiny(z))


def test_wrong_shape_is_a_clear_error(tmp_path, tiny):
    path = tmp_path / "bare.pt"
    torch.save(tiny.state_dict(), path)
    with pytest.raises(GanpriorError, match="does not fit"):
        zoo.load(path, arch="dcgan", config={"resolution": 16, "nz": 8, "ngf": 16, "nc": 3})


def test_pickled_objects_are_refused(tmp_path):
    """weights_only loading never runs code: a pickled arbitrary object is rejected."""
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": tiny_generator}, path)
    with pytest.raises(GanpriorError, match="cannot read"):
        load_prior(path, arch="dcgan", config={})


def test_unknown_model_name():
    with pytest.raises(GanpriorError, match="unknown model"):
        zoo.load("no-such-model")
