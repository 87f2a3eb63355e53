"""Degradations: forward operators (one module each, on the ``Operator`` base), generated masks,
mask-free corruption, synthetic defects, the registry of operators and the task table (task name
-> operator)."""

from .compose import Compose
from .corruption import STROKE_FILLS, Corruption, stroke_corruption
from .defects import DEFECT_KINDS, paint_defects
from .downsample import Downsample
from .grayscale import LUMA_WEIGHTS, Grayscale
from .mask import Mask
from .masks import MASK_KINDS, center_box, free_form, make_mask, random_boxes, random_pixels
from .noise import Noise
from .operator import Operator
from .registry import OPERATORS
from .tasks import RESTORATION_TASKS, TASK_HELP, TASKS, build_operator, observation_shape

__all__ = [
    "DEFECT_KINDS",
    "LUMA_WEIGHTS",
    "MASK_KINDS",
    "OPERATORS",
    "RESTORATION_TASKS",
    "STROKE_FILLS",
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
    "stroke_corruption",
]
