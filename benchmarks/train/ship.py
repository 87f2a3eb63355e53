"""Ship a finished ``ganprior train`` run as a zoo model (maintainers' tool).

    python benchmarks/train/ship.py RUN_DIR NAME

Copies RUN_DIR/model.safetensors to ``src/ganprior/pretrained/NAME.safetensors``, its classifier to
``src/ganprior/pretrained/classifiers/NAME.safetensors`` (the card then points there), and the evidence
(card.json, log.jsonl, samples.png, the sample grids along the way) to ``benchmarks/train/NAME/``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ganprior.checkpoint import load_prior, save_prior

ROOT = Path(__file__).resolve().parents[2]


def main(run: str, name: str) -> None:
    run_dir = Path(run)
    pretrained = ROOT / "src" / "ganprior" / "pretrained"
    evidence = ROOT / "benchmarks" / "train" / name
    evidence.mkdir(parents=True, exist_ok=True)
    prior = load_prior(run_dir / "model.safetensors")
    classifier = run_dir / "classifier.safetensors"
    if classifier.exists():
        (pretrained / "classifiers").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(classifier, pretrained / "classifiers" / f"{name}.safetensors")
        if "scores" in prior.card:
            prior.card["scores"]["classifier"] = f"ganprior/pretrained/classifiers/{name}.safetensors"
    prior.card["name"] = name
    if prior.generator.config.get("norm") == "bn":  # runs started before the card said so
        prior.card["architecture"] = prior.card["architecture"].replace(
            "pixel norm", "batch norm with standing statistics"
        )
    save_prior(pretrained / f"{name}.safetensors", prior)
    (evidence / "card.json").write_text(json.dumps(prior.card, indent=2) + "\n")
    for file in ("log.jsonl", "samples.png"):
        shutil.copyfile(run_dir / file, evidence / file)
    grids = sorted((run_dir / "samples").glob("step-*.png"))
    for grid in grids[:: max(1, len(grids) // 4)] + grids[-1:]:
        shutil.copyfile(grid, evidence / grid.name)
    print(f"shipped {name}: {pretrained / f'{name}.safetensors'}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
