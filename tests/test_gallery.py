"""The demo gallery on tiny stand-ins: every part is written, each method's row is there, the index
names each image's PSNR and the medians over the real photographs."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import ganprior.gallery as gallery
from ganprior import examples, features, zoo
from tests.conftest import cheap_vgg_metric
from tests.test_benchmarks import tiny_color_faces, tiny_defective, tiny_lfw, tiny_model


@pytest.fixture
def tiny_demo(monkeypatch):
    monkeypatch.setattr(examples, "color_faces", tiny_color_faces)
    monkeypatch.setattr(examples, "lfw_faces", tiny_lfw)
    monkeypatch.setattr(gallery, "defective_crops", tiny_defective)
    monkeypatch.setattr(zoo, "load", lambda name, device="cpu": tiny_model(name, device))
    monkeypatch.setattr(features, "vgg_metric", cheap_vgg_metric)
    monkeypatch.setattr(gallery, "DEMO_STEPS", {"invert": 3, "mgan": 3, "dgp": 3, "rgi": 3})
    return tiny_model("face64")


def test_the_gallery_shows_every_method_on_every_task(tiny_demo, tmp_path):
    summary = gallery.build_gallery(tiny_demo, tmp_path)
    names = json.loads((tmp_path / "metrics.json").read_text())["images"]
    assert len(names) == 6 and names[:2] == ["astronaut", "grace_hopper"]
    for task in gallery.DEMO_TASKS:
        picture = Image.open(tmp_path / f"{task}.png")
        rows = 2 + len(gallery.DEMO_METHODS)  # observation, each method, clean
        assert picture.height > rows * tiny_demo.generator.resolution
        assert set(summary[task]) == set(gallery.DEMO_METHODS)
    assert {"mask-free", "anomaly"} <= set(summary) and summary["mask-free"]["rgi"]["mask IoU"] >= 0
    assert (tmp_path / "mask-free.png").is_file() and (tmp_path / "anomaly.png").is_file()
    index = (tmp_path / "index.md").read_text()
    assert "| mgan |" in index and "median" in index and "the 4 real photographs" in index
