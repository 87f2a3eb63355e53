"""λ of RGI and R-RGI from the model's calibration (their presets: ``solvers.rgi``).

λ is a threshold on the squared residual (``solvers.rgi``: a pixel is flagged when r² > λ/2). It is
calibrated once per model on normal images (``anomaly.calibrate``) and stored with the model —
in the card of a bundled model (``card["calibration"][method]``) or, for registry models, in
``pretrained/calibration.json``. An uncalibrated model falls back to ``fallback_lambda``: flag a
pixel whose RMS residual per channel exceeds 1/8 of the intensity range.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import Prior

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
