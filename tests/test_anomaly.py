"""Anomaly detection: metrics, synthetic defects, calibration on normal images, `ganprior detect`, PatchCore."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from conftest import tiny_generator
from ganprior import patchcore, texture_crops
from ganprior.anomaly import auroc, calibrate, detect, dice_iou, image_scores
from ganprior.checkpoint import Prior, save_prior
from ganprior.cli import main
from ganprior.imageio import load_image, save_image
from ganprior.models.efficientnet import EfficientNetLite0Features
from ganprior.physics import paint_defects

STEPS = 80


def test_auroc_matches_pairwise_counting():
    rng = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 6, (200,), generator=rng).float()  # many ties
    labels = torch.rand(200, generator=rng) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None]).float() + 0.5 * (pos[:, None] == neg[None]).float()).mean()
    assert auroc(scores, labels) == pytest.approx(float(pairwise))
    assert auroc(labels.float(), labels) == 1.0 and auroc(-labels.float(), labels) == 0.0


def test_dice_iou():
    a = torch.zeros(2, 1, 4, 4)
    b = torch.zeros(2, 1, 4, 4)
    a[0, 0, :2], b[0, 0, 1:3] = 1, 1  # 8 and 8 pixels, 4 shared
    dice, iou = dice_iou(a, b)
    assert dice.tolist() == [0.5, 1.0] and iou[0].item() == pytest.approx(1 / 3)


def _samples(g, n: int, seed: int) -> torch.Tensor:
    with torch.no_grad():
        return g(torch.randn(n, g.latent_dim, generator=torch.Generator().manual_seed(seed)))


def test_calibrated_detection_flags_defects_not_normal_images():
    g = tiny_generator(channels=1)
    prior = Prior("tiny", g, None, {})
    calibration = calibrate(prior, _samples(g, 4, 1), "rgi", steps=STEPS)
    assert calibration["lambda"] > 0
    normal = _samples(g, 3, 2)
    defective, masks = paint_defects(_samples(g, 3, 3), generator=torch.Generator().manual_seed(4))
    found = detect(prior, torch.cat([normal, defective]), "rgi", calibration, steps=STEPS)
    truth = torch.cat([torch.zeros_like(masks), masks])
    assert auroc(found.maps, truth) >= 0.95
    assert found.masks[:3].mean() < 0.01  # (almost) nothing flagged on normal images
    assert found.scores[3:].min() > found.scores[:3].max()
    assert torch.equal(found.scores, image_scores(found.maps))


def test_detect_cli_writes_heatmaps_and_report(tmp_path):
    g = tiny_generator(channels=1)
    prior = Prior("tiny", g, None, {"name": "tiny"})
    prior.card["calibration"] = {"rgi": calibrate(prior, _samples(g, 4, 1), "rgi", steps=STEPS)}
    checkpoint = tmp_path / "tiny.safetensors"
    save_prior(checkpoint, prior)
    folder = tmp_path / "parts"
    defective, _ = paint_defects(_samples(g, 2, 5), ["missing"], torch.Generator().manual_seed(6))
    for i, image in enumerate(torch.cat([_samples(g, 2, 7), defective])):
        save_image(image, folder / f"part{i}.png")
    out = tmp_path / "out"
    assert (
        main(["detect", str(folder), "--model", str(checkpoint), "--method", "rgi", "--out", str(out)]) == 0
    )
    rows = list(csv.DictReader((out / "report.csv").read_text().splitlines()))
    assert [r["image"].endswith(f"part{i}.png") for i, r in enumerate(rows)] == [True] * 4
    assert [r["anomalous"] for r in rows[2:]] == ["True", "True"]
    assert max(float(r["flagged_fraction"]) for r in rows[:2]) < 0.02  # (almost) nothing on normal images
    assert min(float(r["score"]) for r in rows[2:]) > max(float(r["score"]) for r in rows[:2])
    assert all((out / r["heatmap"]).exists() and (out / r["mask"]).exists() for r in rows)
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "rgi" and report["steps"] == STEPS
    assert (
        main(
            [
                "detect",
                str(folder),
                "--model",
                str(checkpoint),
                "--method",
                "rrgi",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


def test_patchcore_finds_a_foreign_patch():
    torch.manual_seed(0)
    net = EfficientNetLite0Features((2, 4)).eval()  # random weights: no download
    rng = torch.Generator().manual_seed(1)
    normal = 0.1 * torch.randn(20, 1, 32, 32, generator=rng)
    test = 0.1 * torch.randn(2, 1, 32, 32, generator=rng)
    truth = torch.zeros(2, 1, 32, 32)
    truth[:, :, 10:18, 12:20] = 1
    test = torch.where(truth.bool(), torch.ones_like(test), test)
    maps = patchcore.PatchCore(input_size=64, bank_size=5000, net=net).fit(normal).maps(test)
    assert maps.shape == truth.shape and auroc(maps, truth) > 0.9


def test_texture_crops_writes_held_out_crops_with_exact_defect_masks(tmp_path, monkeypatch):
    pixels = np.random.default_rng(0).integers(0, 256, (160, 160, 3)).astype(np.uint8)
    monkeypatch.setattr(texture_crops, "texture_sources", lambda: {"brick": pixels})
    args = ["brick", "--split", "test", "--count", "4", "--out", str(tmp_path / "crops")]
    assert texture_crops.main([*args, "--defects", str(tmp_path / "truth")]) == 0
    written = sorted((tmp_path / "crops").glob("*.png"))
    truths = sorted((tmp_path / "truth").glob("*.png"))
    assert len(written) == 4 and [t.name for t in truths] == [w.name for w in written[:2]]
    clean = texture_crops.texture_crops("brick", "test", 32, 4)
    for i, path in enumerate(written):
        mask = load_image(truths[i], 32, 1) > 0 if i < 2 else torch.zeros(1, 32, 32, dtype=torch.bool)
        changed = (load_image(path, 32, 1) - clean[i]).abs() > 0.1
        assert torch.equal(changed, mask)  # exactly the masked pixels were painted, normal crops untouched
        assert mask.any() == (i < 2)


def test_detect_in_batches_equals_detect_per_batch():
    """``batch_size`` splits the images as the CLI's --batch-size does: each batch solved from the seed."""
    g = tiny_generator(channels=1)
    prior = Prior("tiny", g, None, {})
    calibration = calibrate(prior, _samples(g, 4, 1), "rgi", steps=STEPS)
    images = _samples(g, 3, 8)
    batched = detect(prior, images, "rgi", calibration, steps=STEPS, batch_size=2)
    parts = [
        detect(prior, images[:2], "rgi", calibration, steps=STEPS),
        detect(prior, images[2:], "rgi", calibration, steps=STEPS),
    ]
    assert torch.equal(batched.maps, torch.cat([p.maps for p in parts]))
    assert torch.equal(batched.result.losses, torch.cat([p.result.losses for p in parts], dim=1))
