"""Degradations: forward operators, generated masks, mask-free corruption, synthetic defects and
the task table (task name -> operator)."""

from .corruption import Corruption
from .defects import DEFECT_KINDS, paint_defects
from .masks import MASK_KINDS, center_box, free_form, make_mask, random_boxes, random_pixels
from .operator import LUMA_WEIGHTS, Compose, Downsample, Grayscale, Mask, Noise, Operator
from .tasks import TASK_HELP, TASKS, build_operator, observation_shape

__all__ = [
    "DEFECT_KINDS",
    "LUMA_WEIGHTS",
    "MASK_KINDS",
    "TASKS",
    "TASK_HELP",
    "Compose",
    "Corruption",
    "Downsample",
    "Grayscale",
    "Mask",
    "Noise",
    "Operator",
    "build_operator",
    "center_box",
    "free_form",
    "make_mask",
    "observation_shape",
    "paint_defects",
    "random_boxes",
    "random_pixels",
]
