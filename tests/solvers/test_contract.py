"""The solver contract, for every registered method: one call signature, batched == batch 1,
seeded, a callback per step (a watcher sees the estimate), options accepted or refused by name, and a config that round-trips
through the report."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from conftest import tiny_generator
from ganprior.checkpoint import Prior
from ganprior.errors import GanpriorError
from ganprior.models import SNGANDiscriminator
from ganprior.physics import Corruption, build_operator, center_box
from ganprior.pipeline import restore
from ganprior.solvers import METHODS, Result, SolverConfig, Watcher

STEPS = 6


@pytest.fixture(scope="module")
def prior() -> Prior:
    torch.manual_seed(1)
    d = SNGANDiscriminator(resolution=16, channels=3, width=8, max_width=16).eval().requires_grad_(False)
    return Prior("tiny", tiny_generator(), d, {"name": "tiny"})


def task_of(name: str) -> str:
    tasks = METHODS[name].tasks
    return tasks[0] if tasks else "sr"


def config_of(name: str, prior: Prior) -> SolverConfig:
    """The method's preset, shortened: few steps and (where there is one) a small latent search."""
    config = METHODS[name].config
    short = {"steps": STEPS} | ({"init_samples": 4} if "init_samples" in config.__dataclass_fields__ else {})
    return config.for_task(task_of(name), prior, **short)


def problem(name: str, prior: Prior, n: int = 3):
    g = prior.generator
    with torch.no_grad():
        clean = g(g.sample_latent(n, torch.Generator().manual_seed(7)))
    if METHODS[name].mask_free:
        operator = Corruption(center_box(g.resolution))
    else:
        operator = build_operator(task_of(name), g.resolution, g.channels, factor=2)
    return operator.simulate(clean, torch.Generator().manual_seed(3)), operator


@pytest.mark.parametrize("name", list(METHODS))
def test_called_one_way_and_returns_a_result_per_image(name, prior):
    observation, operator = problem(name, prior)
    steps: list[int] = []
    config = config_of(name, prior)
    result = METHODS[name].solve(
        prior, observation, operator, config, callback=lambda s, loss: steps.append(s)
    )
    assert isinstance(result, Result)
    assert result.image.shape == (3, 3, 16, 16)
    assert result.losses.shape[1] == 3 and steps == list(range(len(steps))) and steps
    # the callback counts on through every loop; the history is the main loop's
    assert len(steps) == result.losses.shape[0] + config.total_steps() - config.steps
    assert torch.isfinite(result.image).all()


class Every(Watcher):
    """Watches the estimate every ``k`` steps and keeps what it saw."""

    def __init__(self, k: int) -> None:
        self.k, self.steps, self.seen_at, self.images = k, [], [], []

    def __call__(self, step: int, losses: torch.Tensor) -> None:
        self.steps.append(step)

    def wants(self, step: int) -> bool:
        return step % self.k == self.k - 1

    def seen(self, step: int, image: torch.Tensor) -> None:
        self.seen_at.append(step)
        self.images.append(image.clone())


@pytest.mark.parametrize("name", list(METHODS))
def test_a_watcher_sees_the_current_estimate_when_it_asks(name, prior):
    observation, operator = problem(name, prior)
    watcher = Every(2)
    config = config_of(name, prior)
    result = METHODS[name].solve(prior, observation, operator, config, callback=watcher)
    # DGP's schedule rounds its stages (5 of 6); R-RGI's detection pass counts first
    steps = list(range(result.losses.shape[0] + config.total_steps() - config.steps))
    assert watcher.steps == steps and watcher.seen_at == [s for s in steps if s % 2 == 1]
    assert all(image.shape == (3, 3, 16, 16) and torch.isfinite(image).all() for image in watcher.images)
    assert not torch.equal(watcher.images[0], watcher.images[1])  # the fit moved between the two
    if (
        getattr(config, "restarts", 1) > 1
    ):  # restarts: the watcher sees the first, i.e. the run without restarts
        result = METHODS[name].solve(prior, observation, operator, dataclasses.replace(config, restarts=1))
    if name != "dip" and watcher.seen_at[-1] == steps[-1]:  # DIP keeps its most stable step's output
        assert torch.allclose(watcher.images[-1], result.image, atol=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_batched_equals_one_at_a_time_and_is_seeded(name, prior):
    observation, operator = problem(name, prior)
    config = config_of(name, prior)
    solve = METHODS[name].solve
    batched = solve(prior, observation, operator, config).image
    again = solve(prior, observation, operator, config).image
    single = torch.cat([solve(prior, observation[[i]], operator.select([i]), config).image for i in range(3)])
    assert torch.equal(batched, again)
    # relaxed methods run per-image generators under vmap (grouped convolutions): float rounding only
    assert torch.allclose(batched, single, atol=1e-4 if METHODS[name].relaxed else 1e-6)


@pytest.mark.parametrize("name", list(METHODS))
def test_options_are_parsed_by_type_and_unknown_ones_refused(name, prior):
    config = METHODS[name].config.for_task(task_of(name), prior, steps="12", seed="5")
    assert config.steps == 12 and config.seed == 5
    with pytest.raises(GanpriorError, match="no option 'bogus'"):
        METHODS[name].config.for_task(task_of(name), prior, bogus=1)
    with pytest.raises(GanpriorError, match="steps"):
        METHODS[name].config.for_task(task_of(name), prior, steps="many")


@pytest.mark.parametrize("name", list(METHODS))
def test_the_reported_config_rebuilds_the_run(name, prior):
    g = prior.generator
    with torch.no_grad():
        clean = g(g.sample_latent(2, torch.Generator().manual_seed(7)))
    out = restore(prior, clean, task_of(name), name, steps=STEPS, seed=2, simulate=True, factor=2)
    report = json.loads(json.dumps(out.config.to_dict()))
    rebuilt = METHODS[name].config.for_task(task_of(name), prior, **report)
    assert rebuilt == out.config
    again = restore(prior, clean, task_of(name), name, config=rebuilt, simulate=True, seed=2, factor=2)
    assert torch.equal(again.restored, out.restored)
