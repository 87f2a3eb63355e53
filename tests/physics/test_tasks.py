"""The task table: every task builds a differentiable operator; geometry is checked."""

from __future__ import annotations

import pytest
import torch

from ganprior.errors import GanpriorError
from ganprior.physics import TASKS, build_operator, observation_shape

x = torch.rand(4, 3, 32, 32) * 2 - 1


@pytest.mark.parametrize("task", TASKS)
def test_every_task_builds_a_differentiable_operator(task):
    op = build_operator(task, 32, 3, factor=4)
    image = x.clone().requires_grad_(True)
    op(image).sum().backward()
    assert image.grad is not None
    channels, side = observation_shape(op, 32, 3)
    assert op(x).shape[1:] == (channels, side, side)


def test_colorize_needs_colour_and_mask_must_fit():
    with pytest.raises(GanpriorError, match="RGB"):
        build_operator("colorize", 32, 1)
    with pytest.raises(GanpriorError, match="mask"):
        build_operator("inpaint", 32, 3, mask=torch.ones(1, 16, 16))
