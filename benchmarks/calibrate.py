"""Calibrate models for RGI / R-RGI and write them into the source tree (maintainers' tool).

    python -m benchmarks.calibrate MODEL            # λ for mask-free inpainting -> calibration.json
    python -m benchmarks.calibrate ship RUN [RUN]   # texture models, calibration in the card

Both write into ``src/ganprior/pretrained/`` of this checkout (shipped with the next build); the
library only reads them (``ganprior.robust``, ``ganprior.zoo``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ganprior import zoo
from ganprior.anomaly import calibrate
from ganprior.checkpoint import Prior, load_prior, save_prior
from ganprior.report import write_json
from ganprior.solvers.rgi import CONFIGS
from ganprior.texture_crops import texture_crops

from .rgi import CALIBRATION_CROPS, INPAINT_MODELS, inpaint_images

PRETRAINED = Path(__file__).resolve().parents[1] / "src" / "ganprior" / "pretrained"


def calibrate_texture(prior: Prior, texture: str, steps: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Calibrations of rgi, rrgi and residual on normal held-out crops (seed + 1), for the card."""
    normal = texture_crops(texture, "test", 32, CALIBRATION_CROPS, seed + 1)
    return {method: calibrate(prior, normal, method, steps, seed) for method in (*CONFIGS, "residual")}


def texture_card(texture: str) -> dict[str, Any]:
    """Card fields of a shipped texture model: where its data came from and its licence."""
    return {
        "licence": "scikit-image sample texture (public domain)",
        "training_data": f"4000 random 32×32 crops of the top 80% of scikit-image's {texture}.png "
        f"(`python -m ganprior.texture_crops {texture} --out DIR --count 4000`); the bottom 20% is held out",
    }


def ship(runs: list[Path], steps: int | None = None) -> None:
    """Calibrate trained texture models (``RUN/model.safetensors``, named TEXTURE32) and write them,
    calibration in the card, to the source tree's ``pretrained/``."""
    for run in runs:
        prior = load_prior(run / "model.safetensors")
        texture = prior.name.removesuffix("32")
        prior.card["calibration"] = calibrate_texture(prior, texture, steps)
        prior.card |= texture_card(texture)
        save_prior(PRETRAINED / f"{prior.name}.safetensors", prior)
        print(prior.name, prior.card["calibration"])


def calibrate_inpainting(model: str, steps: int | None = None) -> None:
    """λ for mask-free inpainting with ``model`` (used by rgi and rrgi) from the 8 calibration images of
    ``inpaint_images`` -> the source tree's ``pretrained/calibration.json``."""
    file = PRETRAINED / "calibration.json"
    prior = zoo.load(model)
    normal = inpaint_images(model, prior, 0, calibration=True)
    stored = json.loads(file.read_text()) if file.exists() else {}
    stored[model] = {"rgi": calibrate(prior, normal, "rgi", steps, thresholds=False)}
    write_json(stored, file)
    print(model, stored[model])


def main() -> None:
    parser = argparse.ArgumentParser(description="calibrate models for RGI / R-RGI")
    parser.add_argument("what", choices=["ship", *INPAINT_MODELS])
    parser.add_argument("runs", nargs="*", type=Path, help="training output folders (ship)")
    parser.add_argument("--steps", type=int)
    cli = parser.parse_args()
    if cli.what == "ship":
        ship(cli.runs, cli.steps)
    else:
        calibrate_inpainting(cli.what, cli.steps)


if __name__ == "__main__":
    main()
