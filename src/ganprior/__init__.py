"""ganprior: a pretrained GAN as an image prior for restoration, editing and anomaly detection.

The names a user needs, imported on first use (so ``import ganprior`` and the CLI stay light)::

    import ganprior
    prior = ganprior.load("face64")                                  # a zoo model or a checkpoint file
    clean = ganprior.load_image("face.png", 64, 3)[None]             # (1, 3, 64, 64) in [-1, 1]
    out = ganprior.restore(prior, clean, "sr", "dgp", simulate=True, factor=4)

``load`` (models), ``restore`` (the pipeline), ``detect`` / ``calibrate`` (anomaly detection), the
operators of ``ganprior.physics``, the method registry ``METHODS`` and the solver contract
(``SolverConfig``, ``Result``); lower level: ``ganprior.solvers``, ``ganprior.physics``,
``ganprior.metrics``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "zoo",
    "Prior": "checkpoint",
    "load_image": "imageio",
    "save_image": "imageio",
    "restore": "pipeline",
    "Restoration": "pipeline",
    "detect": "anomaly",
    "calibrate": "anomaly",
    "METHODS": "solvers",
    "Result": "solvers",
    "SolverConfig": "solvers",
    **{name: "physics" for name in ("Operator", "Mask", "Downsample", "Grayscale", "Noise", "Compose")},
    "Corruption": "physics",
    "build_operator": "physics",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganprior' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
