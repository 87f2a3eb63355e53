"""RGI and R-RGI as methods: presets for mask-free inpainting and anomaly detection, and λ from the
model's calibration.

λ is a threshold on the squared residual (``solvers.rgi``: a pixel is flagged when r² > λ/2). It is
calibrated once per model on normal images (``anomaly.calibrate``) and stored with the model —
in the card of a bundled model (``card["calibration"][method]``) or, for registry models, in
``pretrained/calibration.json``. An uncalibrated model falls back to ``fallback_lambda``: flag a
pixel whose RMS residual per channel exceeds 1/8 of the intensity range.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from .checkpoint import Prior
from .errors import GanpriorError
from .physics import Operator
from .solvers import Callback, Result
from .solvers.base import with_options
from .solvers.rgi import RGIConfig, rgi

MASK_FREE = ("rgi", "rrgi")
PRESET_STEPS = {"inpaint": 800, "anomaly": 400}  # the reference's 2000 scaled to small models on a CPU
CALIBRATION_FILE = Path(__file__).parent / "pretrained" / "calibration.json"
FALLBACK_RESIDUAL = 0.25  # RMS residual per channel in [-1, 1] units (1/8 of the range)
MIN_RESIDUAL = 0.05  # residuals under 2.5% of the range are never flagged, however well G fits normal images


def stored_calibration(prior: Prior, method: str) -> dict[str, Any] | None:
    """The stored calibration {"lambda", "threshold", ...} of ``method`` for this model, or None."""
    card = prior.card.get("calibration", {}).get(method)
    if card is not None:
        return card
    if CALIBRATION_FILE.exists():
        return json.loads(CALIBRATION_FILE.read_text()).get(prior.name, {}).get(method)
    return None


def residual_lambda(channels: int, residual: float) -> float:
    """λ = 2 · C · residual²: pixels whose squared residual summed over C channels exceeds C · residual²
    can be flagged."""
    return 2 * channels * residual**2


def fallback_lambda(channels: int) -> float:
    return residual_lambda(channels, FALLBACK_RESIDUAL)


def model_lambda(prior: Prior, method: str) -> float:
    calibration = stored_calibration(prior, method)
    return float(calibration["lambda"]) if calibration else fallback_lambda(prior.generator.channels)


def preset(
    method: str, purpose: str, lam: float, steps: int | None = None, seed: int = 0, **overrides: Any
) -> RGIConfig:
    """The RGI/R-RGI schedule for ``purpose`` "inpaint" (M starts at 1 and is frozen once G
    fine-tunes, from 75% of the steps) or "anomaly" (M starts at 0; G from 25%), as in the
    reference, scaled to ``steps`` (default ``PRESET_STEPS[purpose]``).

    One change to the reference for R-RGI anomaly detection: M is held at 0 until G fine-tunes and
    learns from then on (the reference lets it learn from the start; ``mask_from=0`` restores that).
    Its λ is calibrated on the fine-tuned generator's residuals (``anomaly.calibrate``), far below
    the frozen one's on held-out images, so a mask learning during the warm-up would flag most
    pixels and shield them from the fine-tuning; a λ from the frozen fit instead lets the
    fine-tuned G absorb the defects (benchmarks/results/rgi_anomaly_*.md shows both).

    For contiguous corruptions (strokes, blobs) ``closing=3`` closes the detected mask with a 3×3
    square and so also flags the corrupted pixels inside them whose values looked plausible; it is
    off by default because it merges nearby pixels of a scattered (random-pixel) corruption."""
    if method not in MASK_FREE:
        raise ValueError(f"unknown robust method {method!r}")
    steps = steps or PRESET_STEPS[purpose]
    inpaint = purpose == "inpaint"
    warmup = None if method == "rgi" else round(steps * (0.75 if inpaint else 0.25))
    settings: dict[str, Any] = {
        "steps": steps,
        "lam": lam,
        "mask_init": 1.0 if inpaint else 0.0,
        "warmup": warmup,
        "learn_mask_after_warmup": not inpaint,
        "mask_from": 0 if inpaint or warmup is None else warmup,
        "seed": seed,
    }
    return RGIConfig(**(settings | overrides))


def _solver(method: str):
    def solve(
        prior: Prior,
        observation: Tensor,
        operator: Operator,
        task: str,
        steps: int | None,
        seed: int,
        callback: Callback | None,
        **options: object,
    ) -> Result:
        if task != "inpaint":
            raise GanpriorError(f"{method} does mask-free inpainting: use --task inpaint, not {task}")
        # the mask is settled while G is frozen (R-RGI freezes it when G starts fine-tuning): RGI's λ
        config = preset(method, "inpaint", model_lambda(prior, "rgi"), steps, seed)
        try:
            config = with_options(config, options)
        except ValueError as exc:
            raise GanpriorError(f"{method}: {exc}") from exc
        return rgi(prior.generator, observation, config, prior.discriminator, callback=callback)

    solve.__doc__ = (
        f"{method.upper()} mask-free inpainting with the model's calibrated λ; ``options`` override "
        "``RGIConfig`` fields (``lam``, ``closing``, ...)."
    )
    return solve


solve_rgi = _solver("rgi")
solve_rrgi = _solver("rrgi")
