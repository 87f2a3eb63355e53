"""The page in a real browser (Debian's Chromium, driven by Playwright; no browser download): upload a
photo, paint the hole with the mouse, restore it and check the known pixels came back bit for bit;
the Detect tab's threshold slider recolours the masks without a new run; the Edit tab's sliders move
through the frames. Each tab is photographed into $GANPRIOR_UI_SCREENSHOTS (default: a temporary
folder); the README shows the committed ones (docs/ui)."""

from __future__ import annotations

import base64
import csv
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganprior import examples, zoo
from ganprior.imageio import to_uint8
from ganprior.physics import DEFECT_KINDS, paint_defects

from .conftest import decode, prior_photo, request, require

require("playwright", "pip install playwright (the dev extra)")
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("GANPRIOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    message = "Debian's chromium is missing: apt-get install chromium (`make test` does it)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("GANPRIOR_UI_SCREENSHOTS") or tempfile.mkdtemp(prefix="ganprior-ui-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(server):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[Exception] = []
        page.on("pageerror", lambda error: errors.append(error))
        page.goto(server.url)
        page.wait_for_selector("body[data-ready='1']")
        yield page
        browser.close()
    assert not errors, errors


def photograph(page, folder: Path, name: str) -> None:
    """A screenshot of the page, its colours quantised (a small PNG to commit)."""
    raw = page.screenshot()
    Image.open(io.BytesIO(raw)).convert("RGB").quantize(128).save(folder / f"{name}.png", optimize=True)


def slide(page, selector: str, value: float) -> float:
    """Move a range input as a user would (the page hears an ``input`` event); returns its value."""
    return page.evaluate(
        "([s, v]) => { const e = document.querySelector(s); e.value = v; "
        "e.dispatchEvent(new Event('input')); return Number(e.value); }",
        [selector, value],
    )


def stroke(page, selector: str, points: list[tuple[float, float]]) -> None:
    """Drag the mouse through ``points`` (fractions of the element's box)."""
    box = page.locator(selector).bounding_box()
    at = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def save_png(array: np.ndarray, path: Path) -> Path:
    Image.fromarray(array).save(path)
    return path


def test_restore_a_drawn_hole(page, server, shots, tmp_path):
    page.select_option("#r-example", "astronaut")  # a bundled example loads into the canvas
    page.click("#r-use-example")
    page.wait_for_function(
        "document.getElementById('r-stage-hint').textContent.startsWith('astronaut.png: 40×40')"
    )

    photo = prior_photo("emoji64", 5, (120, 96))
    page.set_input_files("#r-photo", str(save_png(photo, tmp_path / "emoji.png")))
    page.wait_for_function(
        "document.getElementById('r-stage-hint').textContent.startsWith('emoji.png: 120×96')"
    )
    stroke(page, "#r-mask-canvas", [(0.3, 0.35), (0.7, 0.4), (0.65, 0.6)])
    page.check("#r-compare input[value=rgi]")
    page.fill("#r-steps", "25")
    page.click("#r-run")
    page.wait_for_selector("#restore[data-done]", timeout=60_000)

    data_url = page.evaluate("ganpriorUI.maskDataURL()")  # the mask the page sent
    mask = decode(base64.b64decode(data_url.partition(",")[2]))[..., 0]
    known = mask > 127
    assert mask.shape == (96, 120) and 0.03 < (~known).mean() < 0.5  # the stroke, at the photo's size
    rows = np.flatnonzero((~known).any(1))
    assert rows.min() > 0.25 * 96 and rows.max() < 0.75 * 96  # where the mouse went

    cards = page.locator("#r-results .card")
    assert cards.count() == 2
    restored = decode(request(server, page.get_attribute(".card[data-method=invert] img.result", "src"))[1])
    assert restored.shape == photo.shape  # at the photo's own size
    assert np.array_equal(restored[known], photo[known])  # its known pixels, bit for bit
    assert np.abs(restored[~known].astype(int) - photo[~known]).mean() > 1  # the hole from the model
    assert page.locator(".card[data-method=rgi] img.detected").count() == 1  # mask-free: what it found
    status = request(server, f"/api/jobs/{page.get_attribute('#restore', 'data-done')}")[1]
    assert status["preview"] is not None  # the estimate was shown during the fit
    page.wait_for_function("document.getElementById('r-preset').textContent.startsWith('preset')")
    photograph(page, shots, "restore")


def test_a_bad_mask_shows_the_cli_line(page, tmp_path):
    small = save_png(np.zeros((10, 10), np.uint8), tmp_path / "hole.png")
    page.set_input_files("#r-mask", str(small))
    page.click("#r-run")
    page.wait_for_function("document.getElementById('r-error').textContent !== ''")
    assert page.inner_text("#r-error") == (
        "mask hole.png is 10×10 but the image is 120×96 (and the model works at 64×64); "
        "draw the mask at one of those sizes"
    )
    page.set_input_files("#r-mask", [])


def mask_canvases(page) -> list[np.ndarray]:
    """The Detect tab's binary masks as the page drew them: (H, W) bool each."""
    arrays = page.evaluate(
        "() => [...document.querySelectorAll('#d-results canvas.mask')].map((c) => "
        "Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data))"
    )
    return [np.array(a, np.uint8).reshape(32, 32, 4)[..., 0] > 127 for a in arrays]


def test_detect_and_move_the_threshold(page, server, shots, tmp_path):
    prior = zoo.load("brick32")
    crops = examples.prior_samples(prior, 4, 0)
    painted, _ = paint_defects(crops[:3], DEFECT_KINDS, torch.Generator().manual_seed(0))
    files = [
        save_png(to_uint8(image), tmp_path / f"crop{i}.png") for i, image in enumerate([*painted, crops[3]])
    ]
    with zipfile.ZipFile(tmp_path / "parts.zip", "w") as archive:
        for path in files[:3]:
            archive.write(path, f"line1/{path.name}")
    page.click(".tab[data-tab=detect]")
    page.set_input_files("#d-files", [str(tmp_path / "parts.zip"), str(files[3])])
    page.select_option("#d-model", "brick32")
    page.fill("#d-steps", "30")
    page.click("#d-run")
    page.wait_for_selector("#detect[data-done]", timeout=60_000)

    result = request(server, f"/api/jobs/{page.get_attribute('#detect', 'data-done')}")[1]["result"]
    maps = np.array([item["map"] for item in result["images"]]).reshape(4, 32, 32)
    assert [item["name"] for item in result["images"]] == ["crop0.png", "crop1.png", "crop2.png", "crop3.png"]
    assert all(
        np.array_equal(m, a > result["threshold"]) for m, a in zip(mask_canvases(page), maps, strict=True)
    )

    lower = slide(page, "#d-threshold", float(np.quantile(maps, 0.9)))
    masks = mask_canvases(page)
    assert all(np.array_equal(m, a > lower) for m, a in zip(masks, maps, strict=True))
    assert sum(m.sum() for m in masks) > (maps > result["threshold"]).sum()  # more flagged, no new run
    table = request(server, page.get_attribute("#d-csv", "href"))[1].decode()
    fractions = [float(row["flagged_fraction"]) for row in csv.DictReader(io.StringIO(table))]
    assert np.allclose(fractions, [(a > lower).mean() for a in maps], atol=1e-6)
    slide(page, "#d-threshold", float(np.quantile(maps, 0.97)))  # a threshold that shows the defects
    photograph(page, shots, "detect")


def test_edit_sliders_move_through_the_frames(page, server, shots, tmp_path):
    images = [
        save_png(prior_photo("fashion32", seed, (64, 64)), tmp_path / f"item{seed}.png") for seed in (3, 4)
    ]
    page.click(".tab[data-tab=edit]")
    page.select_option("#e-action", "morph")
    page.set_input_files("#e-image-a", str(images[0]))
    page.set_input_files("#e-image-b", str(images[1]))
    page.select_option("#e-model", "fashion32")
    page.fill("#e-steps", "20")
    page.fill("#e-frames", "5")
    page.click("#e-run")
    page.wait_for_selector("#edit[data-done]", timeout=60_000)
    result = request(server, f"/api/jobs/{page.get_attribute('#edit', 'data-done')}")[1]["result"]
    assert len(result["frames"]) == 5 and result["values"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    shown = []
    for index in (0, 4):
        slide(page, "#e-slider", index)
        shown.append(page.get_attribute("#e-frames-view img", "src"))
    assert shown == [result["frames"][0], result["frames"][4]] and shown[0] != shown[1]
    assert request(server, page.get_attribute("#e-gif", "href"))[1][:6] == b"GIF89a"
    slide(page, "#e-slider", 2)
    photograph(page, shots, "edit")

    page.select_option("#e-action", "jitter")
    page.click("#e-run")
    page.wait_for_function("document.getElementById('e-slider-label').textContent === 'σ'", timeout=60_000)
    page.wait_for_selector("#e-slider-box:not([hidden])")
    assert page.locator("#e-frames-view figure").count() == 4  # the samples at the chosen σ
    sigma = slide(page, "#e-slider", 9)
    assert page.inner_text("#e-slider-value") == "1" and sigma == 9
